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

Clips too short to say anything are refused with the minimum in the message: :func:`compare_sequences` compares
a person seen in at least :data:`MIN_COMPARE_FRAMES` frames of a clip of :data:`MIN_COMPARE_S` seconds or more,
and counts repetitions on an angle measured in at least :data:`MIN_COUNT_FRAMES` frames over :data:`MIN_COUNT_S`
seconds (``Comparison.repetitions_not_counted`` says why not).

The steps live in one module each: :mod:`~posekit.sequence.poses` (the sequence, steps 1-3),
:mod:`~posekit.sequence.dtw` (steps 3-5), :mod:`~posekit.sequence.alignment` (steps 5-7),
:mod:`~posekit.sequence.repetitions` (counting and pairing repetitions) and :mod:`~posekit.sequence.comparison`
(all of it for two sequences: :func:`compare_sequences`). Their public names are importable from here.
"""

from .alignment import (
    Alignment,
    JointDifference,
    Phase,
    align,
    angle_label,
    describe_angle_difference,
    frame_scores,
    most_moving_angle,
    phases_of,
)
from .comparison import MIN_COMPARE_FRAMES, MIN_COMPARE_S, Comparison, compare_sequences, too_short_to_compare
from .dtw import MIN_WINDOW_S, WINDOW_FRACTION, Band, Features, cost_band, default_radius, dtw_band, features, pair_cost
from .poses import PoseSequence, joint_angles, normalised_keypoints
from .repetitions import (
    MIN_COUNT_FRAMES,
    MIN_COUNT_S,
    Repetition,
    RepetitionMatch,
    Repetitions,
    count_repetitions,
    match_repetitions,
    smooth_angle,
    too_short_to_count,
)

__all__ = [
    "MIN_COMPARE_FRAMES", "MIN_COMPARE_S", "MIN_COUNT_FRAMES", "MIN_COUNT_S",
    "MIN_WINDOW_S", "WINDOW_FRACTION", "Alignment", "Band", "Comparison", "Features", "JointDifference", "Phase",
    "PoseSequence", "Repetition", "RepetitionMatch", "Repetitions", "align", "angle_label", "compare_sequences",
    "cost_band", "count_repetitions", "default_radius", "describe_angle_difference", "dtw_band", "features",
    "frame_scores", "joint_angles", "match_repetitions", "most_moving_angle", "normalised_keypoints", "pair_cost",
    "phases_of", "smooth_angle", "too_short_to_compare", "too_short_to_count",
]
