"""Keypoint accuracy on annotated photos: COCO OKS AP (pycocotools), and what AP cannot see.

An *evaluation set* is a folder with one COCO-format keypoint file (``*.json``) and the images it names, like
``../shared/eval/coco`` (COCO-17) or ``../shared/eval/crowdpose`` (CrowdPose-14). CrowdPose's 12 body joints are
mapped onto COCO-17's body joints and its face is left unannotated (``v = 0``), so both are scored with COCO's
OKS and its per-joint sigmas; its people have no segmentation area, so the box area stands in for it. People
annotated with no keypoint are ignored (as COCO ignores them).

>>> sets = [load_eval_set(p) for p in sorted(Path("../shared/eval").iterdir()) if p.is_dir()]
>>> gt = merge_eval_sets(sets)
>>> results = [r for img in gt.images for r in coco_results(est.estimate(load_image(img.path)), img.id)]
>>> coco_ap(gt, results)["AP"]
>>> joint_errors(gt, results).phantom_rate

COCO's AP never penalises a joint placed where the annotation has none, nor a joint taken from a neighbour as
long as the rest of the person matches. :func:`joint_errors` counts those (issue 21), on the detections that
COCO's own matching pairs with an annotated person at OKS >= 0.5 (:func:`match_people`, as ``COCOeval`` does):

- *phantoms*: body joints (shoulders ... ankles, :data:`BODY_JOINTS`) placed by a matched detection where its
  person's annotation has none (``v = 0``); the *phantom rate* divides them by all the body joints placed by
  matched detections;
- *borrowed joints*: joints placed by a matched detection within their OKS tolerance of another annotated
  person's joint of the same kind and not within tolerance of their own person's (:func:`borrowed_joints`;
  "within tolerance" is a per-joint OKS similarity >= 0.5, :func:`keypoint_similarity`);
- *false people*: detections that match no annotated person at OKS >= 0.5 (a detection matched to a crowd or
  unlabelled annotation is ignored, as COCO ignores it);
- *joint-angle errors*: for each included angle of :data:`ERROR_ANGLES` (elbows, knees, hips, shoulders from
  COCO-17 points) where all three points are annotated and placed, the absolute difference in degrees between
  the detection's angle and the annotation's.

pycocotools is needed for :func:`coco_ap` only (``pip install pycocotools``; in requirements-dev.txt).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import InvalidInputError
from .layouts import COCO17_KEYPOINTS

#: pycocotools' per-keypoint OKS sigmas (``COCOeval.Params(iouType="keypoints").kpt_oks_sigmas``), COCO-17 order.
OKS_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0

#: COCO-17 indices of the body joints: shoulders, elbows, wrists, hips, knees, ankles (the phantom rate's joints).
BODY_JOINTS: tuple[int, ...] = tuple(range(5, 17))

#: The included angles compared by :func:`angle_errors`: name and COCO-17 indices (end, vertex, end). The hip is
#: shoulder-hip-knee and the shoulder hip-shoulder-elbow on the same side (posekit.kinematics measures hips and
#: shoulders against the trunk's mid-line instead; COCO-17 has no neck or mid-hip).
ERROR_ANGLES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("left_elbow", (5, 7, 9)),
    ("right_elbow", (6, 8, 10)),
    ("left_knee", (11, 13, 15)),
    ("right_knee", (12, 14, 16)),
    ("left_hip", (5, 11, 13)),
    ("right_hip", (6, 12, 14)),
    ("left_shoulder", (11, 5, 7)),
    ("right_shoulder", (12, 6, 8)),
)

#: The per-joint OKS similarity at and above which a placed joint lies "within tolerance" of an annotated one.
TOLERANCE = 0.5

#: The OKS at and above which a detection matches an annotated person (COCO's loosest threshold, AP50's).
MATCH_OKS = 0.5


@dataclass(frozen=True)
class EvalImage:
    id: int
    path: Path
    width: int
    height: int


@dataclass
class EvalSet:
    """Annotated images with their ground truth as a COCO-17 keypoint dataset (a dict ready for pycocotools)."""

    name: str
    images: list[EvalImage]
    dataset: dict

    @property
    def num_people(self) -> int:
        return sum(1 for a in self.dataset["annotations"] if a["num_keypoints"] > 0)


def _to_coco17(ann: dict, names: Sequence[str]) -> dict:
    """One annotation with its keypoints re-ordered to COCO-17 (joints COCO lacks are dropped)."""
    src = {name: ann["keypoints"][3 * i: 3 * i + 3] for i, name in enumerate(names)}
    kp: list[float] = []
    for name in COCO17_KEYPOINTS:
        kp.extend(src.get(name, (0, 0, 0)))
    out = {k: v for k, v in ann.items() if k != "segmentation"}
    out["keypoints"] = kp
    out["num_keypoints"] = sum(1 for v in kp[2::3] if v > 0)
    if "area" not in out:  # CrowdPose: no segmentation area, the box stands in for it
        out["area"] = float(ann["bbox"][2] * ann["bbox"][3])
    out.setdefault("iscrowd", 0)
    return out


def load_eval_set(folder: str | Path) -> EvalSet:
    """The evaluation set in ``folder`` (one COCO-format keypoint JSON and its images), as COCO-17."""
    folder = Path(folder)
    files = sorted(folder.glob("*.json"))
    if len(files) != 1:
        raise InvalidInputError(f"{folder}: expected one COCO keypoint file (*.json), found {len(files)}")
    data = json.loads(files[0].read_text())
    categories = [c for c in data["categories"] if c.get("name") == "person"] or data["categories"][:1]
    names = list(categories[0]["keypoints"])
    unknown = [n for n in names if n not in COCO17_KEYPOINTS and n not in ("head", "neck")]
    if unknown:
        raise InvalidInputError(f"{files[0].name}: keypoints COCO-17 does not know: {', '.join(unknown)}")
    images = [EvalImage(int(im["id"]), folder / im["file_name"], int(im["width"]), int(im["height"]))
              for im in data["images"]]
    category = {**categories[0], "keypoints": list(COCO17_KEYPOINTS)}
    dataset = {
        "images": [{k: im[k] for k in ("id", "file_name", "width", "height")} for im in data["images"]],
        "annotations": [_to_coco17(a, names) for a in data["annotations"]],
        "categories": [category],
    }
    return EvalSet(folder.name, images, dataset)


def merge_eval_sets(sets: Sequence[EvalSet], name: str = "all") -> EvalSet:
    """One evaluation set of several (image and annotation ids must not collide)."""
    ids = [im.id for s in sets for im in s.images]
    if len(ids) != len(set(ids)):
        raise InvalidInputError("evaluation sets share image ids")
    dataset = {"images": [], "annotations": [], "categories": sets[0].dataset["categories"]}
    next_ann = 1
    for s in sets:
        dataset["images"] += copy.deepcopy(s.dataset["images"])
        for a in s.dataset["annotations"]:
            dataset["annotations"].append({**a, "id": next_ann})
            next_ann += 1
    return EvalSet(name, [im for s in sets for im in s.images], dataset)


def coco_ap(gt: EvalSet, results: Sequence[dict]) -> dict[str, float]:
    """COCO keypoint metrics of ``results`` (:func:`posekit.export.coco_results` dicts) against ``gt``:
    ``AP`` (OKS 0.50:0.95), ``AP50``, ``AP75``, ``AR`` (max 20 people). 0.0 when there is no result."""
    from pycocotools.coco import COCO  # noqa: PLC0415 - optional dependency
    from pycocotools.cocoeval import COCOeval  # noqa: PLC0415

    keys = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
    ids = {im.id for im in gt.images}
    results = [r for r in results if r["image_id"] in ids]
    if not results:
        return dict.fromkeys(keys, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt.dataset)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(list(results)))
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.imgIds = sorted(ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    # -1 means "no ground truth in this range" (e.g. no medium-sized person): report 0 rather than -1.
    return {k: max(float(v), 0.0) for k, v in zip(keys, ev.stats)}


# --- what AP cannot see (issue 21) ---------------------------------------------------------------------------

def _points(keypoints) -> np.ndarray:
    """COCO ``[x, y, v] * 17`` (flat or (17, 3)) as a (17, 3) float array."""
    kp = np.asarray(keypoints, np.float64).reshape(-1, 3)
    if kp.shape[0] != len(COCO17_KEYPOINTS):
        raise ValueError(f"expected {len(COCO17_KEYPOINTS)} COCO-17 keypoints, got {kp.shape[0]}")
    return kp


def is_ignored(ann: dict) -> bool:
    """Whether COCO's keypoint evaluation ignores this annotation: a crowd, or a person with no keypoint."""
    if ann.get("iscrowd", 0):
        return True
    n = ann.get("num_keypoints")
    return (int(np.count_nonzero(_points(ann["keypoints"])[:, 2] > 0)) if n is None else n) == 0


def oks_matrix(detections: Sequence, annotations: Sequence[dict]) -> np.ndarray:
    """Object keypoint similarity of each detection (``[x, y, v] * 17``) with each annotation, (D, G), exactly
    as pycocotools' ``COCOeval.computeOks``: every one of the detection's 17 points counts (a missing one is at
    its written ``0, 0``), averaged over the annotation's labelled joints (``v > 0``) with the annotation's
    ``area`` as the squared scale; for an annotation with no labelled joint, the distance of each point outside
    the annotation's box grown to three times its width and height."""
    dets = np.stack([_points(d) for d in detections]) if len(detections) else np.zeros((0, 17, 3))
    out = np.zeros((len(dets), len(annotations)))
    var = (2 * OKS_SIGMAS) ** 2
    for j, ann in enumerate(annotations):
        g = _points(ann["keypoints"])
        labelled = g[:, 2] > 0
        if labelled.any():
            dx, dy = dets[:, :, 0] - g[:, 0], dets[:, :, 1] - g[:, 1]
        else:
            bx, by, bw, bh = ann["bbox"]
            x0, x1, y0, y1 = bx - bw, bx + 2 * bw, by - bh, by + 2 * bh
            dx = np.maximum(0, x0 - dets[:, :, 0]) + np.maximum(0, dets[:, :, 0] - x1)
            dy = np.maximum(0, y0 - dets[:, :, 1]) + np.maximum(0, dets[:, :, 1] - y1)
        e = (dx ** 2 + dy ** 2) / var / (ann["area"] + np.spacing(1)) / 2
        if labelled.any():
            e = e[:, labelled]
        out[:, j] = np.exp(-e).mean(axis=1) if len(dets) else 0.0
    return out


def match_people(detections: Sequence, scores: Sequence[float], annotations: Sequence[dict],
                 threshold: float = MATCH_OKS) -> list[int | None]:
    """COCO's greedy matching at one OKS threshold (``COCOeval.evaluateImg``), for one image.

    Detections are taken by decreasing score (ties in the given order); each takes the annotation it has the
    highest OKS with (>= ``threshold``) among those not yet taken (a crowd can be taken again), preferring any
    annotated person to an ignored annotation (:func:`is_ignored`). Unlike ``COCOeval`` no detection is left
    out past the 20 best. Returns, per detection in the given order, the index of its annotation in
    ``annotations`` or None.
    """
    if not len(detections) or not len(annotations):
        return [None] * len(detections)
    ignored = np.array([is_ignored(a) for a in annotations])
    crowd = [bool(a.get("iscrowd", 0)) for a in annotations]
    gorder = np.argsort(ignored, kind="mergesort")  # annotated people first, ignored last
    oks = oks_matrix(detections, annotations)
    taken = np.zeros(len(annotations), bool)
    match: list[int | None] = [None] * len(detections)
    for d in np.argsort(-np.asarray(scores, np.float64), kind="mergesort"):
        best, m = min(threshold, 1 - 1e-10), None
        for g in gorder:
            if taken[g] and not crowd[g]:
                continue
            if m is not None and not ignored[m] and ignored[g]:
                break
            if oks[d, g] < best:
                continue
            best, m = oks[d, g], int(g)
        if m is not None:
            match[d] = m
            taken[m] = True
    return match


def keypoint_similarity(detection, annotation: dict) -> np.ndarray:
    """Per-joint OKS similarity of a detection's points with an annotation's, (17,): ``exp(-d² / (2 s² k²))``
    with ``d`` the distance, ``s² = area`` and ``k = 2 sigma`` (COCO's OKS before averaging). NaN where the
    detection places no point (``v = 0``) or the annotation has none."""
    det, ann = _points(detection), _points(annotation["keypoints"])
    d2 = ((det[:, :2] - ann[:, :2]) ** 2).sum(axis=1)
    ks = np.exp(-d2 / (2 * (2 * OKS_SIGMAS) ** 2 * (annotation["area"] + np.spacing(1))))
    ks[(det[:, 2] <= 0) | (ann[:, 2] <= 0)] = np.nan
    return ks


def phantom_joints(detection, annotation: dict, joints: Sequence[int] = BODY_JOINTS) -> np.ndarray:
    """Bool (17,): the ``joints`` the detection places (``v > 0``) where its matched person's annotation has
    none (``v = 0``: outside the picture or unknowable). Other joints are False."""
    det, ann = _points(detection), _points(annotation["keypoints"])
    out = np.zeros(len(det), bool)
    j = np.asarray(joints, int)
    out[j] = (det[j, 2] > 0) & (ann[j, 2] <= 0)
    return out


def borrowed_joints(detection, own: dict, others: Sequence[dict], tolerance: float = TOLERANCE) -> np.ndarray:
    """Bool (17,): the joints the detection places within tolerance (:func:`keypoint_similarity` >=
    ``tolerance``, each annotation's own area as its scale) of the same joint of one of ``others`` (the other
    annotated people of the image) and not within tolerance of its own person's (``own``; a joint ``own`` lacks
    is not within tolerance of it)."""
    near_own = np.nan_to_num(keypoint_similarity(detection, own), nan=0.0) >= tolerance
    near_other = np.zeros(len(near_own), bool)
    for other in others:
        near_other |= np.nan_to_num(keypoint_similarity(detection, other), nan=0.0) >= tolerance
    return near_other & ~near_own


def included_angles(keypoints) -> np.ndarray:
    """The included angles of :data:`ERROR_ANGLES` (degrees, 0-180), (8,): NaN where one of the three points is
    missing (``v = 0``) or a side has no length."""
    kp = _points(keypoints)
    out = np.full(len(ERROR_ANGLES), np.nan)
    for i, (_, (a, o, b)) in enumerate(ERROR_ANGLES):
        if kp[a, 2] <= 0 or kp[o, 2] <= 0 or kp[b, 2] <= 0:
            continue
        u, v = kp[a, :2] - kp[o, :2], kp[b, :2] - kp[o, :2]
        nu, nv = np.hypot(*u), np.hypot(*v)
        if nu == 0 or nv == 0:
            continue
        out[i] = math.degrees(math.acos(float(np.clip(np.dot(u, v) / (nu * nv), -1.0, 1.0))))
    return out


def angle_errors(detection, annotation: dict) -> np.ndarray:
    """|detected - annotated| included angle (degrees) for each of :data:`ERROR_ANGLES`, (8,): NaN unless all
    three points are annotated and placed."""
    return np.abs(included_angles(detection) - included_angles(annotation["keypoints"]))


@dataclass
class JointErrors:
    """What COCO's AP does not see, summed over images (see the module's docstring). Add two with ``+``."""

    #: Annotated people (not ignored), detections, and detections matched to an annotated person at OKS >= 0.5.
    people: int = 0
    detections: int = 0
    matched: int = 0
    #: Detections matched to a crowd or unlabelled annotation (ignored, as COCO ignores them).
    ignored: int = 0
    #: Detections matching nobody: ``detections - matched - ignored``.
    false_people: int = 0
    #: Body joints placed by matched detections, and those of them where the annotation has none.
    body_joints: int = 0
    phantoms: int = 0
    #: Joints (all 17 kinds) placed by matched detections, and those of them borrowed from another person.
    joints: int = 0
    borrowed: int = 0
    #: One joint-angle error (degrees) per angle measurable on both a matched detection and its annotation.
    angle_errors: list[float] = field(default_factory=list)

    def __add__(self, other: JointErrors) -> JointErrors:
        return JointErrors(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})

    @property
    def phantom_rate(self) -> float:
        """``phantoms / body_joints`` (NaN when no matched detection places a body joint)."""
        return self.phantoms / self.body_joints if self.body_joints else math.nan

    @property
    def angle_error_median(self) -> float:
        return float(np.median(self.angle_errors)) if self.angle_errors else math.nan

    @property
    def angle_error_p90(self) -> float:
        """The 90th percentile (numpy's linear interpolation) of the joint-angle errors."""
        return float(np.percentile(self.angle_errors, 90)) if self.angle_errors else math.nan


def image_errors(annotations: Sequence[dict], results: Sequence[dict]) -> JointErrors:
    """:class:`JointErrors` of one image: its annotations (COCO-17) and its results
    (:func:`posekit.export.coco_results` dicts)."""
    dets = [r["keypoints"] for r in results]
    match = match_people(dets, [r["score"] for r in results], annotations)
    people = [i for i, a in enumerate(annotations) if not is_ignored(a)]
    out = JointErrors(people=len(people), detections=len(dets))
    for det, m in zip(dets, match):
        if m is None:
            out.false_people += 1
            continue
        if is_ignored(annotations[m]):
            out.ignored += 1
            continue
        own = annotations[m]
        placed = _points(det)[:, 2] > 0
        out.matched += 1
        out.body_joints += int(placed[list(BODY_JOINTS)].sum())
        out.phantoms += int(phantom_joints(det, own).sum())
        out.joints += int(placed.sum())
        out.borrowed += int(borrowed_joints(det, own, [annotations[i] for i in people if i != m]).sum())
        err = angle_errors(det, own)
        out.angle_errors += [float(e) for e in err[~np.isnan(err)]]
    return out


def joint_errors(gt: EvalSet, results: Sequence[dict]) -> JointErrors:
    """:class:`JointErrors` of ``results`` (:func:`posekit.export.coco_results` dicts) on the images of ``gt``
    (results on other images are left out), summed image by image."""
    anns, dets = defaultdict(list), defaultdict(list)
    for a in gt.dataset["annotations"]:
        anns[a["image_id"]].append(a)
    for r in results:
        dets[r["image_id"]].append(r)
    total = JointErrors()
    for im in gt.images:
        total = total + image_errors(anns[im.id], dets[im.id])
    return total


__all__ = [
    "BODY_JOINTS", "ERROR_ANGLES", "MATCH_OKS", "OKS_SIGMAS", "TOLERANCE", "EvalImage", "EvalSet", "JointErrors",
    "angle_errors", "borrowed_joints", "coco_ap", "image_errors", "included_angles", "is_ignored", "joint_errors",
    "keypoint_similarity", "load_eval_set", "match_people", "merge_eval_sets", "oks_matrix", "phantom_joints",
]
