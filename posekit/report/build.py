"""Putting a report together: one person in a clip (:func:`video_report`), optionally against a reference
(:func:`comparison_report`), or one person in a photo (:func:`image_report`)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np

from ..compare import VideoPeople
from ..draw import draw_person_labels, draw_poses
from ..errors import InvalidInputError
from ..files import write_atomic
from ..kinematics import Trajectory, angle_table
from ..pose import Pose
from ..sequence import Comparison
from ..tracking import person_numbers
from ..videoio import probe
from . import charts, comparing, measures
from . import html as h
from .pictures import best_view, fit, jpeg_uri, portrait, read_frames, recorded
from .sections import (
    Clip,
    Context,
    ReportSettings,
    angles_section,
    header,
    key_frames,
    metres_section,
    notes_section,
    repetitions_section,
    who,
)


def clip_of_video(path: str | os.PathLike, *, frames: int | None = None, name: str | None = None) -> Clip:
    """A :class:`Clip` for a video file (:func:`posekit.videoio.probe`): ``frames`` analysed (default: all)."""
    path = Path(path)
    info = probe(path)
    return Clip(name or path.name, float(info.rate), info.display_size, int(frames or info.frames), path,
                info.duration_s, recorded(path))


def clip_of_people(people: VideoPeople, size: tuple[int, int] = (640, 480)) -> Clip:
    """A :class:`Clip` for a video followed by :func:`posekit.compare.track_video` (its pictures read from
    ``people.path`` when the file is still there; ``size`` when the video is unknown)."""
    path = people.path if people.path is not None and Path(people.path).is_file() else None
    size = people.info.display_size if people.info is not None else size
    length = people.info.duration_s if people.info is not None else None
    return Clip(people.name, float(people.fps), size, int(people.frames), path, length, recorded(path))


def _shades(reps, offset: int, fps: float) -> list[charts.Shade]:
    if reps is None or not reps.count:
        return []
    return [charts.Shade((offset + r.start) / fps, (offset + r.end) / fps, str(r.index)) for r in reps.reps]


def video_report(clip: Clip, trajectory: Trajectory, *, settings: ReportSettings | None = None,
                 height_m: float | None = None, picture: np.ndarray | None = None,
                 comparison: Comparison | None = None, reference_clip: Clip | None = None,
                 angle: str | None = None, made: dt.datetime | None = None) -> str:
    """The report on one person (``trajectory``, e.g. of :func:`posekit.kinematics.trajectories`) in ``clip``,
    as one self-contained HTML5 document (module :mod:`posekit.report`). ``picture``: the person's picture
    (default: cut from the clip where they look largest). ``height_m``: their height, for distances and speeds
    in metres. ``angle``: the joint angle to count repetitions on (a name of
    :data:`~posekit.kinematics.JOINT_ANGLES`, either convention; default: the one that moves most).
    ``comparison``: this person (its attempt) against a reference (``reference_clip``), its repetitions those
    of the comparison."""
    if not len(trajectory):
        raise InvalidInputError(f"person {trajectory.track_id} is never seen in {clip.name}")
    settings = settings or ReportSettings()
    made = made or dt.datetime.now()
    fps = clip.fps
    series = measures.joint_series(trajectory, settings.convention)
    wanted = [f for _, f, _ in measures.key_frames(series, fps)]
    best = int(trajectory.frames[best_view(trajectory.keypoints)]) if len(trajectory) else None
    moments = measures.differing_moments(comparison) if comparison is not None else []
    pictures = read_frames(clip.path, [*wanted, best, *moments]) if clip.path is not None else {}
    ctx = Context(clip, trajectory, settings, series, pictures)
    if picture is None and best is not None:
        picture = portrait(pictures.get(best), ctx.pose(best))
    if comparison is None:
        reps = measures.repetitions(series, fps, measures.series_name(series, angle) if angle else None)
        shades = _shades(reps, int(trajectory.frames[0]) if len(trajectory) else 0, fps)
        counted = reps.angle if reps is not None else None
    else:
        reps, counted = None, comparison.angle
        shades = _shades(comparison.attempt_reps, 0, fps)
    sections = [key_frames(ctx), angles_section(ctx, counted, shades),
                comparing.repetitions_section(comparison) if comparison is not None else repetitions_section(ctx, reps)]
    if height_m:
        sections.append(metres_section(ctx, float(height_m)))
    if comparison is not None:
        ref_clip = reference_clip or Clip(comparison.reference.name, comparison.reference.fps, clip.size,
                                          len(comparison.reference))
        al = comparison.alignment
        ref_pictures = (read_frames(ref_clip.path, [int(al.ref_for_attempt[i]) for i in moments])
                        if ref_clip.path is not None else {})
        sections.append(comparing.comparison_section(comparison, moments, clip, ref_clip, pictures, ref_pictures))
    sections.append(notes_section(settings.convention))
    title = f"Movement report: person {ctx.number}, {clip.name}"
    return h.document(title, header(ctx, picture, made), sections)


def comparison_report(reference: VideoPeople, attempt: VideoPeople, comparison: Comparison, *,
                      settings: ReportSettings | None = None, height_m: float | None = None,
                      trajectory: Trajectory | None = None, made: dt.datetime | None = None) -> str:
    """The report on the attempt's person of a comparison (:func:`posekit.compare.compare_videos`, the Compare
    videos page): :func:`video_report` with the comparison. ``trajectory``: the person's keypoints (default:
    those the comparison compared, :func:`posekit.report.measures.trajectory_of`)."""
    tr = trajectory if trajectory is not None else measures.trajectory_of(comparison.attempt)
    picture = attempt.thumbnails.get(comparison.attempt.person)
    clip = clip_of_people(attempt)
    return video_report(clip, tr, settings=settings, height_m=height_m, picture=picture, comparison=comparison,
                        reference_clip=clip_of_people(reference, clip.size), made=made)


def image_report(image: np.ndarray, poses: list[Pose], person: int = 1, *, name: str = "photo",
                 settings: ReportSettings | None = None, made: dt.datetime | None = None) -> str:
    """The report on one person of a photo: the photo with the skeletons, the person's joint angles
    (:func:`posekit.kinematics.angle_table`, the Image page's table), "not in the picture" for a joint not seen.
    ``person``: the number drawn above them (:func:`posekit.tracking.person_numbers`)."""
    settings = settings or ReportSettings()
    made = made or dt.datetime.now()
    numbers = person_numbers(poses)
    if person not in numbers:
        raise ValueError(f"no person {person} in the photo (people: {', '.join(map(str, numbers)) or 'none'})")
    pose = poses[numbers.index(person)]
    hgt, wid = image.shape[:2]
    lines = [("Photo", name), ("Report made", made.strftime("%Y-%m-%d %H:%M")),
             ("Person", f"{person} of {len(poses)} found (the number drawn above their head)"),
             ("Picture size", f"{wid} × {hgt} pixels"), *settings.lines()]
    head = who(f"Posture report: person {person} in {name}", portrait(image, pose), person, lines)
    shown, s = fit(image)
    shown = draw_poses(shown, [p.scaled(s) for p in poses])
    shown = draw_person_labels(shown, [p.scaled(s) for p in poses], numbers, copy=False)
    photo = h.section("photo", "The photo", [h.figure(jpeg_uri(shown), f"{name} with the skeletons",
                                                      "Every person found, with their number.", width=shown.shape[1],
                                                      height=shown.shape[0])], flow=True)
    rows = []
    defs = measures.joint_definitions(settings.convention)
    for d, row in zip(defs, angle_table(pose, defs, convention=settings.convention)):
        value = h.number(row["degrees"], measure="degrees")
        rows.append([h.Cell(row["angle"], extra={"data-angle": d.name}), value, row["convention"]])
    table = h.table(["Joint", "Angle (°)", "How it is measured"], rows, id="angles-table", numeric=(1,))
    angles = h.section("joint-angles", "Joint angles", [h.paragraph(
        "Each joint's angle in this photo, measured in the picture.", "muted"), table])
    return h.document(f"Posture report: person {person}, {name}", head,
                      [photo, angles, notes_section(settings.convention, video=False)])


def write_report(path: str | os.PathLike, document: str) -> Path:
    """Write a report (atomically: complete or not at all)."""
    return write_atomic(path, document.encode("utf-8"))


__all__ = ["clip_of_people", "clip_of_video", "comparison_report", "image_report", "video_report", "write_report"]
