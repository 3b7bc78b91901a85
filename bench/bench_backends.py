"""Runtimes side by side on the same model and input: posekit's backends against the TFLite interpreter.

Run: .venv/bin/python bench/bench_backends.py [--model mobilenet_v2_1.4] [--repeat 20]

Columns: median and best time of one network forward at 432x368 (the reference input of p3), for
- posekit "cpu" (OpenCV DNN on the converted ONNX graph),
- posekit "ort" (ONNX Runtime on the same graph; optional dependency),
- posekit "openvino" (OpenVINO on the same graph, float32; optional dependency),
- posekit "openvino-bf16" (the same in bfloat16, where the CPU has AVX512-BF16/AMX),
- posekit "openvino-int8" (OpenVINO on the int8 graph of posekit.quantize; built first when not cached, calibrated
  on ../shared/media or --calibration DIR; needs NNCF),
- the TFLite interpreter on the original file (ai-edge-litert or tflite-runtime, when installed),
and each one's ratio to the TFLite interpreter (targets: the fastest float32 posekit backend <= 1.2, int8 <= 0.8).

Runtimes take turns in blocks (--block calls each, after one untimed call and a short rest), round after
round, so machine noise hits every runtime alike. Not call by call: ONNX Runtime's and OpenVINO's worker
threads spin for a while after each call, and on 2 cores that spinning steals the next runtime's CPU
(interleaving call by call made the TFLite interpreter look 1.3-1.9x slower than it is).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit import PoseEstimator, quantize  # noqa: E402
from posekit.errors import ModelError  # noqa: E402
from posekit.models import fetch, get_model  # noqa: E402

SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared"))


def tflite_runner(path: Path, threads: int):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            return None
    interp = Interpreter(model_path=str(path), num_threads=threads)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]

    def run(x_nhwc):
        interp.set_tensor(inp, x_nhwc)
        interp.invoke()
        return interp.get_tensor(out)

    return run


def network_macs(onnx_path: Path) -> float:
    """Multiply-accumulates of one forward (convolutions), counted on the graph OpenVINO reads."""
    try:
        import openvino as ov
    except ImportError:
        return 0.0
    total = 0
    for op in ov.Core().read_model(str(onnx_path)).get_ordered_ops():
        kind = op.get_type_name()
        if kind not in ("Convolution", "GroupConvolution"):
            continue
        out, w = op.get_output_shape(0), op.input_value(1).get_shape()
        per_output = w[1] * w[2] * w[3] if kind == "Convolution" else w[2] * w[3] * w[4]
        total += out[1] * out[2] * out[3] * per_output
    return float(total)


def sgemm_rate(seconds: float = 2.0, n: int = 1536) -> float:
    """Float32 multiply-accumulates per second numpy's BLAS reaches on a large matrix product: about what
    this CPU's float32 units can do."""
    a = np.random.default_rng(0).standard_normal((n, n), np.float32)
    a @ a
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ a
        calls += 1
    return calls * n**3 / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2_1.4")
    ap.add_argument("--repeat", type=int, default=4, help="rounds")
    ap.add_argument("--block", type=int, default=8, help="timed calls per runtime per round")
    ap.add_argument("--calibration", default=str(SHARED / "media"),
                    help="photos / videos the int8 graph is calibrated on when it is not cached")
    args = ap.parse_args()
    spec = get_model(args.model)
    tag = "dm05" if args.model.endswith("0.5") else "dm14"
    ref = np.load(SHARED / "reference" / f"{tag}_p3.npz")
    x_nhwc = ref["input_bgr_uint8_nhwc"].astype(np.float32)
    x_nchw = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
    threads = cv2.getNumThreads()

    try:
        quantize.build(spec, args.calibration)
    except ModelError as exc:
        print(f"no int8 graph: {exc}")
    runners = {}
    for backend in ("cpu", "ort", "openvino", "openvino-bf16", "openvino-int8"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = PoseEstimator(spec.name, backend=backend)
        if est.backend == backend:
            runners[f"posekit {backend}"] = lambda e=est: e.forward(x_nchw)
    tfl = tflite_runner(fetch(spec.weights), threads)
    if tfl is not None:
        runners["tflite interpreter"] = lambda: tfl(x_nhwc)

    from posekit.models import model_dir  # noqa: PLC0415

    onnx_file = model_dir() / spec.onnx_filename_for(None)
    macs = network_macs(onnx_file) if onnx_file.exists() else 0.0
    peak = [sgemm_rate()]
    times = {k: [] for k in runners}
    for _ in range(args.repeat):
        for k, run in runners.items():
            time.sleep(0.2)  # let the previous runtime's worker threads stop spinning
            run()
            for _ in range(args.block):
                t0 = time.perf_counter()
                run()
                times[k].append(time.perf_counter() - t0)
    peak.append(sgemm_rate())
    peak = max(peak)
    base = statistics.median(times["tflite interpreter"]) if "tflite interpreter" in times else None
    print(f"model {spec.name} at {spec.input_size[0]}x{spec.input_size[1]}, {threads} threads, "
          f"OpenCV {cv2.__version__}, {args.repeat} rounds of {args.block} calls each")
    print(f"{'runtime':20s} {'median ms':>10s} {'best ms':>8s} {'x tflite':>9s} {'GMAC/s best':>12s} {'x sgemm':>8s}")
    for k, v in times.items():
        med = statistics.median(v) * 1e3
        ratio = f"{med / (base * 1e3):9.2f}" if base else "      n/a"
        rate = macs / min(v) / 1e9 if macs else 0.0
        print(f"{k:20s} {med:10.1f} {min(v) * 1e3:8.1f} {ratio} {rate:12.1f} {rate * 1e9 / peak:8.2f}")
    if macs:
        print(f"one forward = {macs / 1e9:.2f} GMAC; numpy float32 matrix product here: {peak / 1e9:.1f} GMAC/s. "
              "A float32 runtime near 'x sgemm' 1.0 is at this CPU's float32 limit; above it only lower "
              "precision (int8, bf16) can go")
    posekit = {k: statistics.median(v) for k, v in times.items() if k.startswith("posekit")}
    if base:
        best = min(posekit, key=posekit.get)
        print(f"fastest posekit backend ({best}) / tflite = {posekit[best] / base:.2f} (target <= 1.2)")
        floats = {k: v for k, v in posekit.items() if not k.endswith(("bf16", "int8"))}
        best = min(floats, key=floats.get)
        print(f"fastest float32 posekit backend ({best}) / tflite = {floats[best] / base:.2f}")
        if "posekit openvino-int8" in posekit:
            print(f"int8 (openvino-int8) / tflite = {posekit['posekit openvino-int8'] / base:.2f} (target <= 0.8); "
                  f"/ openvino float32 = {posekit['posekit openvino-int8'] / posekit['posekit openvino']:.2f}")


if __name__ == "__main__":
    main()
