"""Tracking + smoothing cost per frame for 10 people, beside the network's forward time, in one run.

Run: .venv/bin/python bench/bench_tracking.py [--frames N] [--model NAME] [--backend B]
Ten people walk (constant speed, crossing, small jitter, a few joints missing) for N frames at 30 fps; each frame
goes through Tracker.update, then the offline DelayedSmoother (video) or the live OneEuroSmoother (webcam). The
network's forward time is measured on a real 432x368 input in the same run. Target: tracking + smoothing ≤ 1 ms
per frame for 10 people.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit.pose import Pose  # noqa: E402
from posekit.smoothing import DelayedSmoother, OneEuroSmoother  # noqa: E402
from posekit.testing import standing_person  # noqa: E402
from posekit.tracking import Tracker  # noqa: E402

SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared"))
TARGET_MS = 1.0
FPS = 30.0


def scene(frames: int, people: int = 10, seed: int = 0) -> list[list[Pose]]:
    rng = np.random.default_rng(seed)
    base = [standing_person(0, 0, 200) for _ in range(people)]
    start = rng.uniform([0, 0], [1600, 700], (people, 2))
    speed = rng.uniform(-6, 6, (people, 2)) * [1, 0.2]
    out = []
    for t in range(frames):
        poses = []
        for i in range(people):
            kp = base[i].copy()
            vis = kp[:, 2] > 0
            kp[vis, :2] += start[i] + speed[i] * t + rng.normal(0, 1.5, (int(vis.sum()), 2))
            kp[rng.random(len(kp)) < 0.05] = 0  # a few joints missed
            poses.append(Pose(kp, 0.6))
        rng.shuffle(poses)
        out.append(poses)
    return out


def fresh(frames):
    return [[Pose(p.keypoints.copy(), p.score) for p in poses] for poses in frames]


def bench_pipeline(frames, smoother: str) -> tuple[float, float]:
    """(tracking ms per frame, smoothing ms per frame), medians over frames after a warm-up."""
    tracker = Tracker.for_fps(FPS)
    delayed = DelayedSmoother(FPS) if smoother == "offline" else None
    live = OneEuroSmoother() if smoother == "live" else None
    tt, ts = [], []
    for i, poses in enumerate(frames):
        t0 = time.perf_counter()
        poses = tracker.update(poses, i)
        t1 = time.perf_counter()
        if delayed is not None:
            list(delayed.push(i, None, poses))
        else:
            live(poses, i / FPS)
        t2 = time.perf_counter()
        tt.append(t1 - t0)
        ts.append(t2 - t1)
    skip = 20
    return float(np.median(tt[skip:]) * 1e3), float(np.median(ts[skip:]) * 1e3)


def forward_ms(model: str, backend: str, repeat: int = 10) -> float | None:
    try:
        import cv2

        from posekit import PoseEstimator

        img = cv2.imread(str(SHARED / "media" / "images" / "p3.jpg"))
        est = PoseEstimator(model, backend=backend)
        est.estimate(img)
        times = []
        for _ in range(repeat):
            est.estimate(img)
            times.append(est.last_timings["forward"])  # milliseconds
        return float(np.median(times))
    except Exception as exc:  # noqa: BLE001 - a bench without weights still prints the tracking numbers
        print(f"(no network forward: {type(exc).__name__}: {exc})")
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--model", default="mobilenet_v2_1.4")
    ap.add_argument("--backend", default="cpu")
    args = ap.parse_args()
    frames = scene(args.frames)
    fwd = forward_ms(args.model, args.backend)
    print(f"10 people, {args.frames} frames at {FPS:g} fps; median ms per frame")
    print(f"{'pipeline':28s} {'tracking':>9s} {'smoothing':>10s} {'total':>8s} {'/target':>8s} {'/forward':>9s}")
    for name in ("offline", "live"):
        tr, sm = bench_pipeline(fresh(frames), name)
        tot = tr + sm
        ratio = f"{tot / fwd:8.3f}" if fwd else "       -"
        label = {"offline": "video (Tracker+Delayed)", "live": "webcam (Tracker+OneEuro)"}[name]
        print(f"{label:28s} {tr:8.3f} {sm:9.3f} {tot:8.3f} {tot / TARGET_MS:7.2f}x {ratio:>9s}")
    if fwd:
        print(f"{'network forward (' + args.model + ', ' + args.backend + ')':28s} {fwd:8.3f} ms")
    print(f"(/target = total / {TARGET_MS:g} ms; /forward = total / the network's forward time)")


if __name__ == "__main__":
    main()
