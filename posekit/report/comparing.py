"""The report's comparison with a reference (:mod:`posekit.sequence`): the similarity, the phases with their
joints in words, the repetitions paired as the compare CSV report holds them, and the two movements side by side
at the three moments that differ most."""

from __future__ import annotations

import math

import numpy as np

from ..sequence import Comparison, angle_label
from . import charts, measures
from . import html as h
from .pictures import jpeg_uri, skeleton
from .sections import Clip, seconds, spread_words


def _percent(value: float) -> str:
    return f"{value:.0f} %" if math.isfinite(value) else "not measured"


def summary(comparison: Comparison, reference: Clip) -> list[str]:
    al = comparison.alignment
    att, ref = comparison.attempt, comparison.reference
    pace = att.duration_s / max(ref.duration_s, 1e-9)
    lines = [("Reference", f"person {ref.person} in {reference.name}"),
             ("Measured", f"in {100 * al.coverage:.0f} % of this clip's frames (the others: the person is not seen "
                          "well enough)"),
             ("Duration", f"this clip {seconds(att.duration_s)}, the reference {seconds(ref.duration_s)} "
                          f"({pace:.2f} × the reference's time)"),
             ("Mirror image", "yes: compared as mirror images (left and right swapped)" if al.mirrored else "no")]
    return [f'<p class="big" data-measure="similarity" data-value="{round(al.score, 2)}">{al.score:.0f} %</p>',
            h.paragraph("similar to the reference: how alike the two movements are once lined up in time (each "
                        "moment compared with the matching moment of the reference, 100 % = the same pose)."),
            h.facts(lines)]


def similarity_chart(comparison: Comparison, moments: list[int]) -> str:
    al, fa = comparison.alignment, comparison.attempt.fps
    t = np.arange(len(al.similarity)) / fa
    shades = []
    for ph in al.phases:
        colour = "#e8eef5" if ph.index % 2 == 0 else "#f6f7f9"
        shades.append(charts.Shade(ph.attempt_start / fa, (ph.attempt_end + 1) / fa, f"{ph.index + 1}", colour))
    svg = charts.line_chart([charts.Line("similarity", t, al.similarity)], x_label="time in this clip (s)",
                            y_label="similarity (%)", y_limits=(0, 100), title="Similarity over time",
                            shades=shades, marks=[(i / fa, f"{k}") for k, i in enumerate(moments, 1)])
    return h.figure(charts.data_uri(svg), "Similarity over time",
                    "Similarity moment by moment. Shaded: the phases of the reference (numbered). Dashed lines: the "
                    "moments pictured below.", width=760, height=250, kind="chart")


def phases_table(comparison: Comparison) -> str:
    al, fr, fa = comparison.alignment, comparison.reference.fps, comparison.attempt.fps
    listed = al.worst(per_phase=3)
    rows = []
    for ph in al.phases:
        worst = [d for d in listed if d.phase == ph.index]
        rows.append([h.Cell(str(ph.index + 1), ph.index + 1, "phase", "num"),
                     h.Cell(f"{ph.ref_start / fr:.1f}–{(ph.ref_end + 1) / fr:.1f} s", cls="span"),
                     h.Cell(f"{ph.attempt_start / fa:.1f}–{(ph.attempt_end + 1) / fa:.1f} s", cls="span"),
                     h.number(ph.similarity, 0, " %", measure="similarity", missing="not measured",
                              raw=round(ph.similarity, 2) if math.isfinite(ph.similarity) else None),
                     "; ".join(d.words for d in worst) or "nothing 10° or more apart"])
    return h.table(["Phase", "Reference", "This clip", "Similarity", "Most different joints"], rows,
                   id="phases-table", numeric=(0, 3))


def repetitions_section(comparison: Comparison) -> str:
    """The repetitions of both, paired, with the compare CSV report's numbers."""
    if not comparison.angle or comparison.attempt_reps is None:
        return h.section("repetitions", "Repetitions", [h.paragraph(
            "No joint angle was measured often enough to count repetitions.")])
    words = angle_label(comparison.angle)
    n_att, n_ref = comparison.attempt_reps.count, comparison.reference_reps.count
    parts = [f'<p class="big"{h.attrs(data_measure="count", data_value=n_att, data_angle=comparison.angle)}>'
             f'{n_att}</p>',
             h.paragraph(f"{'repetition' if n_att == 1 else 'repetitions'} of the {words} in this clip; the "
                         f"reference has {n_ref}. Each repetition is paired with the reference's it lines up with.")]
    paired = measures.paired_repetitions(comparison)
    if paired:
        rows = []
        for p in paired:
            note = "" if p.attempt_range is not None and p.reference_range is not None else (
                "extra: not in the reference" if p.attempt_range is not None else "missing in this clip")
            rows.append([h.Cell(str(p.index), p.index, "index", "num"),
                         h.number(p.attempt_range, measure="attempt_range", missing="–"),
                         h.number(p.reference_range, measure="reference_range", missing="–"),
                         h.number(p.attempt_duration, 1, " s", measure="attempt_duration", missing="–"),
                         h.number(p.reference_duration, 1, " s", measure="reference_duration", missing="–"), note])
        parts.append(h.table(["Repetition", "Range of motion, this clip (°)", "Range of motion, reference (°)",
                              "Duration, this clip", "Duration, reference", "Note"], rows, id="repetitions-table",
                             numeric=range(1, 5)))
        parts += [h.paragraph(spread_words("This clip's range of motion",
                                           measures.Spread.of(p.attempt_range for p in paired), "°")),
                  h.paragraph(spread_words("This clip's duration",
                                           measures.Spread.of(p.attempt_duration for p in paired), " s"))]
        parts.append(h.paragraph("The same numbers as the comparison's spreadsheet (CSV report).", "muted"))
    return h.section("repetitions", "Repetitions", parts)


def moments_figures(comparison: Comparison, moments: list[int], att_clip: Clip, ref_clip: Clip,
                    att_pictures: dict, ref_pictures: dict) -> list[str]:
    """The reference beside this clip at each moment, joints 20° or more apart ringed."""
    al, fa, fr = comparison.alignment, comparison.attempt.fps, comparison.reference.fps
    out = []
    for k, i in enumerate(moments, 1):
        j = int(al.ref_for_attempt[i])
        diffs = measures.moment_differences(comparison, i)
        rings = measures.rings(comparison.attempt.layout, diffs)
        left = skeleton(ref_pictures.get(j), comparison.reference.pose(j), ref_clip.size,
                        number=comparison.reference.person, max_side=480)
        right = skeleton(att_pictures.get(i), comparison.attempt.pose(i), att_clip.size,
                         number=comparison.attempt.person, highlight=rings, max_side=480)
        words = "; ".join(measures.difference_words(n, d) for n, d in diffs[:4]) or "no joint 10° or more apart"
        sim = float(al.similarity[i])
        out.append(f"<h3>Moment {k}: {seconds(i / fa)} in this clip, similarity {_percent(sim)}</h3>")
        out.append('<div class="frames">' +
                   h.figure(jpeg_uri(left), f"Reference at {seconds(j / fr)}", f"Reference, {seconds(j / fr)}",
                            width=left.shape[1], height=left.shape[0]) +
                   h.figure(jpeg_uri(right), f"This clip at {seconds(i / fa)}",
                            f"This clip, {seconds(i / fa)} (ringed: 20° or more apart)", width=right.shape[1],
                            height=right.shape[0]) + "</div>")
        out.append(h.paragraph(f"Compared with the reference: {words}."))
    return out


def comparison_section(comparison: Comparison, moments: list[int], att_clip: Clip, ref_clip: Clip,
                       att_pictures: dict, ref_pictures: dict) -> str:
    parts = summary(comparison, ref_clip)
    parts.append(similarity_chart(comparison, moments))
    parts.append("<h3>Phase by phase</h3>" + h.paragraph(
        "The reference is cut into phases where its most moving joint turns around; in each, the joints of this "
        "clip that differ most from the reference, on average.", "muted") + phases_table(comparison))
    if moments:
        parts.append("<h3>The three moments that differ most</h3>")
        parts += moments_figures(comparison, moments, att_clip, ref_clip, att_pictures, ref_pictures)
    if ref_pictures == {} and ref_clip.path is None:
        parts.append(h.paragraph("The reference's video was not given: its skeleton is drawn on a plain "
                                 "background.", "muted"))
    return h.section("comparison", "Compared with the reference", parts)


__all__ = ["comparison_section", "moments_figures", "phases_table", "repetitions_section", "similarity_chart",
           "summary"]
