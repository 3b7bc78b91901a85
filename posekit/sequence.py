"""Compare a performance with a reference: one person per video, time alignment, feedback per phase.

A coach's squat and a student's squat never run at the same speed, so the two pose sequences are first aligned
in time by **dynamic time warping** (DTW), then compared frame by frame along that alignment.

1. **Sequence.** :class:`PoseSequence` holds the keypoints of one person (one track ID) in every frame of a
   video, ``NaN``-free: a keypoint not seen has confidence 0.
2. **Normalisation** (photo matching's, :func:`posekit.normalise.normalise`): each frame is centred on its hips
   and divided by the person's body size (torso length, else 1.4 x shoulder width), the median over the
   sequence so that bending forward does not inflate the pose. With ``mirror=True`` the attempt is also tried
   mirrored (:func:`posekit.similarity.mirror_keypoints`: x negated, left/right swapped) and the better kept.
3. **Features.** Normalised keypoints, and the joint angles of :mod:`posekit.kinematics` (degrees).
4. **Frame cost** between attempt frame ``i`` and reference frame ``j`` (used only to find the alignment):
   ``D_ij = (K_ij + A_ij) / 2`` with ``K_ij`` the weighted mean over keypoints seen in both of
   ``d^2 / (2 k^2)`` (``d`` in torso lengths, ``k`` and the weights those of photo matching:
   :attr:`posekit.layouts.Layout.tolerances`, face points weighing 1/2) and ``A_ij`` the mean over angles measured in
   both of ``delta^2 / (2 * 30deg^2)`` (``-log`` of photo matching's agreements); ``cost_ij = sqrt(D_ij)``, a
   distance rather than its square: on the benchmark's time warp it halves the alignment error's 95th
   percentile compared with ``D_ij`` and cuts it fivefold compared with ``1 - exp(-D_ij)``. Fewer than
   :data:`~posekit.similarity.MIN_COMMON` keypoints in common (a frame where the person is not seen): the median
   cost of the band, no evidence either way.
5. **Alignment.** DTW with steps (1, 0), (0, 1), (1, 1) over the cost, inside a Sakoe-Chiba band around the
   diagonal stretched to the two lengths (``window_s`` seconds each side, default 10 % of the longer sequence
   and at least 2 s). Both sequences are aligned from their first to their last frame: trim them to the
   movement. The accumulated cost is computed row by row in numpy (a min-plus prefix scan per row); see
   ``bench/bench_sequence.py`` for why not a DTW library.
6. **Similarity over time.** For each attempt frame ``t``: the reference frame aligned to it (the middle one
   when DTW maps several) and the photo-matching score between the two normalised poses,
   ``100 * (keypoint agreement + angle agreement) / 2`` with ``exp(-d^2 / (2 k^2))`` per keypoint and
   ``exp(-delta^2 / (2 * 30deg^2))`` per angle, as on the Pose Matching page (without its per-pair choice of
   centre). ``NaN`` where the person is not seen well enough in either frame. The overall similarity is its
   mean over the frames where it is measured.
7. **Phases.** The reference is cut at the turning points of its most moving angle (where that joint changes
   from bending to straightening), phases shorter than ``min_phase_s`` merged; per phase and angle, the mean
   signed difference attempt - reference over the aligned frames (and its largest, the 90th percentile of the
   absolute difference): "left knee: bent 12° more, up to 25°, in frames 40–75 of the reference". When the
   attempt was compared mirrored, its joints are named as the reference's.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import InvalidInputError
from .kinematics import ANGLES_BY_NAME, JOINT_ANGLES, angles_array
from .layouts import get_layout
from .normalise import normalise
from .pose import Pose
from .similarity import ANGLE_TOLERANCE_DEG, MIN_COMMON, mirror_keypoints

#: Default half-width of the Sakoe-Chiba band: this fraction of the longer sequence, at least MIN_WINDOW_S.
WINDOW_FRACTION = 0.1
#: The shortest default half-width of the band, in seconds (a late start of that much is absorbed).
MIN_WINDOW_S = 2.0
#: Rows of the cost band computed at once (memory: rows x band width x features).
_BLOCK = 256


# ---------------------------------------------------------------------------------------------- sequences


@dataclass
class PoseSequence:
    """The poses of one person through a video.

    Attributes:
        keypoints: (T, K, 3) float32, x, y in the video's pixels and confidence; confidence 0 = not seen.
        fps: frames per second of the video.
        layout: the keypoint layout name (``"COCO-18"``).
        person: the track ID followed (None when unknown).
        name: what to call it in messages (a file name).
    """

    keypoints: np.ndarray
    fps: float
    layout: str = "COCO-18"
    person: int | None = None
    name: str = "video"

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        k = get_layout(self.layout).num_keypoints
        if self.keypoints.ndim != 3 or self.keypoints.shape[1:] != (k, 3):
            raise ValueError(f"keypoints must be (T, {k}, 3) for {self.layout}, got {self.keypoints.shape}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def duration_s(self) -> float:
        return len(self) / self.fps

    @property
    def seen(self) -> np.ndarray:
        """(T,) bool: frames where the person has at least :data:`MIN_COMMON` keypoints."""
        return (self.keypoints[:, :, 2] > 0).sum(axis=1) >= MIN_COMMON

    def pose(self, t: int) -> Pose | None:
        """The person in frame ``t`` as a :class:`Pose` (None when not seen at all)."""
        kp = self.keypoints[t]
        if not (kp[:, 2] > 0).any():
            return None
        return Pose(kp.copy(), float(kp[:, 2].mean()), self.layout, track_id=self.person)

    @classmethod
    def from_poses(cls, poses: Sequence[Pose | None], fps: float, *, layout: str | None = None,
                   person: int | None = None, name: str = "video") -> "PoseSequence":
        """One pose (or None where the person is missing) per frame."""
        layout = layout or next((p.layout for p in poses if p is not None), "COCO-18")
        k = get_layout(layout).num_keypoints
        kp = np.zeros((len(poses), k, 3), np.float32)
        for t, p in enumerate(poses):
            if p is not None:
                if p.layout != layout:
                    raise InvalidInputError(f"{name}: frame {t} has a {p.layout} pose, not {layout}")
                kp[t] = p.keypoints
        return cls(kp, fps, layout, person, name)

    @classmethod
    def from_trajectory(cls, trajectory, frames: int, fps: float, *, name: str = "video") -> "PoseSequence":
        """Frames ``0 .. frames-1`` of a video from one tracked person's
        :class:`~posekit.kinematics.Trajectory` (confidence 0 where the person is absent)."""
        kp = np.zeros((frames, trajectory.keypoints.shape[1], 3), np.float32)
        idx = np.asarray(trajectory.frames, np.int64)
        keep = (idx >= 0) & (idx < frames)
        kp[idx[keep]] = trajectory.keypoints[keep]
        return cls(kp, fps, trajectory.layout, int(trajectory.track_id), name)


def normalised_keypoints(seq: PoseSequence, mirror: bool = False) -> np.ndarray:
    """(T, K, 2) float64 keypoints in torso lengths, centred per frame on the hips; NaN where not seen.

    :func:`posekit.normalise.normalise` with one body size for the whole sequence: per frame the centre of
    photo matching (the hips, else the neck, else the mean of the keypoints seen); the size the median over the
    sequence of the per-frame torso length (neck to hip centre), else 1.4 x the shoulder width, else the RMS
    spread. ``mirror``: x negated and left/right keypoints swapped
    (:func:`posekit.similarity.mirror_keypoints`).
    """
    spec = get_layout(seq.layout)
    kp = mirror_keypoints(seq.keypoints, spec) if mirror else seq.keypoints
    xy = np.where((kp[..., 2] > 0)[..., None], kp[..., :2].astype(np.float64), np.nan)
    out = normalise(xy, spec, scale="median")
    return np.full(xy.shape, np.nan) if out is None else out


@contextlib.contextmanager
def _quiet():
    """Silence numpy's 'mean of empty slice' and invalid-value warnings: NaN is the answer wanted there."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def angle_series(seq: PoseSequence, mirror: bool = False) -> tuple[list[str], np.ndarray]:
    """The joint angles and trunk lean of :mod:`posekit.kinematics` (:data:`~posekit.kinematics.JOINT_ANGLES`)
    in every frame: (names, (T, A) degrees, NaN where missing). Segment directions are left out: they wrap
    around at 180° and follow the camera's rotation, which the keypoints already carry."""
    kp = mirror_keypoints(seq.keypoints, get_layout(seq.layout)) if mirror else seq.keypoints
    return [d.name for d in JOINT_ANGLES], angles_array(kp, seq.layout, JOINT_ANGLES)


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
    spec = get_layout(seq.layout)
    kp = normalised_keypoints(seq, mirror)
    if angles:
        names, ang = angle_series(seq, mirror)
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
    """``cost_ij`` (module docstring, step 4) for attempt frames ``rows`` x reference frames ``cols``."""
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
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional: slower on busy machines, same results
        import contextlib

        return contextlib.nullcontext()
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
    """How an attempt lines up with a reference (module docstring, steps 5-7).

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
    from scipy.signal import find_peaks

    n = len(signal)
    s = _smooth(signal, fps, 3.0)
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


def _smooth(signal: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """Holes filled linearly, short spikes removed (running median over about 0.2 s, at least 5 frames),
    then a zero-phase low-pass (Butterworth, order 2, ``filtfilt``); NaN kept where the signal is missing."""
    from scipy.signal import butter, filtfilt, medfilt

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
        x = _smooth(col, fps, 3.0)
        res = col[ok] - x[ok]
        noise = 1.4826 * float(np.median(np.abs(res - np.median(res))))
        score = float(np.percentile(x[ok], 95) - np.percentile(x[ok], 5)) - 3.0 * noise
        if score > best_score:
            best, best_score = a, score
    return best


def _phase_feedback(att: Features, ref: Features, path: np.ndarray, sim: np.ndarray, fps_ref: float,
                    min_phase_s: float):
    from scipy.signal import medfilt

    n_ref = len(ref)
    main = _most_moving(ref.angles, fps_ref) if ref.angles.shape[1] else None
    signal = ref.angles[:, main] if main is not None else np.full(n_ref, np.nan)
    phases, diffs = [], []
    for k, (r0, r1) in enumerate(phases_of(signal, fps_ref, min_phase_s)):
        sel = (path[:, 1] >= r0) & (path[:, 1] <= r1)
        pairs = path[sel]
        a0, a1 = int(pairs[:, 0].min()), int(pairs[:, 0].max())
        with _quiet():
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
    """Align ``attempt`` to ``reference`` in time and compare them frame by frame (module docstring).

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


# ------------------------------------------------------------------------------------------------ repetitions


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
    x = _smooth(signal, fps, cutoff_hz)
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
    def range_diff_deg(self) -> float:
        if self.attempt is None or self.reference is None:
            return math.nan
        return self.attempt.range_deg - self.reference.range_deg

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
    from scipy.optimize import linear_sum_assignment

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


# ------------------------------------------------------------------------------------------------ comparison


@dataclass
class Comparison:
    """Everything :func:`compare_sequences` found: the alignment, and repetitions on ``angle`` in both."""

    reference: PoseSequence
    attempt: PoseSequence
    alignment: Alignment
    angle: str | None
    reference_reps: Repetitions | None
    attempt_reps: Repetitions | None
    matches: list[RepetitionMatch]

    @property
    def score(self) -> float:
        return self.alignment.score

    def summary(self, per_phase: int = 2) -> str:
        """Lines a coach reads: the similarity, the repetitions, the most different joints per phase."""
        al = self.alignment
        lines = [f"similarity: {al.score:.1f}%"]
        if al.coverage < 0.999:
            lines.append(f"measured on {100 * al.coverage:.0f}% of the attempt's frames (the person is not seen "
                         "well enough in the others)")
        if al.mirrored:
            lines.append("mirrored: yes (compared as mirror images)")
        lines.append(f"timing: the attempt takes {self.attempt.duration_s:.1f} s, the reference "
                     f"{self.reference.duration_s:.1f} s")
        if self.angle and self.attempt_reps is not None and self.reference_reps is not None:
            lines.append(f"repetitions ({angle_label(self.angle)}): {self.attempt_reps.count} in the attempt, "
                         f"{self.reference_reps.count} in the reference")
        worst = al.worst(per_phase)
        if worst:
            lines.append("most different, per phase of the reference:")
            lines.extend(f"  phase {d.phase + 1}: {d.text}" for d in worst)
        else:
            lines.append("no joint angle differs by 10° or more in any phase")
        return "\n".join(lines)


def compare_sequences(reference: PoseSequence, attempt: PoseSequence, *, mirror: bool = False,
                      window_s: float | None = None, angle: str | None = None) -> Comparison:
    """Align and compare two sequences (:func:`align`) and count repetitions in both on ``angle`` (a name of
    :data:`posekit.kinematics.JOINT_ANGLES`; default: the reference's most moving angle)."""
    al = align(reference, attempt, mirror=mirror, window_s=window_s)
    names = al.angle_names
    if angle is None:
        angle = al.main_angle
    elif angle not in names:
        raise InvalidInputError(f"unknown angle {angle!r}: one of {', '.join(names)}")
    ref_reps = att_reps = None
    matches: list[RepetitionMatch] = []
    if angle is not None:
        k = names.index(angle)
        ref_reps = count_repetitions(al.ref_angles[:, k], reference.fps, angle=angle)
        att_reps = count_repetitions(al.att_angles[:, k], attempt.fps, angle=angle)
        matches = match_repetitions(ref_reps, att_reps, al.path)
    return Comparison(reference, attempt, al, angle, ref_reps, att_reps, matches)


__all__ = [
    "Alignment", "Band", "Comparison", "Features", "JointDifference", "Phase", "PoseSequence", "Repetition",
    "RepetitionMatch", "Repetitions", "align", "angle_label", "angle_series", "compare_sequences", "cost_band",
    "count_repetitions", "describe_angle_difference", "dtw_band", "features", "match_repetitions",
    "normalised_keypoints", "phases_of",
]
