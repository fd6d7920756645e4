"""The safetensors format as the fixtures use it: an encoder, a strict decoder and a write that reads its file back.

An 8-byte little-endian u64 header length, a UTF-8 JSON header
    {name: {"dtype": "F32"|"I64", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}}
padded with spaces to a multiple of 8, then the raw little-endian data of the tensors in the header's
order (offsets relative to the end of the header).
"""
import json
import math
import struct
from pathlib import Path

import numpy as np
import torch

DTYPES = {torch.float32: ("F32", np.dtype("<f4")), torch.int64: ("I64", np.dtype("<i8"))}
NUMPY_DTYPES = {code: np_dtype for code, np_dtype in DTYPES.values()}


def encode_safetensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    header, blobs, offset = {}, [], 0
    for name, tensor in tensors.items():
        code, np_dtype = DTYPES[tensor.dtype]
        data = tensor.detach().contiguous().numpy().astype(np_dtype, copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def decode_safetensors(blob: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    if len(blob) < 8:
        raise ValueError("file shorter than the header length field")
    (header_length,) = struct.unpack_from("<Q", blob, 0)
    if header_length % 8 != 0 or 8 + header_length > len(blob):
        raise ValueError(f"bad header length {header_length} for a {len(blob)}-byte file")
    header = json.loads(blob[8:8 + header_length].decode("utf-8"))
    metadata = header.pop("__metadata__")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ValueError("__metadata__ must map str to str")
    data = memoryview(blob)[8 + header_length:]
    arrays, expected_begin = {}, 0
    for name, entry in header.items():
        np_dtype = NUMPY_DTYPES[entry["dtype"]]
        shape = entry["shape"]
        begin, end = entry["data_offsets"]
        if begin != expected_begin or end - begin != math.prod(shape) * np_dtype.itemsize or end > len(data):
            raise ValueError(f"{name}: offsets {begin}..{end} do not fit shape {shape} {entry['dtype']}")
        arrays[name] = np.frombuffer(data[begin:end], dtype=np_dtype).reshape(shape)
        expected_begin = end
    if expected_begin != len(data):
        raise ValueError(f"{len(data) - expected_begin} trailing bytes after the last tensor")
    return arrays, metadata


def write_fixture(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_safetensors(tensors, metadata))
    check_round_trip(path, tensors, metadata)


def check_round_trip(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    arrays, read_metadata = decode_safetensors(path.read_bytes())
    assert read_metadata == metadata, f"{path}: metadata differs after reading back"
    assert list(arrays) == list(tensors), f"{path}: tensor names or order differ after reading back"
    for name, tensor in tensors.items():
        original = tensor.detach().contiguous().numpy()
        read = arrays[name]
        assert read.shape == original.shape and read.dtype == original.dtype.newbyteorder("<"), f"{path}: {name}"
        assert read.tobytes() == original.tobytes(), f"{path}: {name} bytes differ after reading back"
