"""Compare two videos: follow the people in each, align the chosen two, render them side by side, write a report.

The pipeline around :mod:`posekit.sequence` (which works on keypoint arrays only):

1. :func:`track_video`: the Video page's frame path without its video (:mod:`posekit.stages`: decode,
   estimate, track, with the same caps and progress), keeping a picture of each person
   (:class:`posekit.sinks.Thumbnails`) and their trajectories (:class:`posekit.sinks.AngleCollector`).
2. :meth:`VideoPeople.sequence`: one person's :class:`~posekit.sequence.PoseSequence`, smoothed by the
   zero-phase pass of :mod:`posekit.smoothing` (outliers, short gaps, Butterworth).
3. :func:`posekit.sequence.compare_sequences`: alignment, similarity over time, phases, repetitions.
4. :func:`render_side_by_side`: one H.264 MP4 on the attempt's time line: the reference (left) shows the frame
   aligned to each attempt frame (right), both with the person's skeleton, joints more than 20° off ringed on
   the attempt, and the live similarity under them (:class:`posekit.videoio.VideoWriter`).
5. :func:`write_report`: a CSV in long format (one measurement per row: ``section``, ``index``, frame ranges,
   ``measure``, ``value``, ``unit``, ``description``), readable in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from .draw import draw_person_labels, draw_poses
from .errors import InvalidInputError
from .files import write_atomic
from .kinematics import JOINT_ANGLES
from .layouts import get_layout
from .pose import Pose, prominence
from .sequence import Comparison, PoseSequence, angle_label, compare_sequences, joint_angles
from .sinks import AngleCollector, Thumbnails
from .smoothing import smooth_trajectory
from .stages import estimate, estimator_facts, report_progress, run, track
from .tracking import Tracker
from .videoio import MAX_FRAMES, FrameSource, Limits, VideoInfo, VideoWriter, probe

#: Height of each side of the side-by-side video (pixels; smaller sources keep their height).
DEFAULT_HEIGHT = 480
#: Angles this far apart (degrees) get a ring on the attempt in the side-by-side video.
RING_DEG = 20.0

Progress = Callable[[int, int, float], None]


@dataclass
class VideoPeople:
    """Everyone followed through one video.

    Attributes:
        name: the file name (for messages).
        info: what :func:`posekit.video.probe` found.
        frames: frames processed (a cap may stop before the end: ``message`` then says so).
        trajectories: ``{track ID: Trajectory}``.
        thumbnails: ``{track ID: BGR crop}`` where the person appears largest.
    """

    name: str
    path: Path
    info: VideoInfo
    frames: int
    fps: float
    trajectories: dict
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    message: str = ""

    def people(self, min_share: float = 0.2) -> list[int]:
        """Track IDs seen in at least ``min_share`` of the frames (all when none is), most prominent first: the
        largest sum over the frames of :func:`posekit.pose.prominence` (large, complete, central, and there for
        long; up to 200 frames of each person sampled evenly)."""
        size = self.info.display_size if self.info is not None else None

        def key(tid):
            tr = self.trajectories[tid]
            step = max(1, len(tr) // 200)
            sampled = sum(prominence(Pose(kp, 0.0, tr.layout), size) for kp in tr.keypoints[::step])
            return -sampled * step

        ids = sorted(self.trajectories, key=key)
        kept = [t for t in ids if len(self.trajectories[t]) >= min_share * self.frames]
        return kept or ids

    def default_person(self) -> int:
        ids = self.people()
        if not ids:
            raise InvalidInputError(f"no person found in {self.name}")
        return ids[0]

    def sequence(self, person: int | None = None, *, smooth: bool = True) -> PoseSequence:
        """The person ``person`` (track ID; default: the most prominent) over frames ``0 .. frames-1``."""
        if person is None:
            person = self.default_person()
        if person not in self.trajectories:
            known = ", ".join(str(t) for t in self.people()) or "none"
            raise InvalidInputError(f"no person {person} in {self.name} (people found: {known})")
        tr = self.trajectories[person]
        if smooth and len(tr) > 3:
            tr = smooth_trajectory(tr, self.fps)
        return PoseSequence.from_trajectory(tr, self.frames, self.fps, name=self.name)


def track_video(src: str | os.PathLike, estimator, *, max_seconds: Optional[float] = None,
                max_frames: Optional[int] = MAX_FRAMES, progress: Optional[Progress] = None,
                name: str | None = None) -> VideoPeople:
    """Estimate and track everyone in a video (see the module docstring, step 1).

    Raises:
        InvalidInputError: not a readable video, or no frame.
    """
    src = Path(src)
    info = probe(src)
    source = FrameSource(src, Limits(max_frames, max_seconds), info=info, name=name,
                         input_size=estimator_facts(estimator, info.display_size).input_size)
    thumbs, collector = Thumbnails(), AngleCollector()
    steps = [estimate(estimator), track(Tracker.for_fps(info.fps)), report_progress(progress, source.total)]
    n = run(source, steps, [thumbs, collector])
    message = f"{source.name}: {source.message}" if source.message else ""
    return VideoPeople(source.name, src, info, n, info.fps, collector.trajectories(), thumbs.by_id(), message)


# ------------------------------------------------------------------------------------------------ rendering


def _vertex_indices(layout: str) -> dict[str, int]:
    """Angle name -> the keypoint at its vertex (where a ring is drawn), for the joint angles."""
    spec = get_layout(layout)
    out = {}
    for d in JOINT_ANGLES:
        if d.kind == "joint" and (i := spec.find(d.vectors[0][0])) is not None:
            out[d.name] = i
    return out


def _fit(bgr: np.ndarray, height: int) -> tuple[np.ndarray, float]:
    s = height / bgr.shape[0]
    w = max(2, round(bgr.shape[1] * s / 2) * 2)
    return cv2.resize(bgr, (w, height), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR), s


def _score_colour(score: float) -> tuple[int, int, int]:
    """Red (0 %) through yellow to green (100 %), BGR; grey when not measured."""
    if not math.isfinite(score):
        return (150, 150, 150)
    f = min(max((score - 50.0) / 50.0, 0.0), 1.0)
    return (40, int(200 * min(1.0, 2 * f) + 40), int(220 * min(1.0, 2 * (1 - f)) + 30))


def _text(img, text, org, scale, colour=(255, 255, 255), thickness=1):
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)


def render_side_by_side(reference: VideoPeople, attempt: VideoPeople, comparison: Comparison,
                        dst: str | os.PathLike, *, height: int = DEFAULT_HEIGHT, draw: Optional[Callable] = None,
                        progress: Optional[Progress] = None) -> Path:
    """Write the side-by-side H.264 MP4 (module docstring, step 4) on the attempt's time line and frame rate.

    ``draw(bgr, poses, highlight=...)`` draws the skeletons (default :func:`posekit.draw.draw_poses`).
    """
    draw = draw or (lambda img, poses, **kw: draw_person_labels(draw_poses(img, poses, copy=False, **kw), poses,
                                                                copy=False))
    al = comparison.alignment
    ref_seq, att_seq = comparison.reference, comparison.attempt
    h = max(16, min(int(height), max(reference.info.display_size[1], attempt.info.display_size[1])) // 2 * 2)
    rw, rh = reference.info.display_size
    aw, ah = attempt.info.display_size
    left_w = max(2, round(rw * h / rh / 2) * 2)
    right_w = max(2, round(aw * h / ah / 2) * 2)
    bar = max(36, h // 10) // 2 * 2
    size = (left_w + right_w, h + bar)
    vertices = _vertex_indices(att_seq.layout)
    names = al.angle_names
    att_ang = joint_angles(att_seq)[1]
    ref_ang = joint_angles(ref_seq, al.mirrored)[1]
    # compare each attempt joint with the reference's counterpart (mirrored when the comparison was)
    scale_text = h / 480
    ref_frames = iter(FrameSource(reference.path, Limits(reference.frames)))
    n = min(attempt.frames, len(al.ref_for_attempt))
    current_ref = (-1, None)
    attempt_frames = FrameSource(attempt.path, Limits(n))
    with VideoWriter(dst, size, attempt.fps) as out:
        try:
            for frame in report_progress(progress, attempt_frames.total)(attempt_frames):
                i, bgr = frame.index, frame.image
                j = int(al.ref_for_attempt[min(i, len(al.ref_for_attempt) - 1)])
                while current_ref[0] < j:
                    try:
                        ref = next(ref_frames)
                    except StopIteration:
                        break
                    current_ref = (ref.index, ref.image)
                canvas = np.zeros((size[1], size[0], 3), np.uint8)
                # reference (left)
                if current_ref[1] is not None:
                    panel, s = _fit(current_ref[1], h)
                    pose = ref_seq.pose(min(current_ref[0], len(ref_seq) - 1))
                    if pose is not None:
                        panel = draw(panel, [pose.scaled(s)])
                    canvas[:h, :left_w] = panel[:, :left_w]
                # attempt (right)
                panel, s = _fit(bgr, h)
                pose = att_seq.pose(min(i, len(att_seq) - 1))
                if pose is not None:
                    rings = {}
                    for a, name in enumerate(names):
                        if name in vertices and i < len(att_ang) and j < len(ref_ang):
                            d = abs(att_ang[i, a] - ref_ang[j, a])
                            if math.isfinite(d) and d >= RING_DEG:
                                rings[vertices[name]] = min(1.0, d / 60.0)
                    panel = draw(panel, [pose.scaled(s)], highlight=rings or None)
                canvas[:h, left_w:left_w + right_w] = panel[:, :right_w]
                _text(canvas, f"Reference {j / ref_seq.fps:5.1f} s", (8, int(24 * scale_text) + 4),
                      0.6 * scale_text)
                _text(canvas, f"Attempt {i / att_seq.fps:5.1f} s", (left_w + 8, int(24 * scale_text) + 4),
                      0.6 * scale_text)
                score = float(al.similarity[i]) if i < len(al.similarity) else math.nan
                colour = _score_colour(score)
                label = f"Similarity {score:.0f}%" if math.isfinite(score) else "Similarity: person not seen"
                _text(canvas, label, (8, h + bar - bar // 3), 0.55 * max(bar / 36, 1.0), colour, 1)
                x0 = size[0] // 2
                cv2.rectangle(canvas, (x0, h + bar // 3), (size[0] - 10, h + 2 * bar // 3), (70, 70, 70), -1)
                if math.isfinite(score):
                    x1 = x0 + int((size[0] - 10 - x0) * score / 100.0)
                    cv2.rectangle(canvas, (x0, h + bar // 3), (x1, h + 2 * bar // 3), colour, -1)
                out.write(canvas)
        finally:
            ref_frames.close()
    return Path(dst)


# ------------------------------------------------------------------------------------------------- report


REPORT_COLUMNS = ["section", "index", "attempt_start", "attempt_end", "reference_start", "reference_end",
                  "measure", "value", "unit", "description"]


def report_rows(comparison: Comparison) -> list[dict]:
    """The CSV report as rows (long format; see the module docstring)."""
    al = comparison.alignment
    rows: list[dict] = []

    def row(section, index, a0, a1, r0, r1, measure, value, unit, description=""):
        v = "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else (
            round(value, 2) if isinstance(value, float) else value)
        rows.append(dict(zip(REPORT_COLUMNS, (section, index, a0, a1, r0, r1, measure, v, unit, description))))

    n_a, n_r = len(comparison.attempt), len(comparison.reference)
    row("summary", "", 0, n_a - 1, 0, n_r - 1, "similarity", al.score, "%",
        "mean similarity over the attempt's frames, once aligned in time")
    row("summary", "", 0, n_a - 1, 0, n_r - 1, "measured", 100 * al.coverage, "%",
        "share of the attempt's frames where the person is seen well enough to compare")
    row("summary", "", 0, n_a - 1, 0, n_r - 1, "duration_attempt", comparison.attempt.duration_s, "s", "")
    row("summary", "", 0, n_a - 1, 0, n_r - 1, "duration_reference", comparison.reference.duration_s, "s", "")
    row("summary", "", "", "", "", "", "mirrored", "yes" if al.mirrored else "no", "", "")
    for ph in al.phases:
        row("phase", ph.index + 1, ph.attempt_start, ph.attempt_end, ph.ref_start, ph.ref_end, "similarity",
            ph.similarity, "%", f"phase {ph.index + 1}")
    for d in al.differences:
        row("joint", d.phase + 1, d.attempt_start, d.attempt_end, d.ref_start, d.ref_end, d.angle, d.diff_deg,
            "degrees", d.text)
    if comparison.angle:
        label = angle_label(comparison.angle)
        for k, m in enumerate(comparison.matches, 1):
            a, r = m.attempt, m.reference
            a0, a1 = (a.start, a.end) if a else ("", "")
            r0, r1 = (r.start, r.end) if r else ("", "")
            desc = ("no matching repetition in the reference" if r is None else
                    "missing in the attempt" if a is None else
                    f"range {a.range_deg:.0f}° vs {r.range_deg:.0f}°, {a.duration_s:.1f} s vs {r.duration_s:.1f} s")
            row("repetition", k, a0, a1, r0, r1, f"{comparison.angle}_range_attempt", a.range_deg if a else None,
                "degrees", f"{label}: {desc}")
            row("repetition", k, a0, a1, r0, r1, f"{comparison.angle}_range_reference",
                r.range_deg if r else None, "degrees", "")
            row("repetition", k, a0, a1, r0, r1, "duration_attempt", a.duration_s if a else None, "s", "")
            row("repetition", k, a0, a1, r0, r1, "duration_reference", r.duration_s if r else None, "s", "")
    for i in range(n_a):
        j = int(al.ref_for_attempt[i])
        row("frame", i, i, i, j, j, "similarity", float(al.similarity[i]), "%", "")
    return rows


def write_report(comparison: Comparison, path: str | os.PathLike) -> Path:
    """Write :func:`report_rows` as CSV (atomically: a temporary file renamed when complete)."""
    return write_atomic(path, report_csv(comparison))


def report_csv(comparison: Comparison) -> bytes:
    """The CSV report as bytes (for a download button)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, REPORT_COLUMNS)
    w.writeheader()
    w.writerows(report_rows(comparison))
    return buf.getvalue().encode("utf-8")


def repetition_table(comparison: Comparison) -> list[dict]:
    """One row per repetition (the attempt's, paired with the reference's), for a table people read."""
    out = []

    def sec(x):
        return f"{x:.1f}"

    for k, m in enumerate(comparison.matches, 1):
        a, r = m.attempt, m.reference
        out.append({
            "rep.": k,
            "range attempt (°)": f"{a.range_deg:.0f}" if a else "–",
            "range reference (°)": f"{r.range_deg:.0f}" if r else "–",
            "time attempt (s)": sec(a.duration_s) if a else "–",
            "time reference (s)": sec(r.duration_s) if r else "–",
            "attempt: way out / back (s)": f"{sec(a.out_s)} / {sec(a.back_s)}" if a else "–",
            "note": "" if a and r else ("extra: not in the reference" if a else "missing in the attempt"),
        })
    return out


def compare_videos(reference: str | os.PathLike, attempt: str | os.PathLike, estimator, *,
                   person_ref: int | None = None, person_attempt: int | None = None, mirror: bool = False,
                   window_s: float | None = None, angle: str | None = None, max_seconds: Optional[float] = None,
                   output: str | os.PathLike | None = None, report: str | os.PathLike | None = None,
                   height: int = DEFAULT_HEIGHT,
                   progress: Optional[Callable[[str, int, int, float], None]] = None):
    """The whole pipeline (module docstring) for the CLI: returns ``(comparison, reference people, attempt
    people)``; writes the side-by-side MP4 to ``output`` and the CSV to ``report`` when given.

    ``progress(stage, done, total, eta_s)`` with stage ``"reference"``, ``"attempt"`` or ``"video"``.
    """
    def stage(name):
        return (lambda d, t, e: progress(name, d, t, e)) if progress else None

    ref = track_video(reference, estimator, max_seconds=max_seconds, progress=stage("reference"))
    att = track_video(attempt, estimator, max_seconds=max_seconds, progress=stage("attempt"))
    comparison = compare_sequences(ref.sequence(person_ref), att.sequence(person_attempt), mirror=mirror,
                                   window_s=window_s, angle=angle)
    if output is not None:
        render_side_by_side(ref, att, comparison, output, height=height, progress=stage("video"))
    if report is not None:
        write_report(comparison, report)
    return comparison, ref, att


__all__ = [
    "REPORT_COLUMNS", "VideoPeople", "compare_videos", "render_side_by_side", "repetition_table", "report_csv",
    "report_rows", "track_video", "write_report",
]
