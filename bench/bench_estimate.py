"""estimate() against the bare network, stage by stage, on real images and a 10+ person image.

Run: .venv/bin/python bench/bench_estimate.py [--model mobilenet_v2_1.4] [--backend cpu] [--repeat 15]

Prints, side by side in one run: the bare forward (the runner alone, on a ready blob), estimate(), and each
stage of estimate() (preprocess, forward, peaks, grouping), as medians in ms, and the ratio
estimate / bare forward (target <= 1.10). Measurements are interleaved image by image so a noisy machine
affects every column alike. Then what sizing the input and multi-scale cost on a 16:9 frame, and what issue
21's steps cost the photo default (``--photo-only``: that alone).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit import PoseEstimator  # noqa: E402
from posekit.grouping import DecodeTimings, decode  # noqa: E402

SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared"))
IMAGES = SHARED / "media" / "images"


def interleaved(rows: dict, image, repeat: int) -> dict[str, list[float]]:
    """Seconds of ``estimate(image)`` per row, rounds interleaved (one warm-up call each first), so that the
    machine's load shifts every row alike and per-round ratios stay fair."""
    times: dict[str, list[float]] = {k: [] for k in rows}
    for e in rows.values():
        e.estimate(image)
    for _ in range(repeat):
        for name, e in rows.items():
            t0 = time.perf_counter()
            e.estimate(image)
            times[name].append(time.perf_counter() - t0)
    return times


def crowd() -> np.ndarray:
    """A real 12-person image: p3 (3), apink2 (6), p2 (2) and golf (1) tiled 2 x 2."""
    tiles = [cv2.imread(str(IMAGES / n)) for n in ("p3.jpg", "apink2.jpg", "p2.jpg", "golf.jpg")]
    tiles = [cv2.resize(t, (600, round(t.shape[0] * 600 / t.shape[1]))) for t in tiles]
    h = max(t.shape[0] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tiles]
    return np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2_1.4")
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--photo-only", action="store_true", help="the photo default's cost only (issue 21)")
    args = ap.parse_args()
    est = PoseEstimator(args.model, backend=args.backend)
    images = {"p3": cv2.imread(str(IMAGES / "p3.jpg")), "apink2": cv2.imread(str(IMAGES / "apink2.jpg")),
              "crowd_12": crowd()}
    print(f"model {est.name}, backend {est.backend}, OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads")
    head = (f"{'image':10s} {'people':>6s} {'bare fwd':>9s} {'estimate':>9s} {'ratio':>6s} | "
            f"{'prep':>6s} {'forward':>8s} {'peaks':>6s} {'group':>6s}  (median ms)")
    print(head)
    print("-" * len(head))
    for name, img in images.items():
        blob, _ = est.preprocess(img)
        for _ in range(3):  # warm-up
            est.forward(blob)
            est.estimate(img)
        bare, total, stages = [], [], {"preprocess": [], "forward": [], "peaks": [], "group": []}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            est.forward(blob)
            bare.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            poses = est.estimate(img)
            total.append(time.perf_counter() - t0)
            inf = est.infer(img)
            dt = DecodeTimings()
            decode(inf.output, est.layout, timings=dt)
            stages["preprocess"].append(inf.timings["preprocess"] / 1e3)
            stages["forward"].append(inf.timings["forward"] / 1e3)
            stages["peaks"].append(dt.peaks)
            stages["group"].append(dt.pairs + dt.assembly)
        med = {k: statistics.median(v) * 1e3 for k, v in stages.items()}
        b, e = statistics.median(bare) * 1e3, statistics.median(total) * 1e3
        print(f"{name:10s} {len(poses):6d} {b:9.1f} {e:9.1f} {e / b:6.2f} | {med['preprocess']:6.2f} "
              f"{med['forward']:8.1f} {med['peaks']:6.2f} {med['group']:6.2f}")
    print("targets: estimate / bare forward <= 1.10; grouping <= 3 ms for 10 people "
          "(also bench/bench_grouping.py for synthetic maps)")
    if args.photo_only:
        photo_default_cost(args, images)
        return
    sizing_cost(args, est)
    photo_default_cost(args, images)


def sizing_cost(args, est: PoseEstimator) -> None:
    """What sizing the input to the image (the default) and multi-scale cost on a 16:9 frame, against the
    model's fixed 432 x 368 input and OpenPose's grouping alone (the default before issue 9, whose budget is the
    default within 1.6x of it), interleaved call by call."""
    import av

    with av.open(str(SHARED / "media" / "videos" / "dance.avi")) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 30).to_ndarray(format="bgr24")
    rows = {"fixed 432x368 (before)": PoseEstimator(args.model, backend=est.backend, input_size="model",
                                                    extend=False),
            "auto (default)": est,
            "auto, scales 1.25,0.75": PoseEstimator(args.model, backend=est.backend, scales=(1.25, 0.75))}
    times = interleaved(rows, frame, args.repeat)
    base = times["fixed 432x368 (before)"]
    print(f"\n16:9 frame (dance.avi 1280x720, frame 30), {est.backend}: estimate() median ms, and the median of "
          f"the per-round ratios to fixed (rounds interleave the rows, so a machine that slows down for a while "
          f"slows every row of a round alike)")
    for name, e in rows.items():
        med = statistics.median(times[name])
        ratio = statistics.median(t / b for t, b in zip(times[name], base))
        size = "x".join(map(str, e.network_size(1280, 720)))
        print(f"  {name:28s} input {size:8s} {len(e.estimate(frame)):2d} people {med * 1e3:8.1f} ms "
              f"{ratio:5.2f}x")
    print("target: auto <= 1.60x fixed")


def photo_default_cost(args, images: dict[str, np.ndarray]) -> None:
    """What issue 21's steps cost the photo default (MoveNet Thunder): the estimator as it is (people that are
    pieces of another dropped, the exposure measured, faint people confirmed, the refined joints screened)
    against the same without the screen, the exposure step and the confirmation (the photo default before
    issue 21, but for the fragment rule, which runs inside the first stage's decoding and costs well under a
    millisecond), interleaved call by call."""
    from posekit.refine import PHOTO_REFINE

    before = "photo default before (no screen, no exposure)"
    rows = {before: PoseEstimator(args.model, backend=args.backend, refine=PHOTO_REFINE, rules=None, exposure=False,
                                  confirm_weak=False),
            "photo default (issue 21)": PoseEstimator(args.model, backend=args.backend, refine=PHOTO_REFINE)}
    print(f"\nphoto default ({PHOTO_REFINE}), {args.backend}: estimate() median ms and the median of per-round "
          f"ratios to before")
    for name, img in images.items():
        times = interleaved(rows, img, args.repeat)
        base = times[before]
        for row, e in rows.items():
            ratio = statistics.median(t / b for t, b in zip(times[row], base))
            screen = e.last_timings.get("screen", 0.0)
            print(f"  {name:10s} {row:48s} {len(e.estimate(img)):2d} people {statistics.median(times[row]) * 1e3:8.1f} "
                  f"ms {ratio:5.2f}x  (screen {screen:.2f} ms)")
    print("target (issue 21): photo default <= 1.2x before")


if __name__ == "__main__":
    main()
