"""MoveNet SinglePose: the network's four heads decoded in numpy, and a small thread-safe runner.

MoveNet (Google; Thunder 256x256, Lightning 192x192) finds one person roughly centred in a square RGB crop.
:mod:`posekit.convert_tfjs` turns the TF.js graph into an ONNX graph of the network up to its heads, which
every engine of :mod:`posekit.backends` runs. :func:`decode` is MoveNet's own decoding, step by step as the
TF graph does it (so the keypoints match the original model's to float precision):

1. **Centre**: the person-centre heatmap weighted by ``1 / (distance to the grid centre + 1.8)`` (the crop is
   made around the person, so the person nearest the middle wins); its arg-max is the centre cell.
2. **Regression**: at the centre cell, 17 (dy, dx) vectors give a rough position of every keypoint.
3. **Re-weighting**: each keypoint heatmap is divided by ``distance to its regressed position + 1.8``, so a
   keypoint of another person further away loses; its arg-max is the keypoint's cell, its heatmap value there
   the keypoint's score.
4. **Offsets**: the (dy, dx) offset at that cell refines the position within the cell; the result is divided
   by the grid size: (y, x) in 0-1 of the crop.

The TF graph stores its decoding constants as float16 (1.8 -> 1.7998, 1/48 -> 0.020828); they are rounded
the same way here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .backends import create_runner, get_backend
from .models import ModelSpec, get_model, resolve

#: MoveNet's keypoints, in COCO-17's order (:data:`posekit.layouts.COCO17_KEYPOINTS`).
NUM_KEYPOINTS = 17
#: Channels of the converted graph's single output.
HEATMAPS = slice(0, 17)
CENTRE = 17
REGRESS = slice(18, 52)
OFFSETS = slice(52, 86)
_EPS = float(np.float16(1.8))  # the graph's "add_5/y", stored as float16


def centre_weight(grid: int) -> np.ndarray:
    """(grid, grid) weight of the centre heatmap: 1 / (distance to the middle + 1.8), float16 as in the graph."""
    yy, xx = np.mgrid[0:grid, 0:grid].astype(np.float32)
    half = grid / 2.0
    w = 1.0 / (np.sqrt((yy - half) ** 2 + (xx - half) ** 2) + 1.8)
    return w.astype(np.float16).astype(np.float32)


_weights: dict[int, np.ndarray] = {}


def decode(heads: np.ndarray) -> np.ndarray:
    """MoveNet's decoding of one crop's heads (86, g, g) -> (17, 3) float32 rows of (y, x, score), y and x in
    0-1 of the crop. A batch (N, 86, g, g) gives (N, 17, 3)."""
    heads = np.asarray(heads, np.float32)
    if heads.ndim == 4:
        return np.stack([decode(h) for h in heads]) if len(heads) else np.zeros((0, 17, 3), np.float32)
    if heads.ndim != 3 or heads.shape[0] != 86 or heads.shape[1] != heads.shape[2]:
        raise ValueError(f"expected MoveNet heads of shape (86, g, g), got {heads.shape}")
    g = heads.shape[1]
    if g not in _weights:
        _weights[g] = centre_weight(g)
    heat, centre = heads[HEATMAPS], heads[CENTRE]
    regress = heads[REGRESS].reshape(NUM_KEYPOINTS, 2, g, g)
    offsets = heads[OFFSETS].reshape(NUM_KEYPOINTS, 2, g, g)

    c = int(np.argmax((centre * _weights[g]).ravel()))
    cy, cx = divmod(c, g)
    reg = regress[:, :, cy, cx]  # (17, 2): dy, dx from the centre
    ry = cy + reg[:, 0]
    rx = cx + reg[:, 1]
    yy = np.arange(g, dtype=np.float32)
    # sqrt((y - ry)^2 + (x - rx)^2) + 1.8 for every keypoint: (17, g, g)
    dist = np.sqrt((yy[None, :, None] - ry[:, None, None]) ** 2 + (yy[None, None, :] - rx[:, None, None]) ** 2)
    scored = heat / (dist + np.float32(_EPS))
    idx = np.argmax(scored.reshape(NUM_KEYPOINTS, -1), axis=1)
    ky, kx = np.divmod(idx, g)
    k = np.arange(NUM_KEYPOINTS)
    off = offsets[k, :, ky, kx]  # (17, 2)
    inv = np.float32(np.float16(1.0 / g))
    out = np.empty((NUM_KEYPOINTS, 3), np.float32)
    out[:, 0] = (ky + off[:, 0]) * inv
    out[:, 1] = (kx + off[:, 1]) * inv
    out[:, 2] = heat[k, ky, kx]
    return out


@dataclass(frozen=True)
class Crop:
    """A square window of an image: ``side`` pixels from (x0, y0) (may reach outside the image: padded).

    Continuous coordinates: pixel i covers [i, i + 1); the crop covers [x0, x0 + side) x [y0, y0 + side)."""

    x0: float
    y0: float
    side: float

    def to_image(self, yx: np.ndarray) -> np.ndarray:
        """(K, 2) (y, x) in 0-1 of the crop -> (K, 2) (x, y) in image pixels (pixel centres at integers)."""
        yx = np.asarray(yx, np.float32)
        return np.stack([self.x0 + yx[:, 1] * self.side - 0.5, self.y0 + yx[:, 0] * self.side - 0.5], axis=1)


def crop_square(image: np.ndarray, crop: Crop, size: int, border: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """``crop`` of ``image`` resized to ``size`` x ``size`` (one affine warp; outside the image: ``border``).

    Pixel centres are mapped exactly: the crop's 0-1 coordinates are the output's too (u = (j + 0.5) / size).
    """
    s = crop.side / size
    m = np.array([[s, 0.0, crop.x0 + 0.5 * s - 0.5], [0.0, s, crop.y0 + 0.5 * s - 0.5]], np.float64)
    # Shrinking by a lot with a bilinear warp aliases: blur first, as a resize with INTER_AREA would.
    src = image
    if s > 2.0:
        k = int(2 * round(s / 2) + 1)
        x0, y0 = max(0, int(crop.x0) - k), max(0, int(crop.y0) - k)
        x1 = min(image.shape[1], int(np.ceil(crop.x0 + crop.side)) + k)
        y1 = min(image.shape[0], int(np.ceil(crop.y0 + crop.side)) + k)
        if x1 <= x0 or y1 <= y0:
            return np.full((size, size, 3), border, np.uint8)
        src = cv2.blur(image[y0:y1, x0:x1], (k, k))
        m[0, 2] -= x0
        m[1, 2] -= y0
    return cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border)


class MoveNet:
    """MoveNet SinglePose on square crops, on any backend of :mod:`posekit.backends`; thread-safe.

    >>> mn = MoveNet("movenet_thunder", backend="cpu")
    >>> yx_score = mn.predict(crops_rgb)      # (N, 17, 3): y, x in 0-1 of each crop, score
    """

    def __init__(self, model: str | ModelSpec = "movenet_thunder", backend: str = "cpu", *, download: bool = True):
        self.spec = get_model(model)
        if self.spec.format != "tfjs":
            raise ValueError(f"{self.spec.name} is not a MoveNet model")
        self.size = self.spec.input_size[0]
        self.requested_backend = get_backend(backend).name
        self.path: Path = resolve(self.spec, download_missing=download)
        self._runner, self.backend, self.backend_message = create_runner(
            self.spec, self.requested_backend, weights=self.path)
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"MoveNet(model={self.spec.name!r}, backend={self.backend!r})"

    def heads(self, crops_rgb: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) RGB uint8 (or 0-255 float) crops -> (N, 86, g, g) heads, in one forward."""
        crops = np.asarray(crops_rgb)
        if crops.ndim == 3:
            crops = crops[None]
        if crops.ndim != 4 or crops.shape[1:] != (self.size, self.size, 3):
            raise ValueError(f"{self.spec.name} takes (N, {self.size}, {self.size}, 3) RGB crops, got {crops.shape}")
        blob = np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32)
        with self._lock:
            return _run_batch(self._runner, blob)

    def predict(self, crops_rgb: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) RGB crops -> (N, 17, 3): y, x in 0-1 of the crop and the keypoint score."""
        return decode(self.heads(crops_rgb))


def _run_batch(runner, blob: np.ndarray) -> np.ndarray:
    """The whole (N, C, h, w) output of a runner from :func:`posekit.backends.create_runner` (their
    ``__call__`` returns the first image only)."""
    engine = runner.engine
    if engine == "opencv":
        runner.net.setInput(blob)
        return np.array(runner.net.forward(), copy=True)
    if engine == "ort":
        return runner.session.run(None, {runner.input_name: blob})[0]
    if engine == "openvino":
        return np.array(runner.request.infer({0: blob})[0], copy=True)
    raise ValueError(f"unknown engine {engine}")  # pragma: no cover
