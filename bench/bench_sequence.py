"""Aligning two 2-minute performances, beside estimating the poses of those videos.

    .venv/bin/python bench/bench_sequence.py [--model mobilenet_v2_1.4] [--backend cpu] [--seconds 120] [--fps 30]

Measured in one run, on the same machine:

* **estimation**: ``estimate()`` on frames of dance.avi (a few frames, timed, then extrapolated to both videos:
  2 x seconds x fps frames);
* **alignment** of two sequences of that length (target: well under a second): the reference moves from one
  real pose of those frames to another (picked at random) each second, linearly; the attempt is the same
  movement with its pace varying by ±20 %, 2 px of keypoint noise and 5 % of keypoints missing. Timed:
  ``sequence.align`` (features, NaN-aware cost band, numpy DTW, scores and phases) and its stages, and the whole
  ``compare_sequences`` (plus repetitions); the alignment error against the known time warp;
* **dtaidistance** (optional, ``pip install dtaidistance``): its C DTW (``dtw_ndim.warping_path``, same
  Sakoe-Chiba window) on the same features with missing values set to 0, as it has no notion of a missing joint
  (nor of a cost other than the squared Euclidean distance).

Prints times and ratios to the estimation time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from posekit import DEFAULT_MODEL, PoseEstimator  # noqa: E402
from posekit.pose import most_prominent  # noqa: E402
from posekit.sequence import (  # noqa: E402
    Band,
    PoseSequence,
    align,
    compare_sequences,
    cost_band,
    default_radius,
    dtw_band,
    features,
)

DANCE = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared")) / "media" / "videos" / "dance.avi"


def frames_of(path: Path, every: int, limit: int):
    out = []
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i % every == 0:
                out.append(f.to_ndarray(format="bgr24"))
                if len(out) >= limit:
                    break
    return out


def best(fn, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--backend", default="cpu")
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--frames", type=int, default=12, help="frames to estimate for the extrapolation")
    args = ap.parse_args()

    est = PoseEstimator(args.model, backend=args.backend)
    frames = frames_of(DANCE, 15, args.frames)
    est.estimate(frames[0])  # warm-up
    t0 = time.perf_counter()
    found = [est.estimate(f) for f in frames]
    per_frame = (time.perf_counter() - t0) / len(frames)
    poses = [p[most_prominent(p)] for p in found if p]
    n = int(round(args.seconds * args.fps))
    estimation = 2 * n * per_frame

    rng = np.random.default_rng(0)
    real = np.stack([p.keypoints for p in poses])
    keys = real[rng.integers(0, len(real), int(args.seconds))]  # a real pose each second, in a random order
    def movement(u):  # u: (n,) key-pose coordinates -> (n, K, 3), linear between key poses
        i = np.clip(np.floor(u).astype(int), 0, len(keys) - 2)
        f = (u - i)[:, None, None]
        kp = keys[i] * (1 - f) + keys[i + 1] * f
        kp[..., 2] = np.minimum(keys[i][..., 2], keys[i + 1][..., 2])
        return kp
    span = len(keys) - 1
    ref = PoseSequence(movement(np.linspace(0, span, n)), args.fps)
    t = np.linspace(0, 1, n)
    warp = t + 0.2 / (2 * np.pi * 3) * np.sin(2 * np.pi * 3 * t)  # pace varies by ±20 %
    att_kp = movement(warp * span)
    att_kp[..., :2] += rng.normal(0, 2.0, att_kp[..., :2].shape)
    att_kp[rng.random(att_kp.shape[:2]) < 0.05, 2] = 0
    att = PoseSequence(att_kp, args.fps)

    t_align = best(lambda: align(ref, att))
    al = align(ref, att)
    t_compare = best(lambda: compare_sequences(ref, att), runs=1)
    fa, fr = features(att), features(ref)
    band = Band.around_diagonal(n, n, default_radius(n, n, args.fps))
    t_feat = best(lambda: (features(att), features(ref)))
    t_cost = best(lambda: cost_band(fa, fr, band))
    cost = cost_band(fa, fr, band)
    t_dtw = best(lambda: dtw_band(cost, band))
    truth = np.interp(warp * span, np.linspace(0, span, n), np.arange(n))  # ref frame of each attempt frame
    err = np.abs(al.ref_for_attempt - truth)

    print(f"two {args.seconds:g}-second sequences at {args.fps:g} fps ({n} frames each), band ±"
          f"{default_radius(n, n, args.fps)} frames ({band.width} wide), {args.model} on {est.backend}")
    print(f"{'stage':<44}{'seconds':>10}{'x estimation':>14}")
    rows = [
        (f"estimation of both videos ({per_frame * 1000:.0f} ms/frame x {2 * n})", estimation),
        ("align() total", t_align),
        ("  features (keypoints + angles), both", t_feat),
        ("  cost band (NaN-aware, numpy matmul)", t_cost),
        ("  DTW (numpy row scan + backtrack)", t_dtw),
        ("compare_sequences() (align + repetitions)", t_compare),
    ]
    try:
        from dtaidistance import dtw_ndim

        def feat(f):  # the same features, scaled as the cost scales them; missing = 0 (no NaN in dtaidistance)
            k = np.repeat(f.tolerances, 2)
            x = f.keypoints.reshape(len(f), -1) / (np.sqrt(2) * k)
            a = f.angles / (np.sqrt(2) * 30.0)
            return np.nan_to_num(np.concatenate([x, a], axis=1)).astype(np.float64)

        xa, xr = feat(fa), feat(fr)
        w = default_radius(n, n, args.fps)
        t_lib = best(lambda: dtw_ndim.warping_path(xa, xr, window=w, use_c=True))
        path = np.array(dtw_ndim.warping_path(xa, xr, window=w, use_c=True))
        lib_err = np.abs(np.array([np.median(path[path[:, 0] == i, 1]) for i in range(n)]) - truth)
        rows.append(("dtaidistance warping_path (C), features only", t_lib))
    except ImportError:
        lib_err = None
        rows.append(("dtaidistance (not installed: pip install dtaidistance)", float("nan")))
    for name, sec in rows:
        print(f"{name:<44}{sec:>10.3f}{sec / estimation:>14.5f}")
    print(f"alignment error (frames, vs the true time warp): posekit median {np.median(err):.1f}, "
          f"95th percentile {np.percentile(err, 95):.1f}" + (
              "" if lib_err is None else f"; dtaidistance median {np.median(lib_err):.1f}, "
                                         f"95th percentile {np.percentile(lib_err, 95):.1f}"))
    print(f"similarity {al.score:.1f}% (coverage {100 * al.coverage:.0f}%)")


if __name__ == "__main__":
    main()
