"""What the second stage costs: ms per person of each refiner on each backend, beside the first stage's forward.

Run: .venv/bin/python bench/bench_refine.py [--model mobilenet_v2_1.4] [--repeat 5] [--backends cpu,ort,openvino]

For every backend that can run here, side by side in one run (medians, interleaved so a noisy machine affects
every column alike):

* ``1st fwd``: the first stage's bare forward on one photo (ms per image);
* ``thunder`` / ``lightning``: MoveNet's refine() per person, all people of a photo in one batch (crop, forward,
  decode, map back), and the same network one person at a time (``1by1``);
* ``crop``: the first-stage network re-run on each person's crop (ms per person);
* ``x fwd``: Thunder per person as a multiple of the first stage's forward.

The people are the ones the first stage finds in p3.jpg, apink2.jpg and ski.jpg (../shared/media/images).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit import PoseEstimator  # noqa: E402
from posekit.backends import availability  # noqa: E402
from posekit.refine import CropRefiner, MoveNetRefiner  # noqa: E402

SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared"))
IMAGES = SHARED / "media" / "images"
PHOTOS = ("p3.jpg", "apink2.jpg", "ski.jpg")


def _ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2_1.4")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backends", default="cpu,ort,openvino")
    args = ap.parse_args()
    warnings.simplefilter("ignore", RuntimeWarning)
    images = [cv2.imread(str(IMAGES / n)) for n in PHOTOS]
    print(f"first stage {args.model}, OpenCV {cv2.__version__}, {cv2.getNumThreads()} threads; people from "
          f"{', '.join(PHOTOS)}; medians of {args.repeat}")
    head = (f"{'backend':9s} {'people':>6s} {'1st fwd':>8s} | {'thunder':>8s} {'1by1':>6s} {'x fwd':>6s} | "
            f"{'lightning':>9s} {'1by1':>6s} | {'crop':>6s}   (ms; 2nd stages per person)")
    print(head)
    print("-" * len(head))
    for backend in args.backends.split(","):
        why = availability(backend)
        if why is not None:
            print(f"{backend:9s} skipped: {why}")
            continue
        est = PoseEstimator(args.model, backend=backend)
        firsts = [est.estimate(img) for img in images]
        people = sum(len(p) for p in firsts)
        refiners = {
            "thunder": MoveNetRefiner("movenet_thunder", backend, min_agreement=0.0),
            "lightning": MoveNetRefiner("movenet_lightning", backend, min_agreement=0.0),
            "crop": CropRefiner(est.first),
        }
        blobs = [est.preprocess(img)[0] for img in images]
        for r in refiners.values():  # warm-up
            r.refine(images[0], firsts[0])
        fwd, per = [], {k: [] for k in ("thunder", "thunder1", "lightning", "lightning1", "crop")}
        for _ in range(args.repeat):
            for img, blob, poses in zip(images, blobs, firsts):
                fwd.append(_ms(lambda: est.forward(blob), 1))
                n = max(1, len(poses))
                for name, r in refiners.items():
                    per[name].append(_ms(lambda: r.refine(img, poses), 1) / n)
                    if name != "crop":
                        one = [_ms(lambda: r.refine(img, [p]), 1) for p in poses]
                        per[name + "1"].append(sum(one) / n)
        med = {k: statistics.median(v) for k, v in per.items()}
        f = statistics.median(fwd)
        print(f"{backend:9s} {people:6d} {f:8.1f} | {med['thunder']:8.1f} {med['thunder1']:6.1f} "
              f"{med['thunder'] / f:6.2f} | {med['lightning']:9.1f} {med['lightning1']:6.1f} | {med['crop']:6.1f}")


if __name__ == "__main__":
    main()
