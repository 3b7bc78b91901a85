"""Test support: random (untrained) weights for CMU's Caffe prototxt files, written as a real .caffemodel.

CMU's trained weights (100-200 MB) are not available here. OpenCV's Caffe importer needs the blobs of every
Convolution/PReLU layer, so we infer each layer's shape from the prototxt and write a NetParameter protobuf by
hand (only the fields OpenCV reads: layer name, type, blob shape and data). Loading it goes through exactly the
user's path: ``readNetFromCaffe(prototxt, caffemodel)``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:  # length-delimited field
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _blob(arr: np.ndarray) -> bytes:
    shape = _field(1, b"".join(_varint(int(d)) for d in arr.shape))  # BlobShape.dim, packed
    data = _field(5, np.ascontiguousarray(arr, dtype="<f4").tobytes())  # BlobProto.data, packed
    return _field(7, shape) + data  # BlobProto.shape = 7


def _layers(text: str):
    for block in re.findall(r"layer\s*\{(.*?)\n\}", text, re.S):
        get = lambda key: re.findall(rf'\b{key}:\s*"?([\w./-]+)"?', block)  # noqa: E731
        yield {"name": get("name")[0], "type": get("type")[0], "bottom": get("bottom"), "top": get("top"),
               "num_output": int((get("num_output") or [0])[0]), "kernel": int((get("kernel_size") or [1])[0]),
               "group": int((get("group") or [1])[0])}


def write_random_caffemodel(prototxt: Path, dst: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"image": 3, "data": 3}
    out = bytearray()
    for layer in _layers(Path(prototxt).read_text()):
        bottoms = [channels[b] for b in layer["bottom"]]
        if layer["type"] == "Convolution":
            cin = bottoms[0] // layer["group"]
            k, cout = layer["kernel"], layer["num_output"]
            w = rng.standard_normal((cout, cin, k, k), dtype=np.float32) * np.float32(np.sqrt(2.0 / (cin * k * k)))
            blobs = [w, np.zeros(cout)]
            c = cout
        elif layer["type"] == "PReLU":
            blobs, c = [np.full(bottoms[0], 0.25)], bottoms[0]
        elif layer["type"] == "Concat":
            blobs, c = [], sum(bottoms)
        else:
            blobs, c = [], bottoms[0] if bottoms else 3
        for top in layer["top"]:
            channels[top] = c
        if blobs:
            body = _field(1, layer["name"].encode()) + _field(2, layer["type"].encode())
            body += b"".join(_field(7, _blob(b)) for b in blobs)
            out += _field(100, body)  # NetParameter.layer
    dst.write_bytes(bytes(out))
    return dst
