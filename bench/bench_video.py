"""End-to-end video throughput against the bare network: how much do decode, grouping, drawing and encoding cost?

    .venv/bin/python bench/bench_video.py [--model mobilenet_v2_1.4] [--backend cpu] [--video PATH]

Prints, from one run on the same machine, the bare network forward rate on a frame of the video (the same
input blob, repeated; measured before and after the video, averaged), ``estimate()`` on that frame (letterbox + forward + grouping), and ``process_video`` on
the whole video (decode, estimate, draw, H.264 encode, mux), then the ratio end-to-end / forward (target >= 0.90:
decoding and encoding hide behind inference in their own threads).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from posekit import DEFAULT_MODEL, PoseEstimator  # noqa: E402
from posekit.video import probe, process_video  # noqa: E402

DANCE = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared")) / "media" / "videos" / "dance.avi"


def frame_of(path: Path, index: int):
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format="bgr24")
    raise SystemExit(f"{path} has fewer than {index + 1} frames")


def rate(fn, seconds: float, min_runs: int = 5) -> float:
    """Calls per second of fn, over at least `seconds` and `min_runs` calls (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while n < min_runs or time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--video", type=Path, default=DANCE)
    ap.add_argument("--seconds", type=float, default=5.0, help="time spent on each single-frame measurement")
    args = ap.parse_args()

    info = probe(args.video)
    est = PoseEstimator(args.model, backend=args.backend)
    frame = frame_of(args.video, min(100, info.frames - 1))
    blob, _ = est.preprocess(frame)
    print(f"{args.video.name}: {info.width}x{info.height}, {info.frames} frames at {info.fps:g} fps; "
          f"{est.name} on {est.backend}; {os.cpu_count()} CPUs")

    # Forward and estimate() are measured before and after the video and averaged, so that a machine whose
    # load drifts during the run (shared CI runners) biases the ratio less.
    forward = [rate(lambda: est.forward(blob), args.seconds / 2)]
    estimate = [rate(lambda: est.estimate(frame), args.seconds / 2)]
    with tempfile.TemporaryDirectory() as d:
        result = process_video(args.video, Path(d) / "out.mp4", est)
    end_to_end = result.fps_processed
    estimate.append(rate(lambda: est.estimate(frame), args.seconds / 2))
    forward.append(rate(lambda: est.forward(blob), args.seconds / 2))
    if max(forward) > 1.2 * min(forward):
        print(f"  (the machine's speed drifted: forward {forward[0]:.2f} then {forward[1]:.2f} fps)")
    forward, estimate = sum(forward) / 2, sum(estimate) / 2

    rows = [("bare network forward", forward), ("estimate() on one frame", estimate),
            ("process_video end-to-end", end_to_end)]
    for name, fps in rows:
        print(f"  {name:<26} {fps:7.2f} fps  ({1000 / fps:7.1f} ms/frame)")
    ratio = end_to_end / forward
    print(f"  ratio end-to-end / forward {ratio:7.2f}    (target >= 0.90: {'met' if ratio >= 0.9 else 'NOT met'})")


if __name__ == "__main__":
    main()
