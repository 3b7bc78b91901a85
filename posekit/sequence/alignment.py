"""Aligning an attempt with a reference in time and what it shows: the similarity frame by frame along the path,
the reference's phases and, per phase and joint angle, how the attempt differs in words (steps 5-7 of
:mod:`posekit.sequence`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import find_peaks, medfilt

from ..errors import InvalidInputError
from ..kinematics import ANGLES_BY_NAME
from ..similarity import ANGLE_TOLERANCE_DEG, MIN_COMMON
from .dtw import Band, Features, cost_band, default_radius, dtw_band, features
from .poses import PoseSequence
from .repetitions import smooth_angle

# -------------------------------------------------------------------------------------------------- scores


def frame_scores(att: Features, ref: Features, ai: np.ndarray, rj: np.ndarray) -> np.ndarray:
    """Photo-matching score (0-100) of attempt frame ``ai[p]`` with reference frame ``rj[p]``; NaN if unmeasurable."""
    a, b = att.keypoints[ai], ref.keypoints[rj]
    both = np.isfinite(a[..., 0]) & np.isfinite(b[..., 0])
    d2 = np.where(both, ((a - b) ** 2).sum(axis=2), 0.0)
    agree = np.exp(-d2 / (2 * att.tolerances**2))
    w = att.weights * both
    with np.errstate(invalid="ignore", divide="ignore"):
        kp = (w * agree).sum(axis=1) / w.sum(axis=1)
        if att.angles.shape[1]:
            da = att.angles[ai] - ref.angles[rj]
            ok = np.isfinite(da)
            ang_agree = np.where(ok, np.exp(-np.where(ok, da, 0) ** 2 / (2 * ANGLE_TOLERANCE_DEG**2)), 0.0)
            ang = ang_agree.sum(axis=1) / ok.sum(axis=1)
            score = np.where(ok.any(axis=1), (kp + ang) / 2, kp)
        else:
            score = kp
    score = 100.0 * score
    score[both.sum(axis=1) < MIN_COMMON] = np.nan
    return score


# -------------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Phase:
    """A stretch of the reference (frames ``start``..``end`` inclusive) and the attempt frames aligned to it."""

    index: int
    ref_start: int
    ref_end: int
    attempt_start: int
    attempt_end: int
    similarity: float  # mean similarity over the attempt frames of this phase (NaN: not measured)


@dataclass(frozen=True)
class JointDifference:
    """One angle in one phase: mean attempt - reference (degrees) over the aligned frames."""

    angle: str
    phase: int
    ref_start: int
    ref_end: int
    attempt_start: int
    attempt_end: int
    diff_deg: float  # signed, attempt minus reference
    mean_abs_deg: float  # how far apart on average, whatever the sign
    fps: float
    peak_deg: float = 0.0  # 90th percentile of how far apart (3-frame running median): the largest differences

    @property
    def _peaks(self) -> bool:
        """Its largest differences stand well above the average: worth saying "up to N°"."""
        return self.peak_deg >= max(self.mean_abs_deg + 5, 1.5 * self.mean_abs_deg)

    @property
    def words(self) -> str:
        """The difference without where it happens: "left knee: bent 12° more, up to 25°"."""
        words = describe_angle_difference(self.angle, self.diff_deg, self.mean_abs_deg)
        return f"{words}, up to {self.peak_deg:.0f}°" if self._peaks else words

    @property
    def text(self) -> str:
        sep = "," if self._peaks else ""
        return f"{self.words}{sep} in frames {self.ref_start}–{self.ref_end} of the reference " \
               f"({self.ref_start / self.fps:.1f}–{(self.ref_end + 1) / self.fps:.1f} s)"


def angle_label(name: str) -> str:
    """``"right_knee"`` -> ``"right knee"`` (the label of :mod:`posekit.kinematics`, in lower case)."""
    d = ANGLES_BY_NAME.get(name)
    return (d.label if d else name.replace("_", " ")).lower()


def describe_angle_difference(angle: str, diff: float, mean_abs: float) -> str:
    """Coach words for attempt - reference on one angle: ``"left knee: bent 12° more"``.

    Elbows, knees, hips: 180° is straight, so a larger angle is "bent less". Shoulders: 0° arm along the body,
    so a larger angle is "arm raised higher". Trunk lean: positive leans to the right of the image. When the
    difference goes both ways within the phase (mean signed difference under half the mean absolute one), it
    says how far apart they are on average instead.
    """
    label = angle_label(angle)
    if mean_abs < 2.0:
        return f"{label}: the same (within 2°)"
    if abs(diff) < 0.5 * mean_abs:
        return f"{label}: {mean_abs:.0f}° apart on average, both ways"
    deg = f"{abs(diff):.0f}°"
    more = diff > 0
    if angle.endswith("_shoulder"):
        return f"{label}: arm raised {deg} {'higher' if more else 'lower'}"
    if angle == "trunk_lean":
        return f"{label}: leaning {deg} further {'right' if more else 'left'} (as seen in the video)"
    if angle.endswith(("_elbow", "_knee", "_hip")):
        return f"{label}: bent {deg} {'less' if more else 'more'}"
    return f"{label}: {deg} {'more' if more else 'less'}"


@dataclass
class Alignment:
    """How an attempt lines up with a reference (:mod:`posekit.sequence`, steps 5-7).

    Attributes:
        path: (L, 2) int array of (attempt frame, reference frame), from (0, 0) to the last frames.
        ref_for_attempt: (n_attempt,) the reference frame shown beside each attempt frame.
        similarity: (n_attempt,) 0-100 per attempt frame, NaN where not measurable.
        score: mean of ``similarity`` where measured (0 when never).
        coverage: fraction of attempt frames where it is measured.
        mirrored: the attempt was compared mirrored.
        cost: DTW total cost divided by the path length (0 = identical).
        phases, differences: feedback per phase of the reference, worst first within a phase.
        angle_names, main_angle: the angles compared, and the reference's most moving one (its phases cut the
            feedback; None when no angle is measured enough).
        ref_angles, att_angles: the angles (degrees, NaN where missing) of every reference and attempt frame,
            the attempt's mirrored when ``mirrored``.
    """

    path: np.ndarray
    ref_for_attempt: np.ndarray
    similarity: np.ndarray
    score: float
    coverage: float
    mirrored: bool
    cost: float
    fps_attempt: float
    fps_ref: float
    phases: list[Phase] = field(default_factory=list)
    differences: list[JointDifference] = field(default_factory=list)
    angle_names: list[str] = field(default_factory=list)
    main_angle: str | None = None
    ref_angles: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    att_angles: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)

    @property
    def slope(self) -> float:
        """Attempt frames per reference frame along the path (2: the attempt is twice as slow)."""
        a, r = self.path[:, 0].astype(float), self.path[:, 1].astype(float)
        if np.ptp(r) == 0:
            return math.inf
        return float(np.polyfit(r, a, 1)[0])

    def worst(self, per_phase: int = 2, min_deg: float = 10.0) -> list[JointDifference]:
        """The most different angles of each phase (on average; only those at least ``min_deg`` apart in their
        largest differences, the 90th percentile), phase by phase."""
        out = []
        for ph in self.phases:
            diffs = [d for d in self.differences if d.phase == ph.index and d.peak_deg >= min_deg]
            out.extend(diffs[:per_phase])
        return out


def _middle_ref(path: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.int64)
    first = np.searchsorted(path[:, 0], np.arange(n), side="left")
    last = np.searchsorted(path[:, 0], np.arange(n), side="right") - 1
    out[:] = path[(first + last) // 2, 1]
    return out


def phases_of(signal: np.ndarray, fps: float, min_phase_s: float = 0.4, max_phases: int = 12) -> list[tuple[int, int]]:
    """Cut a reference into phases at the turning points of ``signal`` (an angle over time, NaN allowed).

    The signal is smoothed (about 3 Hz), turning points are peaks and troughs whose prominence is at least
    15 % of the signal's range; phases shorter than ``min_phase_s`` are merged into their neighbour. Without
    clear turning points the reference is cut into equal phases of about 1 s (at most ``max_phases``).
    """
    n = len(signal)
    s = smooth_angle(signal, fps, 3.0)
    good = np.isfinite(s)
    bounds: list[int] = []
    if good.sum() >= 3:
        rng = np.nanpercentile(s, 95) - np.nanpercentile(s, 5)
        filled = np.interp(np.arange(n), np.flatnonzero(good), s[good])
        if rng > 10.0:
            prom = 0.15 * rng
            peaks, _ = find_peaks(filled, prominence=prom)
            troughs, _ = find_peaks(-filled, prominence=prom)
            bounds = sorted(set(peaks.tolist()) | set(troughs.tolist()))
    min_len = max(1, int(round(min_phase_s * fps)))
    cuts = [0]
    for b in bounds:
        if b - cuts[-1] >= min_len and n - b >= min_len:
            cuts.append(b)
    if len(cuts) == 1:
        k = int(min(max_phases, max(1, round(n / fps))))
        cuts = [int(round(i * n / k)) for i in range(k)]
    cuts = cuts[:max_phases]
    ends = cuts[1:] + [n]
    return [(a, e - 1) for a, e in zip(cuts, ends) if e > a]


def _most_moving(angles: np.ndarray, fps: float, min_coverage: float = 0.6) -> int | None:
    """Index of the angle that moves most and most cleanly, among those measured in at least ``min_coverage``
    of the frames: the widest range (5th-95th percentile of the signal smoothed as for counting repetitions)
    less three times its noise (robust spread of raw - smoothed), so a trembling, spiky joint does not win over
    one that really moves. None when no angle is measured enough."""
    best, best_score = None, -math.inf
    for a in range(angles.shape[1]):
        col = angles[:, a]
        ok = np.isfinite(col)
        if ok.mean() < min_coverage or ok.sum() < 3:
            continue
        x = smooth_angle(col, fps, 3.0)
        res = col[ok] - x[ok]
        noise = 1.4826 * float(np.median(np.abs(res - np.median(res))))
        score = float(np.percentile(x[ok], 95) - np.percentile(x[ok], 5)) - 3.0 * noise
        if score > best_score:
            best, best_score = a, score
    return best


def most_moving_angle(names: list[str] | tuple[str, ...], angles: np.ndarray, fps: float,
                      min_coverage: float = 0.6) -> str | None:
    """The name of the angle (a column of ``angles``, (T, A) degrees, NaN where missing) that moves most and most
    cleanly: the one whose turning points cut a reference into phases (see :func:`_most_moving`). None when no
    angle is measured in ``min_coverage`` of the frames."""
    best = _most_moving(np.asarray(angles, np.float64), fps, min_coverage) if len(names) else None
    return None if best is None else names[best]


def _phase_feedback(att: Features, ref: Features, path: np.ndarray, sim: np.ndarray, fps_ref: float,
                    min_phase_s: float):
    n_ref = len(ref)
    main = _most_moving(ref.angles, fps_ref) if ref.angles.shape[1] else None
    signal = ref.angles[:, main] if main is not None else np.full(n_ref, np.nan)
    phases, diffs = [], []
    for k, (r0, r1) in enumerate(phases_of(signal, fps_ref, min_phase_s)):
        sel = (path[:, 1] >= r0) & (path[:, 1] <= r1)
        pairs = path[sel]
        a0, a1 = int(pairs[:, 0].min()), int(pairs[:, 0].max())
        ph_sim = float(np.nanmean(sim[a0:a1 + 1])) if np.isfinite(sim[a0:a1 + 1]).any() else math.nan
        phases.append(Phase(k, r0, r1, a0, a1, ph_sim))
        if not att.angles.shape[1]:
            continue
        delta = att.angles[pairs[:, 0]] - ref.angles[pairs[:, 1]]  # (L, A)
        rows = []
        for a, name in enumerate(att.angle_names):
            d = delta[:, a]
            d = d[np.isfinite(d)]
            if len(d) < max(2, 0.3 * len(pairs)):
                continue
            # largest differences after a 3-frame running median: one frame's stray keypoint is not "up to"
            steady = medfilt(d, 3) if len(d) >= 3 else d
            rows.append(JointDifference(name, k, r0, r1, a0, a1, float(d.mean()), float(np.abs(d).mean()),
                                        fps_ref, float(np.percentile(np.abs(steady), 90))))
        rows.sort(key=lambda x: -x.mean_abs_deg)
        diffs.extend(rows)
    return phases, diffs, main


def align(reference: PoseSequence, attempt: PoseSequence, *, mirror: bool = False, window_s: float | None = None,
          min_phase_s: float = 0.4, use_angles: bool = True) -> Alignment:
    """Align ``attempt`` to ``reference`` in time and compare them frame by frame (:mod:`posekit.sequence`).

    Args:
        reference, attempt: the two sequences (same layout). Each is aligned from its first to its last frame.
        mirror: also try the attempt mirrored (left/right swapped) and keep the better alignment.
        window_s: half-width of the Sakoe-Chiba band in seconds (default: 10 % of the longer, at least 2 s).
        min_phase_s: shortest phase of the per-phase feedback.
        use_angles: include joint angles in the features (keypoints alone when False).

    Raises:
        InvalidInputError: an empty sequence, different layouts, or no frame where the person is seen.
    """
    if reference.layout != attempt.layout:
        raise InvalidInputError(f"cannot compare a {attempt.layout} sequence with a {reference.layout} one")
    for seq in (reference, attempt):
        if len(seq) == 0:
            raise InvalidInputError(f"{seq.name} has no frames")
        if not seq.seen.any():
            raise InvalidInputError(f"no person seen in {seq.name}")
    ref = features(reference, angles=use_angles)
    n, m = len(attempt), len(reference)
    band = Band.around_diagonal(n, m, default_radius(n, m, reference.fps, window_s))
    best = None
    for mirrored in ((False, True) if mirror else (False,)):
        att = features(attempt, mirrored, angles=use_angles)
        path, total = dtw_band(cost_band(att, ref, band), band)
        if best is None or total < best[2] - 1e-9:
            best = (att, path, total, mirrored)
    att, path, total, mirrored = best
    ref_for = _middle_ref(path, n)
    sim = frame_scores(att, ref, np.arange(n), ref_for)
    measured = np.isfinite(sim)
    score = float(np.mean(sim[measured])) if measured.any() else 0.0
    phases, diffs, main = _phase_feedback(att, ref, path, sim, reference.fps, min_phase_s)
    return Alignment(path=path, ref_for_attempt=ref_for, similarity=sim, score=score,
                     coverage=float(measured.mean()), mirrored=mirrored, cost=total / len(path),
                     fps_attempt=attempt.fps, fps_ref=reference.fps, phases=phases, differences=diffs,
                     angle_names=list(att.angle_names),
                     main_angle=ref.angle_names[main] if main is not None else None,
                     ref_angles=ref.angles, att_angles=att.angles)


__all__ = ["Alignment", "JointDifference", "Phase", "align", "angle_label", "describe_angle_difference",
           "frame_scores", "most_moving_angle", "phases_of"]
