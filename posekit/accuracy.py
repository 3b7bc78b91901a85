"""Keypoint accuracy: COCO OKS AP of posekit's results on annotated photos (pycocotools).

An *evaluation set* is a folder with one COCO-format keypoint file (``*.json``) and the images it names, like
``../shared/eval/coco`` (COCO-17) or ``../shared/eval/crowdpose`` (CrowdPose-14). CrowdPose's 12 body joints are
mapped onto COCO-17's body joints and its face is left unannotated (``v = 0``), so both are scored with COCO's
OKS and its per-joint sigmas; its people have no segmentation area, so the box area stands in for it. People
annotated with no keypoint are ignored (as COCO ignores them).

>>> sets = [load_eval_set(p) for p in sorted(Path("../shared/eval").iterdir()) if p.is_dir()]
>>> gt = merge_eval_sets(sets)
>>> results = [r for img in gt.images for r in coco_results(est.estimate(load_image(img.path)), img.id)]
>>> coco_ap(gt, results)["AP"]

pycocotools is needed here only (``pip install pycocotools``; in requirements-dev.txt).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import InvalidInputError
from .layouts import COCO17_KEYPOINTS

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
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

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


__all__ = ["EvalImage", "EvalSet", "coco_ap", "load_eval_set", "merge_eval_sets"]
