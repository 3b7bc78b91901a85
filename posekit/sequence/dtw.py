"""Dynamic time warping of two pose sequences: per-frame features, the Sakoe-Chiba band, the frame cost inside
it, and the banded DTW itself (steps 3-5 of :mod:`posekit.sequence`).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import InvalidInputError
from ..layouts import get_layout
from ..similarity import ANGLE_TOLERANCE_DEG, MIN_COMMON
from .poses import PoseSequence, joint_angles, normalised_keypoints

#: Default half-width of the Sakoe-Chiba band: this fraction of the longer sequence, at least MIN_WINDOW_S.
WINDOW_FRACTION = 0.1
#: The shortest default half-width of the band, in seconds (a late start of that much is absorbed).
MIN_WINDOW_S = 2.0
#: Rows of the cost band computed at once (memory: rows x band width x features).
_BLOCK = 256


@dataclass
class Features:
    """What DTW compares, per frame: normalised keypoints (T, K, 2) and angles (T, A), NaN where missing."""

    keypoints: np.ndarray
    angles: np.ndarray
    angle_names: list[str]
    tolerances: np.ndarray  # (K,) torso lengths
    weights: np.ndarray  # (K,)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])


def features(seq: PoseSequence, mirror: bool = False, *, angles: bool = True) -> Features:
    """What DTW compares for ``seq`` (mirrored when ``mirror``); ``angles=False``: keypoints alone."""
    spec = get_layout(seq.layout)
    kp = normalised_keypoints(seq, mirror)
    if angles:
        names, ang = joint_angles(seq, mirror)
        ang = np.asarray(ang, np.float64)
    else:
        names, ang = [], np.zeros((len(seq), 0))
    return Features(kp, ang, list(names), spec.tolerances, spec.weights)


# ------------------------------------------------------------------------------------------------ cost band


@dataclass
class Band:
    """The Sakoe-Chiba band: for row ``i`` the columns ``lo[i] <= j < hi[i]``, stored from ``lo[i]``."""

    lo: np.ndarray
    hi: np.ndarray

    @property
    def width(self) -> int:
        return int((self.hi - self.lo).max())

    @classmethod
    def around_diagonal(cls, n: int, m: int, radius: int) -> "Band":
        """Columns within ``radius`` of the diagonal from (0, 0) to (n-1, m-1); always holds a path."""
        if n < 1 or m < 1:
            raise InvalidInputError("cannot align an empty sequence")
        radius = max(int(radius), 1)
        slope = (m - 1) / (n - 1) if n > 1 else 0.0
        centre = np.arange(n) * slope
        # Rows must overlap their neighbours for a path to exist: widen by the slope.
        half = radius + math.ceil(slope)
        lo = np.clip(np.floor(centre - half), 0, m - 1).astype(np.int64)
        hi = np.clip(np.ceil(centre + half) + 1, 1, m).astype(np.int64)
        lo[0], hi[-1] = 0, m
        return cls(lo, hi)


def _weighted_sq(a: np.ndarray, b: np.ndarray, w: np.ndarray):
    """NaN-aware sum_c w_c (a_ic - b_jc)^2 over components seen in both, and sum_c w_c over them: (n, m) each."""
    ma, mb = np.isfinite(a), np.isfinite(b)
    a0, b0 = np.where(ma, a, 0.0), np.where(mb, b, 0.0)
    fa, fb = ma.astype(np.float64), mb.astype(np.float64)
    num = (a0**2 * w) @ fb.T + (fa * w) @ (b0**2).T - 2.0 * (a0 * w) @ b0.T
    den = (fa * w) @ fb.T
    return np.maximum(num, 0.0), den


def pair_cost(att: Features, ref: Features, rows: slice, cols: slice) -> np.ndarray:
    """``cost_ij`` (:mod:`posekit.sequence`, step 4) for attempt frames ``rows`` x reference frames ``cols``."""
    k = np.repeat(att.tolerances, 2)
    wk = np.repeat(att.weights, 2) / (2.0 * k**2)
    a = att.keypoints[rows].reshape(-1, wk.size)
    b = ref.keypoints[cols].reshape(-1, wk.size)
    num, _ = _weighted_sq(a, b, wk)
    # Weight of the keypoints seen in both (counted once per keypoint, not per coordinate).
    va = np.isfinite(att.keypoints[rows, :, 0]).astype(np.float64)
    vb = np.isfinite(ref.keypoints[cols, :, 0]).astype(np.float64)
    wsum = (va * att.weights) @ vb.T
    count = va @ vb.T
    with np.errstate(invalid="ignore", divide="ignore"):
        d = num / wsum
        if att.angles.shape[1]:
            an, ad = _weighted_sq(att.angles[rows], ref.angles[cols],
                                  np.full(att.angles.shape[1], 1.0 / (2.0 * ANGLE_TOLERANCE_DEG**2)))
            ang = an / ad
            d = np.where(ad > 0, (d + ang) / 2.0, d)
    cost = np.sqrt(d)
    cost[(count < MIN_COMMON) | ~np.isfinite(cost)] = np.nan
    return cost


def _one_blas_thread():
    """Run BLAS on one thread: the products here are small, and a multi-threaded BLAS on a busy machine (other
    sessions, the estimator's threads) spins and runs 5-15x slower (bench/bench_sequence.py measured it)."""
    return threadpool_limits(1, user_api="blas")


#: One cost band at a time: BLAS thread limits are process-wide, so two threads (two app sessions) setting and
#: restoring them at once could leave them changed.
_BLAS_LOCK = threading.Lock()


def cost_band(att: Features, ref: Features, band: Band) -> np.ndarray:
    """(n, band.width) costs, row ``i`` holding columns ``band.lo[i]...``; +inf outside the band."""
    with _BLAS_LOCK, _one_blas_thread():
        return _cost_band(att, ref, band)


def _cost_band(att: Features, ref: Features, band: Band) -> np.ndarray:
    n = len(att)
    out = np.full((n, band.width), np.inf)
    for i0 in range(0, n, _BLOCK):
        i1 = min(i0 + _BLOCK, n)
        c0, c1 = int(band.lo[i0:i1].min()), int(band.hi[i0:i1].max())
        block = pair_cost(att, ref, slice(i0, i1), slice(c0, c1))
        for r in range(i1 - i0):
            i = i0 + r
            lo, hi = band.lo[i], band.hi[i]
            out[i, : hi - lo] = block[r, lo - c0: hi - c0]
    missing = np.isnan(out)
    if missing.any():  # no evidence either way: the typical cost, so that such frames neither attract nor repel
        finite = out[np.isfinite(out)]
        out[missing] = float(np.median(finite)) if finite.size else 1.0
    return out


# ----------------------------------------------------------------------------------------------------- DTW


def dtw_band(cost: np.ndarray, band: Band) -> tuple[np.ndarray, float]:
    """DTW over a banded cost (rows = attempt, columns = reference), steps (1,0), (0,1), (1,1).

    Returns the path as an (L, 2) int array of (row, column) from (0, 0) to (n-1, m-1), and its total cost.
    Row ``i``'s accumulated cost comes from the previous row in one vectorised pass:
    ``D[i, j] = S[j] + min_{k <= j} (m[k] - S[k-1])`` with ``S`` the running sum of row ``i``'s costs and
    ``m[k] = min(D[i-1, k-1], D[i-1, k])``.
    """
    n = cost.shape[0]
    acc = np.full(cost.shape, np.inf)
    lo, hi = band.lo, band.hi
    for i in range(n):
        w = int(hi[i] - lo[i])
        c = cost[i, :w]
        if i == 0:
            m = np.full(w, np.inf)
            m[0] = 0.0
        else:
            # previous row, columns lo[i]-1 .. hi[i]-1, as a padded view
            plo, phi = int(lo[i - 1]), int(hi[i - 1])
            prev = np.full(w + 1, np.inf)
            s0, s1 = max(plo, int(lo[i]) - 1), min(phi, int(hi[i]))
            if s1 > s0:
                prev[s0 - (lo[i] - 1): s1 - (lo[i] - 1)] = acc[i - 1, s0 - plo: s1 - plo]
            m = np.minimum(prev[:-1], prev[1:])  # diagonal (j-1), vertical (j)
        s = np.cumsum(c)
        acc[i, :w] = s + np.minimum.accumulate(m - (s - c))
    total = float(acc[n - 1, hi[n - 1] - 1 - lo[n - 1]])
    if not math.isfinite(total):
        raise InvalidInputError("no alignment inside the time window: widen it")
    # Backtrack (ties prefer the diagonal).
    i, j = n - 1, int(hi[n - 1] - 1)
    path = [(i, j)]

    def at(r, col):
        if r < 0 or col < lo[r] or col >= hi[r]:
            return math.inf
        return acc[r, col - lo[r]]

    while i > 0 or j > 0:
        diag, up, left = at(i - 1, j - 1), at(i - 1, j), at(i, j - 1)
        if diag <= up and diag <= left:
            i, j = i - 1, j - 1
        elif up <= left:
            i -= 1
        else:
            j -= 1
        path.append((i, j))
    return np.array(path[::-1], dtype=np.int64), total


def default_radius(n: int, m: int, fps: float, window_s: float | None = None) -> int:
    """Band half-width in reference frames: ``window_s`` seconds, else 10 % of the longer sequence, >= 2 s."""
    if window_s is not None:
        return max(1, int(round(window_s * fps)))
    return max(1, int(round(max(WINDOW_FRACTION * max(n, m), MIN_WINDOW_S * fps))))


__all__ = ["MIN_WINDOW_S", "WINDOW_FRACTION", "Band", "Features", "cost_band", "default_radius", "dtw_band",
           "features", "pair_cost"]
