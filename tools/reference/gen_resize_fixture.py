#!/usr/bin/python3
"""Reference outputs of the image pipeline from PIL: Image.open(p).convert("L") then
resize(size, Image.BILINEAR), the input transform of the seed model.

Run with Debian's python3-pil (9.4) from the repository root:
    /usr/bin/python3 tools/reference/gen_resize_fixture.py

Writes Tests/Fixtures/resize_pil.json and the small generated images it refers to in
Tests/Fixtures/images/. AT&T faces (Olivetti Research Laboratory, Cambridge) are read from
../shared/data/att_faces beside the repository; for them only the images' relative paths and the
SHA-256 digest and byte sum of PIL's 100x100 output are stored, never pixels of a face.
"""
import base64
import hashlib
import json
import os
import random

import PIL
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")
IMAGES = os.path.join(FIXTURES, "images")
ATT = os.path.join(os.path.dirname(REPO), "shared", "data", "att_faces")
ATT_SOURCES = [
    "training/s1/1.pgm",
    "training/s1/2.pgm",
    "training/s10/5.pgm",
    "training/s23/8.pgm",
    "training/s35/10.pgm",
    "testing/s5/3.pgm",
]
SIZES = [(100, 100), (16, 9), (37, 60)]


def b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def reference(path, sizes):
    gray = Image.open(path).convert("L")
    return {
        "width": gray.width,
        "height": gray.height,
        "gray": b64(gray.tobytes()),
        "resized": [
            {"width": w, "height": h, "pixels": b64(gray.resize((w, h), Image.BILINEAR).tobytes())}
            for (w, h) in sizes
        ],
    }


def random_rgb(rng, width, height):
    # smooth ramps plus noise, so resampling has structure to preserve
    pixels = []
    for y in range(height):
        for x in range(width):
            pixels.append((
                (x * 255 // (width - 1) + rng.randrange(-20, 21)) % 256,
                (y * 255 // (height - 1)) ^ rng.randrange(64),
                rng.randrange(256),
            ))
    image = Image.new("RGB", (width, height))
    image.putdata(pixels)
    return image


def netpbm_files(rng):
    """Odd maxvals, plain and binary, comments: the cases where PIL rescales samples."""
    w, h = 7, 5

    def samples(maxval, bands):
        return [rng.randrange(maxval + 1) for _ in range(w * h * bands)]

    def plain(magic, maxval, bands):
        values = samples(maxval, bands)
        lines = [f"{magic}\n# generated\n{w} {h}\n{maxval}\n"]
        for row in range(h):
            line = values[row * w * bands:(row + 1) * w * bands]
            lines.append(" ".join(str(v) for v in line) + ("  # row comment\n" if row == 1 else "\n"))
        return "".join(lines).encode("ascii")

    def binary(magic, maxval, bands):
        values = samples(maxval, bands)
        raster = bytearray()
        for v in values:
            raster += v.to_bytes(2, "big") if maxval > 255 else bytes([v])
        return f"{magic} #comment in the header\n{w}\t{h}\r\n{maxval}\n".encode("ascii") + bytes(raster)

    return {
        "p2_maxval6.pgm": plain("P2", 6, 1),
        "p3_maxval1000.ppm": plain("P3", 1000, 3),
        "p5_maxval100.pgm": binary("P5", 100, 1),
        "p6_maxval65535.ppm": binary("P6", 65535, 3),
    }


def main():
    os.makedirs(IMAGES, exist_ok=True)
    rng = random.Random(20240611)
    rgb = random_rgb(rng, 37, 23)
    generated = {}
    rgb.save(os.path.join(IMAGES, "synthetic_rgb.png"))
    generated["synthetic_rgb.png"] = "RGB"
    rgb.save(os.path.join(IMAGES, "synthetic_rgb.bmp"))
    generated["synthetic_rgb.bmp"] = "RGB"
    rgb.resize((111, 97), Image.BICUBIC).save(os.path.join(IMAGES, "synthetic_rgb.jpg"), quality=90)
    generated["synthetic_rgb.jpg"] = "RGB"
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    rgba.save(os.path.join(IMAGES, "synthetic_rgba.png"))
    generated["synthetic_rgba.png"] = "RGBA"
    palette = rgb.quantize(colors=16)
    palette.save(os.path.join(IMAGES, "synthetic_palette.png"))
    generated["synthetic_palette.png"] = "P"
    for name, data in netpbm_files(rng).items():
        with open(os.path.join(IMAGES, name), "wb") as f:
            f.write(data)
        generated[name] = Image.open(os.path.join(IMAGES, name)).mode

    fixture = {
        "generator": "tools/reference/gen_resize_fixture.py",
        "pil_version": PIL.__version__,
        "transform": 'Image.open(p).convert("L").resize((w, h), Image.BILINEAR)',
        "files": [],
        "att_faces": [],
    }
    for name, mode in generated.items():
        entry = {"file": "images/" + name, "mode": mode}
        entry.update(reference(os.path.join(IMAGES, name), SIZES))
        fixture["files"].append(entry)
    if not os.path.isdir(ATT):
        raise SystemExit(f"AT&T faces not found at {ATT}")
    for source in ATT_SOURCES:
        gray = Image.open(os.path.join(ATT, source)).convert("L")
        resized = gray.resize((100, 100), Image.BILINEAR).tobytes()
        fixture["att_faces"].append({
            "source": source, "width": gray.width, "height": gray.height, "resized_width": 100, "resized_height": 100,
            "sha256": hashlib.sha256(resized).hexdigest(), "sum": sum(resized),
        })

    with open(os.path.join(FIXTURES, "resize_pil.json"), "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
