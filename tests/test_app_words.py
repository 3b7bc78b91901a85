"""The app's words for numbers (app_pages/common.py): progress, missing angles, differences in the sidebar's
convention."""

from __future__ import annotations

import math

import numpy as np

from app_pages import common
from posekit.pose import Pose
from posekit.similarity import AngleDiff, JointDiff
from posekit.testing import standing_person


def test_progress_says_when_the_time_left_is_not_known_yet():
    assert common.progress_text(1, 205, math.nan) == "Frame 1 / 205 · estimating the time left…"
    assert common.progress_text(41, 205, 32.8) == "Frame 41 / 205 · 5.0 frames/s · about 33 s left"
    assert common.progress_text(204, 205, 0.2) == "Frame 204 / 205 · 5.0 frames/s · almost done"
    assert common.progress_text(205, 205, 0.0, "frame") == "frame 205 / 205"


def test_an_angle_whose_joints_are_not_found_says_so():
    kp = standing_person(300, 100, 200).copy()
    knee = 9  # COCO-18 RKnee
    kp[knee, 2] = 0
    rows = {r["angle"]: r for r in common.angle_rows(Pose(kp, 1.0, "COCO-18"), "clinical")}
    assert rows["Right knee flexion"]["degrees"] == common.NOT_IN_PICTURE == "not in the picture"
    assert rows["Left knee flexion"]["degrees"].endswith("°")
    assert rows["Right knee flexion"]["how it is measured"].startswith("flexion: 0° = straight leg")
    included = {r["angle"]: r for r in common.angle_rows(Pose(kp, 1.0, "COCO-18"), "included")}
    assert included["Left knee"]["how it is measured"] == "180° = straight leg"
    assert all(r["degrees"] for r in included.values())
    np.testing.assert_allclose(float(rows["Left knee flexion"]["degrees"][:-1]),
                               180 - float(included["Left knee"]["degrees"][:-1]), atol=0.11)


def test_differences_read_in_the_sidebars_convention():
    elbow = AngleDiff("left elbow", 3, 167.0, 160.0, 7.0, 0.9)
    assert common.difference_text(elbow, "clinical") == "left elbow flexion: 7° apart (13° vs 20°)"
    assert common.difference_text(elbow, "included") == "left elbow: 7° apart (167° vs 160°)"
    shoulder = AngleDiff("left shoulder", 2, 16.0, 19.0, 3.0, 0.9)
    assert common.difference_text(shoulder, "clinical") == shoulder.text  # the same in both conventions
    wrist = JointDiff("left wrist", 7, 0.36, 0.5)  # a keypoint's place, not an angle
    assert common.difference_text(wrist, "clinical") == wrist.text == "left wrist: 0.36 torso lengths apart"


def test_an_impossible_angle_is_left_out_and_says_so():
    kp = standing_person(300, 100, 200).copy()
    hip, ankle = 8, 10  # COCO-18 RHip, RAnkle
    kp[ankle, :2] = kp[hip, :2] + (2.0, 0.0)  # the shank folded onto the thigh: no knee bends that far
    rows = {r["angle"]: r for r in common.angle_rows(Pose(kp, 1.0, "COCO-18"), "clinical")}
    assert rows["Right knee flexion"]["degrees"] == common.IMPOSSIBLE == "left out (impossible angle)"
    assert rows["Left knee flexion"]["degrees"].endswith("°")
