"""posekit.accuracy: COCO OKS AP on the annotated photos of ../shared/eval, scored by pycocotools, and what AP
cannot see (phantom and borrowed joints, false people, joint-angle errors: issue 21)."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import pytest

from posekit.accuracy import (
    BODY_JOINTS,
    ERROR_ANGLES,
    OKS_SIGMAS,
    JointErrors,
    angle_errors,
    borrowed_joints,
    coco_ap,
    image_errors,
    included_angles,
    is_ignored,
    joint_errors,
    load_eval_set,
    match_people,
    merge_eval_sets,
    oks_matrix,
    phantom_joints,
)
from posekit.errors import InvalidInputError
from posekit.export import coco_results
from posekit.imageio import load_image
from posekit.layouts import COCO17_KEYPOINTS

from conftest import SHARED

EVAL = SHARED / "eval"


@pytest.fixture(scope="module")
def sets():
    return [load_eval_set(EVAL / "coco"), load_eval_set(EVAL / "crowdpose")]


@pytest.fixture(scope="module")
def all_sets():
    """The four sets, in the bench's order (folder names sorted)."""
    return [load_eval_set(p) for p in sorted(EVAL.iterdir()) if p.is_dir()]


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


def test_the_four_sets_load(all_sets):
    """coco, crowdpose, jhmdb, mhp: 23 people in 11 photos; mhp and jhmdb have the 12 body joints only."""
    assert [(s.name, len(s.images), s.num_people) for s in all_sets] == [
        ("coco", 4, 12), ("crowdpose", 2, 4), ("jhmdb", 3, 3), ("mhp", 2, 4)]
    assert merge_eval_sets(all_sets).num_people == 23
    for s in all_sets[2:]:
        for a in s.dataset["annotations"]:
            kp = np.array(a["keypoints"]).reshape(17, 3)
            assert (kp[:5] == 0).all() and a["area"] > 0 and (kp[5:, 2] > 0).sum() == a["num_keypoints"]


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


# --- what AP cannot see (issue 21): synthetic people ----------------------------------------------------------

#: A person facing the camera, COCO-17 order (x, y): face, shoulders, elbows, wrists, hips, knees, ankles.
BODY = np.array([(100, 40), (104, 36), (96, 36), (108, 38), (92, 38), (115, 60), (85, 60), (120, 90), (80, 90),
                 (122, 120), (78, 120), (110, 120), (90, 120), (111, 160), (89, 160), (112, 200), (88, 200)],
                np.float64)
AREA = 6000.0


def _ann(dx: float = 0.0, missing=(), ann_id: int = 1, points=None, **extra) -> dict:
    """An annotation of BODY shifted by ``dx``, with the joints ``missing`` unannotated (v = 0)."""
    kp = np.zeros((17, 3))
    kp[:, :2] = (BODY if points is None else points) + (dx, 0)
    kp[:, 2] = 2
    kp[list(missing)] = 0
    xs, ys = kp[kp[:, 2] > 0, 0], kp[kp[:, 2] > 0, 1]
    bbox = [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))] if len(xs) else [0, 0, 0, 0]
    return {"id": ann_id, "image_id": 1, "category_id": 1, "keypoints": kp.ravel().tolist(), "area": AREA,
            "bbox": bbox, "iscrowd": 0, "num_keypoints": int((kp[:, 2] > 0).sum()), **extra}


def _det(dx: float = 0.0, missing=(), moved=None, score: float = 0.9, points=None) -> dict:
    """A detection (coco_results dict) of BODY shifted by ``dx``: ``missing`` joints not placed (0, 0, 0),
    ``moved`` {joint: (x, y)} placed elsewhere."""
    kp = np.zeros((17, 3))
    kp[:, :2] = (BODY if points is None else points) + (dx, 0)
    kp[:, 2] = 1
    for j, xy in (moved or {}).items():
        kp[j, :2] = xy
    kp[list(missing)] = 0
    return {"image_id": 1, "category_id": 1, "keypoints": kp.ravel().tolist(), "score": score}


NAMES = list(COCO17_KEYPOINTS)
ANKLES = [NAMES.index("left_ankle"), NAMES.index("right_ankle")]
R_WRIST, L_WRIST, R_ELBOW, NOSE = (NAMES.index(n) for n in ("right_wrist", "left_wrist", "right_elbow", "nose"))


def test_oks_sigmas_and_body_joints_are_cocos():
    from pycocotools.cocoeval import Params

    assert np.allclose(OKS_SIGMAS, Params(iouType="keypoints").kpt_oks_sigmas)
    assert [NAMES[j] for j in BODY_JOINTS] == list(COCO17_KEYPOINTS[5:])
    assert NAMES[BODY_JOINTS[0]] == "left_shoulder" and NAMES[BODY_JOINTS[-1]] == "right_ankle"


def test_a_joint_placed_where_the_annotation_has_none_is_a_phantom():
    """The annotation has no ankles (photographed down to the knees); a detection that places them has two
    phantoms of its 12 body joints. A face joint placed where none is annotated is not a body joint."""
    ann = _ann(missing=ANKLES + [NOSE])
    det = _det()
    assert phantom_joints(det["keypoints"], ann).sum() == 2
    assert np.flatnonzero(phantom_joints(det["keypoints"], ann)).tolist() == ANKLES
    e = image_errors([ann], [det])
    assert (e.matched, e.body_joints, e.phantoms) == (1, 12, 2)
    assert e.phantom_rate == pytest.approx(2 / 12)
    # Control: the same person without the ankles placed has none.
    e = image_errors([ann], [_det(missing=ANKLES)])
    assert (e.matched, e.body_joints, e.phantoms, e.phantom_rate) == (1, 10, 0, 0.0)
    # A phantom counts only on a matched detection: an unmatched one's joints are not counted.
    e = image_errors([ann], [_det(dx=400)])
    assert (e.matched, e.false_people, e.body_joints, e.phantoms) == (0, 1, 0, 0)
    assert np.isnan(e.phantom_rate)


def test_a_joint_on_a_neighbours_joint_is_borrowed():
    """Two people 60 px apart; the left one's detection puts its right wrist on the right one's right wrist:
    one borrowed joint. On its own wrist, or half way between the two (near nobody), none."""
    a, b = _ann(0, ann_id=1), _ann(60, ann_id=2)
    theirs = tuple(BODY[R_WRIST] + (60, 0))
    det = _det(moved={R_WRIST: theirs})
    assert borrowed_joints(det["keypoints"], a, [b]).tolist() == [j == R_WRIST for j in range(17)]
    e = image_errors([a, b], [det, _det(60, score=0.8)])
    assert (e.matched, e.joints, e.borrowed) == (2, 34, 1)
    assert image_errors([a, b], [_det(), _det(60, score=0.8)]).borrowed == 0
    halfway = _det(moved={R_WRIST: tuple(BODY[R_WRIST] + (30, 0))})
    assert not borrowed_joints(halfway["keypoints"], a, [b]).any()
    # A joint its own person lacks, placed on the neighbour's: borrowed (and a phantom).
    a_no_wrist = _ann(0, missing=[R_WRIST], ann_id=1)
    e = image_errors([a_no_wrist, b], [det])
    assert (e.borrowed, e.phantoms) == (1, 1)
    # Another kind of joint nearby is not "the same kind": the left wrist put on the neighbour's right wrist.
    other_kind = _det(moved={L_WRIST: theirs})
    assert not borrowed_joints(other_kind["keypoints"], a, [b]).any()


def test_a_detection_that_matches_nobody_is_a_false_person():
    """Two annotated people, three detections: the third (a few joints far from anyone) is one false person.
    One on an unlabelled annotation (no keypoints: ignored, as COCO ignores it) is not false."""
    a, b = _ann(0, ann_id=1), _ann(60, ann_id=2)
    stray = _det(300, missing=range(9), score=0.15)  # hips, knees, ankles, wrists of nobody
    e = image_errors([a, b], [_det(), _det(60, score=0.8), stray])
    assert (e.people, e.detections, e.matched, e.ignored, e.false_people) == (2, 3, 2, 0, 1)
    assert image_errors([a, b], [_det(), _det(60, score=0.8)]).false_people == 0
    # Two detections of one person: the lower-scored one matches nobody else, so it is false.
    e = image_errors([a], [_det(), _det(2, score=0.5)])
    assert (e.matched, e.false_people) == (1, 1)
    # Unlabelled (num_keypoints 0) annotation with a box around the stray: the stray is ignored, not false.
    unlabelled = _ann(300, missing=range(17), ann_id=3)
    unlabelled["bbox"] = [370.0, 30.0, 60.0, 180.0]
    assert is_ignored(unlabelled) and not is_ignored(a)
    whole = _det(300, score=0.15)  # all 17 points: COCO's OKS counts a missing one at (0, 0), far off the box
    e = image_errors([a, b, unlabelled], [_det(), _det(60, score=0.8), whole])
    assert (e.people, e.matched, e.ignored, e.false_people) == (2, 2, 1, 0)
    assert image_errors([a, b, unlabelled], [_det(), _det(60, score=0.8), stray]).false_people == 1


def test_joint_angle_error_in_degrees():
    """Right arm: shoulder above elbow, forearm horizontal (90°). The detection's wrist turned 30° down about
    the elbow (120°): a right-elbow error of 30°, every other angle 0. An angle needs its three points
    annotated and placed."""
    pts = BODY.copy()
    pts[NAMES.index("right_shoulder")] = (85, 60)
    pts[R_ELBOW] = (85, 90)
    pts[R_WRIST] = (115, 90)
    ann = _ann(points=pts)
    turned = pts[R_ELBOW] + 30 * np.array([np.cos(np.radians(30)), np.sin(np.radians(30))])
    det = _det(points=pts, moved={R_WRIST: tuple(turned)})
    names = [n for n, _ in ERROR_ANGLES]
    assert included_angles(ann["keypoints"])[names.index("right_elbow")] == pytest.approx(90)
    assert included_angles(det["keypoints"])[names.index("right_elbow")] == pytest.approx(120)
    err = angle_errors(det["keypoints"], ann)
    assert err[names.index("right_elbow")] == pytest.approx(30)
    assert np.delete(err, names.index("right_elbow")) == pytest.approx(np.zeros(7), abs=1e-9)
    e = image_errors([ann], [det])
    assert len(e.angle_errors) == 8 and max(e.angle_errors) == pytest.approx(30)
    assert e.angle_error_median == pytest.approx(0, abs=1e-9)
    assert e.angle_error_p90 == pytest.approx(np.percentile([0] * 7 + [30], 90))  # 9°: linear interpolation
    # Hip = shoulder-hip-knee, shoulder = hip-shoulder-elbow, from the annotation's own points.
    lh = included_angles(ann["keypoints"])[names.index("left_hip")]
    u, v = BODY[5] - BODY[11], BODY[13] - BODY[11]
    assert lh == pytest.approx(np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v))))
    # The left knee unannotated, or the right ankle not placed: those angles (and only those) are not counted.
    e = image_errors([_ann(points=pts, missing=[NAMES.index("left_knee")])],
                     [_det(points=pts, missing=[NAMES.index("right_ankle")])])
    assert len(e.angle_errors) == 8 - 2 - 1  # left knee and left hip; right knee


def test_oks_and_matching_are_pycocotools(sets):
    """oks_matrix is COCOeval.computeOks and match_people is COCOeval's matching at OKS 0.5, on the eval photos
    (with an unlabelled person) and noisy ground truth as detections: missing joints, shuffled scores, and
    duplicates (which match nobody: false people)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = merge_eval_sets(sets)
    rng = np.random.default_rng(1)
    results = _gt_as_results(gt, 0.08, seed=2)
    for r in results:
        kp = np.array(r["keypoints"]).reshape(17, 3)
        kp[rng.random(17) < 0.2] = 0
        r["keypoints"] = kp.ravel().tolist()
        r["score"] = float(rng.random())
    results += [{**r, "score": r["score"] / 2} for r in results[::3]]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt.dataset)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(results)), "keypoints")
        ev.evaluate()
    assert any(is_ignored(a) for a in gt.dataset["annotations"])
    checked = false = 0
    for ev_img in ev.evalImgs:
        if ev_img is None or ev_img["aRng"] != ev.params.areaRng[0]:
            continue
        key = (ev_img["image_id"], 1)
        anns = ev._gts[key]
        dts = [ev._dts[key][i] for i in np.argsort([-d["score"] for d in ev._dts[key]], kind="mergesort")]
        assert [d["id"] for d in dts] == ev_img["dtIds"]
        if len(anns):
            assert np.allclose(oks_matrix([d["keypoints"] for d in dts], anns), ev.ious[key])
        match = match_people([d["keypoints"] for d in dts], [d["score"] for d in dts], anns)
        expected = [int(m) or None for m in ev_img["dtMatches"][0]]  # iouThrs[0] = 0.5; 0 = unmatched
        assert [None if m is None else anns[m]["id"] for m in match] == expected
        checked += len(dts)
        false += sum(m is None for m in match)
    assert checked == len(results) and false >= 4


def test_ground_truth_has_no_phantom_borrowed_joint_or_false_person(all_sets):
    """By construction: the annotations themselves, given as detections, match every annotated person and
    place no joint the annotation lacks, none near another person and not its own, and no angle error."""
    gt = merge_eval_sets(all_sets)
    e = joint_errors(gt, _gt_as_results(gt))
    assert (e.people, e.detections, e.matched, e.false_people) == (23, 23, 23, 0)
    assert (e.phantoms, e.borrowed) == (0, 0) and e.body_joints > 200
    assert len(e.angle_errors) > 100 and max(e.angle_errors) == pytest.approx(0, abs=1e-9)


def test_first_stage_errors_on_the_eval_set_add_up(all_sets, estimator):
    """The default first stage on the four sets: the counts are consistent (each detection matched, ignored or
    false; no more matches than people; phantoms among placed body joints; the sets add up to all of them), and
    match COCO's own matching at OKS 0.5 (AP50's true positives)."""
    gt = merge_eval_sets(all_sets)
    results = [r for im in gt.images for r in coco_results(estimator.estimate(load_image(im.path)), im.id)]
    total = joint_errors(gt, results)
    parts = [joint_errors(s, results) for s in all_sets]
    assert sum(parts, JointErrors()) == total
    for e in [total, *parts]:
        assert e.detections == e.matched + e.ignored + e.false_people
        assert e.matched <= e.people
        assert 0 <= e.phantoms <= e.body_joints <= e.joints and 0 <= e.borrowed <= e.joints
        assert len(e.angle_errors) <= len(ERROR_ANGLES) * e.matched
        assert all(0 <= a <= 180 for a in e.angle_errors)
    assert total.people == 23 and total.detections == len(results) and total.matched > 0
    placed = sum(np.count_nonzero(np.array(r["keypoints"]).reshape(17, 3)[BODY_JOINTS, 2] > 0) for r in results)
    assert total.body_joints <= placed
