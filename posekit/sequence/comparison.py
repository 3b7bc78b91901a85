"""The comparison of two sequences a coach reads: the alignment and the repetitions of both on one angle
(:func:`compare_sequences`, :class:`Comparison`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidInputError
from .alignment import Alignment, align, angle_label
from .poses import PoseSequence
from .repetitions import RepetitionMatch, Repetitions, count_repetitions, match_repetitions


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


__all__ = ["Comparison", "compare_sequences"]
