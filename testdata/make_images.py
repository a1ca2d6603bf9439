#!/usr/bin/python3
"""Small images with known pixels for tests/images_test.cc (Debian's python3-pil).

    /usr/bin/python3 testdata/make_images.py

Pixel (y, x) of the 4x3 images is (10y + x, 100 + y, 200 - x) in RGB and 20y + x in gray; the
palette and RGBA files hold the same RGB values. The JPEGs are solid (50, 120, 200) and gray 77.
"""
import os
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images")


def main():
    os.makedirs(OUT, exist_ok=True)
    rgb = Image.new("RGB", (4, 3))
    gray = Image.new("L", (4, 3))
    for y in range(3):
        for x in range(4):
            rgb.putpixel((x, y), (10 * y + x, 100 + y, 200 - x))
            gray.putpixel((x, y), 20 * y + x)
    rgb.save(os.path.join(OUT, "rgb_4x3.png"))
    gray.save(os.path.join(OUT, "gray_4x3.png"))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(os.path.join(OUT, "rgba_4x3.png"))
    palette = Image.new("P", (4, 3))  # one palette entry per pixel, so the colours stay exact
    entries = []
    for y in range(3):
        for x in range(4):
            palette.putpixel((x, y), len(entries) // 3)
            entries += [10 * y + x, 100 + y, 200 - x]
    palette.putpalette(entries + [0] * (768 - len(entries)))
    palette.save(os.path.join(OUT, "palette_4x3.png"))
    Image.new("RGB", (8, 8), (50, 120, 200)).save(os.path.join(OUT, "solid_8x8.jpg"), quality=95)
    Image.new("L", (8, 8), 77).save(os.path.join(OUT, "gray_8x8.jpg"), quality=95)


if __name__ == "__main__":
    main()
