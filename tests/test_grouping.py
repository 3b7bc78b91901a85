"""Multi-person decoding (posekit.grouping): synthetic maps with known answers, then the real network outputs
stored in ../shared/reference (the exact TFLite outputs of the 0.5 and 1.4 models for p3 and apink2)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posekit import grouping
from posekit.errors import InvalidInputError
from posekit.grouping import decode, find_peaks, score_limb, similar_limbs, tree_limbs
from posekit.layouts import BODY25, COCO18, MPI15
from posekit.testing import standing_person, synthetic_output

from conftest import REFERENCE

STRIDE = 8  # reference outputs: 368x432 input, 46x54 output


def _match(poses, truth, key="Neck"):
    """Pair each true person with the decoded pose whose ``key`` keypoint is nearest (one-to-one)."""
    i = COCO18.index(key)
    out = []
    for t in truth:
        d = [np.hypot(*(p.keypoints[i, :2] - t[i, :2])) if p.keypoints[i, 2] > 0 else np.inf for p in poses]
        out.append(poses[int(np.argmin(d))])
    assert len({id(p) for p in out}) == len(truth), "two true people matched the same decoded pose"
    return out


def _assert_same_person(pose, truth, tol=0.2):
    present = truth[:, 2] > 0
    np.testing.assert_array_equal(pose.keypoints[:, 2] > 0, present)
    err = np.abs(pose.keypoints[present, :2] - truth[present, :2]).max()
    assert err <= tol, f"keypoint off by {err:.3f} cells"


def _assert_decoded_as(truth):
    """Decoding the synthetic maps of ``truth`` gives exactly those people, each joint where it was drawn."""
    poses = decode(synthetic_output(truth), COCO18)
    assert len(poses) == len(truth)
    for pose, t in zip(_match(poses, truth), truth):
        _assert_same_person(pose, t)


# ------------------------------------------------------------------------------------------------ peaks


@settings(max_examples=40, deadline=None)
@given(
    x=st.floats(1.0, 52.0), y=st.floats(1.0, 44.0), amp=st.floats(0.3, 1.0), sigma=st.floats(0.7, 2.0)
)
def test_find_peaks_subpixel_gaussian(x, y, amp, sigma):
    ys, xs = np.mgrid[0:46, 0:54].astype(np.float32)
    hm = amp * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
    (peaks,) = find_peaks(hm[None].astype(np.float32), 0.1)
    assert peaks.shape == (1, 3)
    assert abs(peaks[0, 0] - x) < 0.02 and abs(peaks[0, 1] - y) < 0.02
    assert peaks[0, 2] == pytest.approx(hm.max())


def test_find_peaks_threshold_plateau_and_order():
    hm = np.zeros((2, 20, 20), np.float32)
    hm[0, 5, 5] = 0.9
    hm[0, 12, 14] = 0.5
    hm[0, 17, 3] = 0.05  # below the threshold
    hm[1, 8, 8:10] = 0.7  # a two-cell plateau is one peak
    p0, p1 = find_peaks(hm, 0.1)
    assert p0[:, 2].tolist() == pytest.approx([0.9, 0.5])  # by descending score
    assert p0[:, :2].tolist() == [[5, 5], [14, 12]]  # x, y: an isolated cell has no sub-cell offset
    assert len(p1) == 1 and p1[0, 1] == 8 and 8 <= p1[0, 0] <= 9
    assert [len(p) for p in find_peaks(np.zeros((3, 10, 10), np.float32), 0.1)] == [0, 0, 0]


def test_find_peaks_nan_is_ignored():
    hm = np.zeros((1, 10, 10), np.float32)
    hm[0, 2, 2] = np.nan
    hm[0, 6, 6] = 0.8
    (p,) = find_peaks(hm, 0.1)
    assert p[:, :2].tolist() == [[6, 6]]


# ------------------------------------------------------------------------------------------------ limbs


def test_score_limb_follows_the_field_direction():
    out = synthetic_output([standing_person(25, 10)])
    cx, cy = COCO18.paf_channels[COCO18.limbs.index((1, 8))]  # neck -> right hip
    neck = np.array([[25, 10, 1]], np.float32)
    hip = np.array([[23, 19, 1]], np.float32)
    far = np.array([[45, 19, 1]], np.float32)
    assert score_limb(neck, hip, out[cx], out[cy])[0, 0] > 0.9
    assert score_limb(hip, neck, out[cx], out[cy])[0, 0] == -np.inf  # against the field
    assert score_limb(neck, far, out[cx], out[cy])[0, 0] == -np.inf  # off the limb


def test_tree_limbs_marks_loop_closing_links():
    assert np.flatnonzero(~tree_limbs(COCO18)).tolist() == [17, 18]  # the ear-shoulder links
    assert np.flatnonzero(~tree_limbs(BODY25)).tolist() == [18, 19]
    assert tree_limbs(MPI15).all()


# ------------------------------------------------------------------------------------------------ decode


def test_one_person_recovered_exactly():
    truth = standing_person(26.3, 11.7, height=26)
    poses = decode(synthetic_output([truth]), COCO18)
    assert len(poses) == 1
    _assert_same_person(poses[0], truth)
    kp = poses[0].keypoints
    assert ((kp[:, 2] > 0.5) & (kp[:, 2] <= 1)).all()
    assert 0.8 < poses[0].score <= 1.0
    assert poses[0].layout == "COCO-18"


def test_ten_people():
    truth = [standing_person(5 + (i % 5) * 10.4, 7.3 + (i // 5) * 21.1, height=17) for i in range(10)]
    _assert_decoded_as(truth)


def _facing_away(person):
    """The same person seen from behind: mirrored about the neck, so the left joints are on the image left."""
    p = person.copy()
    p[:, 0] = 2 * p[COCO18.index("Neck"), 0] - p[:, 0]
    return p


def test_crossing_arms_are_not_merged():
    # Two people side by side, the right one seen from behind, so both left arms reach into the gap between
    # them and the two left forearms cross in an X: the elbow of each is closer to the other's wrist.
    a = standing_person(16, 12, height=26)
    b = _facing_away(standing_person(32, 12, height=26))
    a[COCO18.index("LElbow")] = (22, 17, 1)
    a[COCO18.index("LWrist")] = (29, 9, 1)
    b[COCO18.index("LElbow")] = (26, 17, 1)
    b[COCO18.index("LWrist")] = (19, 9, 1)
    _assert_decoded_as([a, b])


def test_close_parallel_limbs_go_to_the_best_match():
    # Two people so close that their parallel forearms are 2 cells apart: the wrong elbow-wrist pairings
    # also follow a field, only less well; the greedy matching must take the best pairs first.
    a = standing_person(20, 12, height=26)
    b = _facing_away(standing_person(30, 12, height=26))
    a[COCO18.index("LElbow")] = (24, 17, 1)
    a[COCO18.index("LWrist")] = (24, 25, 1)
    b[COCO18.index("LElbow")] = (26, 17, 1)
    b[COCO18.index("LWrist")] = (26, 25, 1)
    _assert_decoded_as([a, b])


def test_missing_joints_stay_empty():
    truth = standing_person(27.5, 12.2, height=24)
    for name in ("LWrist", "RKnee", "RAnkle", "LEar"):
        truth[COCO18.index(name)] = 0
    (pose,) = decode(synthetic_output([truth]), COCO18)
    _assert_same_person(pose, truth)
    assert (pose.keypoints[truth[:, 2] == 0] == 0).all()
    assert pose.num_visible == 14


def test_partial_people_sharing_no_joint_are_merged():
    # Without a neck, the arms and the face are three separate fragments until the ear-shoulder links
    # join them: OpenPose's merge step must make one person of them.
    truth = standing_person(27, 14, height=24)
    for name in ("Neck", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle"):
        truth[COCO18.index(name)] = 0
    poses = decode(synthetic_output([truth]), COCO18)
    assert len(poses) == 1
    _assert_same_person(poses[0], truth)


def _weaken(out, person, limb, t0=0.3, t1=0.7):
    """Zero ``limb``'s PAF over the part of the person's segment between fractions t0 and t1 (a limb the
    network only half sees: a knee in motion, a sleeve)."""
    a, b = (person[k, :2] for k in COCO18.limbs[limb])
    cx, cy = COCO18.paf_channels[limb]
    ys, xs = np.mgrid[0:out.shape[1], 0:out.shape[2]].astype(np.float32)
    d = b - a
    t = ((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / float(d @ d)
    on = (t > t0) & (t < t1) & (np.abs((xs - a[0]) * d[1] - (ys - a[1]) * d[0]) / np.hypot(*d) <= 1.5)
    out[[cx, cy]] = np.where(on, 0.0, out[[cx, cy]])
    return out


def test_a_weak_limb_gets_a_second_chance():
    # The left thigh's field is missing over its middle: OpenPose's 80 % rule drops the hip-knee pair, and
    # the knee-ankle pair alone is a 2-keypoint fragment that the filter drops. The second chance (a
    # majority of the samples) gives the person back the knee, then the ankle, at their exact places.
    truth = standing_person(27, 11, height=30)
    limb = COCO18.limbs.index((COCO18.index("LHip"), COCO18.index("LKnee")))
    out = _weaken(synthetic_output([truth]), truth, limb)
    (openpose,) = decode(out, COCO18, extend_people=False)
    missing = [COCO18.keypoints[i] for i in np.flatnonzero(openpose.keypoints[:, 2] == 0)]
    assert missing == ["LKnee", "LAnkle"]
    (pose,) = decode(out, COCO18)
    _assert_same_person(pose, truth)
    assert pose.score > openpose.score


def test_the_second_chance_draws_no_limb_to_someone_else():
    # A person without a left wrist, and a free wrist candidate 3 forearm-lengths away along the forearm's
    # direction, joined to the elbow by a field with a gap (other people's limbs lying in line), too weak for
    # OpenPose's rule and strong enough for the second chance's: too long to be this person's forearm next
    # to the other arm limbs, so it stays unattached.
    truth = standing_person(20, 8, height=24)
    ie, iw = COCO18.index("LElbow"), COCO18.index("LWrist")
    elbow = truth[ie, :2].copy()
    forearm = truth[iw, :2] - elbow
    truth[iw] = 0
    stray = np.zeros_like(truth)
    stray[iw] = (*(elbow + 3 * forearm), 1.0)
    line = truth.copy()
    line[iw] = stray[iw]  # renders the elbow -> far wrist field
    out = synthetic_output([truth, stray])
    limb = COCO18.limbs.index((ie, iw))
    cx, cy = COCO18.paf_channels[limb]
    out[[cx, cy]] = _weaken(synthetic_output([line]), line, limb)[[cx, cy]]
    (pose,) = decode(out, COCO18)
    assert pose.keypoints[iw, 2] == 0
    assert grouping.EXTEND_MAX_RATIO == 2.0
    grouping.EXTEND_MAX_RATIO = 10.0  # without the length rule the far wrist would be taken
    try:
        (pose,) = decode(out, COCO18)
    finally:
        grouping.EXTEND_MAX_RATIO = 2.0
    np.testing.assert_allclose(pose.keypoints[iw, :2], stray[iw, :2], atol=0.2)


def test_similar_limbs_are_named_per_layout():
    names = lambda lay, g: sorted(tuple(lay.keypoints[k] for k in lay.limbs[i]) for i in g)  # noqa: E731
    groups = similar_limbs(COCO18)
    forearm = COCO18.limbs.index((COCO18.index("LElbow"), COCO18.index("LWrist")))
    assert names(COCO18, groups[forearm]) == [("LElbow", "LWrist"), ("LShoulder", "LElbow"),
                                              ("RElbow", "RWrist"), ("RShoulder", "RElbow")]
    assert groups[COCO18.limbs.index((0, 14))] == []  # face links: no group
    body25 = similar_limbs(BODY25)
    assert sum(1 for g in body25 if g) == 10  # arms, legs, shoulders; BODY_25's torso goes through MidHip
    assert sum(1 for g in similar_limbs(MPI15) if g) == 10


def test_small_or_weak_people_are_dropped():
    truth = standing_person(27, 14)
    truth[[i for i in range(18) if COCO18.keypoints[i] not in ("Nose", "Neck")]] = 0
    out = synthetic_output([truth])
    assert decode(out, COCO18) == []
    (pose,) = decode(out, COCO18, min_keypoints=2)
    assert pose.num_visible == 2
    # min_score bounds OpenPose's average per keypoint: (peak + connection scores) / keypoints, here ~1.9
    # for a crisp person and ~1.3 for one whose heatmap peaks are only 0.3.
    strong, weak = synthetic_output([standing_person(27, 14)]), synthetic_output([standing_person(27, 14, conf=0.3)])
    assert len(decode(weak, COCO18)) == len(decode(strong, COCO18, min_score=1.6)) == 1
    assert decode(weak, COCO18, min_score=1.6) == []


def test_empty_and_blank_maps():
    assert decode(np.zeros((57, 46, 54), np.float32), COCO18) == []
    blank = synthetic_output([], COCO18)
    assert (blank[18] == 1).all()
    assert decode(blank, COCO18) == []
    assert decode(synthetic_output([standing_person(27, 14)])[None], "COCO-18") != []  # NCHW, N = 1


@pytest.mark.parametrize(
    "bad", [np.zeros((56, 46, 54), np.float32), np.zeros((46, 54), np.float32), np.zeros((2, 57, 4, 4))]
)
def test_wrong_shapes_are_clear_errors(bad):
    with pytest.raises(InvalidInputError, match="COCO-18|must be"):
        decode(bad, COCO18)


@pytest.mark.parametrize("layout", [BODY25, MPI15], ids=lambda lay: lay.name)
def test_other_layouts_decode(layout):
    truth = [standing_person(14.2, 12.6, layout=layout), standing_person(38.7, 13.1, layout=layout)]
    out = synthetic_output(truth, layout)
    assert out.shape == (layout.num_channels, 46, 54)
    poses = decode(out, layout)
    assert len(poses) == 2
    neck = layout.index("Neck")
    for t in truth:
        (pose,) = [p for p in poses if abs(p.keypoints[neck, 0] - t[neck, 0]) < 1]
        assert pose.layout == layout.name
        np.testing.assert_allclose(pose.keypoints[:, :2], t[:, :2], atol=0.2)


# ------------------------------------------------------------------------------------------------ real outputs


def _reference(model: str, image: str) -> np.ndarray:
    out = np.load(REFERENCE / f"{model}_{image}.npz")["output_nhwc"]
    return out.reshape(46, 54, 57).transpose(2, 0, 1)


def _px(pose, name):
    """A keypoint in network-input pixels (output cell centres at stride * i + (stride - 1) / 2)."""
    x, y, c = pose.keypoint(name)
    return None if c == 0 else np.array([x, y]) * STRIDE + (STRIDE - 1) / 2


def _assert_anatomy(pose):
    """A person facing the camera, upright: the nose above the neck, the neck above the hips, the right
    shoulder on the image left of the neck and the left shoulder on its right."""
    neck, nose = _px(pose, "Neck"), _px(pose, "Nose")
    assert neck is not None
    if nose is not None:
        assert nose[1] < neck[1]
    for hip in ("RHip", "LHip"):
        if (p := _px(pose, hip)) is not None:
            assert p[1] > neck[1] + 30
    if (r := _px(pose, "RShoulder")) is not None:
        assert r[0] < neck[0] and abs(r[1] - neck[1]) < 20
    if (left := _px(pose, "LShoulder")) is not None:
        assert left[0] > neck[0] and abs(left[1] - neck[1]) < 20


def _assert_people_at(poses, noses, tol=16):
    """Each labelled nose (network-input pixels, read off the image by eye) has exactly one pose there."""
    for label in noses:
        near = [p for p in poses if (n := _px(p, "Nose")) is not None and np.hypot(*(n - label)) < tol]
        assert len(near) == 1, f"expected one person with the nose at {label}, found {len(near)}"


@pytest.mark.parametrize("model", ["dm05", "dm14"])
def test_reference_p3_three_astronauts(model):
    poses = decode(_reference(model, "p3"), COCO18)
    assert len(poses) == 3
    _assert_people_at(poses, [(208, 86), (108, 157), (314, 163)])
    for pose in poses:
        _assert_anatomy(pose)
        assert pose.num_visible >= 8
        assert 0 < pose.score <= 1


@pytest.mark.parametrize("model", ["dm05", "dm14"])
def test_reference_apink2_two_frames(model):
    # apink2 is two video frames side by side: on the left the dancer, a standing and a seated man; on the
    # right a seated and a standing man and the dancer with her arms over her face (no face visible).
    poses = decode(_reference(model, "apink2"), COCO18)
    _assert_people_at(poses, [(110, 60), (174, 122), (12, 162), (260, 140), (405, 93)])
    assert len(poses) in (5, 6)
    for pose in poses:
        _assert_anatomy(pose)
    faceless = [p for p in poses if _px(p, "Nose") is None]
    for pose in faceless:  # only the right-hand dancer may be found without a face
        assert np.hypot(*(_px(pose, "Neck") - (326, 117))) < 20


@pytest.mark.parametrize("image", ["p3", "apink2", "COCO_val2014_000000000192"])
def test_reference_paf_channels_point_from_a_to_b(image):
    """COCO18's PAF table matches the real network: swapping each limb's x/y channels, or reversing the limb
    direction, loses most (or all) connections."""
    out = _reference("dm14", image)
    swapped = dataclasses.replace(COCO18, paf_channels=tuple((y, x) for x, y in COCO18.paf_channels))
    reversed_ = dataclasses.replace(COCO18, limbs=tuple((b, a) for a, b in COCO18.limbs))

    def found(layout):
        return sum(p.num_visible for p in decode(out, layout))

    right = found(COCO18)
    assert right >= 40
    assert found(swapped) < 0.6 * right
    assert found(reversed_) < 0.1 * right


def _score_pair_by_hand(a, b, fx, fy, thr, h):
    """OpenPose's pair score written out sample by sample (the reference for the vectorised version)."""
    v = b[:2] - a[:2]
    n = float(np.hypot(*v))
    if n == 0:
        return -np.inf
    u = v / n
    dots = []
    for t in np.linspace(0, 1, 10):
        x, y = a[:2] + t * v
        x0, y0 = min(int(x), fx.shape[1] - 2), min(int(y), fx.shape[0] - 2)
        ax, ay = x - x0, y - y0

        def bil(m):
            return ((1 - ax) * (1 - ay) * m[y0, x0] + ax * (1 - ay) * m[y0, x0 + 1]
                    + (1 - ax) * ay * m[y0 + 1, x0] + ax * ay * m[y0 + 1, x0 + 1])

        dots.append(bil(fx) * u[0] + bil(fy) * u[1])
    dots = np.array(dots)
    score = dots.mean() + min(0.5 * h / n - 1, 0)
    return score if (dots > thr).sum() > 8 and score > 0 else -np.inf


def test_vectorised_pair_scores_match_the_definition():
    out = _reference("dm14", "apink2")
    peaks = find_peaks(out[:18], 0.1)
    checked = 0
    for (ka, kb), (cx, cy) in list(zip(COCO18.limbs, COCO18.paf_channels))[:8]:
        got = score_limb(peaks[ka], peaks[kb], out[cx], out[cy], paf_threshold=0.05)
        for i, a in enumerate(peaks[ka]):
            for j, b in enumerate(peaks[kb]):
                want = _score_pair_by_hand(a.astype(np.float64), b.astype(np.float64), out[cx], out[cy], 0.05, 46)
                assert got[i, j] == pytest.approx(want, abs=1e-4)
                checked += np.isfinite(want)
    assert checked >= 20
