"""PoseEstimator: letterbox the image, run the network (thread-safe), decode people from heatmaps and PAFs."""

from __future__ import annotations

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
from .models import DEFAULT_MODEL, ModelSpec, get_model, resolve, resolve_config
from .pose import Pose
from .refine import DEFAULT_MARGIN, DEFAULT_MAX_PEOPLE


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed into the network input: resized by ``scale``, at the top-left corner.

    Output-grid coordinates map to image pixels by ``x = ((gx + 0.5) * stride - 0.5) / scale``.
    """

    scale: float
    image_size: tuple[int, int]  # (width, height) of the original image
    input_size: tuple[int, int]  # (width, height) of the network input
    stride: int

    def grid_to_image(self, xy: np.ndarray) -> np.ndarray:
        return ((np.asarray(xy, np.float32) + 0.5) * self.stride - 0.5) / self.scale

    @property
    def valid_grid(self) -> tuple[int, int]:
        """(width, height) of the output grid covered by the image (the rest is padding)."""
        w, h = self.image_size
        return (min(int(np.ceil(w * self.scale / self.stride)), self.input_size[0] // self.stride),
                min(int(np.ceil(h * self.scale / self.stride)), self.input_size[1] // self.stride))


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
               extend: bool = True) -> list[Pose]:
        """People in image pixels. Keypoints are looked for in the image only, not in the letterbox padding
        (the network sees the image's edge and would otherwise "continue" cut-off limbs into the padding)."""
        out = self.output
        vw, vh = self.letterbox.valid_grid
        if (vw, vh) != (out.shape[2], out.shape[1]):
            out = out.copy()
            out[: self.layout.num_keypoints, vh:, :] = 0.0
            out[: self.layout.num_keypoints, :, vw:] = 0.0
        poses = grouping.decode(out, self.layout, threshold=threshold, paf_threshold=paf_threshold,
                                min_keypoints=min_keypoints, extend_people=extend)
        for p in poses:
            vis = p.keypoints[:, 2] > 0
            p.keypoints[vis, :2] = self.letterbox.grid_to_image(p.keypoints[vis, :2])
        return poses


#: Network widths with ``input_size="auto"`` stay within these bounds (pixels): a panorama is letterboxed
#: rather than fed as a 2000-pixel-wide input, a very tall image keeps some context.
AUTO_MIN_WIDTH, AUTO_MAX_WIDTH = 128, 768
#: Sizes are multiples of this (the networks' total stride, twice: what the converted graphs accept).
SIZE_MULTIPLE = 16


def auto_input_size(width: int, height: int, base_height: int, *, multiple: int = SIZE_MULTIPLE,
                    min_width: int = AUTO_MIN_WIDTH, max_width: int = AUTO_MAX_WIDTH) -> tuple[int, int]:
    """The network input (w, h) for an image of ``width`` x ``height``: the fixed network height and the width
    from the image's aspect ratio, rounded up to a multiple of ``multiple`` (OpenPose's ``-1x368``). A 16:9
    frame gets 656 x 368 where the fixed 432 x 368 input would shrink it to 432 x 243."""
    h = max(multiple, int(round(base_height / multiple)) * multiple)
    w = int(np.ceil(width * h / max(1, height) / multiple)) * multiple
    return int(np.clip(w, min_width, max_width)), h


def letterbox_size(width: int, height: int, input_size: tuple[int, int]) -> tuple[float, tuple[int, int]]:
    """(scale, (w, h)) of an image of ``width`` x ``height`` fitted into ``input_size``, aspect ratio kept."""
    in_w, in_h = input_size
    scale = min(in_w / width, in_h / height)
    return scale, (max(1, min(in_w, round(width * scale))), max(1, min(in_h, round(height * scale))))


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (width, height) without aliasing, fast: halved (2x2 averages) while it
    stays at least twice the target, then bilinear for the last factor (< 2, where bilinear does not alias).
    Several times faster than INTER_AREA at non-integer factors, within a few grey levels of it."""
    w, h = size
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        # Bilinear at exactly 1/2 samples between each 2x2 block: its average, and OpenCV's fastest path.
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    if (image.shape[1], image.shape[0]) == (w, h):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


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


class PoseEstimator:
    """Multi-person 2D pose estimation with an OpenPose-style network in OpenCV DNN.

    >>> est = PoseEstimator("mobilenet_v2_1.4", backend="cpu")
    >>> poses = est.estimate(cv2.imread("people.jpg"))   # list[Pose], keypoints in image pixels

    One instance may be shared by many threads: the network runs under a lock (``cv2.dnn.Net`` is not
    thread-safe), everything else works on per-call data.

    Args:
        model: a registry name (see ``posekit.models.MODELS``) or a ModelSpec.
        backend: a name in ``posekit.backends.BACKENDS``: "auto" (default: the fastest float32 engine installed,
            chosen once; ``backend`` then names it), "cpu", "cuda", "cuda-fp16", "ort", "ort-cuda",
            "openvino" or "openvino-bf16". Unavailable ones fall back (to "cpu" in the end) with a warning;
            ``backend`` then says what really runs and ``backend_message`` why.
        threshold: minimum heatmap peak for a keypoint.
        paf_threshold, min_keypoints: grouping parameters (see :func:`posekit.grouping.decode`). People with
            fewer than 4 keypoints are dropped (OpenPose's rule: such fragments are noise; AP unchanged on
            ``bench/bench_accuracy.py``, false people in counts gone).
        extend: give each person a second chance for missing keypoints along weaker limbs
            (:func:`posekit.grouping.extend`; default True). False is OpenPose's grouping alone.
        input_size: the network input (width, height): ``"auto"`` (default) keeps the model's height and
            takes the width from each image's aspect ratio (:func:`auto_input_size`), so wide frames are not
            shrunk to a strip; ``"model"`` the model's own fixed size; or a (width, height), multiples of 16.
        scales: multi-scale inference (OpenPose's ``scale_number`` / ``scale_gap``): the network runs once per
            factor of the input size and the heatmaps and PAFs are averaged before people are assembled.
            ``(1.0,)`` (default) is one pass; ``(1.0, 1.5)`` costs about 3.3 times as much.
        net: a ready ``cv2.dnn.Net`` (e.g. built from a prototxt alone) instead of loading the weights.
        download: fetch missing weights from the upstream address (default True).
        refine: a second stage run last on each person's crop (:mod:`posekit.refine`): "movenet_thunder",
            "movenet_lightning", "crop" (this network again, on the crop) or None; ``refiner`` holds it.
        refine_max_people: at most this many people per image are refined (the best scored).
        refine_margin: the crop's side over the person's keypoint box side (see :func:`posekit.refine.person_crop`).
        refine_passes: MoveNet passes: 1 (default, the most accurate keypoints), 2 (re-cropped around
            MoveNet's own keypoints: the same keypoints at any size, what matching uses; see ``MoveNetRefiner``).
    """

    #: Converted graphs kept compiled at once (ONNX Runtime and OpenVINO need one per input size).
    MAX_RUNNERS = 12

    def __init__(self, model: str | ModelSpec = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND, threshold: float = 0.1, *,
                 paf_threshold: float = 0.05, min_keypoints: int = 4, extend: bool = True,
                 input_size: tuple[int, int] | str | None = "auto", scales: Sequence[float] = (1.0,),
                 net: cv2.dnn.Net | None = None, download: bool = True, refine: str | None = None,
                 refine_max_people: int = DEFAULT_MAX_PEOPLE, refine_margin: float = DEFAULT_MARGIN,
                 refine_passes: int = 1):
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
        if input_size is None or (isinstance(input_size, str) and input_size == "auto"):
            self.input_size: tuple[int, int] | None = None  # chosen per image
        elif isinstance(input_size, str):
            if input_size != "model":
                raise ValueError(f"input_size must be 'auto', 'model' or (width, height), got {input_size!r}")
            self.input_size = tuple(self.spec.input_size)
        else:
            self.input_size = (int(input_size[0]), int(input_size[1]))
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
        # OpenCV's net takes any input size; ONNX Runtime and OpenVINO run one converted graph per size.
        self._one_runner = runner if getattr(runner, "engine", "opencv") == "opencv" else None
        self._runners: OrderedDict[tuple[int, int], Callable] = OrderedDict({first: runner})
        self._lock = threading.Lock()
        self.last_timings: dict[str, float] = {}
        from .refine import make_refiner  # noqa: PLC0415 - second stage (posekit.refine)

        self.refiner = make_refiner(refine, estimator=self, backend=self.requested_backend,
                                    max_people=refine_max_people, margin=refine_margin, passes=refine_passes,
                                    download=download)

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"PoseEstimator(model={self.spec.name!r}, backend={self.backend!r}, threshold={self.threshold})"

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

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """The bare network: an NCHW blob in, the (C, h, w) output out. Serialised across threads, except on runners that are safe to share (OpenVINO)."""
        size = (int(blob.shape[3]), int(blob.shape[2]))
        with self._lock:
            runner = self._runner(size)
            if not getattr(runner, "thread_safe", False):
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
        """The people in ``inf`` (from :meth:`infer`) with this estimator's grouping settings (keypoint and PAF
        thresholds, minimum keypoints, the second chance), in image pixels."""
        return inf.decode(threshold=self.threshold if threshold is None else float(threshold),
                          paf_threshold=self.paf_threshold, min_keypoints=self.min_keypoints,
                          extend=self.extend)

    def estimate(self, image: np.ndarray, threshold: float | None = None) -> list[Pose]:
        """All people found in a BGR image, keypoints in image pixels, most confident first."""
        image = as_bgr(image)
        inf = self.infer(image)
        t0 = time.perf_counter()
        poses = self.decode(inf, threshold)
        inf.timings["decode"] = (time.perf_counter() - t0) * 1e3
        self.last_timings = inf.timings
        poses = sorted(poses, key=lambda p: -p.score)
        return self._refine(image, poses, inf.timings) if self.refiner is not None else poses

    def _refine(self, image: np.ndarray, poses: list[Pose], timings: dict[str, float]) -> list[Pose]:
        """The second stage (``refine=``) on the BGR ``image``, timed as ``timings["refine"]``."""
        t0 = time.perf_counter()
        poses = self.refiner.refine(image, poses)
        timings["refine"] = (time.perf_counter() - t0) * 1e3
        return poses


def resample_output(out: np.ndarray, src: Letterbox, dst: Letterbox, grid: tuple[int, int]) -> np.ndarray:
    """Network maps ``out`` (C, h, w) computed through letterbox ``src``, resampled onto the output grid
    (``grid`` = (rows, cols)) of letterbox ``dst`` of the same image, cell centres mapped exactly:
    image x = ((g + 0.5) * stride - 0.5) / scale in both."""
    a = src.scale / dst.scale
    st = src.stride
    b = ((0.5 * dst.stride - 0.5) * a + 0.5) / st - 0.5
    m = np.array([[a * dst.stride / st, 0.0, b], [0.0, a * dst.stride / st, b]], np.float32)
    rows, cols = grid
    chans = [cv2.warpAffine(np.ascontiguousarray(out[c: c + 4].transpose(1, 2, 0)), m, (cols, rows),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
             for c in range(0, out.shape[0], 4)]
    return np.concatenate([c.reshape(rows, cols, -1) for c in chans], axis=2).transpose(2, 0, 1)
