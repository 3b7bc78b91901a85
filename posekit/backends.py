"""Where the network runs: one table of backend name -> engine and device, and the runners for each.

| name        | engine        | device                                   |
|-------------|---------------|------------------------------------------|
| auto        | the fastest float32 engine that runs here (the default; see ``AUTO_ORDER``) |   |
| cpu         | OpenCV DNN    | CPU                                      |
| cuda        | OpenCV DNN    | NVIDIA GPU, FP32 (needs OpenCV built with CUDA)   |
| cuda-fp16   | OpenCV DNN    | NVIDIA GPU, FP16 (needs OpenCV built with CUDA)   |
| ort         | ONNX Runtime  | CPU (optional package ``onnxruntime``)   |
| ort-cuda    | ONNX Runtime  | NVIDIA GPU (optional package ``onnxruntime-gpu``) |
| openvino    | OpenVINO      | CPU, float32 (optional package ``openvino``)                   |
| openvino-bf16 | OpenVINO    | CPU, bfloat16 (needs AVX512-BF16 or AMX; the fastest on such CPUs) |
| openvino-int8 | OpenVINO    | CPU, int8 graph (``posekit.quantize``: NNCF, calibrated on real frames) |

A backend that cannot run here (no CUDA in the OpenCV build, ONNX Runtime not installed, a Caffe model on
ONNX Runtime) falls back along its ``fallback`` chain (``ort-cuda`` -> ``ort`` -> ``cpu``, ``openvino-bf16``
and ``openvino-int8`` -> ``openvino`` -> ``cpu``, the rest -> ``cpu``): a warning is issued once per reason, and
the runner reports the backend really used and why in ``backend`` and ``message``.

``auto`` (the default) tries ``AUTO_ORDER`` once, when the estimator is built: a GPU engine that really runs
(``ort-cuda``, then OpenCV's ``cuda``), else OpenVINO on the model's int8 graph when one is in the cache and
passes its check (:func:`posekit.quantize.check`: it runs, and its heatmaps agree with the float graph's on
held-out frames), else OpenVINO float32 (the fastest float engine on a CPU, ``bench/bench_backends.py``), else
ONNX Runtime, else OpenCV DNN. ``auto`` never builds an int8 graph (calibration takes a minute and needs
NNCF and frames of people): ``python -m posekit models quantize`` or ``backend="openvino-int8"`` does. A CMU
Caffe model runs on OpenCV DNN (``cpu``), the only engine that reads it. Passing over an engine that is not
installed is not an error, so ``auto`` warns about nothing; ``backend`` says what it chose.

``openvino-bf16`` trades precision for speed the way ``cuda-fp16`` does: its maps drift from the float
reference by up to about 0.08 (float backends: 0.04), and the keypoints it finds stay within a fraction of a
grid cell of the float ones (tests/test_estimator.py measures both).

``openvino-int8`` runs the model's int8 graph (:mod:`posekit.quantize`), built on first use when it is not in
the cache (NNCF and ``$POSEKIT_CALIBRATION_DIR`` needed; else it falls back to ``openvino`` and says why). The
first stage's int8 graph has a dynamic input: one file for every input size, compiled once per size it meets
(:class:`OpenVINOInt8Runner`, which takes any size, as OpenCV's net does).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import ModelError
from .models import has_caffe

log = logging.getLogger("posekit")


@dataclass(frozen=True)
class Backend:
    name: str
    label: str
    engine: str  # "opencv" | "ort" | "openvino" | "auto"
    cv_backend: int = cv2.dnn.DNN_BACKEND_OPENCV
    cv_target: int = cv2.dnn.DNN_TARGET_CPU
    providers: tuple[str, ...] = ()
    gpu: bool = False
    precision: str = "f32"  # OpenVINO's inference precision
    fallback: str | None = "cpu"  # what runs when this one cannot


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("auto", "Automatic (fastest here)", "auto", fallback=None),
    Backend("cpu", "CPU (OpenCV)", "opencv", fallback=None),
    Backend("cuda", "CUDA (OpenCV)", "opencv", cv2.dnn.DNN_BACKEND_CUDA, cv2.dnn.DNN_TARGET_CUDA, gpu=True),
    Backend("cuda-fp16", "CUDA FP16 (OpenCV)", "opencv", cv2.dnn.DNN_BACKEND_CUDA, cv2.dnn.DNN_TARGET_CUDA_FP16,
            gpu=True),
    # without ONNX Runtime the fastest CPU engine that is there (OpenVINO, then OpenCV) runs instead
    Backend("ort", "CPU (ONNX Runtime)", "ort", providers=("CPUExecutionProvider",), fallback="openvino"),
    Backend("ort-cuda", "CUDA (ONNX Runtime)", "ort", providers=("CUDAExecutionProvider", "CPUExecutionProvider"),
            gpu=True, fallback="ort"),
    Backend("openvino", "CPU (OpenVINO)", "openvino"),
    Backend("openvino-bf16", "CPU bf16 (OpenVINO)", "openvino", precision="bf16", fallback="openvino"),
    Backend("openvino-int8", "CPU int8 (OpenVINO)", "openvino", precision="int8", fallback="openvino"),
)}

#: What ``auto`` tries, in this order: GPU engines that really run, then the CPU engines fastest first.
#: ``openvino-int8`` only with an int8 graph already cached that passes its check; never ``openvino-bf16``
#: (faster than float32 on CPUs with native bfloat16 but less precise, README).
AUTO_ORDER = ("ort-cuda", "cuda", "openvino-int8", "openvino", "ort", "cpu")
DEFAULT_BACKEND = "auto"

_warned: set[str] = set()


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name.lower()]
    except (KeyError, AttributeError):
        raise ModelError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}") from None


def opencv_has_cuda() -> bool:
    """True when this OpenCV build has the CUDA DNN backend and sees a GPU (pip wheels never do)."""
    try:
        return cv2.cuda.getCudaEnabledDeviceCount() > 0
    except (cv2.error, AttributeError):
        return False


def ort_providers() -> list[str]:
    """ONNX Runtime's available execution providers; empty when onnxruntime is not installed."""
    try:
        import onnxruntime as ort  # noqa: PLC0415
    except ImportError:
        return []
    return list(ort.get_available_providers())


def openvino_available() -> bool:
    try:
        import openvino  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


_cpu_caps: list[str] | None = None


def openvino_cpu_capabilities() -> list[str]:
    """What OpenVINO's CPU plugin can compute natively here ("FP32", "BF16", "INT8", ...); [] without it."""
    global _cpu_caps
    if _cpu_caps is None:
        try:
            import openvino as ov  # noqa: PLC0415

            _cpu_caps = list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
        except Exception:  # noqa: BLE001 - no OpenVINO, or no CPU plugin: nothing native
            _cpu_caps = []
    return _cpu_caps


def availability(name: str) -> str | None:
    """None when the backend can run here, else the reason it cannot (and what to do)."""
    b = get_backend(name)
    if b.engine == "auto":
        return None
    if b.engine == "opencv" and b.gpu and not opencv_has_cuda():
        return ("the installed OpenCV has no CUDA support (the pip wheels are CPU-only) or sees no NVIDIA GPU; "
                "build OpenCV with CUDA (see README, 'CUDA') or use backend 'ort-cuda' with onnxruntime-gpu")
    if b.engine == "ort":
        have = ort_providers()
        if not have:
            return "ONNX Runtime is not installed (pip install onnxruntime, or onnxruntime-gpu for CUDA)"
        if b.providers[0] not in have:
            return f"ONNX Runtime here has no {b.providers[0]} (pip install onnxruntime-gpu and a CUDA driver)"
    if b.engine == "openvino" and not openvino_available():
        return "OpenVINO is not installed (pip install openvino)"
    if b.engine == "openvino" and b.precision == "bf16" and "BF16" not in openvino_cpu_capabilities():
        return "this CPU has no native bfloat16 (AVX512-BF16 or AMX)"
    if b.engine == "openvino" and b.precision == "int8" and "INT8" not in openvino_cpu_capabilities():
        return "OpenVINO's CPU plugin has no int8 kernels for this CPU"
    return None


def plain_reason(name: str, model: str | None = None) -> str:
    """Why backend ``name`` cannot run here, as words for someone who does not program ("... is not
    installed"), to follow the backend's label in a sentence; :func:`availability` has the technical reason."""
    b = get_backend(name)
    reason = availability(name)
    if reason is None:
        if b.engine in ("ort", "openvino") and model is not None:
            return f"cannot run the model {model}"
        return "could not start on this computer"
    if b.gpu:
        return "needs an NVIDIA graphics card that this computer does not offer to it"
    if b.precision == "bf16" and b.engine == "openvino" and openvino_available():
        return "needs a processor that computes in bfloat16, and this one does not"
    if b.precision == "int8" and b.engine == "openvino" and openvino_available():
        return "needs a processor with int8 instructions, and this one has none"
    return "is not installed on this computer"


def _fallback(requested: str, reason: str, instead: Backend) -> str:
    msg = f"backend {requested!r} is not available: {reason}. Running on {instead.label} instead."
    if msg not in _warned:
        _warned.add(msg)
        warnings.warn(msg, RuntimeWarning, stacklevel=4)
        log.warning(msg)
    return msg


class OpenCVRunner:
    """Runs a ``cv2.dnn.Net``. Not thread-safe by itself: the estimator serialises calls."""

    engine = "opencv"
    problem: str | None = None  # why it does not run as asked once started (None: it does)

    def __init__(self, net: cv2.dnn.Net, backend: Backend):
        self.net = net
        net.setPreferableBackend(backend.cv_backend)
        net.setPreferableTarget(backend.cv_target)

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        self.net.setInput(blob)
        # The returned array may share memory with the net's output blob: copy before the next forward.
        return np.array(self.net.forward()[0], copy=True)


class OrtRunner:
    """Runs the ONNX graph in an ONNX Runtime session (sessions are thread-safe; the estimator locks anyway)."""

    engine = "ort"

    def __init__(self, path: Path, backend: Backend, threads: int | None = None):
        import onnxruntime as ort  # noqa: PLC0415

        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = threads or max(1, cv2.getNumThreads())
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=list(backend.providers))
        self.input_name = self.session.get_inputs()[0].name
        self.providers = self.session.get_providers()
        self.problem = None
        if backend.providers[0] not in self.providers:
            # onnxruntime-gpu lists CUDA as available, then quietly runs on the CPU when it cannot load the CUDA
            # or cuDNN libraries: say so instead of calling it CUDA.
            self.problem = (f"ONNX Runtime could not start its {backend.providers[0]} (are the CUDA 12 and "
                            "cuDNN 9 libraries installed? see README, 'CUDA')")

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: blob})[0][0]


class OpenVINORunner:
    """Runs the ONNX graph with OpenVINO on the CPU at the given precision. Float32 unless asked: left to
    itself OpenVINO picks bf16 on CPUs with AMX, which is about twice as fast but drifts further from the
    reference (see the module docstring).

    Safe to call from several threads at once (``thread_safe``: the estimator need not serialise it). One call
    at a time runs on all cores (latency mode: one inference split across the threads). When calls overlap (the
    video pipeline estimates frames ahead in worker threads) they run side by side instead, each on one core of
    a second, throughput-compiled model (one stream per core): on 2 cores that keeps both busy while decoding and
    encoding take their share, where one inference split across both cores stalls whenever either core is taken.
    """

    engine = "openvino"
    problem: str | None = None
    thread_safe = True
    #: Seconds after the last overlap during which calls keep running side by side.
    OVERLAP_HOLD = 1.0

    def __init__(self, path: Path, precision: str = "f32", threads: int | None = None,
                 shape: tuple[int, ...] | None = None):
        import openvino as ov  # noqa: PLC0415

        self._core = ov.Core()
        self._model = self._core.read_model(str(path))
        if shape is not None:  # a graph with a dynamic input, compiled for one input shape
            self._model.reshape({0: ov.PartialShape(list(shape))})
        self._threads = threads or max(1, cv2.getNumThreads())
        # No CPU pinning: on a machine shared with other work (the app's own threads, other programs) a pinned
        # worker waits for its core while another core idles. An int8 graph's operations that stay in float
        # run in float32 (left to itself OpenVINO would run them in bf16 on AMX CPUs).
        self._config = {"INFERENCE_PRECISION_HINT": "f32" if precision == "int8" else precision,
                        "INFERENCE_NUM_THREADS": self._threads, "ENABLE_CPU_PINNING": False}
        self.compiled = self._core.compile_model(self._model, "CPU", {**self._config, "PERFORMANCE_HINT": "LATENCY"})
        self.request = self.compiled.create_infer_request()
        self._latency_lock = threading.Lock()
        self._state = threading.Lock()
        self._in_flight = 0
        self._overlap_at = -1e9
        self._side_by_side = None  # compiled on the first overlap
        self._local = threading.local()

    def _side_by_side_request(self):
        req = getattr(self._local, "request", None)
        if req is None:
            with self._state:
                if self._side_by_side is None:
                    self._side_by_side = self._core.compile_model(
                        self._model, "CPU", {**self._config, "PERFORMANCE_HINT": "THROUGHPUT",
                                             "NUM_STREAMS": self._threads})
            req = self._local.request = self._side_by_side.create_infer_request()
        return req

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        with self._state:
            self._in_flight += 1
            now = time.monotonic()
            if self._in_flight > 1:
                self._overlap_at = now
            side_by_side = self._threads > 1 and now - self._overlap_at < self.OVERLAP_HOLD
        try:
            if side_by_side:
                return np.array(self._side_by_side_request().infer({0: blob})[0][0], copy=True)
            with self._latency_lock:
                return np.array(self.request.infer({0: blob})[0][0], copy=True)
        finally:
            with self._state:
                self._in_flight -= 1


class OpenVINOInt8Runner:
    """Runs a first-stage int8 graph (dynamic input height and width, :mod:`posekit.quantize`) at any input size:
    one :class:`OpenVINORunner` compiled per size on first use (the last ``MAX_SIZES`` kept), since the graph
    compiled for a fixed size runs faster than compiled dynamic. Thread-safe, like OpenVINORunner."""

    engine = "openvino"
    thread_safe = True
    any_size = True  # one runner for every input size (posekit.estimator keeps one, as for OpenCV's net)
    MAX_SIZES = 12

    def __init__(self, path: Path, threads: int | None = None):
        self.path = Path(path)
        self._threads = threads
        self._by_shape: OrderedDict[tuple[int, ...], OpenVINORunner] = OrderedDict()
        self._lock = threading.Lock()
        self.problem: str | None = None

    def runner(self, shape: tuple[int, ...]) -> OpenVINORunner:
        """The runner compiled for ``shape`` (N, C, H, W)."""
        shape = tuple(int(s) for s in shape)
        with self._lock:
            run = self._by_shape.get(shape)
            if run is None:
                run = self._by_shape[shape] = OpenVINORunner(self.path, "int8", self._threads, shape=shape)
                while len(self._by_shape) > self.MAX_SIZES:
                    self._by_shape.popitem(last=False)
            else:
                self._by_shape.move_to_end(shape)
            return run

    def __call__(self, blob: np.ndarray) -> np.ndarray:
        return self.runner(blob.shape)(blob)


def _int8_reason(spec, *, build: bool) -> str | None:
    """None when ``spec``'s int8 graph is in the cache, or was just built (``build``), else why not."""
    if quantize.cached(spec) is not None:
        return None
    if not build:
        return f"no int8 graph of {spec.name} in the cache (python -m posekit models quantize {spec.name})"
    try:
        quantize.build(spec)
    except ModelError as exc:
        return str(exc)
    return None


def _int8_runner(spec):
    """The runner of ``spec``'s cached int8 graph, its ``problem`` set when it fails its check."""
    files = quantize.cached(spec)
    if spec.format == "tflite":
        runner = OpenVINOInt8Runner(files.xml)

        def run(x):
            return runner(x)[None]
    else:  # MoveNet: a fixed square input and a free batch axis
        runner = OpenVINORunner(files.xml, "int8")

        def run(x):
            return np.array(runner.request.infer({0: x})[0], copy=True)
    reason = quantize.check(spec, files, run)
    if reason is not None:
        runner.problem = f"the int8 graph of {spec.name} is not used: {reason}"
    return runner


def load_net(spec, weights: Path | None, config: Path | None) -> cv2.dnn.Net:
    """Build the OpenCV net of a model; Caffe models may be built from the prototxt alone (untrained)."""
    try:
        if spec.format == "caffe":

            if not has_caffe():
                raise ModelError(
                    f"{spec.name} is a Caffe model, but OpenCV {cv2.__version__} has no Caffe importer "
                    "(OpenCV 5 removed it); install opencv-python-headless 4.x (see requirements.txt)")
            if weights is None:
                return cv2.dnn.readNetFromCaffe(str(config))
            return cv2.dnn.readNetFromCaffe(str(config), str(weights))
        return cv2.dnn.readNet(str(weights))
    except cv2.error as exc:
        raise ModelError(f"OpenCV cannot load {spec.name} ({weights or config}): {exc.err or exc}") from exc


def _make_runner(chosen: Backend, spec, weights: Path | None, config: Path | None, net: cv2.dnn.Net | None):
    if chosen.engine == "ort":
        return OrtRunner(weights, chosen)
    if chosen.engine == "openvino" and chosen.precision == "int8":
        return _int8_runner(spec)
    if chosen.engine == "openvino":
        return OpenVINORunner(weights, chosen.precision)
    return OpenCVRunner(net if net is not None else load_net(spec, weights, config), chosen)


def create_runner(spec, backend: str, *, weights: Path | None, config: Path | None = None,
                  net: cv2.dnn.Net | None = None):
    """(runner, backend name really used, message or None) for ``spec`` on the requested backend: the first
    backend along the requested one's fallback chain that can run, and says it does once started."""
    requested = get_backend(backend)
    if requested.engine == "auto":
        return _create_auto(spec, weights=weights, config=config, net=net)
    chosen = requested
    reasons = []
    while True:
        reason = _cannot_run(chosen, spec, net, build=True)
        if reason is None:
            runner = _make_runner(chosen, spec, weights, config, net)
            reason = runner.problem
            if reason is None:
                break
        if chosen.fallback is None:  # pragma: no cover - the table ends every chain at "cpu", which always runs
            raise ModelError(f"backend {requested.name!r} cannot run: {reason}")
        if reason not in reasons:  # ort-cuda and ort fail for the same reason: say it once
            reasons.append(reason)
        chosen = BACKENDS[chosen.fallback]
    return runner, chosen.name, _fallback(requested.name, "; ".join(reasons), chosen) if reasons else None


def _cannot_run(chosen: Backend, spec, net, *, build: bool = False) -> str | None:
    """Why ``chosen`` cannot run ``spec`` here, else None; an int8 graph not yet cached is built when ``build``."""
    reason = availability(chosen.name)
    if reason is None and chosen.engine != "opencv" and (net is not None or spec.format not in ("tflite", "tfjs")):
        reason = f"{chosen.label} runs the converted MobileNetV2 and MoveNet models only"
    if reason is None and chosen.precision == "int8":
        reason = _int8_reason(spec, build=build)
    return reason


def _ort_gpu_installed() -> bool:
    """Whether the installed ONNX Runtime is a GPU build (it ships the CUDA provider library), found on disk
    without importing onnxruntime."""

    try:
        spec = importlib.util.find_spec("onnxruntime")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    return any(any(Path(loc, "capi").glob("*providers_cuda*")) for loc in spec.submodule_search_locations)


def _create_auto(spec, *, weights: Path | None, config: Path | None, net: cv2.dnn.Net | None):
    """``auto``: the first backend of AUTO_ORDER that runs this model here (no warning: passing over an engine
    that is not installed is expected), so the message is None."""
    skipped = []
    for name in AUTO_ORDER:
        chosen = BACKENDS[name]
        if chosen.engine == "ort" and chosen.gpu and not _ort_gpu_installed():
            # Not even importing onnxruntime to ask: it is not needed when OpenVINO runs, and importing it
            # leaves a session file in the temporary folder.
            skipped.append(f"{name}: onnxruntime-gpu is not installed")
            continue
        reason = _cannot_run(chosen, spec, net)
        if reason is None:
            runner = _make_runner(chosen, spec, weights, config, net)
            reason = runner.problem
            if reason is None:
                log.info("auto: %s runs %s (passed over: %s)", chosen.name, spec.name, "; ".join(skipped) or "-")
                return runner, chosen.name, None
        skipped.append(f"{name}: {reason}")
    raise ModelError(f"no backend can run {spec.name}: {'; '.join(skipped)}")  # pragma: no cover - cpu runs all


# Last: posekit.quantize builds on this module's names (its first stage and MoveNet run through create_runner).
from . import quantize  # noqa: E402
