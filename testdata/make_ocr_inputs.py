#!/usr/bin/python3
"""Render real inputs for the PP-OCRv4 models: text lines for recognition, a page for detection.

Run with Debian's python3-pil and fonts-dejavu-core:  /usr/bin/python3 testdata/make_ocr_inputs.py
Writes testdata/ocr/rec_lines.npy ([N,3,48,320], PaddleOCR's recognition preprocessing:
height 48, aspect kept, (x/255 - 0.5)/0.5, right-padded with 0), rec_lines.txt (the strings),
and det_page.npy ([1,3,320,320], ImageNet mean/std as PaddleOCR's detector expects).
"""
import os
import numpy as np
from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ["Dyad 2026 integer ONNX", "quantization test 42"]


def render_line(text, height=48, width=320):
    font = ImageFont.truetype(FONT, 32)
    left, top, right, bottom = font.getbbox(text)
    img = Image.new("RGB", (right - left + 16, bottom - top + 16), "white")
    ImageDraw.Draw(img).text((8 - left, 8 - top), text, font=font, fill="black")
    w = min(width, int(round(img.width * height / img.height)))
    img = img.resize((w, height), Image.BILINEAR)
    x = (np.asarray(img, dtype=np.float32) / 255.0 - 0.5) / 0.5
    out = np.zeros((3, height, width), dtype=np.float32)
    out[:, :, :w] = x.transpose(2, 0, 1)
    return out


def render_page(size=320):
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 22)
    for i, text in enumerate(["Invoice 0042", "Total: 17.50 EUR", "Dyad PP-OCRv4", "28 Nov 2026"]):
        draw.text((20, 30 + 70 * i), text, font=font, fill="black")
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def main():
    out = os.path.join(HERE, "ocr")
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "rec_lines.npy"), np.stack([render_line(t) for t in LINES]))
    with open(os.path.join(out, "rec_lines.txt"), "w") as f:
        f.write("\n".join(LINES) + "\n")
    np.save(os.path.join(out, "det_page.npy"), render_page())


if __name__ == "__main__":
    main()
