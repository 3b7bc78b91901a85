"""int8 graphs for OpenVINO: post-training quantization (NNCF) of the converted float graphs, cached beside them.

One job: turn a first-stage network (MobileNetV2-OpenPose, any width) or a MoveNet second stage into an int8
OpenVINO graph, calibrated on real frames, check it against the float graph, and keep it in the model cache.

* **Calibration** (:func:`calibration_frames`): photos and video frames of people from a folder of your own
  (``build(..., calibration=DIR)``, ``$POSEKIT_CALIBRATION_DIR``, ``python -m posekit models quantize
  --calibration DIR``); never an evaluation set. The first stage is calibrated on the frames letterboxed exactly
  as :class:`posekit.openpose.OpenPose` feeds them (height 368, width from each frame's aspect); MoveNet on the
  square crops around the people the float first stage finds in them, as :mod:`posekit.refine` cuts them.
* **Quantization**: NNCF's post-training quantization (per-channel int8 weights, per-tensor int8 activations,
  fast bias correction) of the float graph read by OpenVINO; MoveNet's four small heads stay float
  (:data:`MOVENET_HEADS`). NNCF is needed only to build the graph; running it
  needs OpenVINO alone.
* **One graph for every input size**: the first stage's int8 graph keeps its input height and width dynamic;
  the runner (``posekit.backends``, backend ``openvino-int8``) compiles it once per input size it meets (a
  dynamically compiled graph ran 1.4x slower here). MoveNet's keeps its free batch axis.
* **Cache** (beside the float graphs, in the model directory of :mod:`posekit.models`, or the per-user cache
  when that is read-only), written atomically through :mod:`posekit.files`, the ``.xml`` last:

  - ``<weights stem>.posekit<C>.int8v<Q>.bin`` — the weights,
  - ``<weights stem>.posekit<C>.int8v<Q>.check.npz`` — the check: held-out inputs and the float graph's
    outputs on them,
  - ``<weights stem>.posekit<C>.int8v<Q>.xml`` — the graph (its presence means the three are complete).

  ``C`` is :data:`posekit.models.CONVERTER_VERSION`, ``Q`` :data:`QUANTIZER_VERSION`: a change of either
  builds a new graph instead of reusing a stale one.
* **Check** (:func:`check`): before a runner is used (``auto`` included), it runs on the held-out inputs and
  its keypoint heatmaps must stay within :data:`CHECK_MAX_DIFF` (max) and :data:`CHECK_MEAN_DIFF` (mean) of the
  float graph's (MoveNet: its decoded keypoints within :data:`MOVENET_MAX_CELLS` grid cells, see
  :func:`differences`); otherwise the float graph runs instead (posekit.backends says why).
"""

from __future__ import annotations

import io
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from .convert import tflite_to_onnx_model
from .errors import ModelError
from .files import discard, publish, temp_path
from .imageio import load_image
from .layouts import get_layout
from .models import CONVERTER_VERSION, ModelSpec, derived_dir, fetch, get_model, resolve
from .movenet import HEATMAPS, Crop, crop_square, decode
from .openpose import OpenPose

log = logging.getLogger("posekit")

#: Bump when the quantization recipe or the calibration changes, so cached int8 graphs are rebuilt.
QUANTIZER_VERSION = 1
ENV_CALIBRATION = "POSEKIT_CALIBRATION_DIR"
#: NNCF release the recipe was measured with (requirements-dev.txt pins it).
NNCF_VERSION = "3.4.0"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
#: Calibration frames by default (photos first, then video frames spread over each video), and how many of
#: them are held out for the check instead.
MAX_FRAMES = 48
CHECK_FRAMES = 2
#: Frames taken from one video at most (spread evenly over it).
FRAMES_PER_VIDEO = 16
#: The int8 graph's keypoint heatmaps against the float graph's on the held-out inputs: above these it is not
#: used. A working int8 graph stays near 0.1 (max) and 0.003 (mean); a broken one is off by 0.5-1.
CHECK_MAX_DIFF = 0.3
CHECK_MEAN_DIFF = 0.01
#: MoveNet: 90 % of its confident keypoints within this many grid cells of the float graph's (see differences).
MOVENET_MAX_CELLS = 1.5
#: Square crop side / the person's keypoint box side for MoveNet's calibration crops (posekit.refine's margin).
CROP_MARGIN = 1.6

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class Int8Unavailable(ModelError):
    """No int8 graph can be had (NNCF missing, no calibration frames, a model OpenVINO cannot quantize)."""


@dataclass(frozen=True)
class Int8Files:
    """Where a model's int8 graph lives: its ``xml`` (written last), ``bin`` and ``check`` files."""

    xml: Path
    bin: Path
    check: Path

    def complete(self) -> bool:
        return self.xml.is_file() and self.bin.is_file() and self.check.is_file()


def nncf_missing() -> str | None:
    """None when NNCF can be imported, else why not (and what to install)."""
    try:
        import nncf  # noqa: F401, PLC0415
    except ImportError:
        return f"building int8 graphs needs NNCF (pip install nncf=={NNCF_VERSION})"
    return None


def int8_files(name: str | ModelSpec, directory: Path | None = None) -> Int8Files:
    """The cache files of ``name``'s int8 graph, in ``directory`` or beside its float graphs."""
    spec = get_model(name)
    if spec.format not in ("tflite", "tfjs"):
        raise Int8Unavailable(f"{spec.name}: only the converted MobileNetV2 and MoveNet models have int8 graphs")
    if directory is None:
        directory = derived_dir(fetch(spec.weights, download_missing=False).parent)
    stem = f"{Path(spec.weights.filename).stem}.posekit{CONVERTER_VERSION}.int8v{QUANTIZER_VERSION}"
    return Int8Files(directory / f"{stem}.xml", directory / f"{stem}.bin", directory / f"{stem}.check.npz")


def cached(name: str | ModelSpec) -> Int8Files | None:
    """The int8 graph of ``name`` if it is in the cache (nothing is downloaded or built), else None."""
    try:
        files = int8_files(name)
    except ModelError:  # not a convertible model, or its weights are not downloaded
        return None
    return files if files.complete() else None


def calibration_source(calibration: str | os.PathLike | None = None) -> Path:
    """The calibration folder: ``calibration``, else ``$POSEKIT_CALIBRATION_DIR``."""
    source = calibration or os.environ.get(ENV_CALIBRATION)
    if not source:
        raise Int8Unavailable("no calibration frames: give a folder of photos or videos of people "
                              f"(python -m posekit models quantize --calibration DIR, or ${ENV_CALIBRATION})")
    path = Path(source).expanduser()
    if not path.is_dir():
        raise Int8Unavailable(f"calibration folder {path} does not exist")
    return path


def _video_frames(path: Path, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        frames = []
        if total <= 0:
            return frames
        wanted = set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())
        for i in range(total):
            ok, frame = cap.read()
            if not ok:
                break
            if i in wanted:
                frames.append(frame)
        return frames
    finally:
        cap.release()


def calibration_frames(source: str | os.PathLike, max_frames: int = MAX_FRAMES,
                       frames_per_video: int = FRAMES_PER_VIDEO) -> list[np.ndarray]:
    """BGR frames from the photos and videos in folder ``source`` (and its subfolders), in a fixed order:
    every photo, then up to ``frames_per_video`` frames spread over each video; at most ``max_frames`` in all,
    taken evenly from that list."""
    files = sorted(p for p in Path(source).rglob("*") if p.is_file())
    frames: list[np.ndarray] = []
    for p in files:
        if p.suffix.lower() in IMAGE_SUFFIXES:
            try:
                frames.append(load_image(p))
            except Exception as exc:  # noqa: BLE001 - an unreadable file is skipped, not fatal
                log.warning("calibration: skipping %s (%s)", p, exc)
    for p in files:
        if p.suffix.lower() in VIDEO_SUFFIXES:
            frames += _video_frames(p, frames_per_video)
    if len(frames) > max_frames:
        frames = [frames[i] for i in np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    return frames


def _split(items: list, check: int) -> tuple[list, list]:
    """(calibration, held out): ``check`` items spread over the list are held out (none when too few)."""
    if len(items) < 2 * check + 1:
        return items, items[:check]
    held = set(np.linspace(0, len(items) - 1, check + 2)[1:-1].round().astype(int).tolist())
    return [x for i, x in enumerate(items) if i not in held], [items[i] for i in sorted(held)]


def float_model(spec: ModelSpec):
    """The float graph as an ``openvino.Model``: the first stage with a dynamic input height and width (built
    from the TFLite file in memory), MoveNet from its converted ONNX graph (free batch)."""
    import openvino as ov  # noqa: PLC0415

    if spec.format == "tflite":
        onnx_model = tflite_to_onnx_model(fetch(spec.weights, download_missing=False).read_bytes(),
                                          input_size=(0, 0))
        return ov.convert_model(io.BytesIO(onnx_model.SerializeToString()))
    return ov.convert_model(str(resolve(spec, download_missing=False)))


def _first_stage_inputs(spec: ModelSpec, frames: Sequence[np.ndarray]) -> tuple[list, list]:
    """(calibration blobs at each frame's auto input size, held-out blobs at the model's own input size)."""
    prep = OpenPose(spec, backend="cpu")
    calib, held = _split(list(frames), CHECK_FRAMES)
    return ([prep.preprocess(f)[0] for f in calib],
            [prep.preprocess(f, tuple(spec.input_size))[0] for f in held])


def _person_crops(spec: ModelSpec, frames: Sequence[np.ndarray], detector: str) -> np.ndarray:
    """(N, 3, S, S) float32 RGB crops around every person the float first stage finds in ``frames``."""
    est = OpenPose(detector, backend="openvino")
    size = spec.input_size[0]
    crops = []
    for frame in frames:
        for pose in est.estimate(frame):
            pts = pose.keypoints[pose.keypoints[:, 2] > 0, :2]
            if len(pts) < 4:
                continue
            (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
            side = max(float(max(x1 - x0, y1 - y0)) * CROP_MARGIN, 16.0)
            crop = Crop(float((x0 + x1) / 2 - side / 2), float((y0 + y1) / 2 - side / 2), side)
            crops.append(cv2.cvtColor(crop_square(frame, crop, size), cv2.COLOR_BGR2RGB))
    if not crops:
        raise Int8Unavailable("no people found in the calibration frames to calibrate MoveNet on")
    return np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)


def _movenet_inputs(spec: ModelSpec, frames: Sequence[np.ndarray], detector: str) -> tuple[list, list]:
    crops = _person_crops(spec, frames, detector)
    calib, held = _split(list(crops), CHECK_FRAMES)
    return [c[None] for c in calib], [np.stack(held)]


def heatmap_channels(spec: ModelSpec) -> slice:
    """The output channels the check compares: the keypoint heatmaps."""
    if spec.format == "tfjs":
        return HEATMAPS
    return slice(0, get_layout(spec.layout).num_keypoints)


def _compile(model, shape=None):
    import openvino as ov  # noqa: PLC0415

    if shape is not None:
        model = model.clone()
        model.reshape({0: ov.PartialShape(list(shape))})
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})


def _outputs(model, blobs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The model's full output on each blob, compiled once per blob shape."""
    compiled: dict[tuple, object] = {}
    out = []
    for b in blobs:
        if b.shape not in compiled:
            compiled[b.shape] = _compile(model, b.shape)
        out.append(np.array(compiled[b.shape](b)[0]))
    return out


def differences(spec: ModelSpec, int8: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> tuple[float, float]:
    """(max, mean) |int8 - float| of the keypoint heatmaps over the outputs. For MoveNet the first is instead
    how far its decoded keypoints move (the 90th percentile over keypoints the float graph scores >= 0.3, in
    grid cells) scaled so that :data:`CHECK_MAX_DIFF` is :data:`MOVENET_MAX_CELLS` cells: its sigmoid heatmaps
    have sharp peaks, where a shift of a fraction of a cell is a large difference of values."""
    ch = heatmap_channels(spec)
    d = [np.abs(a[:, ch].astype(np.float32) - b[:, ch].astype(np.float32)) for a, b in zip(int8, reference)]
    mean = float(np.mean([x.mean() for x in d]))
    if spec.format != "tfjs":
        return max(float(x.max()) for x in d), mean
    moved = []
    for a, b in zip(int8, reference):
        ka, kb = decode(a.astype(np.float32)), decode(b.astype(np.float32))
        sure = kb[..., 2] >= 0.3
        moved.append((np.linalg.norm(ka[..., :2] - kb[..., :2], axis=-1) * a.shape[-1])[sure])
    moved = np.concatenate(moved)
    cells = float(np.percentile(moved, 90)) if moved.size else 0.0
    return cells / MOVENET_MAX_CELLS * CHECK_MAX_DIFF, mean


#: MoveNet's four heads (name parts of their operations in the converted graph): kept in float32. Quantized,
#: Lightning's keypoint heatmaps drifted up to 0.33 from the float ones and it lost 0.017 AP on ../shared/eval
#: (float heads: 0.25, +0.007); they are a few percent of its work.
MOVENET_HEADS = ("kpt_heatmap_0", "center_0", "kpt_regress_0", "kpt_offset_0")


def _float_heads(model):
    import nncf  # noqa: PLC0415

    names = [op.get_friendly_name() for op in model.get_ordered_ops()
             if op.get_type_name() in ("Convolution", "GroupConvolution")
             and any(h in op.get_friendly_name() for h in MOVENET_HEADS)]
    return nncf.IgnoredScope(names=names) if names else None


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def build(name: str | ModelSpec, calibration: str | os.PathLike | None = None, *, max_frames: int = MAX_FRAMES,
          detector: str = "mobilenet_v2_1.4", directory: Path | None = None, force: bool = False,
          frames: Sequence[np.ndarray] | None = None) -> Int8Files:
    """Build (or reuse) the int8 graph of model ``name`` and return its files.

    Args:
        calibration: folder of photos / videos (default ``$POSEKIT_CALIBRATION_DIR``); ignored when
            ``frames`` (BGR images) are given.
        max_frames: calibration frames at most (a few are held out for the check).
        detector: the first-stage model that finds the people MoveNet is calibrated on.
        directory: where to cache it (default: beside the float graphs).
        force: rebuild even when cached.

    Raises:
        Int8Unavailable: NNCF is missing, no calibration frames, or the result fails its own check.
    """
    spec = get_model(name)
    resolve(spec)  # the weights (downloaded if missing) and the float graph the int8 one is checked against
    files = int8_files(spec, directory)
    with _lock_for(str(files.xml)):
        if files.complete() and not force:
            return files
        if (reason := nncf_missing()) is not None:
            raise Int8Unavailable(reason)
        if frames is None:
            frames = calibration_frames(calibration_source(calibration), max_frames)
        if not frames:
            raise Int8Unavailable(f"no photos or videos in the calibration folder {calibration_source(calibration)}")
        import nncf  # noqa: PLC0415
        import openvino as ov  # noqa: PLC0415

        logging.getLogger("nncf").setLevel(logging.ERROR)  # its per-layer INFO lines and progress bars
        if spec.format == "tflite":
            calib, held = _first_stage_inputs(spec, frames)
        else:
            calib, held = _movenet_inputs(spec, frames, detector)
        model = float_model(spec)
        quantized = nncf.quantize(model, nncf.Dataset(calib), preset=nncf.QuantizationPreset.PERFORMANCE,
                                  subset_size=len(calib), fast_bias_correction=True,
                                  ignored_scope=_float_heads(model) if spec.format == "tfjs" else None)
        reference = _outputs(model, held)
        max_diff, mean_diff = differences(spec, _outputs(quantized, held), reference)
        log.info("int8 %s: %d calibration inputs; heatmaps vs float on %d held out: max %.3f, mean %.4f",
                 spec.name, len(calib), len(held), max_diff, mean_diff)
        if max_diff > CHECK_MAX_DIFF or mean_diff > CHECK_MEAN_DIFF:
            raise Int8Unavailable(f"the int8 graph of {spec.name} disagrees with the float one (heatmaps off by "
                                  f"up to {max_diff:.2f}, {mean_diff:.3f} on average)")
        files.xml.parent.mkdir(parents=True, exist_ok=True)
        tmp_xml = temp_path(files.xml, suffix=".xml")
        tmp_bin, tmp_check = tmp_xml.with_suffix(".bin"), temp_path(files.check, suffix=".npz")
        try:
            with open(tmp_check, "wb") as f:
                np.savez_compressed(
                    f, **{f"input{i}": b.astype(np.uint8) for i, b in enumerate(held)},
                    **{f"output{i}": r.astype(np.float16) for i, r in enumerate(reference)},
                    built_max_diff=np.float32(max_diff), built_mean_diff=np.float32(mean_diff),
                    calibration_inputs=np.int32(len(calib)))
            ov.save_model(quantized, str(tmp_xml))
            publish(tmp_check, files.check)
            publish(tmp_bin, files.bin)
            publish(tmp_xml, files.xml)
        finally:
            for p in (tmp_xml, tmp_bin, tmp_check):
                discard(p)
        return files


def check(name: str | ModelSpec, files: Int8Files, run: Callable[[np.ndarray], np.ndarray]) -> str | None:
    """None when ``run`` (a runner of the int8 graph: NCHW blob -> batch of outputs) agrees with the float
    graph on the held-out inputs of ``files.check``, else the reason it does not."""
    spec = get_model(name)
    try:
        with np.load(files.check) as data:
            pairs = [(data[f"input{i}"].astype(np.float32), data[f"output{i}"])
                     for i in range(sum(k.startswith("input") for k in data.files))]
    except (OSError, ValueError, KeyError) as exc:
        return f"its check file {files.check.name} cannot be read ({exc})"
    if not pairs:
        return f"its check file {files.check.name} holds no inputs"
    try:
        outputs = [run(x) for x, _ in pairs]
    except Exception as exc:  # noqa: BLE001 - any failure to run is a reason not to use it
        return f"it does not run here ({exc})"
    max_diff, mean_diff = differences(spec, outputs, [ref for _, ref in pairs])
    if max_diff > CHECK_MAX_DIFF or mean_diff > CHECK_MEAN_DIFF or not np.isfinite(max_diff):
        return (f"its heatmaps disagree with the float graph's (off by up to {max_diff:.2f}, {mean_diff:.3f} on "
                "average)")
    return None
