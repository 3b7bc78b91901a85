"""Angles on constructed poses: right angles, straight limbs, signs, missing joints, time series."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from posekit import kinematics
from posekit.kinematics import ANGLES, ANGLES_BY_NAME, CONVENTIONS, DEFAULT_CONVENTION, trajectories
from posekit.layouts import get_layout
from posekit.pose import Pose

# The geometry is tested on included angles (180 = straight); test_clinical_convention checks the flexion form.
angles = functools.partial(kinematics.angles, convention="included")
angles_array = functools.partial(kinematics.angles_array, convention="included")
angle_table = functools.partial(kinematics.angle_table, convention="included")
angle_series = functools.partial(kinematics.angle_series, convention="included")


def make_pose(points: dict[str, tuple[float, float]], layout: str = "COCO-18", track_id=None) -> Pose:
    lay = get_layout(layout)
    kp = np.zeros((lay.num_keypoints, 3), np.float32)
    for name, (x, y) in points.items():
        kp[lay.index(name)] = (x, y, 0.9)
    return Pose(kp, 0.5, layout, track_id=track_id)


# A person standing upright, arms hanging, facing the camera (image y down): the person's right is image left.
STANDING = {
    "Nose": (100, 20), "Neck": (100, 50),
    "RShoulder": (80, 50), "RElbow": (80, 90), "RWrist": (80, 130),
    "LShoulder": (120, 50), "LElbow": (120, 90), "LWrist": (120, 130),
    "RHip": (90, 150), "RKnee": (90, 200), "RAnkle": (90, 250),
    "LHip": (110, 150), "LKnee": (110, 200), "LAnkle": (110, 250),
}


def test_standing_person_straight_limbs_and_upright_trunk():
    a = angles(make_pose(STANDING))
    for joint in ("right_elbow", "left_elbow", "right_knee", "left_knee", "right_hip", "left_hip"):
        assert a[joint] == pytest.approx(180.0, abs=1e-6), joint
    assert a["right_shoulder"] == pytest.approx(0.0, abs=1e-6)  # arm along the body
    assert a["left_shoulder"] == pytest.approx(0.0, abs=1e-6)
    assert a["trunk_lean"] == pytest.approx(0.0, abs=1e-6)
    assert a["trunk"] == pytest.approx(90.0)  # hip -> neck points up
    assert a["right_thigh"] == pytest.approx(-90.0)  # hanging
    assert a["right_shank"] == pytest.approx(-90.0)
    assert a["pelvis"] == pytest.approx(180.0)  # left hip -> right hip points to the image's left
    assert a["shoulders"] == pytest.approx(180.0)
    assert set(a) == {d.name for d in ANGLES}


def test_right_angles():
    p = dict(STANDING)
    p["RWrist"] = (40, 90)  # forearm horizontal, pointing to the image's left: elbow bent 90 degrees
    p["LElbow"] = (160, 50)  # left upper arm raised sideways to horizontal
    p["LWrist"] = (160, 10)  # left forearm straight up
    p["RKnee"] = (40, 150)  # right thigh horizontal (sitting), shank hanging
    p["RAnkle"] = (40, 200)
    a = angles(make_pose(p))
    assert a["right_elbow"] == pytest.approx(90.0)
    assert a["left_shoulder"] == pytest.approx(90.0)
    assert a["left_elbow"] == pytest.approx(90.0)
    assert a["left_forearm"] == pytest.approx(90.0)  # pointing up
    assert a["right_forearm"] == pytest.approx(180.0)  # pointing left
    assert a["left_arm"] == pytest.approx(0.0)  # pointing right
    assert a["right_hip"] == pytest.approx(90.0)
    assert a["right_knee"] == pytest.approx(90.0)


def test_arm_straight_up_is_180_and_trunk_lean_sign():
    p = dict(STANDING)
    p["RElbow"], p["RWrist"] = (80, 10), (80, -30)
    assert angles(make_pose(p))["right_shoulder"] == pytest.approx(180.0)
    # lean the trunk: neck 30 px to the image's right of the hips over 30 px of height -> +45 degrees
    lean = dict(STANDING, Neck=(130, 120), RShoulder=(110, 120), LShoulder=(150, 120))
    assert angles(make_pose(lean))["trunk_lean"] == pytest.approx(45.0)
    lean_left = dict(STANDING, Neck=(70, 120), RShoulder=(50, 120), LShoulder=(90, 120))
    assert angles(make_pose(lean_left))["trunk_lean"] == pytest.approx(-45.0)


def test_missing_joints_give_nan_and_virtual_points_fall_back():
    p = dict(STANDING)
    del p["RWrist"], p["LHip"]
    a = angles(make_pose(p))
    assert math.isnan(a["right_elbow"])
    assert math.isnan(a["left_knee"]) and math.isnan(a["left_hip"]) and math.isnan(a["pelvis"])
    assert math.isnan(a["trunk_lean"])  # MidHip needs both hips
    assert a["left_elbow"] == pytest.approx(180.0)
    # Neck missing: the middle of the shoulders stands in for it
    q = dict(STANDING)
    del q["Neck"]
    assert angles(make_pose(q))["trunk_lean"] == pytest.approx(0.0)
    # a zero-length segment is NaN, not 0 or 180
    z = dict(STANDING, RElbow=STANDING["RShoulder"])
    assert math.isnan(angles(make_pose(z))["right_elbow"])
    empty = angles(Pose(np.zeros((18, 3), np.float32), 0.0))
    assert all(math.isnan(v) for v in empty.values())


def test_other_layouts():
    mpi = {k: v for k, v in STANDING.items() if k != "Nose"}
    a = angles(make_pose(mpi, "MPI-15"))
    assert a["right_knee"] == pytest.approx(180.0) and a["trunk_lean"] == pytest.approx(0.0)
    b25 = dict(STANDING, MidHip=(100, 150))
    assert angles(make_pose(b25, "BODY_25"))["left_hip"] == pytest.approx(180.0)


def test_vectorised_matches_per_pose_and_table():
    rng = np.random.default_rng(0)
    kp = np.zeros((5, 18, 3), np.float32)
    kp[..., :2] = rng.uniform(0, 300, (5, 18, 2))
    kp[..., 2] = rng.uniform(0, 1, (5, 18)) > 0.2
    arr = angles_array(kp, "COCO-18")
    assert arr.shape == (5, len(ANGLES))
    for t in range(5):
        per = angles(Pose(kp[t], 0.5))
        np.testing.assert_allclose(arr[t], [per[d.name] for d in ANGLES], equal_nan=True)
    rows = angle_table(make_pose(STANDING))
    assert rows[0]["angle"] == "Right elbow" and rows[0]["degrees"] == 180.0
    assert ANGLES_BY_NAME["right_knee"].points == ("RKnee", "RHip", "RAnkle")


def test_time_series_per_track():
    frames = []
    for i in range(20):
        bend = 180 - 4.5 * i  # right elbow bending from 180 to 94.5 degrees
        r = math.radians(180 - bend)
        p1 = dict(STANDING, RWrist=(80 - 40 * math.sin(r), 90 + 40 * math.cos(r)))
        p2 = {k: (x + 300, y) for k, (x, y) in STANDING.items()}
        people = [make_pose(p2, track_id=7), make_pose(p1, track_id=3)]
        if i == 5:
            people = people[:1]  # person 3 unseen in frame 5
        frames.append((i, i / 10, people))
    series = angle_series(frames)
    assert list(series) == [3, 7]
    s3 = series[3]
    assert len(s3) == 19 and 5 not in s3.frames
    np.testing.assert_allclose(s3.column("right_elbow"), [180 - 4.5 * i for i in range(20) if i != 5], atol=1e-3)
    summary = {r["angle"]: r for r in s3.summary()}
    assert summary["right_elbow"]["min"] == pytest.approx(94.5, abs=1e-3)
    assert summary["right_elbow"]["range"] == pytest.approx(85.5, abs=1e-3)
    assert summary["left_knee"]["range"] == pytest.approx(0.0, abs=1e-6)
    tr = trajectories(frames)[7]
    assert tr.keypoints.shape == (20, 18, 3) and tr.duration_s == pytest.approx(1.9)
    assert all(p.track_id == 7 for p in tr.poses())


FLEXION = ("right_elbow", "left_elbow", "right_knee", "left_knee", "right_hip", "left_hip")


def test_clinical_convention_is_the_flexion_and_the_default():
    assert DEFAULT_CONVENTION == "clinical" and CONVENTIONS == ("clinical", "included")
    p = dict(STANDING, RWrist=(40, 90), RKnee=(40, 150), RAnkle=(40, 200))  # right elbow 90, hip 90, knee 90
    pose = make_pose(p)
    included = kinematics.angles(pose, convention="included")
    clinical = kinematics.angles(pose)  # the default
    for name in FLEXION:
        got, want = clinical[f"{name}_flexion"], 180.0 - included[name]
        assert got == pytest.approx(want, abs=1e-9) or (math.isnan(got) and math.isnan(want)), name
        assert name not in clinical
    assert clinical["right_elbow_flexion"] == pytest.approx(90.0)
    assert clinical["left_knee_flexion"] == pytest.approx(0.0, abs=1e-6)  # straight: 0
    for name in ("right_shoulder", "left_shoulder", "trunk_lean", "pelvis", "right_thigh"):
        assert clinical[name] == pytest.approx(included[name])  # the same in both conventions
    rows = {r["angle"]: r for r in kinematics.angle_table(pose)}
    assert rows["Right knee flexion"]["degrees"] == 90.0
    assert rows["Right knee flexion"]["convention"].startswith("flexion: 0° = straight leg")
    assert ANGLES_BY_NAME["right_knee_flexion"].opensim == "knee_angle_r"
    with pytest.raises(ValueError, match="convention"):
        kinematics.angles(pose, convention="goniometer")


# --- angles a body can make (issue 21, step 5) -------------------------------------------------------------

def _folded_elbow(angle_deg: float) -> Pose:
    """STANDING with the right forearm at ``angle_deg`` (included) from the upper arm (elbow at (80, 90))."""
    a = np.radians(angle_deg)
    up = np.array([0.0, -40.0])  # elbow -> shoulder
    fore = np.array([up[0] * np.cos(a) - up[1] * np.sin(a), up[0] * np.sin(a) + up[1] * np.cos(a)])
    return make_pose({**STANDING, "RWrist": tuple(np.array([80.0, 90.0]) + fore)})


def test_an_elbow_no_body_can_make_is_a_measurement_failure():
    """dance.avi showed a left elbow of 4.3 degrees: a wrist placed on the shoulder, not a pose."""
    bent = _folded_elbow(45.0)
    assert angles(bent, convention="included")["right_elbow"] == pytest.approx(45.0, abs=1e-4)
    folded = _folded_elbow(4.3)
    assert np.isnan(angles(folded, convention="included")["right_elbow"])
    assert np.isnan(kinematics.angles(folded)["right_elbow_flexion"])  # 175.7 degrees of flexion: the same
    raw = angles_array(folded.keypoints, "COCO-18", ["right_elbow"], plausible=False)
    assert raw[0] == pytest.approx(4.3, abs=1e-3)
    flags = kinematics.implausible_array(folded.keypoints, "COCO-18", ["right_elbow", "left_elbow", "right_knee"])
    assert flags.tolist() == [True, False, False]
    assert ANGLES_BY_NAME["right_elbow"].limits == (20.0, 180.0)
    assert ANGLES_BY_NAME["right_elbow_flexion"].limits == (0.0, 160.0)
    assert ANGLES_BY_NAME["right_hip"].limits is None  # a pike folds the thigh onto the trunk


def test_the_table_says_which_angles_are_missing_or_failed():
    pose = _folded_elbow(4.3)
    pose.keypoints[get_layout("COCO-18").index("LWrist")] = 0.0
    rows = {r["angle"]: r for r in kinematics.angle_table(pose)}
    assert rows["Right elbow flexion"]["status"] == kinematics.IMPLAUSIBLE
    assert rows["Right elbow flexion"]["degrees"] is None
    assert rows["Left elbow flexion"]["status"] == kinematics.MISSING and rows["Left elbow flexion"]["degrees"] is None
    assert rows["Right knee flexion"]["status"] == kinematics.MEASURED and rows["Right knee flexion"]["degrees"] == 0


def test_ranges_of_motion_leave_the_failures_out():
    poses = [_folded_elbow(a) for a in (170.0, 120.0, 4.0, 60.0)]
    frames = [(i, i / 10, [p]) for i, p in enumerate(poses)]
    series = angle_series(frames, ["right_elbow"])[1]
    (row,) = series.summary()
    assert row["frames"] == 3 and row["implausible"] == 1
    assert row["min"] == pytest.approx(60.0, abs=1e-3) and row["max"] == pytest.approx(170.0, abs=1e-3)
    assert series.chart_data()["Right elbow"][2] is None
