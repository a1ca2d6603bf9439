#!/usr/bin/python3
"""Render text-line images for PP-OCRv4 recognition: an evaluation set and a calibration set.

Run with Debian's python3-pil and fonts-dejavu-core:  /usr/bin/python3 testdata/make_ocr_lines.py
Writes testdata/ocr/lines/eval/NNN.png (40 lines, their strings in eval.txt) and
testdata/ocr/lines/calib/NNN.png (256 lines): 8-bit grayscale PNGs at the size the text
renders, dark text on a light background, fonts and sizes varied. `compress` reads such a
folder with --preprocess fit=48x320,mean=0.5,std=0.5 (PaddleOCR's recognition preprocessing:
height 48, aspect kept, right-padded). Seeded: the same files every run.
"""
import os
import random
from PIL import Image, ImageDraw, ImageFont

HERE = os.path.dirname(os.path.abspath(__file__))
FONTS = "/usr/share/fonts/truetype/dejavu/"
FACES = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf",
         "DejaVuSerif-Bold.ttf", "DejaVuSansCondensed.ttf", "DejaVuSans-Oblique.ttf"]
WORDS = ("invoice total amount date order number customer account payment balance due paid "
         "receipt item quantity price tax discount shipping address street city country phone "
         "email reference model integer quantization compress network layer tensor budget "
         "report accuracy latency kernel matrix vector scale zero point weight activation "
         "North South East West Monday Friday January March October December Dyad ONNX").split()


def random_text(rng):
    parts = []
    while sum(len(p) + 1 for p in parts) < rng.randint(8, 22):
        kind = rng.random()
        if kind < 0.6:
            w = rng.choice(WORDS)
            parts.append(w.capitalize() if rng.random() < 0.3 else w)
        elif kind < 0.85:
            parts.append(str(rng.randint(0, 99999)))
        else:
            parts.append(rng.choice(["%.2f" % (rng.random() * 1000), "#%d" % rng.randint(1, 999),
                                     "%02d/%02d/%d" % (rng.randint(1, 28), rng.randint(1, 12), rng.randint(2000, 2030))]))
    return " ".join(parts)


def render(text, rng):
    font = ImageFont.truetype(FONTS + rng.choice(FACES), rng.randint(26, 40))
    left, top, right, bottom = font.getbbox(text)
    pad = rng.randint(4, 10)
    background = rng.randint(215, 255)
    img = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), background)
    ImageDraw.Draw(img).text((pad - left, pad - top), text, font=font, fill=rng.randint(0, 60))
    return img


def write_set(folder, count, rng, with_text):
    os.makedirs(folder, exist_ok=True)
    texts = []
    for i in range(count):
        text = random_text(rng)
        render(text, rng).save(os.path.join(folder, "%03d.png" % i), optimize=True)
        texts.append(text)
    if with_text:
        with open(os.path.join(folder, "eval.txt"), "w") as f:
            f.write("\n".join(texts) + "\n")


def main():
    rng = random.Random(2026)
    write_set(os.path.join(HERE, "ocr", "lines", "eval"), 40, rng, True)
    write_set(os.path.join(HERE, "ocr", "lines", "calib"), 256, rng, False)


if __name__ == "__main__":
    main()
