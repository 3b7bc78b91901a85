"""Decode time per stage (peaks, pair scoring + matching, assembly, the second chance) of posekit.grouping.decode.

Run: .venv/bin/python bench/bench_grouping.py [--repeat N]
Inputs: the real network outputs in ../shared/reference and a synthetic 10-person map (46x54 grid).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit.grouping import DecodeTimings, decode  # noqa: E402
from posekit.layouts import COCO18  # noqa: E402
from posekit.testing import standing_person, synthetic_output  # noqa: E402

SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared"))
TARGET_MS = 3.0  # budget for a 10-person 46x54 map


def cases() -> dict[str, np.ndarray]:
    out = {}
    for f in sorted((SHARED / "reference").glob("*.npz")):
        out[f.stem] = np.load(f)["output_nhwc"].reshape(46, 54, 57).transpose(2, 0, 1).copy()
    people = [standing_person(5 + (i % 5) * 10.4, 7.3 + (i // 5) * 21.1, height=17) for i in range(10)]
    out["synthetic_10_people"] = synthetic_output(people, COCO18)
    return out


def bench(output: np.ndarray, repeat: int) -> tuple[int, np.ndarray]:
    """(people found, median seconds per stage [peaks, pairs, assembly, extend, total])."""
    t = DecodeTimings()
    rows = []
    for _ in range(repeat):
        poses = decode(output, COCO18, timings=t)
        rows.append((t.peaks, t.pairs, t.assembly, t.extend, t.total))
    return len(poses), np.median(np.array(rows), axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    print(f"{'input':36s} {'people':>6s} {'peaks':>8s} {'pairs':>8s} {'assembly':>9s} {'extend':>8s} "
          f"{'total':>8s} {'/target':>8s}")
    for name, output in cases().items():
        decode(output, COCO18)  # warm-up
        n, (p, s, a, e, tot) = bench(output, args.repeat)
        ms = lambda v: f"{v * 1e3:7.3f}ms"  # noqa: E731
        print(f"{name:36s} {n:6d} {ms(p):>8s} {ms(s):>8s} {ms(a):>9s} {ms(e):>8s} {ms(tot):>8s} "
              f"{tot * 1e3 / TARGET_MS:7.2f}x")
    print(f"(median of {args.repeat} runs; /target = total / {TARGET_MS:g} ms, the budget for 10 people)")


if __name__ == "__main__":
    main()
