"""Repetitions on one joint angle over time: counted by hysteresis (:func:`count_repetitions`) and paired
between an attempt and a reference along their alignment (:func:`match_repetitions`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.signal import butter, filtfilt, medfilt

from ..errors import InvalidInputError


def smooth_angle(signal: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """An angle over time (NaN where missing) as phases and repetitions read it: holes filled linearly, short
    spikes removed (running median over about 0.2 s, at least 5 frames), then a zero-phase low-pass
    (Butterworth, order 2, ``filtfilt``); NaN kept where the signal is missing."""
    x = np.asarray(signal, np.float64)
    good = np.isfinite(x)
    if good.sum() < 2:
        return x.copy()
    filled = np.interp(np.arange(len(x)), np.flatnonzero(good), x[good])
    kernel = max(5, int(round(0.2 * fps)) // 2 * 2 + 1)
    if len(x) > kernel:
        filled = medfilt(filled, kernel)
    wn = cutoff_hz / (fps / 2)
    if wn < 1 and len(x) > 9:
        b, a = butter(2, wn)
        filled = filtfilt(b, a, filled, padlen=min(len(x) - 1, 9))
    out = filled.copy()
    out[~good] = np.nan
    return out


@dataclass(frozen=True)
class Repetition:
    """One repetition on one angle: from the rest posture to the far turning point and back.

    Frames are indices in the sequence: ``start`` is the last frame at the rest posture before leaving it,
    ``end`` the first frame back at it (within 5 % of the excursion from the rest extreme: a pause at rest
    between two repetitions belongs to neither), ``turn`` the far extreme (the bottom of a squat, the top of an
    arm raise). ``range_deg`` is the range of motion: max - min of the smoothed angle
    from ``start`` to ``end``. Durations in seconds: ``out_s`` from start to turn, ``back_s`` from turn to end.
    """

    index: int
    start: int
    turn: int
    end: int
    range_deg: float
    low_deg: float
    high_deg: float
    fps: float

    @property
    def duration_s(self) -> float:
        return (self.end - self.start) / self.fps

    @property
    def out_s(self) -> float:
        return (self.turn - self.start) / self.fps

    @property
    def back_s(self) -> float:
        return (self.end - self.turn) / self.fps


@dataclass
class Repetitions:
    """Repetitions counted on one angle (:func:`count_repetitions`)."""

    angle: str
    reps: list[Repetition]
    smoothed: np.ndarray
    low: float  # lower threshold (degrees)
    high: float  # upper threshold
    rest: str  # "high" or "low": the side the movement starts from and comes back to
    fps: float

    @property
    def count(self) -> int:
        return len(self.reps)


def count_repetitions(signal: np.ndarray, fps: float, *, angle: str = "", low: float | None = None,
                      high: float | None = None, cutoff_hz: float = 3.0, min_range_deg: float = 20.0,
                      band: float = 0.3) -> Repetitions:
    """Count repetitions on an angle over time (degrees, NaN where missing) by hysteresis.

    1. The signal is smoothed: short holes filled linearly, then a zero-phase Butterworth low-pass
       (order 2, ``cutoff_hz``, ``scipy.signal.filtfilt``) that removes the keypoint jitter but not movements
       slower than about ``cutoff_hz`` repetitions per second.
    2. Two thresholds: by default ``band`` (30 %) of the way in from each end of its range (5th-95th percentile);
       below ``low`` is one side, above ``high`` the other, in between keeps the previous side (hysteresis: noise
       around one threshold cannot count twice). A range under ``min_range_deg`` counts nothing.
    3. The side the movement starts on is the rest posture; one repetition = leaving it for the other side and
       coming back. A last excursion that never returns is not counted.
    """
    x = smooth_angle(signal, fps, cutoff_hz)
    good = np.isfinite(x)
    empty = Repetitions(angle, [], x, math.nan, math.nan, "", fps)
    if good.sum() < 3:
        return empty
    p5, p95 = np.percentile(x[good], [5, 95])
    rng = p95 - p5
    if low is None or high is None:
        if rng < min_range_deg:
            return empty
        low = p5 + band * rng if low is None else low
        high = p95 - band * rng if high is None else high
    if not low < high:
        raise InvalidInputError(f"the low threshold ({low}) must be below the high one ({high})")
    side = np.zeros(len(x), np.int8)
    state = 0
    for t in range(len(x)):
        if good[t]:
            if x[t] >= high:
                state = 1
            elif x[t] <= low:
                state = -1
        side[t] = state
    decided = np.flatnonzero(side != 0)
    if not len(decided):
        return Repetitions(angle, [], x, float(low), float(high), "", fps)
    rest = int(side[decided[0]])
    # runs of equal side
    change = np.flatnonzero(np.diff(side)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(x)]])
    runs = [(int(side[s]), int(s), int(e)) for s, e in zip(starts, ends) if side[s] != 0]
    xf = np.where(good, x, np.nan)

    def extreme(s, e, sign):  # frame of the max (sign 1) or min (-1) of x in [s, e)
        seg = sign * xf[s:e]
        return s + int(np.nanargmax(seg)) if np.isfinite(seg).any() else s

    reps = []
    for k in range(len(runs) - 2):
        a, b, c = runs[k], runs[k + 1], runs[k + 2]
        if a[0] != rest or b[0] != -rest or c[0] != rest:
            continue
        turn = extreme(b[1], b[2], -rest)
        # start: the last frame before leaving that is still at the rest extreme (within 5 % of the excursion);
        # end: the first frame after coming back that reaches it. Pauses at rest are not part of a repetition.
        start = _near_extreme(xf, a[1], a[2], rest, xf[turn], last=True)
        end = _near_extreme(xf, c[1], c[2], rest, xf[turn], last=False)
        seg = xf[start:end + 1]
        lo_v, hi_v = float(np.nanmin(seg)), float(np.nanmax(seg))
        reps.append(Repetition(len(reps) + 1, start, turn, end, hi_v - lo_v, lo_v, hi_v, fps))
    return Repetitions(angle, reps, x, float(low), float(high), "high" if rest > 0 else "low", fps)


def _near_extreme(x: np.ndarray, s: int, e: int, sign: int, far: float, *, last: bool) -> int:
    seg = x[s:e]
    ok = np.isfinite(seg)
    if not ok.any():
        return s if not last else e - 1
    ext = np.nanmax(sign * seg) * sign
    tol = 0.05 * abs(ext - far)
    near = np.flatnonzero(ok & (sign * (seg - ext) >= -tol))
    return s + int(near[-1] if last else near[0])


@dataclass(frozen=True)
class RepetitionMatch:
    """An attempt's repetition and the reference's it lines up with (either may be None: missing or extra)."""

    attempt: Repetition | None
    reference: Repetition | None
    overlap: float  # of the aligned intervals, 0-1

    @property
    def tempo_ratio(self) -> float:
        """Attempt duration / reference duration (2: twice as slow)."""
        if self.attempt is None or self.reference is None or self.reference.duration_s <= 0:
            return math.nan
        return self.attempt.duration_s / self.reference.duration_s


def match_repetitions(reference: Repetitions, attempt: Repetitions, path: np.ndarray) -> list[RepetitionMatch]:
    """Pair each attempt repetition with the reference repetition it overlaps most once aligned (``path``:
    (attempt frame, reference frame) pairs), by the Hungarian method on the overlap; in attempt order, then the
    reference repetitions left unmatched."""
    ra, rr = attempt.reps, reference.reps
    ov = np.zeros((len(ra), len(rr)))
    for i, a in enumerate(ra):
        sel = (path[:, 0] >= a.start) & (path[:, 0] <= a.end)
        if not sel.any():
            continue
        r0, r1 = int(path[sel, 1].min()), int(path[sel, 1].max())
        for j, r in enumerate(rr):
            inter = min(r1, r.end) - max(r0, r.start)
            union = max(r1, r.end) - min(r0, r.start)
            ov[i, j] = max(inter, 0) / union if union > 0 else 0.0
    pairs = {}
    if len(ra) and len(rr):
        rows, cols = linear_sum_assignment(-ov)
        pairs = {int(i): int(j) for i, j in zip(rows, cols) if ov[i, j] > 0.1}
    out = [RepetitionMatch(a, rr[pairs[i]] if i in pairs else None, float(ov[i, pairs[i]]) if i in pairs else 0.0)
           for i, a in enumerate(ra)]
    used = set(pairs.values())
    out.extend(RepetitionMatch(None, r, 0.0) for j, r in enumerate(rr) if j not in used)
    return out


__all__ = ["Repetition", "RepetitionMatch", "Repetitions", "count_repetitions", "match_repetitions", "smooth_angle"]
