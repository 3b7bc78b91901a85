"""Exports: OpenPose JSON (exact format, round trip), COCO results (COCO-17 order), CSV, JSON lines."""

from __future__ import annotations

import csv
import io
import json

import cv2
import numpy as np
import pytest

from posekit.errors import InvalidInputError
from posekit.export import (
    coco_results,
    csv_header,
    csv_rows,
    csv_text,
    jsonl_line,
    openpose_json,
    parse_jsonl_line,
    poses_from_openpose,
    read_openpose_json,
    write_csv,
    write_openpose_json,
)
from posekit.layouts import BODY25, COCO17_KEYPOINTS, COCO18, MPI15, get_layout
from posekit.pose import Pose
from posekit.testing import standing_person

from conftest import VIDEOS, read_image

PERSON_FIELDS = [
    "person_id", "pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
    "pose_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d", "hand_right_keypoints_3d",
]


def person(x=100.3, y=50.7, layout="COCO-18", missing=("LEar",)) -> Pose:
    kp = standing_person(x, y, 240, layout, conf=0.87654)
    lay = get_layout(layout)
    for name in missing:
        kp[lay.index(name)] = 0
    return Pose(kp, 0.61, layout)


@pytest.fixture(scope="module")
def p3_poses(fast_estimator):
    poses = fast_estimator.estimate(read_image("p3.jpg"))
    assert len(poses) >= 2
    return poses


def test_openpose_json_exact_format():
    d = openpose_json([person(), person(300)])
    assert list(d) == ["version", "people"] and d["version"] == 1.3
    assert len(d["people"]) == 2
    for p in d["people"]:
        assert list(p) == PERSON_FIELDS
        assert p["person_id"] == [-1]
        assert len(p["pose_keypoints_2d"]) == 18 * 3
        assert all(p[k] == [] for k in PERSON_FIELDS[2:])
    kp = d["people"][0]["pose_keypoints_2d"]
    lear = COCO18.index("LEar")
    assert kp[3 * lear: 3 * lear + 3] == [0, 0, 0]
    nose = person().keypoints[0]
    assert kp[:3] == pytest.approx(nose.tolist())
    assert kp[2] == 0.87654  # the shortest decimal of the float32, not 0.8765400052070618
    json.dumps(d)  # plain JSON types only
    assert openpose_json([]) == {"version": 1.3, "people": []}


def test_openpose_json_refuses_a_different_layout():
    with pytest.raises(InvalidInputError):
        openpose_json([person()], layout="BODY_25")
    with pytest.raises(InvalidInputError):
        openpose_json([person(), person(layout="MPI-15", missing=())])


def test_openpose_round_trip_real_poses(p3_poses, tmp_path):
    path = write_openpose_json(tmp_path / "p3_keypoints.json", p3_poses)
    text = path.read_text()
    assert text.startswith('{"version":1.3,"people":[{"person_id":[-1],"pose_keypoints_2d":[')
    back = read_openpose_json(path, "COCO-18")
    assert len(back) == len(p3_poses)
    for a, b in zip(p3_poses, back):
        assert np.array_equal(a.keypoints, b.keypoints)  # bit-exact float32
        assert b.layout == "COCO-18"
        assert 0 < b.score <= 1


@pytest.mark.parametrize("layout", [BODY25, MPI15])
def test_openpose_round_trip_other_layouts(layout, tmp_path):
    poses = [person(layout=layout.name, missing=("RWrist",))]
    back = read_openpose_json(write_openpose_json(tmp_path / "k.json", poses), layout)
    assert np.array_equal(back[0].keypoints, poses[0].keypoints)


def test_reads_openpose_files_of_other_versions():
    flat = [float(v) for v in standing_person(10, 10, 24).ravel()]
    old = {"version": 1.0, "people": [{"pose_keypoints": flat, "face_keypoints": []}]}
    new = {"version": 1.1, "people": [{"pose_keypoints_2d": flat}]}
    for d in (old, new):
        (p,) = poses_from_openpose(d)
        assert np.allclose(p.keypoints, standing_person(10, 10, 24))


def test_bad_openpose_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="bad.json"):
        read_openpose_json(bad)
    with pytest.raises(InvalidInputError, match="people"):
        poses_from_openpose({"version": 1.3})
    with pytest.raises(InvalidInputError, match="expected 54"):
        poses_from_openpose({"people": [{"pose_keypoints_2d": [1, 2, 3]}]})
    with pytest.raises(InvalidInputError, match="expected 75"):  # a COCO-18 file read as BODY_25
        poses_from_openpose(openpose_json([person()]), BODY25)


def _coco_name(layout_name: str) -> str:
    """'LShoulder' -> 'left_shoulder'."""
    if layout_name[0] in "RL" and layout_name[1].isupper():
        return ("left_" if layout_name[0] == "L" else "right_") + layout_name[1:].lower()
    return layout_name.lower()


@pytest.mark.parametrize("layout", [COCO18, BODY25, MPI15])
def test_coco17_mapping_is_by_name(layout):
    for i, k in enumerate(layout.coco17):
        if k is not None:
            assert _coco_name(layout.keypoints[k]) == COCO17_KEYPOINTS[i]
        else:
            assert not any(_coco_name(n) == COCO17_KEYPOINTS[i] for n in layout.keypoints)


def test_coco_results_order_and_missing():
    p = person()  # facing the camera: the person's left is on the image right
    (r,) = coco_results([p], image_id=192)
    assert list(r) == ["image_id", "category_id", "keypoints", "score"]
    assert r["image_id"] == 192 and r["category_id"] == 1 and r["score"] == pytest.approx(0.61)
    kp = np.asarray(r["keypoints"], np.float64).reshape(17, 3)
    idx = {n: i for i, n in enumerate(COCO17_KEYPOINTS)}
    assert kp[idx["left_shoulder"], 0] > kp[idx["right_shoulder"], 0]  # not swapped
    assert kp[idx["left_ankle"], 0] > kp[idx["right_ankle"], 0]
    assert kp[idx["left_eye"], 0] > kp[idx["nose"], 0] > kp[idx["right_eye"], 0]
    assert kp[idx["left_wrist"], :2] == pytest.approx(p.keypoint("LWrist")[:2])
    assert kp[idx["left_ear"]].tolist() == [0, 0, 0]  # missing
    found = [i for i in range(17) if i != idx["left_ear"]]
    assert (kp[found, 2] == 1).all()  # v = 1 for a found keypoint, as OpenPose writes
    (scored,) = coco_results([p], 192, keypoint_scores=True)
    assert scored["keypoints"][2] == pytest.approx(0.87654)
    json.dumps(r)


def test_coco_results_mpi_has_no_face():
    (r,) = coco_results([person(layout="MPI-15", missing=())], 1)
    kp = np.asarray(r["keypoints"]).reshape(17, 3)
    assert (kp[:5] == 0).all() and (kp[5:, 2] == 1).all()


def test_coco_results_real_poses(p3_poses):
    results = coco_results(p3_poses, image_id=7)
    assert len(results) == len(p3_poses)
    for pose, r in zip(p3_poses, results):
        kp = np.asarray(r["keypoints"]).reshape(17, 3)
        for i, name in enumerate(COCO17_KEYPOINTS):
            own = pose.keypoints[COCO18.coco17[i]]
            if own[2] > 0:
                assert kp[i, :2] == pytest.approx(own[:2], abs=1e-3), name
            else:
                assert kp[i].tolist() == [0, 0, 0]


def test_csv_header_and_rows():
    header = csv_header("COCO-18")
    assert header[:6] == ["frame", "person", "score", "Nose_x", "Nose_y", "Nose_c"]
    assert len(header) == 3 + 18 * 3 and header[-1] == "LEar_c"
    rows = csv_rows([person(), person(300)], frame=4)
    assert [r[:2] for r in rows] == [[4, 1], [4, 2]]  # numbered from 1, as the overlay labels them
    assert all(len(r) == len(header) for r in rows)
    lear = header.index("LEar_x")
    assert rows[0][lear: lear + 3] == [None, None, 0.0]
    assert csv_rows([]) == []


def test_csv_parses_with_the_csv_module(tmp_path):
    frames = [(0, []), (1, [person()]), (2, [person(), person(250, missing=())]), (3, [])]
    path = tmp_path / "k.csv"
    assert write_csv(path, frames) == 3
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert [(r["frame"], r["person"]) for r in rows] == [("1", "1"), ("2", "1"), ("2", "2")]
    assert rows[0]["LEar_x"] == "" and float(rows[0]["LEar_c"]) == 0
    assert rows[2]["LEar_x"] != ""
    nose = person().keypoint("Nose")
    assert np.float32(float(rows[0]["Nose_x"])) == nose[0]  # reads back as the same float32
    assert float(rows[0]["score"]) == pytest.approx(0.61)


def test_csv_layout_and_empty_files():
    empty = csv_text([])
    assert list(csv.reader(io.StringIO(empty))) == [csv_header("COCO-18")]
    body = csv_text([person(layout="BODY_25", missing=())], frame=0)
    parsed = list(csv.reader(io.StringIO(body)))
    assert parsed[0] == csv_header(BODY25) and len(parsed) == 2
    with pytest.raises(InvalidInputError):
        write_csv(io.StringIO(), [(0, [person()]), (1, [person(layout="MPI-15", missing=())])])


def test_jsonl_lines_round_trip():
    poses = [person(), person(300, missing=())]
    line = jsonl_line(12, 0.48, poses)
    assert "\n" not in line
    d = json.loads(line)
    assert list(d) == ["frame", "time", "people"] and d["frame"] == 12 and d["time"] == 0.48
    assert d["people"][0]["layout"] == "COCO-18" and len(d["people"][0]["keypoints"]) == 18
    assert d["people"][0]["keypoints"][COCO18.index("LEar")] == [0, 0, 0]
    frame, t, back = parse_jsonl_line(line)
    assert (frame, t) == (12, 0.48)
    for a, b in zip(poses, back):
        assert np.array_equal(a.keypoints, b.keypoints)
    with pytest.raises(InvalidInputError):
        parse_jsonl_line("{}")


def test_video_frames_to_csv_and_jsonl(fast_estimator, tmp_path):
    """A real video's frames through the estimator into both per-frame formats."""
    cap = cv2.VideoCapture(str(VIDEOS / "demo.mp4"))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while len(frames) < 5:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append((len(frames), fast_estimator.estimate(frame)))
    cap.release()
    assert len(frames) >= 3
    total = sum(len(p) for _, p in frames)
    assert total > 0
    assert write_csv(tmp_path / "v.csv", frames) == total
    with open(tmp_path / "v.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == total and {int(r["frame"]) for r in rows} == {i for i, p in frames if p}
    lines = [jsonl_line(i, i / fps, p) for i, p in frames]
    (tmp_path / "v.jsonl").write_text("\n".join(lines) + "\n")
    for (i, poses), text in zip(frames, (tmp_path / "v.jsonl").read_text().splitlines()):
        frame, t, back = parse_jsonl_line(text)
        assert frame == i and t == pytest.approx(i / fps, abs=1e-6) and len(back) == len(poses)
        for a, b in zip(poses, back):
            assert np.array_equal(a.keypoints, b.keypoints)
