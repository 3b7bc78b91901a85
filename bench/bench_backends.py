"""Runtimes side by side on the same model and input: posekit's backends against the TFLite interpreter.

Run: .venv/bin/python bench/bench_backends.py [--model mobilenet_v2_1.4] [--repeat 20]

Columns: median and best time of one network forward at 432x368 (the reference input of p3), for
- posekit "cpu" (OpenCV DNN on the converted ONNX graph),
- posekit "ort" (ONNX Runtime on the same graph; optional dependency),
- posekit "openvino" (OpenVINO on the same graph, float32; optional dependency),
- posekit "openvino-bf16" (the same in bfloat16, where the CPU has AVX512-BF16/AMX),
- the TFLite interpreter on the original file (ai-edge-litert or tflite-runtime, when installed),
and each one's ratio to the TFLite interpreter (target for the fastest posekit backend: <= 1.2).

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

from posekit import PoseEstimator  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2_1.4")
    ap.add_argument("--repeat", type=int, default=4, help="rounds")
    ap.add_argument("--block", type=int, default=8, help="timed calls per runtime per round")
    args = ap.parse_args()
    spec = get_model(args.model)
    tag = "dm05" if args.model.endswith("0.5") else "dm14"
    ref = np.load(SHARED / "reference" / f"{tag}_p3.npz")
    x_nhwc = ref["input_bgr_uint8_nhwc"].astype(np.float32)
    x_nchw = np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))
    threads = cv2.getNumThreads()

    runners = {}
    for backend in ("cpu", "ort", "openvino", "openvino-bf16"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = PoseEstimator(spec.name, backend=backend)
        if est.backend == backend:
            runners[f"posekit {backend}"] = lambda e=est: e.forward(x_nchw)
    tfl = tflite_runner(fetch(spec.weights), threads)
    if tfl is not None:
        runners["tflite interpreter"] = lambda: tfl(x_nhwc)

    times = {k: [] for k in runners}
    for _ in range(args.repeat):
        for k, run in runners.items():
            time.sleep(0.2)  # let the previous runtime's worker threads stop spinning
            run()
            for _ in range(args.block):
                t0 = time.perf_counter()
                run()
                times[k].append(time.perf_counter() - t0)
    base = statistics.median(times["tflite interpreter"]) if "tflite interpreter" in times else None
    print(f"model {spec.name} at {spec.input_size[0]}x{spec.input_size[1]}, {threads} threads, "
          f"OpenCV {cv2.__version__}, {args.repeat} rounds of {args.block} calls each")
    print(f"{'runtime':20s} {'median ms':>10s} {'best ms':>8s} {'x tflite':>9s}")
    for k, v in times.items():
        med = statistics.median(v) * 1e3
        ratio = f"{med / (base * 1e3):9.2f}" if base else "      n/a"
        print(f"{k:20s} {med:10.1f} {min(v) * 1e3:8.1f} {ratio}")
    posekit = {k: statistics.median(v) for k, v in times.items() if k.startswith("posekit")}
    if base:
        best = min(posekit, key=posekit.get)
        print(f"fastest posekit backend ({best}) / tflite = {posekit[best] / base:.2f} (target <= 1.2)")
        floats = {k: v for k, v in posekit.items() if not k.endswith("bf16")}
        best = min(floats, key=floats.get)
        print(f"fastest float32 posekit backend ({best}) / tflite = {floats[best] / base:.2f}")


if __name__ == "__main__":
    main()
