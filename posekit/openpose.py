"""The first stage: an OpenPose-style network (heatmaps + part affinity fields) run on the letterboxed image,
and its output grouped into people (:mod:`posekit.grouping`), keypoints in image pixels.

:class:`OpenPose` finds everyone in an image at once; a second stage (:mod:`posekit.refine`) may then look at
each person again, and :class:`posekit.estimator.PoseEstimator` composes the two.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from . import grouping
from .backends import DEFAULT_BACKEND, create_runner, get_backend
from .errors import InvalidInputError, ModelError
from .layouts import Layout, get_layout
from .letterbox import (
    AUTO_MAX_WIDTH,
    SIZE_MULTIPLE,
    Letterbox,
    auto_input_size,
    letterbox_size,
    resample_output,
    shrink,
)
from .models import DEFAULT_MODEL, ModelSpec, get_model, resolve, resolve_config
from .pose import Pose
from .screen import drop_fragments

#: The fewest keypoints of a weak group :meth:`OpenPose.weak_people` offers a second stage.
WEAK_MIN_KEYPOINTS = 3


@dataclass
class Inference:
    """The network's raw output for one image, with the letterbox that maps it back to the image."""

    output: np.ndarray  # (C, h, w) float32: heatmaps, background, PAFs
    letterbox: Letterbox
    layout: Layout
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage

    def _to_image(self, grid_map: np.ndarray) -> np.ndarray:
        w, h = self.letterbox.image_size
        s, st = self.letterbox.scale, self.letterbox.stride
        # Upsample the grid to input pixels (cell centres at (i + 0.5) * stride - 0.5), crop the padding,
        # then resize the image's part to the image size.
        up = cv2.resize(grid_map, None, fx=st, fy=st, interpolation=cv2.INTER_CUBIC)
        vw, vh = max(1, round(w * s)), max(1, round(h * s))
        return cv2.resize(up[:vh, :vw], (w, h), interpolation=cv2.INTER_LINEAR)

    def heatmap(self, keypoint: int | str) -> np.ndarray:
        """The heatmap of one keypoint (index or name; "background" for the background) at image size."""
        if isinstance(keypoint, str):
            k = self.layout.num_keypoints if keypoint.lower() == "background" else self.layout.index(keypoint)
        else:
            k = keypoint
        return self._to_image(self.output[k])

    def paf(self, limb: int) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) part affinity field of limb ``limb`` (an index into ``layout.limbs``) at image size."""
        cx, cy = self.layout.paf_channels[limb]
        return self._to_image(self.output[cx]), self._to_image(self.output[cy])

    def decode(self, *, threshold: float = 0.1, paf_threshold: float = 0.05, min_keypoints: int = 4,
               extend: bool = True, min_score: float = 0.4) -> list[Pose]:
        """People in image pixels. Keypoints are looked for in the image only, not in the letterbox padding
        (the network sees the image's edge and would otherwise "continue" cut-off limbs into the padding).
        ``min_score``: the grouping's lowest average score per keypoint (OpenPose's 0.4)."""
        out = self.output
        vw, vh = self.letterbox.valid_grid
        if (vw, vh) != (out.shape[2], out.shape[1]):
            out = out.copy()
            out[: self.layout.num_keypoints, vh:, :] = 0.0
            out[: self.layout.num_keypoints, :, vw:] = 0.0
        poses = grouping.decode(out, self.layout, threshold=threshold, paf_threshold=paf_threshold,
                                min_keypoints=min_keypoints, min_score=min_score, extend_people=extend)
        for p in poses:
            vis = p.keypoints[:, 2] > 0
            p.keypoints[vis, :2] = self.letterbox.grid_to_image(p.keypoints[vis, :2])
        return poses


def as_bgr(image: np.ndarray) -> np.ndarray:
    """Validate an image array and return it as 3-channel BGR uint8 (gray and BGRA are converted)."""
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"expected an image array, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidInputError(f"expected an H x W x 3 BGR image, got an array of shape {image.shape}")
    if image.dtype != np.uint8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)
        elif np.issubdtype(image.dtype, np.floating):
            image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        else:
            raise InvalidInputError(f"unsupported image dtype {image.dtype}")
    if image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def fixed_input_size(input_size: tuple[int, int] | str | None, spec: ModelSpec) -> tuple[int, int] | None:
    """The network input (w, h) that ``input_size`` fixes: None for ``"auto"`` (chosen per image), the model's
    own for ``"model"``, else the (width, height) given."""
    if input_size is None or (isinstance(input_size, str) and input_size == "auto"):
        return None
    if isinstance(input_size, str):
        if input_size != "model":
            raise ValueError(f"input_size must be 'auto', 'model' or (width, height), got {input_size!r}")
        return tuple(spec.input_size)
    return (int(input_size[0]), int(input_size[1]))


class OpenPose:
    """The first stage: multi-person 2D pose estimation with an OpenPose-style network (any engine of
    :mod:`posekit.backends`) and OpenPose's grouping. An :class:`posekit.estimator.Estimator` on its own.

    >>> first = OpenPose("mobilenet_v2_1.4", backend="cpu")
    >>> poses = first.estimate(cv2.imread("people.jpg"))   # list[Pose], keypoints in image pixels

    One instance may be shared by many threads: the network runs under a lock (``cv2.dnn.Net`` is not
    thread-safe), everything else works on per-call data. :meth:`with_threshold` gives a view with another
    keypoint threshold that shares the network and its lock.

    Args: ``model``, ``backend``, ``threshold``, ``paf_threshold``, ``min_keypoints``, ``extend``,
    ``input_size``, ``scales``, ``net`` and ``download`` as :class:`posekit.estimator.PoseEstimator` takes them.
    """

    #: Converted graphs kept compiled at once (ONNX Runtime and OpenVINO need one per input size).
    MAX_RUNNERS = 12
    #: Safe to call from several threads at once (video pipelines estimate frames ahead in worker threads).
    thread_safe = True

    def __init__(self, model: str | ModelSpec = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND, threshold: float = 0.1,
                 *, paf_threshold: float = 0.05, min_keypoints: int = 4, extend: bool = True,
                 input_size: tuple[int, int] | str | None = "auto", scales: Sequence[float] = (1.0,),
                 net: cv2.dnn.Net | None = None, download: bool = True):
        self.spec = get_model(model)
        if self.spec.format == "tfjs":
            raise ModelError(f"{self.spec.name} is a second-stage model (one person per crop): use "
                             f"PoseEstimator(refine={self.spec.name!r}) with a first-stage model")
        self.layout = get_layout(self.spec.layout)
        self.requested_backend = get_backend(backend).name
        self.threshold = float(threshold)
        self.paf_threshold = float(paf_threshold)
        self.min_keypoints = int(min_keypoints)
        self.extend = bool(extend)
        self.input_size = fixed_input_size(input_size, self.spec)  # None: chosen per image
        self.scales = tuple(sorted({float(s) for s in scales}, reverse=True)) or (1.0,)
        if any(not 0.2 <= s <= 3.0 for s in self.scales):
            raise ValueError(f"scales must lie between 0.2 and 3, got {scales}")
        self._download = download
        first = self.input_size or tuple(self.spec.input_size)
        if net is None:
            weights = resolve(self.spec, download_missing=download, input_size=first)
            self._config = resolve_config(self.spec, download_missing=download)
        else:
            weights = self._config = None
        runner, self.backend, self.backend_message = create_runner(
            self.spec, self.requested_backend, weights=weights, config=self._config, net=net)
        # OpenCV's net and the int8 graph take any input size; ONNX Runtime and OpenVINO float run one converted
        # graph per size.
        self._one_runner = runner if getattr(runner, "any_size", runner.engine == "opencv") else None
        self._runners: OrderedDict[tuple[int, int], Callable] = OrderedDict({first: runner})
        self._lock = threading.Lock()
        self.last_timings: dict[str, float] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"OpenPose(model={self.spec.name!r}, backend={self.backend!r}, threshold={self.threshold})"

    def with_threshold(self, threshold: float) -> "OpenPose":
        """This stage with another keypoint threshold: a cheap view sharing the network, its runners and lock."""
        view = copy.copy(self)
        view.threshold = float(threshold)
        view.last_timings = {}
        return view

    def network_size(self, width: int, height: int, scale: float = 1.0) -> tuple[int, int]:
        """The network input (w, h) used for an image of ``width`` x ``height`` at a scale factor."""
        if self.input_size is not None:
            w, h = self.input_size
            if scale == 1.0:
                return w, h
            return (max(SIZE_MULTIPLE, int(round(w * scale / SIZE_MULTIPLE)) * SIZE_MULTIPLE),
                    max(SIZE_MULTIPLE, int(round(h * scale / SIZE_MULTIPLE)) * SIZE_MULTIPLE))
        base_h = self.spec.input_size[1] * scale
        return auto_input_size(width, height, int(round(base_h)),
                               max_width=int(round(AUTO_MAX_WIDTH * max(scale, 1.0))))

    def preprocess(self, image: np.ndarray, input_size: tuple[int, int] | None = None
                   ) -> tuple[np.ndarray, Letterbox]:
        """Letterbox ``image`` into the network input (aspect ratio kept, padded at right/bottom) as NCHW.
        ``input_size`` (w, h) defaults to :meth:`network_size` of the image."""
        image = as_bgr(image)
        h, w = image.shape[:2]
        in_w, in_h = input_size or self.network_size(w, h)
        scale, (rw, rh) = letterbox_size(w, h, (in_w, in_h))
        if (rw, rh) != (w, h):
            image = shrink(image, (rw, rh))
        # Written straight into the NCHW blob (what blobFromImage on a black-padded image gives, in half the
        # time): (pixel - mean) * scale, and the padding as black pixels would be.
        mean, pixel_scale = float(self.spec.mean), float(self.spec.scale)
        blob = np.full((1, 3, in_h, in_w), -mean * pixel_scale, np.float32)
        view = blob[0, :, :rh, :rw]
        view[...] = image.transpose(2, 0, 1)
        if mean:
            view -= mean
        if pixel_scale != 1.0:
            view *= pixel_scale
        return blob, Letterbox(scale, (w, h), (in_w, in_h), self.spec.stride)

    def _runner(self, size: tuple[int, int]) -> Callable:
        """The runner for an input size (called under the lock): converted and compiled on first use."""
        if self._one_runner is not None:
            return self._one_runner
        runner = self._runners.get(size)
        if runner is None:
            weights = resolve(self.spec, download_missing=self._download, input_size=size)
            runner, _, _ = create_runner(self.spec, self.backend, weights=weights, config=self._config)
            self._runners[size] = runner
            while len(self._runners) > self.MAX_RUNNERS:
                self._runners.popitem(last=False)
        else:
            self._runners.move_to_end(size)
        return runner

    def runner(self, size: tuple[int, int]) -> Callable:
        """The runner (see :func:`posekit.backends.create_runner`) for input size (w, h), compiled on first use."""
        with self._lock:
            return self._runner(size)

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """The bare network: an NCHW blob in, the (C, h, w) output out. Serialised across threads, except on
        runners that are safe to share (OpenVINO)."""
        size = (int(blob.shape[3]), int(blob.shape[2]))
        with self._lock:
            runner = self._runner(size)
            if not getattr(runner, "thread_safe", False):  # only OpenVINO's runner says it is
                return runner(blob)
        return runner(blob)  # safe to call from several threads at once (OpenVINO's runner)

    def _infer_once(self, image: np.ndarray, scale: float, timings: dict[str, float]
                    ) -> tuple[np.ndarray, Letterbox]:
        t0 = time.perf_counter()
        h, w = image.shape[:2]
        blob, lb = self.preprocess(image, self.network_size(w, h, scale))
        t1 = time.perf_counter()
        out = self.forward(blob)
        t2 = time.perf_counter()
        if out.shape[0] != self.layout.num_channels:
            raise RuntimeError(f"{self.spec.name} produced {out.shape[0]} channels, "
                               f"{self.layout.name} needs {self.layout.num_channels}")
        timings["preprocess"] = timings.get("preprocess", 0.0) + (t1 - t0) * 1e3
        timings["forward"] = timings.get("forward", 0.0) + (t2 - t1) * 1e3
        return out, lb

    def infer(self, image: np.ndarray) -> Inference:
        """Preprocess and run the network (once per scale); the raw maps with the transform back to the image.
        With several scales the maps are those of the largest scale's grid, averaged over the scales."""
        image = as_bgr(image)
        timings: dict[str, float] = {}
        out, lb = self._infer_once(image, self.scales[0], timings)
        if len(self.scales) > 1:
            total, merge = out.astype(np.float32, copy=True), 0.0
            for s in self.scales[1:]:
                o, l2 = self._infer_once(image, s, timings)
                t0 = time.perf_counter()
                total += resample_output(o, l2, lb, out.shape[1:])
                merge += time.perf_counter() - t0
            out = total / len(self.scales)
            timings["merge scales"] = merge * 1e3
        return Inference(out, lb, self.layout, timings)

    def decode(self, inf: Inference, threshold: float | None = None) -> list[Pose]:
        """The people in ``inf`` (from :meth:`infer`) with this stage's grouping settings (keypoint and PAF
        thresholds, minimum keypoints, the second chance), in image pixels; "people" that are pieces of a
        better-found person (:func:`posekit.screen.drop_fragments`) left out."""
        poses = inf.decode(threshold=self.threshold if threshold is None else float(threshold),
                           paf_threshold=self.paf_threshold, min_keypoints=self.min_keypoints,
                           extend=self.extend)
        return drop_fragments(poses)

    def weak_people(self, inf: Inference, people: list[Pose], threshold: float | None = None) -> list[Pose]:
        """The groups of keypoints :meth:`decode` leaves out as too weak (at least :data:`WEAK_MIN_KEYPOINTS`
        keypoints, any score), that share no keypoint with ``people`` (the people it kept) and are no piece of
        one (:func:`posekit.screen.drop_fragments`): people the network saw faintly (small, blurred, low
        resolution), for a second stage to confirm (:meth:`posekit.refine.MoveNetRefiner.confirm`)."""
        found = inf.decode(threshold=self.threshold if threshold is None else float(threshold),
                           paf_threshold=self.paf_threshold, min_keypoints=WEAK_MIN_KEYPOINTS,
                           extend=self.extend, min_score=0.0)
        taken = [p.keypoints[p.visible, :2] for p in people]
        weak = [p for p in found
                if not any(np.any(np.abs(t[:, None] - p.keypoints[p.visible, :2][None]).sum(-1) < 1e-3) for t in taken)]
        kept = drop_fragments([*people, *weak])
        return [p for p in weak if any(p is k for k in kept)]

    def estimate(self, image: np.ndarray, threshold: float | None = None) -> list[Pose]:
        """All people found in a BGR image, keypoints in image pixels, most confident first. ``threshold``
        (default: this stage's) is the minimum heatmap peak for a keypoint. The call's timings (milliseconds
        per step) are left in :attr:`last_timings`."""
        return self.estimate_with_maps(image, threshold)[0]

    def estimate_with_maps(self, image: np.ndarray, threshold: float | None = None
                           ) -> tuple[list[Pose], Inference]:
        """:meth:`estimate` and the maps it decoded (what a second stage's joints are checked against:
        :mod:`posekit.screen`)."""
        inf = self.infer(image)
        t0 = time.perf_counter()
        poses = self.decode(inf, threshold)
        inf.timings["decode"] = (time.perf_counter() - t0) * 1e3
        self.last_timings = inf.timings
        return sorted(poses, key=lambda p: -p.score), inf
