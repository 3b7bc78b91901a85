"""Keep only the joints and people the picture shows (issue 21): the rules run after the second stage.

A second stage (MoveNet) places all 17 joints of the person in its crop, seen or not: a knee below a photo's
bottom edge lands on the edge, a hidden wrist on a neighbour's hand, a leg on a waist-up person's chest. Each
rule below removes such a joint (confidence 0: nothing draws, measures or compares it); a person's other
joints stay. The rules and their thresholds were chosen on ``bench/bench_accuracy.py`` (all four sets of
``../shared/eval`` together: AP, phantom and borrowed joints, false people) and checked on the shared photos
(``tests/test_screen.py``):

1. **Border** (:attr:`Rules.border`): a joint within ``border`` person sizes of the image's edge needs the first
   stage's heatmap to show that joint there (at least :attr:`Rules.border_heat`): a limb leaving the picture
   is drawn to the edge by a single-person network, where the body part is not.
2. **Someone else's** (:attr:`Rules.own_tolerance`): a joint lying on another person's joint of its family (a
   wrist on a neighbour's wrist or elbow, :data:`FAMILIES`; within ``own_tolerance`` of their OKS tolerances)
   while this person's own first-stage joint of that kind is elsewhere or missing is that person's: this
   person's own first-stage joint takes its place when the first stage scored it at least
   :attr:`Rules.fallback_score`, else it is left out. Then, between the screened people, one joint has one
   owner: of two people holding joints of a family on one spot, the one whose limb's PAF supports it less
   (then: the lower score) lets go.
3. **Limb length** (:attr:`Rules.limb_ratio`, off by default): a limb more than ``limb_ratio`` times as long as
   the others of its kind on the same person (:data:`posekit.grouping.SIMILAR_LIMBS`).
4. **Evidence** (:attr:`Rules.needs_evidence`): these joints (knees and ankles: a single-person network always
   completes the legs, on a waist-up picture too) need some first-stage evidence: their heatmap at least
   :attr:`Rules.min_heat` near them, or the PAF of the limb from their parent (:attr:`Rules.min_limb` of its
   samples agreeing). A joint scored at least :attr:`Rules.sure_score` (when set) needs none.
5. **Chain** (:attr:`Rules.chain`, off by default): an elbow, wrist, knee or ankle whose parent joint is gone.

Rules 3 and 5, and rule 4 on every joint rather than the legs, were measured and left off: each dropped joints
that the annotations place (lower AP) without removing joints placed where they have none.

And for people (:func:`drop_fragments`, run on the first stage's people): a "person" whose joints lie inside a
better-scored, larger person's box (a face found on a glove) is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .evidence import MapEvidence
from .grouping import SIMILAR_LIMBS
from .layouts import Layout, get_layout
from .pose import Pose
from .tracking import keypoint_sigmas, person_size

#: Each limb joint's parent on the way to the trunk (names shared by COCO-18, BODY_25 and MPI-15).
PARENTS = {
    "RElbow": "RShoulder", "RWrist": "RElbow", "LElbow": "LShoulder", "LWrist": "LElbow",
    "RKnee": "RHip", "RAnkle": "RKnee", "LKnee": "LHip", "LAnkle": "LKnee",
    "RBigToe": "RAnkle", "RSmallToe": "RAnkle", "RHeel": "RAnkle",
    "LBigToe": "LAnkle", "LSmallToe": "LAnkle", "LHeel": "LAnkle",
}
#: Joints one may take for another (left for right, a wrist for an elbow): rule 2 compares a joint with the other
#: people's joints of its family.
FAMILIES = (("RElbow", "RWrist", "LElbow", "LWrist"), ("RKnee", "RAnkle", "LKnee", "LAnkle"),
            ("RShoulder", "LShoulder"), ("RHip", "LHip"))
#: The joints :func:`screen_pose` looks at: the body's (the face keeps what the stages found).
BODY = ("RShoulder", "LShoulder", "RHip", "LHip", "RElbow", "LElbow", "RKnee", "LKnee",
        "RWrist", "LWrist", "RAnkle", "LAnkle", "RBigToe", "RSmallToe", "RHeel", "LBigToe", "LSmallToe", "LHeel")


@dataclass(frozen=True)
class Rules:
    """The thresholds of :func:`screen_pose` (module docstring); ``None`` turns a rule off."""

    #: Rule 1: the band along the image border, in person sizes (sqrt of the keypoint box's area) ...
    border: float | None = 0.05
    #: ... where a joint needs at least this first-stage heatmap value.
    border_heat: float = 0.2
    #: Rule 2: "on another person's joint" = within this many of their OKS tolerances (2 sigma x their size) ...
    own_tolerance: float | None = 1.0
    #: ... while this person's own first-stage joint is farther than this many of their own tolerances; that
    #: joint takes its place when the first stage scored it at least ``fallback_score``.
    own_margin: float = 1.0
    fallback_score: float = 0.15
    #: Rule 3: the longest a limb may be, as a multiple of the median of the other limbs of its kind.
    limb_ratio: float | None = None
    #: Rule 4: the joints (names; None: every body joint) that need first-stage evidence ...
    needs_evidence: tuple[str, ...] | None = ("RKnee", "LKnee", "RAnkle", "LAnkle")
    #: ... their heatmap at least this near them, or their limb's PAF agreeing on ``min_limb`` of its samples ...
    min_heat: float = 0.05
    min_limb: float = 0.5
    #: ... unless the second stage scored them at least this (None: no exemption).
    sure_score: float | None = None
    #: Rule 5: limb joints need their parent.
    chain: bool = False

    def but(self, **changes) -> "Rules":
        """These rules with some thresholds changed."""
        return replace(self, **changes)


DEFAULT_RULES = Rules()


@dataclass(frozen=True)
class _Plan:
    body: tuple[int, ...]
    parent: dict[int, int]
    groups: tuple[tuple[tuple[int, int], ...], ...]
    sigmas: np.ndarray
    family: dict[int, tuple[int, ...]]


_plans: dict[str, _Plan] = {}


def _plan(layout: Layout) -> _Plan:
    if layout.name not in _plans:
        find = layout.find
        body = tuple(i for n in BODY if (i := find(n)) is not None)
        parent = {find(c): find(p) for c, p in PARENTS.items() if find(c) is not None and find(p) is not None}
        groups = tuple(tuple((find(a), find(b)) for a, b in g if find(a) is not None and find(b) is not None)
                       for g in SIMILAR_LIMBS)
        family = {}
        for names in FAMILIES:
            members = tuple(i for n in names if (i := find(n)) is not None)
            family.update(dict.fromkeys(members, members))
        _plans[layout.name] = _Plan(body, parent, tuple(g for g in groups if len(g) > 1),
                                    keypoint_sigmas(layout.name), family)
    return _plans[layout.name]


def _border_ok(kp, k, size, image_size, evidence, rules) -> bool:
    if rules.border is None:
        return True
    w, h = image_size
    x, y = kp[k, 0], kp[k, 1]
    if min(x, y, w - 1 - x, h - 1 - y) >= rules.border * size:
        return True
    return evidence is not None and evidence.heat(k, kp[k, :2]) >= rules.border_heat


def _own_ok(kp, k, size, first, others, plan, rules) -> bool:
    """Rule 2: not lying on another person's joint of this family (a wrist on a neighbour's wrist or elbow),
    unless this person's own first-stage joint of this kind is there too (two people's elbows side by side)."""
    if rules.own_tolerance is None or not others:
        return True
    q = kp[k, :2]
    near_own = rules.own_margin * 2 * plan.sigmas[k] * size
    if first is not None and first[k, 2] > 0 and np.hypot(*(first[k, :2] - q)) <= near_own:
        return True
    family = plan.family.get(k, (k,))
    for other in others:
        ok = other.keypoints
        reach = rules.own_tolerance * 2 * person_size(ok)
        for j in family:
            if ok[j, 2] > 0 and np.hypot(*(ok[j, :2] - q)) < reach * plan.sigmas[j]:
                return False
    return True


def _evidence_ok(kp, k, parent, evidence, rules) -> bool:
    """Rule 4: a joint the second stage is unsure of needs the first stage's heatmap or limb near it."""
    if evidence is None or (rules.sure_score is not None and kp[k, 2] >= rules.sure_score):
        return True
    if rules.needs_evidence is not None and evidence.layout.keypoints[k] not in rules.needs_evidence:
        return True
    if evidence.heat(k, kp[k, :2]) >= rules.min_heat:
        return True
    p = parent.get(k)
    if p is not None and kp[p, 2] > 0 and evidence.has_limb(p, k):
        return evidence.limb(p, k, kp[p, :2], kp[k, :2])[0] >= rules.min_limb
    return False


def _long_limbs(kp, plan: _Plan, ratio: float | None) -> set[int]:
    """Rule 3: the outer joints of limbs much longer than the median of the others of their kind."""
    out: set[int] = set()
    if ratio is None:
        return out
    for group in plan.groups:
        lengths = {(a, b): float(np.hypot(*(kp[a, :2] - kp[b, :2]))) for a, b in group
                   if kp[a, 2] > 0 and kp[b, 2] > 0}
        for limb, length in lengths.items():
            rest = [v for other, v in lengths.items() if other != limb]
            if rest and length > ratio * float(np.median(rest)):
                out.add(limb[1])
    return out


def _check(kp, k, size, image_size, evidence, fk, others, plan, rules) -> str:
    """Which rule (1, 2 or 4) joint ``k`` fails: "border", "other", "evidence", or "" (none)."""
    if not _border_ok(kp, k, size, image_size, evidence, rules):
        return "border"
    if not _own_ok(kp, k, size, fk, others, plan, rules):
        return "other"
    if not _evidence_ok(kp, k, plan.parent, evidence, rules):
        return "evidence"
    return ""


def screen_pose(pose: Pose, image_size: tuple[int, int], *, evidence: MapEvidence | None = None,
                first: Pose | None = None, others: Sequence[Pose] = (), rules: Rules = DEFAULT_RULES) -> Pose:
    """``pose`` without the body joints the picture does not show (rules 1-5 of the module docstring; their
    confidence set to 0). ``evidence``: the first stage's maps (rules 1 and 4 need them); ``first``: this
    person as the first stage found them (rule 2 falls back to their joint); ``others``: the other people of
    the image as the first stage found them (rule 2)."""
    plan = _plan(get_layout(pose.layout))
    kp = pose.keypoints.copy()
    size = person_size(kp)
    fk = first.keypoints if first is not None else None
    drop = _long_limbs(kp, plan, rules.limb_ratio)
    for k in plan.body:
        if kp[k, 2] <= 0 or k in drop:
            continue
        failed = _check(kp, k, size, image_size, evidence, fk, others, plan, rules)
        if failed == "other" and fk is not None and fk[k, 2] > max(rules.fallback_score, 0.0):
            kp[k] = fk[k]  # someone else's joint: this person's own, as the first stage found it
            failed = _check(kp, k, size, image_size, evidence, fk, others, plan, rules)
        if failed:
            drop.add(k)
    for k in drop:
        kp[k] = 0.0
    if rules.chain:
        for k in plan.body:  # parents come first in BODY's order
            p = plan.parent.get(k)
            if p is not None and kp[k, 2] > 0 and kp[p, 2] <= 0:
                kp[k] = 0.0
    if np.array_equal(kp, pose.keypoints):
        return pose
    return Pose(kp, pose.score, pose.layout, dict(pose.extra), pose.track_id)


def _claim(pose: Pose, k: int, plan: _Plan, evidence: MapEvidence | None) -> tuple[float, float]:
    """How strongly ``pose`` holds joint ``k``: the PAF support of the limb from its parent joint (0 without
    maps or parent), then the joint's confidence."""
    kp = pose.keypoints
    p = plan.parent.get(k)
    limb = 0.0
    if evidence is not None and p is not None and kp[p, 2] > 0 and evidence.has_limb(p, k):
        limb = evidence.limb(p, k, kp[p, :2], kp[k, :2])[0]
    return limb, float(kp[k, 2])


def _one_owner(poses: list[Pose], evidence: MapEvidence | None, rules: Rules) -> list[Pose]:
    """Rule 2, between the screened people: where two people hold joints of one family on the same spot (within
    ``own_tolerance`` OKS tolerances of either), the weaker claim (:func:`_claim`) lets go."""
    if rules.own_tolerance is None or len(poses) < 2:
        return poses
    kps = [p.keypoints.copy() for p in poses]
    sizes = [person_size(kp) for kp in kps]
    for a in range(len(poses)):
        plan = _plan(get_layout(poses[a].layout))
        for b in range(a + 1, len(poses)):
            if poses[b].layout != poses[a].layout:
                continue
            for k in plan.body:
                for j in plan.family.get(k, (k,)):
                    if kps[a][k, 2] <= 0 or kps[b][j, 2] <= 0:
                        continue
                    reach = rules.own_tolerance * 2 * max(plan.sigmas[k] * sizes[a], plan.sigmas[j] * sizes[b])
                    if np.hypot(*(kps[a][k, :2] - kps[b][j, :2])) >= reach:
                        continue
                    pa = Pose(kps[a], poses[a].score, poses[a].layout)
                    pb = Pose(kps[b], poses[b].score, poses[b].layout)
                    if _claim(pa, k, plan, evidence) >= _claim(pb, j, plan, evidence):
                        kps[b][j] = 0.0
                    else:
                        kps[a][k] = 0.0
    return [p if np.array_equal(kp, p.keypoints) else Pose(kp, p.score, p.layout, dict(p.extra), p.track_id)
            for p, kp in zip(poses, kps)]


def screen(poses: Sequence[Pose], image_size: tuple[int, int], *, evidence: MapEvidence | None = None,
           first: Sequence[Pose] | None = None, rules: Rules = DEFAULT_RULES) -> list[Pose]:
    """:func:`screen_pose` on every person of an image (``first``: the first stage's people, in the same order),
    then one owner for each joint (:func:`_one_owner`)."""
    out = []
    for i, pose in enumerate(poses):
        others = [p for j, p in enumerate(first if first is not None else poses) if j != i]
        out.append(screen_pose(pose, image_size, evidence=evidence, first=first[i] if first is not None else None,
                               others=others, rules=rules))
    return _one_owner(out, evidence, rules)


def _inside_fraction(pose: Pose, host: Pose, grow: float) -> float:
    """The fraction of ``pose``'s found keypoints inside ``host``'s keypoint box grown by ``grow`` host sizes
    on every side."""
    pts = pose.keypoints[pose.visible, :2]
    if len(pts) == 0 or host.num_visible < 2:
        return 0.0
    x0, y0, x1, y1 = host.bbox()
    m = grow * person_size(host.keypoints)
    inside = (pts[:, 0] >= x0 - m) & (pts[:, 0] <= x1 + m) & (pts[:, 1] >= y0 - m) & (pts[:, 1] <= y1 + m)
    return float(inside.mean())


def drop_fragments(poses: Sequence[Pose], *, inside: float = 0.8, size_ratio: float = 0.5,
                   score_ratio: float = 0.5, grow: float = 0.1) -> list[Pose]:
    """``poses`` without the "people" that are pieces of another: at least ``inside`` of their keypoints lie in
    another person's box (grown by ``grow`` of that person's size), and they are less than ``size_ratio`` times
    that person's size and scored less than ``score_ratio`` times as high (a face found on a glove, an arm's
    joints left over by the grouping). The order of the others is kept."""
    sizes = [person_size(p.keypoints) for p in poses]
    keep = []
    for i, p in enumerate(poses):
        piece = any(j != i and p.score < score_ratio * host.score and sizes[i] < size_ratio * sizes[j]
                    and _inside_fraction(p, host, grow) >= inside for j, host in enumerate(poses))
        if not piece:
            keep.append(p)
    return keep


__all__ = ["BODY", "DEFAULT_RULES", "FAMILIES", "PARENTS", "Rules", "drop_fragments", "screen", "screen_pose"]
