"""The sections of a report on one person in one clip: who and what, key frames, joint angles with the range of
motion, repetitions, distances and speeds, how to read it. Each returns HTML (:mod:`posekit.report.html`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InvalidInputError
from ..export import CHAIN_FRACTION
from ..kinematics import ANGLES_BY_NAME, CONVENTION_WORDS, DEFAULT_CONVENTION, AngleSeries, Trajectory
from ..layouts import get_layout
from ..pose import Pose
from . import charts, measures
from . import html as h
from .pictures import jpeg_uri, skeleton

#: The joints charted together (right, then left), in the order of the report.
CHART_GROUPS = (("Elbows", ("right_elbow", "left_elbow")), ("Knees", ("right_knee", "left_knee")),
                ("Hips", ("right_hip", "left_hip")), ("Shoulders", ("right_shoulder", "left_shoulder")),
                ("Trunk lean", ("trunk_lean",)))


@dataclass(frozen=True)
class ReportSettings:
    """What made the keypoints and how the angles are given (the report's "settings" lines)."""

    model: str | None = None
    second_stage: str | None = None
    convention: str = DEFAULT_CONVENTION
    extra: tuple[tuple[str, str], ...] = ()

    def lines(self) -> list[tuple[str, str]]:
        stage = self.second_stage
        return [("Pose model", self.model or "not stated"),
                ("Second stage", "none" if stage in (None, "", "none") else stage),
                ("Angles", f"{self.convention} convention: {CONVENTION_WORDS[self.convention]}"),
                *self.extra]


@dataclass
class Clip:
    """The video a report is about: its name, frame rate, upright size, the frames analysed, and where to read
    its pictures (None: skeletons on a plain background)."""

    name: str
    fps: float
    size: tuple[int, int]
    frames: int
    path: Path | None = None
    length_s: float | None = None
    recorded: str | None = None


@dataclass
class Context:
    """What every section reads: the clip, the person (their trajectory and number), the settings, their joint
    angles as the angle CSV holds them, and the frames read from the clip."""

    clip: Clip
    trajectory: Trajectory
    settings: ReportSettings
    series: AngleSeries
    pictures: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.trajectory.track_id)

    def pose(self, frame: int) -> Pose | None:
        i = int(np.searchsorted(self.trajectory.frames, frame))
        if i >= len(self.trajectory) or int(self.trajectory.frames[i]) != frame:
            return None
        return Pose(self.trajectory.keypoints[i], 0.0, self.trajectory.layout, track_id=self.number)


def seconds(t: float) -> str:
    return f"{t:.1f} s"


def label(name: str) -> str:
    d = ANGLES_BY_NAME.get(name)
    return d.label if d else name.replace("_", " ")


def joint_words(name: str) -> str:
    """``"right_knee_flexion"`` -> ``"right knee"``: the joint, in the words of the text."""
    return label(name.removesuffix("_flexion")).lower()


def extreme_words(name: str, which: str) -> str:
    """What the smallest (``"min"``) or largest (``"max"``) value of an angle looks like, in plain words
    (``"Right knee most bent"``)."""
    low = which == "min"
    joint = joint_words(name).capitalize()
    if name.endswith("_flexion"):
        return f"{joint} {'straightest' if low else 'most bent'}"
    if name.endswith(("_knee", "_elbow", "_hip")):
        return f"{joint} {'most bent' if low else 'straightest'}"
    if name.endswith("_shoulder"):
        return f"{joint}: arm {'lowest' if low else 'highest'}"
    if name == "trunk_lean":
        return f"Trunk leaning furthest to the {'left' if low else 'right'} of the picture"
    return f"{joint} {'smallest' if low else 'largest'}"


def vertex(layout: str, name: str) -> int | None:
    """The keypoint at an angle's vertex (ringed on the key frames of its extremes)."""
    d = ANGLES_BY_NAME.get(name)
    if d is None or d.kind != "joint":
        return None
    return get_layout(layout).find(d.vectors[0][0])


# ------------------------------------------------------------------------------------------- who and what


def header(ctx: Context, portrait: np.ndarray | None, made: dt.datetime) -> str:
    """Title, the person's picture and number, the clip and the settings."""
    clip, tr = ctx.clip, ctx.trajectory
    analysed = clip.frames / clip.fps
    length = f"{seconds(analysed)} ({clip.frames} frames at {clip.fps:g} frames per second)"
    if clip.length_s and clip.length_s > analysed + 0.5:
        length += f", the first part of a {seconds(clip.length_s)} clip"
    seen = (f"{seconds(tr.duration_s)}, from {seconds(float(tr.times[0]))} to {seconds(float(tr.times[-1]))} "
            f"({len(tr)} frames)")
    lines = [("Clip", clip.name), ("Recorded", clip.recorded or "not stated in the clip"),
             ("Report made", made.strftime("%Y-%m-%d %H:%M")), ("Length analysed", length),
             ("Person", f"{ctx.number} (the number drawn above their head)"), ("Seen for", seen),
             ("Picture size", f"{clip.size[0]} × {clip.size[1]} pixels"), *ctx.settings.lines()]
    return who(f"Movement report: person {ctx.number} in {clip.name}", portrait, ctx.number, lines)


def who(title: str, portrait: np.ndarray | None, number: int, lines: list[tuple[str, str]]) -> str:
    pic = (h.figure(jpeg_uri(portrait), f"Person {number}", f"Person {number}", width=portrait.shape[1],
                    height=portrait.shape[0]) if portrait is not None else
           h.paragraph(f"Person {number}: no picture (the clip was not given).", "muted"))
    return f"<h1>{h.esc(title)}</h1><div class=\"who\"><div>{pic}</div><div>{h.facts(lines)}</div></div>"


# ------------------------------------------------------------------------------------------- key frames


def key_frames(ctx: Context) -> str:
    """Start, end and the extremes of the most moving angle, with the skeleton drawn."""
    fps, figures = ctx.clip.fps, []
    rom = {m.angle: m for m in measures.range_of_motion(ctx.series)}
    for what, frame, angle in measures.key_frames(ctx.series, fps):
        pose = ctx.pose(frame)
        ring = None
        t = frame / fps
        if angle is None:
            caption = f"{'Start' if what == 'start' else 'End'}: {seconds(t)}"
        else:
            m = rom[angle]
            value = m.min if what == "min" else m.max
            caption = f"{extreme_words(angle, what)}: {value:.0f}°" + (
                " flexion" if angle.endswith("_flexion") else "") + f", at {seconds(t)}"
            k = vertex(ctx.trajectory.layout, angle)
            ring = {k: 0.6} if k is not None else None
        img = skeleton(ctx.pictures.get(frame), pose, ctx.clip.size, number=ctx.number, highlight=ring, max_side=420)
        figures.append(h.figure(jpeg_uri(img), f"Person {ctx.number} at {seconds(t)}", caption,
                                width=img.shape[1], height=img.shape[0]))
    intro = h.paragraph("The person's first and last moments in the clip, and the two ends of the joint that moves "
                        "most (ringed). The skeleton is what the computer saw: where it is wrong, so are the "
                        "numbers of that moment.", "muted")
    return h.section("key-frames", "Key moments", [intro, f"<div class=\"frames\">{''.join(figures)}</div>"],
                     flow=True)


# ------------------------------------------------------------------------------------------- joint angles


def angle_charts(ctx: Context, counted: str | None = None, shades=()) -> list[str]:
    """One chart per joint (right and left together), the convention written under each; the chart of the angle
    repetitions were ``counted`` on (either convention's name) has them shaded (``shades``)."""
    full = measures.dense(ctx.series, ctx.clip.fps)
    x_range = (float(full.times[0]), float(full.times[-1]))
    counted = counted.removesuffix("_flexion") if counted else None
    out = []
    for title, members in CHART_GROUPS:
        present = [n for n in full.names if n.removesuffix("_flexion") in members]
        seen = [n for n in present if np.isfinite(full.column(n)).any()]
        if not seen:
            out.append(h.paragraph(f"{title}: {h.NOT_SEEN} (never measured in this clip).", "muted"))
            continue
        lines = [charts.Line(label(n), full.times, full.column(n), charts.COLOURS[i % len(charts.COLOURS)])
                 for i, n in enumerate(seen)]
        mark = counted is not None and counted in members and bool(shades)
        svg = charts.line_chart(lines, x_label="time in the clip (s)", y_label="degrees", x_range=x_range,
                                title=f"{title} over time", shades=shades if mark else ())
        caption = f"{title}, in degrees: {ANGLES_BY_NAME[seen[0]].description}."
        if len(seen) < len(present):
            caption += f" {', '.join(label(n) for n in present if n not in seen)}: {h.NOT_SEEN}."
        if mark:
            caption += f" Shaded: the repetitions of the {joint_words(counted)}."
        out.append(f"<h3>{h.esc(title)}</h3>" + h.figure(charts.data_uri(svg), f"{title} over time", caption,
                                                          width=760, height=250, kind="chart"))
    return out


def motion_table(ctx: Context) -> str:
    """Lowest, highest, range of motion and when, per joint; "not in the picture" where never measured."""
    rows = []
    n = len(ctx.series)
    for m in measures.range_of_motion(ctx.series):
        joint = h.Cell(m.label, extra={"data-angle": m.angle})
        if not m.seen:
            rows.append([joint, h.Cell(h.NOT_SEEN, measure="all", cls="missing", extra={"colspan": "6"})])
            continue
        rows.append([joint, h.number(m.min, measure="min"), h.number(m.min_time, 1, " s", measure="min_time"),
                     h.number(m.max, measure="max"), h.number(m.max_time, 1, " s", measure="max_time"),
                     h.number(m.range, measure="range"), h.Cell(f"{m.frames} of {n}", m.frames, "frames", "num")])
    headers = ["Joint", "Lowest (°)", "when", "Highest (°)", "when", "Range of motion (°)", "Frames measured"]
    return h.table(headers, rows, id="range-of-motion-table", numeric=range(1, 7))


def angles_section(ctx: Context, counted: str | None = None, shades=()) -> str:
    intro = h.paragraph(f"How each joint moved over time. {CONVENTION_WORDS[ctx.settings.convention]} Shoulders: "
                        "0° = arm along the body, 90° = horizontal, 180° = straight up. Trunk lean: 0° = upright, "
                        "positive = leaning to the right of the picture.", "muted")
    rom = ("<h3>Range of motion</h3>" + h.paragraph(
        "The lowest and highest angle of each joint while the person is seen, and the difference between them (the "
        "range of motion). The same numbers as the angle spreadsheet (CSV) of this clip.", "muted")
        + motion_table(ctx))
    return h.section("joint-angles", "Joint angles", [intro, *angle_charts(ctx, counted, shades), rom])


# ------------------------------------------------------------------------------------------- repetitions


def spread_words(what: str, spread: measures.Spread | None, unit: str, decimals: int = 1) -> str:
    if spread is None:
        return ""
    f = f"{{:.{decimals}f}}"
    text = (f"{what}: {f.format(spread.mean)}{unit} on average, from {f.format(spread.low)}{unit} to "
            f"{f.format(spread.high)}{unit}")
    return text + (f"; typically within ± {f.format(spread.sd)}{unit} of the average (standard deviation)."
                   if spread.sd > 0 else ".")


def repetitions_section(ctx: Context, reps) -> str:
    """Count, range and duration of each repetition, and their spread (one clip)."""
    fps = ctx.clip.fps
    if reps is None:
        return h.section("repetitions", "Repetitions", [h.paragraph(
            "No joint was measured often enough to count repetitions.")])
    words = joint_words(reps.angle)
    parts = [f'<p class="big"{h.attrs(data_measure="count", data_value=reps.count, data_angle=reps.angle)}>'
             f'{reps.count}</p>',
             h.paragraph(f"{'repetition' if reps.count == 1 else 'repetitions'} of the {words}, the joint that moves "
                         "most. One repetition: from the starting position to the far end of the movement and back "
                         "(a last movement that does not come back is not counted).")]
    if reps.count:
        first = int(measures.dense(ctx.series, fps).frames[0])
        rows = [[h.Cell(str(r.index), r.index, "index", "num"),
                 h.number((first + r.start) / fps, 1, " s", measure="start"),
                 h.number((first + r.end) / fps, 1, " s", measure="end"),
                 h.number(r.duration_s, 1, " s", measure="duration"),
                 h.number(r.range_deg, measure="range"), h.number(r.low_deg, measure="low"),
                 h.number(r.high_deg, measure="high")] for r in reps.reps]
        parts.append(h.table(["Repetition", "Starts", "Ends", "Duration", "Range of motion (°)", "Lowest (°)",
                              "Highest (°)"], rows, id="repetitions-table", numeric=range(7)))
        ranges = measures.Spread.of(r.range_deg for r in reps.reps)
        times = measures.Spread.of(r.duration_s for r in reps.reps)
        parts += [h.paragraph(spread_words("Range of motion", ranges, "°")),
                  h.paragraph(spread_words("Duration", times, " s"))]
        parts.append(h.paragraph("Angles are smoothed a little before counting (a slight tremor is not a "
                                 "repetition), so a repetition's range can be a little smaller than the table of "
                                 "joint angles shows.", "muted"))
    return h.section("repetitions", "Repetitions", parts)


# ------------------------------------------------------------------------------------------- metres


def metres_section(ctx: Context, height_m: float) -> str:
    """Distances and speeds in metres (centre of the hips, wrists, ankles) and the assumption they rest on."""
    try:
        scale, moved = measures.travel(ctx.trajectory, ctx.clip.fps, height_m)
    except InvalidInputError:
        return h.section("distances", "Distances and speeds", [h.paragraph(
            f"Distances in metres need the person's trunk and legs seen together at least once; they never were "
            f"in this clip, so the height given ({height_m:.2f} m) cannot set the scale.")])
    note = ("Measured in the picture, assuming one fixed camera and a movement roughly parallel to the picture "
            "(filmed from the side; moving towards or away from the camera is not measured). The scale comes from "
            f"the person's height, {height_m:.2f} m: their neck-to-ankle length in the picture (the middle value "
            f"over the clip) is taken as {100 * CHAIN_FRACTION:.1f} % of it (standard body proportions), so 1 metre "
            f"is about {scale:.0f} pixels here.")
    rows = [[t.label.capitalize(), h.number(t.distance_m, 2, measure="distance", missing="not seen"),
             h.number(t.mean_speed, 2, measure="mean_speed", missing="not seen"),
             h.number(t.top_speed, 2, measure="top_speed", missing="not seen"),
             h.number(t.seen_s, 1, measure="seen", missing="not seen")] for t in moved]
    table = h.table(["Point", "Distance travelled (m)", "Average speed (m/s)", "Top speed (m/s)",
                     "Measured during (s)"], rows, id="distances-table", numeric=range(1, 5))
    shown = [t for t in moved if t.label in ("centre of the hips", "right wrist", "left wrist")
             and np.isfinite(t.speeds).any()]
    parts = [f'<p class="note">{h.esc(note)}</p>', table,
             h.paragraph("Speeds are measured over a tenth of a second; the top speed leaves out the fastest 5 % of "
                         "moments, so that one wrong frame does not make it.", "muted")]
    if shown:
        lines = [charts.Line(t.label.capitalize(), t.times, t.speeds, charts.COLOURS[i]) for i, t in enumerate(shown)]
        svg = charts.line_chart(lines, x_label="time in the clip (s)", y_label="metres per second", min_span=0.5,
                                title="Speed over time", x_range=(float(ctx.trajectory.times[0]),
                                                                  float(ctx.trajectory.times[-1])))
        parts.append("<h3>Speed over time</h3>" + h.figure(charts.data_uri(svg), "Speed over time",
                                                           "Speed in metres per second.", width=760, height=250,
                                                           kind="chart"))
    return h.section("distances", "Distances and speeds", parts)


# ------------------------------------------------------------------------------------------- notes


def notes_section(convention: str, *, video: bool = True) -> str:
    items = [
        "Angles are measured in the picture, as the camera sees them (in two dimensions). They are closest to the "
        "real joint angles when the joint moves across the picture (for a knee bend: filmed from the side); a "
        "joint turned towards the camera looks less bent than it is.",
        CONVENTION_WORDS[convention],
        f"“{h.NOT_SEEN}”: the joint was never found (out of the frame, hidden, or too blurred), so no number is "
        "given for it.",
        "The skeletons are found by a computer. Look at the pictures: where a skeleton is off, the numbers of that "
        "moment are too.",
    ]
    if video:
        items.append("Times are counted from the start of the clip, in seconds.")
    body = "<ul>" + "".join(f"<li>{h.esc(t)}</li>" for t in items) + "</ul>"
    return h.section("how-to-read", "How to read this report", [body], flow=True)


__all__ = ["CHART_GROUPS", "CONVENTION_WORDS", "Clip", "Context", "ReportSettings", "angles_section", "header",
           "key_frames", "metres_section", "notes_section", "repetitions_section", "who"]
