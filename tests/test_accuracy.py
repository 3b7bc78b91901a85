"""posekit.accuracy: COCO OKS AP on the annotated photos of ../shared/eval, scored by pycocotools."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED
from posekit.accuracy import coco_ap, load_eval_set, merge_eval_sets
from posekit.errors import InvalidInputError
from posekit.export import coco_results
from posekit.imageio import load_image

EVAL = SHARED / "eval"


@pytest.fixture(scope="module")
def sets():
    return [load_eval_set(EVAL / "coco"), load_eval_set(EVAL / "crowdpose")]


def _gt_as_results(s, jitter: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    results = []
    for a in s.dataset["annotations"]:
        if a["num_keypoints"] == 0:
            continue
        kp = np.array(a["keypoints"], np.float64).reshape(17, 3)
        size = np.sqrt(a["area"])
        kp[:, :2] += rng.normal(0, jitter * size, (17, 2)) * (kp[:, 2:] > 0)
        results.append({"image_id": a["image_id"], "category_id": 1, "keypoints": kp.ravel().tolist(),
                        "score": 1.0})
    return results


def test_eval_sets_load_as_coco17(sets):
    coco, crowd = sets
    assert (len(coco.images), coco.num_people) == (4, 12)
    assert (len(crowd.images), crowd.num_people) == (2, 4)
    assert all(im.path.is_file() for s in sets for im in s.images)
    for a in crowd.dataset["annotations"]:  # CrowdPose: face joints unannotated, body joints in COCO order
        kp = np.array(a["keypoints"]).reshape(17, 3)
        assert (kp[:5] == 0).all() and a["area"] > 0
    # CrowdPose's first joint (left_shoulder at 208, 108 in the file's second slot: right_shoulder) lands on
    # COCO's right_shoulder (index 6).
    first = crowd.dataset["annotations"][0]
    assert first["keypoints"][6 * 3: 6 * 3 + 2] == [208, 108]


def test_ground_truth_scores_one_and_noise_lowers_it(sets):
    gt = merge_eval_sets(sets)
    assert gt.num_people == 16
    assert coco_ap(gt, _gt_as_results(gt))["AP"] == pytest.approx(1.0)
    aps = [coco_ap(gt, _gt_as_results(gt, jitter))["AP"] for jitter in (0.02, 0.05, 0.1)]
    assert 1.0 > aps[0] > aps[1] > aps[2]
    assert coco_ap(gt, [])["AP"] == 0.0


def test_estimator_results_are_scored(sets, estimator):
    """The default estimator's people on the COCO photos, through export.coco_results: a real AP, and each
    image's people are all found (AP50 well above chance)."""
    coco = sets[0]
    results = []
    for im in coco.images:
        results += coco_results(estimator.estimate(load_image(im.path)), im.id)
    m = coco_ap(coco, results)
    assert m["AP50"] > 0.8 and 0.3 < m["AP"] < 1.0


def test_the_second_chance_adds_annotated_joints_and_keeps_the_rest(sets, estimator):
    """On the annotated photos, the grouping's second chance (posekit.grouping.extend) keeps every person
    and every keypoint OpenPose's grouping found, and each joint it adds lies where an annotator put that
    joint on someone (within a quarter of the person's size)."""
    added = []
    for s in sets:
        for im in s.images:
            inf = estimator.infer(load_image(im.path))
            before, after = inf.decode(extend=False), inf.decode()
            assert len(after) == len(before)
            anns = [a for a in s.dataset["annotations"] if a["image_id"] == im.id and a["num_keypoints"] > 0]
            for b in before:
                found = b.keypoints[:, 2] > 0
                (a,) = [a for a in after if np.array_equal(a.keypoints[found], b.keypoints[found])]
                for k in np.flatnonzero(~found & (a.keypoints[:, 2] > 0)):
                    if k not in a.spec.coco17:
                        continue
                    j = a.spec.coco17.index(k)
                    d = [np.hypot(*(np.array(g["keypoints"][3 * j: 3 * j + 2]) - a.keypoints[k, :2]))
                         / np.sqrt(g["area"]) for g in anns if g["keypoints"][3 * j + 2] > 0]
                    added.append(min(d, default=np.inf))
    assert len(added) >= 3
    assert max(added) < 0.25, added


def test_a_folder_without_one_keypoint_file_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="expected one COCO keypoint file"):
        load_eval_set(tmp_path)
