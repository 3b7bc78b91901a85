"""The numbers of a report, each from the function that makes the same number for a file.

- Range of motion: :meth:`posekit.kinematics.AngleSeries.summary` of the person's angles as the angle CSV
  holds them (:func:`posekit.export.written_angles`), so every minimum, maximum and range equals what a
  spreadsheet computes from ``angles --output`` / the Video page's angle CSV.
- Repetitions of one video: :func:`posekit.sequence.count_repetitions` on the most moving joint angle
  (:func:`posekit.sequence.most_moving_angle`), on every frame from the person's first to their last (a frame
  they are missing from is a hole, not skipped), from the same written numbers.
- Distances and speeds: the person's keypoints in metres through :func:`posekit.export.pixels_per_metre` (the
  scale of the OpenSim marker file).
- With a reference: the comparison's own numbers (:mod:`posekit.sequence`); repetitions as the compare CSV
  report holds them (:func:`posekit.compare.report_rows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..compare import RING_DEG, report_rows
from ..errors import InvalidInputError
from ..export import pixels_per_metre, written_angles
from ..kinematics import ANGLES_BY_NAME, JOINT_ANGLES, AngleSeries, Trajectory, check_convention, points
from ..layouts import get_layout
from ..sequence import (
    Comparison,
    PoseSequence,
    Repetitions,
    count_repetitions,
    describe_angle_difference,
    most_moving_angle,
)

#: The points whose distance and speed the report gives in metres: (words, keypoint or virtual point).
MOVING_POINTS = (("centre of the hips", "MidHip"), ("right wrist", "RWrist"), ("left wrist", "LWrist"),
                 ("right ankle", "RAnkle"), ("left ankle", "LAnkle"))
#: Speeds are measured over this many seconds (a tenth of a second: keypoints jitter from frame to frame).
SPEED_STEP_S = 0.1
#: Top speed: this percentile of the speeds, so that one wrong frame does not make the top.
TOP_SPEED_PERCENTILE = 95


def joint_definitions(convention: str):
    """The joint angles and trunk lean of :data:`~posekit.kinematics.JOINT_ANGLES` in ``convention``."""
    check_convention(convention)
    return tuple(d.in_convention(convention) for d in JOINT_ANGLES)


def joint_series(trajectory: Trajectory, convention: str) -> AngleSeries:
    """The person's joint angles over their frames, as the angle CSV writes them (0.001°)."""
    return written_angles(trajectory.angles(joint_definitions(convention)))


def series_name(series: AngleSeries, angle: str) -> str:
    """The column of ``series`` holding ``angle`` (named in either convention: ``right_knee`` is
    ``right_knee_flexion`` in the clinical one).

    Raises:
        InvalidInputError: no such angle.
    """
    base = angle.removesuffix("_flexion")
    for name in series.names:
        if name.removesuffix("_flexion") == base:
            return name
    raise InvalidInputError(f"unknown angle {angle!r}: one of {', '.join(series.names)}")


def dense(series: AngleSeries, fps: float) -> AngleSeries:
    """``series`` on every frame from its first to its last (NaN where the person is missing), times
    ``frame / fps``: what repetitions and charts read."""
    if not len(series):
        return series
    first, last = int(series.frames[0]), int(series.frames[-1])
    frames = np.arange(first, last + 1)
    values = np.full((len(frames), len(series.names)), np.nan)
    values[np.asarray(series.frames, np.int64) - first] = series.values
    return replace(series, frames=frames, times=frames / fps, values=values)


# -------------------------------------------------------------------------------------- range of motion


@dataclass(frozen=True)
class Motion:
    """One angle's range of motion (degrees; None everywhere when never measured: not in the picture)."""

    angle: str
    label: str
    description: str
    frames: int
    min: float | None = None
    max: float | None = None
    range: float | None = None
    min_time: float | None = None
    max_time: float | None = None
    min_frame: int | None = None
    max_frame: int | None = None

    @property
    def seen(self) -> bool:
        return self.frames > 0


def range_of_motion(series: AngleSeries) -> list[Motion]:
    """:meth:`~posekit.kinematics.AngleSeries.summary` as :class:`Motion` rows (``series`` as written)."""
    out = []
    for row in series.summary():
        d = ANGLES_BY_NAME.get(row["angle"])
        keep = {k: row[k] for k in ("min", "max", "range", "min_time", "max_time", "min_frame", "max_frame")}
        out.append(Motion(row["angle"], row["label"], d.description if d else "", row["frames"], **keep))
    return out


def main_angle(series: AngleSeries, fps: float) -> str | None:
    """The angle that moves most and most cleanly (:func:`posekit.sequence.most_moving_angle`), on the
    person's frames from first to last."""
    full = dense(series, fps)
    return most_moving_angle(list(full.names), full.values, fps) if len(full) >= 3 else None


def key_frames(series: AngleSeries, fps: float) -> list[tuple[str, int, str | None]]:
    """``(what, frame, angle)`` for the report's key frames: the person's first and last frame, and the frames
    of the smallest and largest value of the most moving angle (those of the range-of-motion table), in time
    order; a frame appears once (as an extreme when it is one)."""
    if not len(series):
        return []
    found = [("start", int(series.frames[0]), None), ("end", int(series.frames[-1]), None)]
    name = main_angle(series, fps)
    if name is not None:
        m = next(r for r in range_of_motion(series) if r.angle == name)
        if m.seen:
            found += [("min", m.min_frame, name), ("max", m.max_frame, name)]
    out, seen = [], set()
    for what, frame, angle in sorted(found, key=lambda f: (f[1], f[0] in ("start", "end"))):  # extremes first
        if frame not in seen:
            seen.add(frame)
            out.append((what, frame, angle))
    return out


# ---------------------------------------------------------------------------------------- repetitions


@dataclass(frozen=True)
class Spread:
    """How a measure varies between repetitions: mean, standard deviation, smallest and largest."""

    mean: float
    sd: float
    low: float
    high: float

    @classmethod
    def of(cls, values) -> "Spread | None":
        v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
        if not v.size:
            return None
        return cls(float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0, float(v.min()), float(v.max()))


def repetitions(series: AngleSeries, fps: float, angle: str | None = None) -> Repetitions | None:
    """Repetitions of one person on ``angle`` (default: the most moving one), counted by
    :func:`posekit.sequence.count_repetitions` on every frame from the person's first to their last. Frame
    indices of the repetitions count from that first frame. None when no angle moves enough to be measured."""
    angle = angle or main_angle(series, fps)
    if angle is None:
        return None
    full = dense(series, fps)
    return count_repetitions(full.column(angle), fps, angle=angle)


@dataclass(frozen=True)
class PairedRepetition:
    """One row of the comparison's repetition table: the numbers of the compare CSV report (``None``: that side
    has no such repetition); frames of the attempt / reference."""

    index: int
    attempt_range: float | None
    reference_range: float | None
    attempt_duration: float | None
    reference_duration: float | None
    attempt_start: int | None
    attempt_end: int | None


def paired_repetitions(comparison: Comparison) -> list[PairedRepetition]:
    """The repetition rows of :func:`posekit.compare.report_rows`, one per pair, with their values as the CSV
    holds them."""
    by_index: dict[int, dict] = {}
    for row in report_rows(comparison):
        if row["section"] != "repetition":
            continue
        cell = by_index.setdefault(int(row["index"]), {"start": row["attempt_start"], "end": row["attempt_end"]})
        measure = row["measure"]
        key = ("attempt_" if measure.endswith("_attempt") else "reference_") + (
            "duration" if measure.startswith("duration") else "range")
        cell[key] = None if row["value"] == "" else float(row["value"])
    return [PairedRepetition(k, c.get("attempt_range"), c.get("reference_range"), c.get("attempt_duration"),
                             c.get("reference_duration"), None if c["start"] == "" else int(c["start"]),
                             None if c["end"] == "" else int(c["end"]))
            for k, c in sorted(by_index.items())]


# ---------------------------------------------------------------------------------------- metres


@dataclass(frozen=True)
class Travel:
    """How far and how fast one point moved (metres, metres per second), over ``seen_s`` seconds measured."""

    label: str
    distance_m: float
    mean_speed: float
    top_speed: float
    seen_s: float
    times: np.ndarray
    speeds: np.ndarray


def travel(trajectory: Trajectory, fps: float, height_m: float) -> tuple[float, list[Travel]]:
    """``(pixels per metre, [Travel per point of MOVING_POINTS])`` for one person (:data:`MOVING_POINTS`).

    Positions are taken every :data:`SPEED_STEP_S` seconds on the person's frames; a step counts when the point
    is seen at both ends. Distance: the sum of the steps; mean speed: distance over the time measured; top
    speed: the :data:`TOP_SPEED_PERCENTILE` th percentile of the steps' speeds.

    Raises:
        InvalidInputError: from :func:`~posekit.export.pixels_per_metre` (legs and trunk never all seen).
    """
    scale = pixels_per_metre(trajectory, height_m)
    first = int(trajectory.frames[0])
    n = int(trajectory.frames[-1]) - first + 1
    step = max(1, int(round(SPEED_STEP_S * fps)))
    pts = points(trajectory.keypoints, trajectory.layout, [p for _, p in MOVING_POINTS])
    out = []
    for label, name in MOVING_POINTS:
        xy = np.full((n, 2), np.nan)
        xy[np.asarray(trajectory.frames, np.int64) - first] = pts[name] / scale
        sampled = xy[::step]
        d = np.linalg.norm(np.diff(sampled, axis=0), axis=1)
        ok = np.isfinite(d)
        speeds = d * fps / step
        seen_s = float(ok.sum() * step / fps)
        distance = float(d[ok].sum())
        top = float(np.percentile(speeds[ok], TOP_SPEED_PERCENTILE)) if ok.any() else math.nan
        times = (first + step * (np.arange(len(d)) + 0.5)) / fps
        out.append(Travel(label, distance, distance / seen_s if seen_s > 0 else math.nan, top, seen_s, times,
                          speeds))
    return scale, out


# ---------------------------------------------------------------------------------------- comparison


def trajectory_of(sequence: PoseSequence) -> Trajectory:
    """A :class:`~posekit.kinematics.PoseSequence`'s person as a :class:`~posekit.kinematics.Trajectory` over
    the frames where they are seen at all (what a compared person's angles and range of motion read)."""
    seen = np.flatnonzero((sequence.keypoints[:, :, 2] > 0).any(axis=1))
    kp = sequence.keypoints[seen]
    return Trajectory(int(sequence.person or 0), sequence.layout, seen.astype(np.int64), seen / sequence.fps, kp,
                      kp[:, :, 2].mean(axis=1).astype(np.float32))


def differing_moments(comparison: Comparison, count: int = 3, min_gap_s: float = 1.0) -> list[int]:
    """The attempt frames of the ``count`` moments that differ most from the reference (lowest similarity), at
    least ``min_gap_s`` apart (less on a short attempt: a (count + 1)th of it), in time order."""
    sim = comparison.alignment.similarity
    fps = comparison.attempt.fps
    gap = max(1, int(min(min_gap_s * fps, len(sim) / (count + 1))))
    picked: list[int] = []
    for i in np.argsort(np.where(np.isfinite(sim), sim, np.inf), kind="stable"):
        if not np.isfinite(sim[i]) or len(picked) == count:
            break
        if all(abs(int(i) - j) >= gap for j in picked):
            picked.append(int(i))
    return sorted(picked)


def moment_differences(comparison: Comparison, attempt_frame: int, min_deg: float = 10.0) -> list[tuple[str, float]]:
    """``(angle, attempt - reference degrees)`` at one attempt frame and the reference frame aligned to it,
    largest first, those at least ``min_deg`` apart."""
    al = comparison.alignment
    j = int(al.ref_for_attempt[attempt_frame])
    out = []
    for a, name in enumerate(al.angle_names):
        d = float(al.att_angles[attempt_frame, a] - al.ref_angles[j, a])
        if math.isfinite(d) and abs(d) >= min_deg:
            out.append((name, d))
    return sorted(out, key=lambda x: -abs(x[1]))


def difference_words(angle: str, diff: float) -> str:
    """``"left knee: bent 25° more"`` (:func:`posekit.sequence.describe_angle_difference` for one moment)."""
    return describe_angle_difference(angle, diff, abs(diff))


def rings(layout: str, differences: list[tuple[str, float]]) -> dict[int, float]:
    """``{keypoint index: severity}`` for the joints :data:`posekit.compare.RING_DEG` or more apart (the rings of
    the side-by-side video)."""
    spec = get_layout(layout)
    out = {}
    for name, d in differences:
        defn = ANGLES_BY_NAME.get(name)
        if defn is None or defn.kind != "joint" or abs(d) < RING_DEG:
            continue
        k = spec.find(defn.vectors[0][0])
        if k is not None:
            out[k] = min(1.0, abs(d) / 60.0)
    return out


__all__ = [
    "MOVING_POINTS", "Motion", "PairedRepetition", "Spread", "Travel", "dense", "difference_words",
    "differing_moments", "joint_definitions", "joint_series", "key_frames", "main_angle", "moment_differences",
    "paired_repetitions", "range_of_motion", "repetitions", "rings", "series_name", "trajectory_of", "travel",
]
