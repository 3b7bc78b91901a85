"""Pose similarity people can trust: normalised, symmetric, explained joint by joint.

The score does not change when either person is moved, or drawn larger or smaller, in the image, and it says
*which* joints differ. It is computed as follows (``a`` and ``b`` are two poses of the same layout).

1. **Common joints.** ``C`` = the keypoints visible (confidence > 0) in both poses. Nothing else is used.
   With fewer than :data:`MIN_COMMON` (4) common keypoints, or when either pose has no extent over ``C``,
   the poses are *not comparable*: :func:`compare` returns ``score = 0`` and ``used = 0`` (it does not raise),
   and ``Similarity.comparable`` is False.
2. **Translation and scale** (:func:`posekit.normalise.normalise`, the normalisation sequences use too).
   Each pose is centred on a reference point chosen from ``C``: ``MidHip`` (BODY_25) when common, else the mean
   of the hips in ``C``, else the neck, else the mean of ``C``; and divided by its own body size ``s``, chosen
   from ``C`` the same way for both: the torso length ``|neck - hip centre|`` when the neck and a hip are
   common; else the shoulder width times 1.4 (a typical torso / shoulder-width ratio); else the RMS distance of
   ``C`` from its mean. Distances below are therefore in *torso lengths*. (A method whose size is zero in either
   pose is skipped.)
3. **Rotation** (``rotation=True`` only). The normalised ``a`` is rotated and shifted by the rigid motion
   minimising ``sum |R a_i + t - b_i|^2`` over ``C`` (orthogonal Procrustes / Kabsch: centroids of ``C``
   matched, rotation from the SVD of the 2x2 cross-covariance, reflections excluded). The residuals are the
   same whichever pose is moved, so the score stays symmetric.
4. **Mirror** (``mirror=True`` only). ``a`` is also compared mirrored: x negated and every left/right keypoint
   pair swapped (``RElbow`` <-> ``LElbow``; pairs found from the layout's names). The better of the two
   comparisons is returned, with ``mirrored`` saying which.
5. **Keypoint agreement.** For each joint ``i`` in ``C``, ``d_i`` = distance between the normalised points and
   ``agreement_i = exp(-d_i^2 / (2 k_i^2))``, an OKS-style score whose tolerances ``k_i`` (torso lengths,
   :data:`posekit.layouts.TOLERANCES`, :attr:`Layout.tolerances <posekit.layouts.Layout.tolerances>`) follow
   COCO's keypoint sigmas, widened to tolerate different body proportions and the network's stride: face and
   neck 0.25, shoulders 0.30, elbows 0.35, wrists, hips and knees 0.40, ankles and
   feet 0.45. ``keypoint_score`` = the weighted mean of ``agreement_i`` over ``C``, the face points (nose,
   eyes, ears) weighing 0.5 and the others 1 (:data:`posekit.layouts.WEIGHTS`).
6. **Angle agreement.** The joint angles of :mod:`posekit.kinematics` named in :data:`COMPARED_ANGLES`: elbows
   and knees (180 deg = straight), hips (thigh against the trunk line ``MidHip -> Neck``, 180 deg standing) and
   shoulders (upper arm against the trunk line pointing down: 0 deg arm along the body, 180 deg arm raised),
   for each one whose keypoints are in ``C`` (``MidHip`` and ``Neck`` may be the middle of the hips and of the
   shoulders) and whose vectors are not degenerate (shorter than 0.02 torso lengths) in either pose.
   ``agreement = exp(-delta^2 / (2 * 30deg^2))`` with ``delta`` the difference of the two angles (about 0.85 at
   17 deg apart, 0.5 at 35 deg, 0.1 at 64 deg). ``angle_score`` = their mean. Joint angles ignore
   translation, scale, rotation and mirroring.
7. **Score** = ``100 * (keypoint_score + angle_score) / 2``, or ``100 * keypoint_score`` when no angle is
   measurable in both poses. It lies in [0, 100]; identical poses give 100; ``compare(a, b) == compare(b, a)``.

:meth:`Similarity.worst` lists the most different joints and angles and :meth:`Similarity.highlights` turns
them into ``{keypoint index: severity}`` for :func:`posekit.draw.draw_poses`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .errors import InvalidInputError
from .kinematics import ANGLES_BY_NAME, AngleDef, angles_array
from .layouts import TOLERANCES, WEIGHTS, Layout, base_name
from .normalise import SHOULDER_TO_TORSO, normalise
from .pose import Pose, image_size, most_prominent

MIN_COMMON = 4
"""Fewest keypoints visible in both poses for a meaningful comparison."""

ANGLE_TOLERANCE_DEG = 30.0
"""The ``tau`` of the angle agreement ``exp(-delta^2 / (2 tau^2))``."""

MIN_LIMB = 0.02
"""Limbs shorter than this (torso lengths) give no angle."""

FULL_BODY_JOINTS = 10
"""Body joints (not the face) seen in both poses for a comparison of the whole body; fewer: *partial*."""

FULL_ANGLES = 4
"""Joint angles measured in both poses for a comparison of the whole body; fewer: *partial*."""

#: Keypoint base names that belong to the head (ranked after the body in :meth:`Similarity.worst`).
FACE = frozenset({"nose", "eye", "ear", "head"})

#: The joint angles compared, by their names in :data:`posekit.kinematics.ANGLES` (the one angle table).
COMPARED_ANGLES: tuple[str, ...] = (
    "left_elbow", "right_elbow", "left_knee", "right_knee",
    "left_shoulder", "right_shoulder", "left_hip", "right_hip",
)


@dataclass(frozen=True)
class JointDiff:
    """How far one keypoint is from its counterpart once both poses are normalised.

    ``index`` is the keypoint's index in pose ``b`` (in ``a`` too, unless the comparison was mirrored).
    ``distance`` is in torso lengths; ``agreement`` in [0, 1].
    """

    name: str
    index: int
    distance: float
    agreement: float
    face: bool = False  # a head point (nose, eyes, ears): less telling of a body pose

    @property
    def text(self) -> str:
        return f"{self.name}: {self.distance:.2f} torso lengths apart"


@dataclass(frozen=True)
class AngleDiff:
    """The angle at one joint (degrees, 0..180) in both poses and their agreement in [0, 1].

    ``index`` is the vertex keypoint's index in pose ``b`` (in ``a`` too, unless mirrored).
    """

    name: str
    index: int
    a_deg: float
    b_deg: float
    diff_deg: float
    agreement: float

    @property
    def text(self) -> str:
        return f"{self.name}: {self.diff_deg:.0f}° apart ({self.a_deg:.0f}° vs {self.b_deg:.0f}°)"


@dataclass
class Similarity:
    """The result of :func:`compare`. ``score``, ``keypoint_score``, ``angle_score``: see the module docstring."""

    score: float
    keypoint_score: float
    angle_score: float | None
    joints: list[JointDiff]
    angles: list[AngleDiff]
    mirrored: bool
    used: int
    reason: str = ""
    pose_a: Pose | None = field(default=None, repr=False, compare=False)
    pose_b: Pose | None = field(default=None, repr=False, compare=False)

    @property
    def comparable(self) -> bool:
        """False when the poses shared too few keypoints (then ``score`` is 0 and ``reason`` says why)."""
        return self.used > 0

    @property
    def body_joints(self) -> int:
        """Body joints (head points not counted) compared."""
        return sum(not j.face for j in self.joints)

    @property
    def partial(self) -> bool:
        """Comparable, but over part of the body only: fewer than :data:`FULL_BODY_JOINTS` body joints or
        :data:`FULL_ANGLES` joint angles seen in both poses. The score then says little about the rest."""
        return self.comparable and (self.body_joints < FULL_BODY_JOINTS or len(self.angles) < FULL_ANGLES)

    @property
    def coverage(self) -> str:
        """What was compared, in words: "12 body joints and 6 joint angles"."""
        j, a = self.body_joints, len(self.angles)
        return f"{j} body joint{'s' * (j != 1)} and {a} joint angle{'s' * (a != 1)}"

    @property
    def partial_text(self) -> str:
        """The warning to show with a partial score ("" when the comparison covers the whole body)."""
        if not self.partial:
            return ""
        return (f"Partial comparison: only {self.coverage} were seen in both poses (a whole-body comparison "
                f"uses at least {FULL_BODY_JOINTS} and {FULL_ANGLES}); the score does not cover the rest.")

    def worst(self, n: int = 3, threshold: float = 1.0) -> list[JointDiff | AngleDiff]:
        """The ``n`` most different joints and angles, only those below ``threshold``: body joints and angles
        first (lowest agreement first), head points (nose, eyes, ears) after them."""
        items: list[JointDiff | AngleDiff] = [*self.joints, *self.angles]
        items = [d for d in items if d.agreement < threshold]
        items.sort(key=lambda d: (getattr(d, "face", False), d.agreement, d.name))
        return items[: max(n, 0)]

    def highlights(self, which: str = "b", min_severity: float = 0.0, *, face: bool = True) -> dict[int, float]:
        """``{keypoint index: severity in [0, 1]}`` (1 - agreement, the worst of joint and angle at a keypoint).

        ``which`` says whose keypoint indices: ``"a"`` or ``"b"`` (they differ only when mirrored).
        ``face=False`` leaves the head points out (rings on eyes and ears tell a coach little).
        """
        if which not in ("a", "b"):
            raise ValueError("which must be 'a' or 'b'")
        out: dict[int, float] = {}
        perm = None
        if which == "a" and self.mirrored and self.pose_a is not None:
            perm = mirror_permutation(self.pose_a.spec)
        for d in [*self.joints, *self.angles]:
            if not face and getattr(d, "face", False):
                continue
            idx = int(perm[d.index]) if perm is not None else d.index
            sev = float(min(max(1.0 - d.agreement, 0.0), 1.0))
            if sev >= min_severity and sev > out.get(idx, -1.0):
                out[idx] = sev
        return out

    def summary(self, n: int = 3) -> str:
        """A few human lines: the score, then the most different joints and angles."""
        if not self.comparable:
            return f"similarity: 0.0% (not comparable: {self.reason})"
        parts = [f"similarity: {self.score:.1f}%"]
        if self.partial:
            parts.append(self.partial_text)
        angle = "n/a" if self.angle_score is None else f"{100 * self.angle_score:.1f}%"
        parts.append(
            f"keypoints: {100 * self.keypoint_score:.1f}% over {self.used} joints, "
            f"angles: {angle} over {len(self.angles)} angles" + (", mirrored" if self.mirrored else "")
        )
        worst = self.worst(n, threshold=0.9)
        if worst:
            parts.append("most different: " + "; ".join(d.text for d in worst))
        return "\n".join(parts)


def pretty_name(name: str) -> str:
    """``"LElbow"`` -> ``"left elbow"``, ``"RBigToe"`` -> ``"right big toe"``, ``"MidHip"`` -> ``"mid hip"``."""
    side = ""
    if len(name) > 1 and name[0] in "RL" and name[1].isupper():
        side = "right " if name[0] == "R" else "left "
        name = name[1:]
    words = re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name) or [name]
    return side + " ".join(w.lower() for w in words)


@lru_cache(maxsize=None)
def mirror_permutation(layout: Layout) -> np.ndarray:
    """Index permutation swapping every ``R*`` keypoint with its ``L*`` counterpart (others stay)."""
    names = list(layout.keypoints)
    perm = np.arange(len(names))
    for i, n in enumerate(names):
        if len(n) > 1 and n[0] in "RL" and n[1].isupper():
            other = ("L" if n[0] == "R" else "R") + n[1:]
            if other in names:
                perm[i] = names.index(other)
    return perm


def mirror_keypoints(keypoints: np.ndarray, layout: Layout) -> np.ndarray:
    """Keypoints (..., K, 3) as seen in a mirror, a new array: x negated (about 0) where found, left/right
    keypoints swapped (:func:`mirror_permutation`)."""
    kp = np.asarray(keypoints)[..., mirror_permutation(layout), :].copy()
    kp[..., 0] = np.where(kp[..., 2] > 0, -kp[..., 0], kp[..., 0])
    return kp


@lru_cache(maxsize=None)
def _pretty_names(layout: Layout) -> tuple[str, ...]:
    return tuple(pretty_name(n) for n in layout.keypoints)


@lru_cache(maxsize=None)
def _face_mask(layout: Layout) -> np.ndarray:
    return np.array([base_name(n) in FACE for n in layout.keypoints])


@lru_cache(maxsize=None)
def _angle_joints(layout: Layout) -> tuple[tuple[AngleDef, str, int], ...]:
    """The compared angles a layout can place: (definition, name in words, index of its vertex keypoint)."""
    out = []
    for name in COMPARED_ANGLES:
        d = ANGLES_BY_NAME[name]
        vertex = layout.find(d.vectors[0][0])
        if vertex is not None:
            out.append((d, d.label.lower(), vertex))
    return tuple(out)


def mirrored(pose: Pose) -> Pose:
    """The pose as seen in a mirror: x negated (about 0) and left/right keypoints swapped."""
    return Pose(mirror_keypoints(pose.keypoints, pose.spec), pose.score, pose.layout, dict(pose.extra))


def _kabsch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The proper rotation R minimising sum |R a_i - b_i|^2 (a, b centred (N, 2))."""
    h = a.T @ b
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    return vt.T @ np.diag([1.0, d]) @ u.T


def _not_comparable(reason: str, a: Pose, b: Pose) -> Similarity:
    return Similarity(0.0, 0.0, None, [], [], False, 0, reason, a, b)


def _joint_angles(layout: Layout, common: np.ndarray, na: np.ndarray, nb: np.ndarray) -> list[AngleDiff]:
    """The compared angles measurable in both normalised poses (keypoints outside ``common`` unused)."""
    joints = _angle_joints(layout)
    if not joints:
        return []
    conf = common.astype(np.float64)[:, None]
    kp = np.stack([np.concatenate([na, conf], axis=1), np.concatenate([nb, conf], axis=1)])
    values = angles_array(kp, layout, [d for d, _, _ in joints], min_length=MIN_LIMB)  # (2, A)
    out = []
    for (_, name, vertex), ang_a, ang_b in zip(joints, values[0], values[1]):
        if not (math.isfinite(ang_a) and math.isfinite(ang_b)):
            continue
        diff = abs(float(ang_a) - float(ang_b))
        agreement = math.exp(-(diff**2) / (2 * ANGLE_TOLERANCE_DEG**2))
        out.append(AngleDiff(name, vertex, float(ang_a), float(ang_b), diff, agreement))
    return out


def _compare_once(a: Pose, b: Pose, rotation: bool) -> Similarity:
    layout = b.spec
    common = a.visible & b.visible
    n = int(common.sum())
    if n < MIN_COMMON:
        return _not_comparable(f"only {n} keypoints visible in both poses (need {MIN_COMMON})", a, b)
    xy = np.stack([a.keypoints[:, :2], b.keypoints[:, :2]]).astype(np.float64)
    xy[:, ~common] = np.nan
    normalised = normalise(xy, layout, scale="own")
    if normalised is None:
        return _not_comparable("a pose has no extent (all its common keypoints coincide)", a, b)
    na, nb = np.nan_to_num(normalised, nan=0.0)
    if rotation:
        # Rotate about the centroids of C so the optimum is a pure rotation; the centre shift is part of it.
        ma, mb = na[common].mean(axis=0), nb[common].mean(axis=0)
        r = _kabsch(na[common] - ma, nb[common] - mb)
        na[common] = (na[common] - ma) @ r.T + mb

    tol = layout.tolerances
    dist = np.linalg.norm(na - nb, axis=1)
    agree = np.exp(-(dist**2) / (2 * tol**2))
    names = _pretty_names(layout)
    face = _face_mask(layout)
    joints = [JointDiff(names[i], int(i), float(dist[i]), float(agree[i]), bool(face[i]))
              for i in np.flatnonzero(common)]
    w = layout.weights[common]
    keypoint_score = float(np.sum(w * agree[common]) / np.sum(w))

    angles = _joint_angles(layout, common, na, nb)
    angle_score = float(np.mean([x.agreement for x in angles])) if angles else None

    score = keypoint_score if angle_score is None else (keypoint_score + angle_score) / 2
    score = float(min(max(100.0 * score, 0.0), 100.0))
    return Similarity(score, keypoint_score, angle_score, joints, angles, False, n, "", a, b)


def compare(a: Pose, b: Pose, *, rotation: bool = False, mirror: bool = False) -> Similarity:
    """How similar two poses are, 0-100, with a per-joint and per-angle breakdown.

    Args:
        a, b: poses of the same layout (their positions and sizes in their images do not matter).
        rotation: also factor out an in-plane rotation (a tilted camera, a person lying down).
        mirror: also try ``a`` mirrored (left/right swapped) and keep the better comparison.

    Returns:
        :class:`Similarity`. Poses sharing fewer than :data:`MIN_COMMON` visible keypoints are reported as not
        comparable (``score`` 0, ``used`` 0, ``reason`` set) rather than raising.

    Raises:
        InvalidInputError: the poses use different layouts.
    """
    if a.layout != b.layout:
        raise InvalidInputError(f"cannot compare a {a.layout} pose with a {b.layout} pose")
    result = _compare_once(a, b, rotation)
    if mirror:
        alt = _compare_once(mirrored(a), b, rotation)
        if alt.used and alt.score > result.score:
            alt.mirrored = True
            result = alt
    result.pose_a, result.pose_b = a, b
    return result


def select_person(poses: Sequence[Pose], index: int | None = None, *, what: str = "the image",
                  image_size: tuple[int, int] | None = None) -> Pose:
    """One person: ``poses[index]``, or the most prominent one when ``index`` is None (the most central too
    when the image's (width, height) is given).

    ``index`` is 0-based; people are shown numbered from 1 (``index + 1``), as the error message says.

    Raises:
        InvalidInputError: there is no person, or no person ``index``.
    """
    if not poses:
        raise InvalidInputError(f"no person found in {what}")
    if index is None:
        return poses[most_prominent(list(poses), image_size)]
    if not 0 <= index < len(poses):
        raise InvalidInputError(f"no person {index + 1} in {what}: {len(poses)} found "
                                f"(numbered 1 to {len(poses)} on the overlay)")
    return poses[index]


def compare_images(est, img_a: np.ndarray, img_b: np.ndarray, person_a: int | None = None,
                   person_b: int | None = None, *, name_a: str = "image A", name_b: str = "image B",
                   **kw) -> Similarity:
    """Estimate poses in two BGR images with ``est`` (a PoseEstimator) and compare one person of each.

    ``person_a`` / ``person_b`` pick a person by index (0-based, in the estimator's order); by default the most
    prominent. Keyword arguments go to :func:`compare` (``rotation``, ``mirror``). The compared poses are in
    the result's ``pose_a`` / ``pose_b``.

    Raises:
        InvalidInputError: no person (or no such person) in an image.
    """
    pose_a = select_person(est.estimate(img_a), person_a, what=name_a, image_size=image_size(img_a))
    pose_b = select_person(est.estimate(img_b), person_b, what=name_b, image_size=image_size(img_b))
    return compare(pose_a, pose_b, **kw)


__all__ = [
    "ANGLE_TOLERANCE_DEG", "AngleDiff", "COMPARED_ANGLES", "FULL_ANGLES", "FULL_BODY_JOINTS", "JointDiff",
    "MIN_COMMON", "MIN_LIMB", "SHOULDER_TO_TORSO", "Similarity", "TOLERANCES", "WEIGHTS", "compare",
    "compare_images", "mirror_keypoints", "mirror_permutation", "mirrored", "pretty_name", "select_person",
]
