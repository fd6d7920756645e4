#!/usr/bin/env python3
"""Writes Tests/Fixtures/hostile/: hand-made bad inputs that once hung, aborted or fooled the readers.

Each file is derived from the synthetic test images (no face pixels) or written from scratch; every one
must now end in a one-line error naming the file (Tests/IO/HostileInputTests.cs). Run from the repository
root: python3 tools/fuzz/make_regression_inputs.py
"""
import json
import random
import struct
import zlib
from pathlib import Path

IMAGES = Path("Tests/Fixtures/images")
OUT = Path("Tests/Fixtures/hostile")


def jpeg_with_app0_insertions():
    """Two 63-byte insertions inside the APP0 segment, whose length field no longer matches: the marker
    walk lands in the inserted bytes. StbImageSharp 2.30.16 loops forever on this file."""
    data = bytearray((IMAGES / "synthetic_rgb.jpg").read_bytes())
    rng = random.Random(11)
    for _ in range(2):
        at = rng.randrange(4, 20)
        data[at:at] = bytes(rng.randrange(256) for _ in range(63))
    return bytes(data)


def png_with_huge_chunk():
    """The IDAT chunk claims 2,000,000,000 bytes in a 2.5 KB file."""
    data = bytearray((IMAGES / "synthetic_rgb.png").read_bytes())
    idat = data.index(b"IDAT") - 4
    data[idat:idat + 4] = struct.pack(">I", 2_000_000_000)
    return bytes(data)


def bmp_with(offset, value):
    data = bytearray((IMAGES / "synthetic_rgb.bmp").read_bytes())
    data[offset:offset + 4] = struct.pack("<i", value)
    return bytes(data)


def safetensors(header, data=b""):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def tensor(offsets, shape=(2,)):
    return {"dtype": "F32", "shape": list(shape), "data_offsets": offsets}


def model_with(**architecture):
    """A checkpoint whose metadata names the seed architecture with some fields replaced, holding one small tensor."""
    fields = {"ImageSize": 100, "Channels": [4, 8, 8], "Padding": "Replication", "MaxPool": False,
              "Hidden": [500, 500], "EmbeddingSize": 5, "Normalize": False, "FlipAverage": False}
    fields.update(architecture)
    header = {"__metadata__": {"architecture": json.dumps(fields)},
              "conv_layers.1.weight": tensor([0, 144], (4, 1, 3, 3))}
    return safetensors(header, bytes(144))


FILES = {
    "jpeg_app0_insertions.jpg": jpeg_with_app0_insertions(),
    "png_chunk_length_2e9.png": png_with_huge_chunk(),
    "bmp_width_0.bmp": bmp_with(18, 0),
    "bmp_height_0.bmp": bmp_with(22, 0),
    "name_byte_ff.safetensors": safetensors(b'{"a\xffb": ' + json.dumps(tensor([0, 8])).encode() + b"}", bytes(8)),
    "offsets_null.safetensors": safetensors({"a": tensor([None, 8])}, bytes(8)),
    "offsets_string.safetensors": safetensors({"a": tensor(["0", 8])}, bytes(8)),
    "offsets_array.safetensors": safetensors({"a": tensor([[0], 8])}, bytes(8)),
    "shape_overflow.safetensors": safetensors({"a": tensor([0, 0], (65536, 65536, 65536, 65536))}),
    "channels_null.safetensors": model_with(Channels=None),
    "hidden_null.safetensors": model_with(Hidden=None),
    "embedding_int_max.safetensors": model_with(EmbeddingSize=2147483647),
    "embedding_1e8.safetensors": model_with(EmbeddingSize=100_000_000),
    "image_size_65536.safetensors": model_with(ImageSize=65536),
    "hidden_46000.safetensors": model_with(Hidden=[46000, 46000]),
    # legal sizes (1.5 GB of weights) in a file that holds 36 values: refused before the network is built
    "hidden_4600.safetensors": model_with(Hidden=[4600, 4600]),
}

if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in FILES.items():
        (OUT / name).write_bytes(data)
    print(f"wrote {len(FILES)} files to {OUT}")
