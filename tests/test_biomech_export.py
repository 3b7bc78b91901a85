"""Exports with IDs and angles: CSV / JSON lines / OpenPose JSON round trips, OpenSim TRC and MOT re-read and
checked against their format, and the `angles` CLI."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from posekit.batch import Settings
from posekit.cli import build_parser, main
from posekit.errors import InvalidInputError
from posekit.export import (
    CHAIN_FRACTION,
    angles_csv_text,
    csv_header,
    csv_rows,
    jsonl_line,
    openpose_json,
    parse_jsonl_line,
    pixels_per_metre,
    poses_from_openpose,
    read_keypoints,
    write_mot,
    write_trc,
)
from posekit.kinematics import ANGLES, angles, trajectories
from posekit.sinks import AngleCollector, KeypointWriter
from posekit.video import process_video

from test_kinematics import STANDING, make_pose
from tests.conftest import VIDEOS
from tests.golden.replay import ReplayEstimator

FPS = 25.0


def video_frames(n=30):
    """Two tracked people; person 2 bends the right elbow; person 5 is missing in frame 3."""
    frames = []
    for i in range(n):
        r = math.radians(3 * i)
        p2 = make_pose(dict(STANDING, RWrist=(80 - 40 * math.sin(r), 90 + 40 * math.cos(r))), track_id=2)
        p5 = make_pose({k: (x + 300, y + 10) for k, (x, y) in STANDING.items()}, track_id=5)
        frames.append((i, i / FPS, [p2] if i == 3 else [p5, p2]))
    return frames


def test_ids_and_angles_in_csv_jsonl_and_openpose():
    _, t, poses = video_frames()[4]
    header = csv_header("COCO-18", angles=True, convention="included")
    rows = csv_rows(poses, 4, angles=True, time_s=t, convention="included")
    assert header[-len(ANGLES) - 1:] == ["time"] + [a.name for a in ANGLES]
    assert [r[1] for r in rows] == [5, 2] and all(len(r) == len(header) for r in rows)
    elbow = rows[1][header.index("right_elbow")]
    assert elbow == pytest.approx(180 - 12, abs=1e-3)
    clinical = csv_header("COCO-18", angles=True)  # the default: flexion, named so
    assert clinical[clinical.index("time") + 1:][:3] == ["right_elbow_flexion", "left_elbow_flexion",
                                                           "right_knee_flexion"]
    assert csv_rows(poses, 4, angles=True, time_s=t)[1][clinical.index("right_elbow_flexion")] == pytest.approx(
        12, abs=1e-3)
    d = json.loads(jsonl_line(4, t, poses, angles=True))
    assert [p["id"] for p in d["people"]] == [5, 2]
    assert d["people"][1]["angles"]["right_elbow_flexion"] == pytest.approx(12, abs=1e-3)
    d = json.loads(jsonl_line(4, t, poses, angles=True, convention="included"))
    assert d["people"][1]["angles"]["right_elbow"] == pytest.approx(168, abs=1e-3)
    frame, _, back = parse_jsonl_line(jsonl_line(4, t, poses))
    assert [p.track_id for p in back] == [5, 2]
    op = openpose_json(poses)
    assert [p["person_id"] for p in op["people"]] == [[5], [2]]
    assert [p.track_id for p in poses_from_openpose(op)] == [5, 2]
    untracked = make_pose(STANDING)
    assert openpose_json([untracked])["people"][0]["person_id"] == [-1]
    assert "id" not in json.loads(jsonl_line(0, 0, [untracked]))["people"][0]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_read_keypoints_round_trip(tmp_path, suffix):
    frames = video_frames()
    path = tmp_path / f"k{suffix}"
    with open(path, "w", newline="") as f:
        if suffix == ".csv":
            w = csv.writer(f)
            w.writerow(csv_header("COCO-18", angles=True))
            for i, t, poses in frames:
                w.writerows(csv_rows(poses, i, angles=True, time_s=t))
        else:
            for i, t, poses in frames:
                f.write(jsonl_line(i, t, poses, angles=True) + "\n")
    back = read_keypoints(path)
    assert [i for i, _, _ in back] == [i for i, _, _ in frames]
    assert [t for _, t, _ in back] == pytest.approx([t for _, t, _ in frames])
    for (_, _, a), (_, _, b) in zip(frames, back):
        assert [p.track_id for p in a] == [p.track_id for p in b]
        for p, q in zip(a, b):
            np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-4)
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInputError):
        read_keypoints(tmp_path / "bad.csv")


def read_trc(path):
    lines = path.read_text().split("\n")
    head = lines[:5]
    assert head[0].split("\t")[:3] == ["PathFileType", "4", "(X/Y/Z)"] and head[0].split("\t")[3] == path.name
    keys = head[1].split("\t")
    assert keys == ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units", "OrigDataRate",
                    "OrigDataStartFrame", "OrigNumFrames"]
    meta = dict(zip(keys, head[2].split("\t")))
    names_row = head[3].split("\t")
    assert names_row[:2] == ["Frame#", "Time"]
    names = names_row[2::3]
    assert len(names) == int(meta["NumMarkers"])
    xyz = head[4].split("\t")
    assert xyz[:2] == ["", ""] and xyz[2:5] == ["X1", "Y1", "Z1"] and len(xyz) == 2 + 3 * len(names)
    data = [ln.split("\t") for ln in lines[5:] if ln]
    assert len(data) == int(meta["NumFrames"])
    assert all(len(r) == 2 + 3 * len(names) for r in data)
    values = np.array([[float(v) if v else np.nan for v in r] for r in data])
    return meta, names, values


def test_trc_in_pixels_and_metres(tmp_path):
    tr = trajectories(video_frames(), FPS)[2]
    meta, names, v = read_trc(write_trc(tmp_path / "p2.trc", tr, FPS))
    assert meta["Units"] == "px" and float(meta["DataRate"]) == FPS and names[:2] == ["Nose", "Neck"]
    assert v[:, 0].tolist() == list(range(1, len(tr) + 1))
    np.testing.assert_allclose(v[:, 1], np.arange(len(tr)) / FPS, atol=1e-6)
    np.testing.assert_allclose(v[:, 2:4], tr.keypoints[:, 0, :2], atol=1e-3)  # Nose x, y in pixels
    assert np.all(v[:, 4] == 0)  # Z
    lear = names.index("LEar")
    assert np.isnan(v[:, 2 + 3 * lear]).all()  # never found: empty cells
    # metres: the standing person's neck-to-ankle chain is 100 + 100 = 200 px, the person 1.75 m
    s = pixels_per_metre(tr, 1.75)
    assert s == pytest.approx(200 / (CHAIN_FRACTION * 1.75))
    meta, _, vm = read_trc(write_trc(tmp_path / "m.trc", tr, FPS, height_m=1.75))
    assert meta["Units"] == "m"
    ankle, neck = names.index("RAnkle"), names.index("Neck")
    assert vm[0, 3 + 3 * ankle] == pytest.approx(0.0)  # Y = 0 at the floor
    assert vm[0, 3 + 3 * neck] == pytest.approx(200 / s)  # Y up, metres
    with pytest.raises(InvalidInputError):
        pixels_per_metre(tr, -1)


def test_mot_format(tmp_path):
    series = trajectories(video_frames(), FPS)[5].angles()
    text = write_mot(tmp_path / "a.mot", series).read_text()
    head, body = text.split("endheader\n")
    lines = head.split("\n")
    assert lines[0] == "Coordinates" and "version=3" in lines and "inDegrees=yes" in lines  # 1: Storage stops at NaN
    meta = dict(ln.split("=") for ln in lines if "=" in ln)
    rows = [r.split("\t") for r in body.strip().split("\n")]
    # OpenSim's coordinates (Rajagopal 2015: flexion positive, 0 = straight) where one exists, posekit's names else
    opensim = ["elbow_flex_r", "elbow_flex_l", "knee_angle_r", "knee_angle_l", "hip_flexion_r", "hip_flexion_l"]
    assert rows[0] == ["time", *opensim] + [a.name for a in ANGLES[6:]]
    assert int(meta["nRows"]) == len(rows) - 1 == 29 and int(meta["nColumns"]) == len(rows[0])
    table = np.array([[float(v) for v in r] for r in rows[1:]])  # NaN parses
    np.testing.assert_allclose(table[:, 0], series.times - series.times[0], atol=1e-6)
    assert table[0, 1] == pytest.approx(0.0, abs=1e-6)  # a straight arm: no flexion
    included = trajectories(video_frames(), FPS)[5].angles(convention="included")
    assert write_mot(tmp_path / "b.mot", included).read_text() == text  # the same file from either convention


def test_angles_cli(tmp_path, capsys):
    kp = tmp_path / "k.jsonl"
    kp.write_text("".join(jsonl_line(i, t, poses) + "\n" for i, t, poses in video_frames()))
    out, trc, mot = tmp_path / "a.csv", tmp_path / "p.trc", tmp_path / "p.mot"
    assert main(["angles", str(kp), "--output", str(out), "--trc", str(trc), "--mot", str(mot),
                 "--height", "1.8"]) == 0
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == 59 and {r["person"] for r in rows} == {"2", "5"}
    first = [r for r in rows if r["person"] == "2"][5]
    assert float(first["right_elbow_flexion"]) == pytest.approx(15, abs=1e-3)  # clinical, the default
    assert float(first["time"]) == pytest.approx(5 / FPS)
    meta, _, _ = read_trc(trc)
    assert meta["Units"] == "m" and int(meta["NumFrames"]) == 30  # person 2: in every frame
    assert "person 2" in capsys.readouterr().out
    assert main(["angles", str(kp), "-o", str(out), "--mot", str(mot), "--person", "9"]) == 2
    assert main(["angles", str(tmp_path / "nope.csv"), "-o", str(out)]) == 2
    assert main(["angles", str(kp), "-o", str(out), "--convention", "included"]) == 0
    first = [r for r in csv.DictReader(open(out)) if r["person"] == "2"][5]
    assert float(first["right_elbow"]) == pytest.approx(180 - 15, abs=1e-3) and "right_elbow_flexion" not in first
    text = angles_csv_text({})
    assert text.splitlines()[0].startswith("frame,time,person,right_elbow_flexion")


def test_angles_of_one_pose_match_the_csv_columns():
    p = make_pose(STANDING, track_id=1)
    row = csv_rows([p], 0, angles=True, time_s=0.0)[0]
    header = csv_header("COCO-18", angles=True)
    for name, v in angles(p).items():
        cell = row[header.index(name)]
        assert (cell is None and math.isnan(v)) or cell == pytest.approx(v, abs=1e-3)


def test_video_and_batch_write_angles_in_the_convention_asked(tmp_path):
    """--convention reaches the video pipeline's keypoint file and batch's angle file (columns and values)."""
    for command in ("video", "batch"):
        args = build_parser().parse_args([command, str(VIDEOS / "demo.mp4"), "-o", str(tmp_path / "x.mp4")])
        assert args.convention == "clinical"  # the default
    est = ReplayEstimator()
    for convention, column in (("clinical", "right_knee_flexion"), ("included", "right_knee")):
        angles = AngleCollector(tmp_path / f"{convention}.angles.csv", convention=convention)
        process_video(VIDEOS / "dance.avi", None, est, max_frames=10, keypoints_path=tmp_path / f"{convention}.csv",
                      keypoints_format="csv", sinks=[angles], convention=convention)
        for name in (f"{convention}.csv", f"{convention}.angles.csv"):
            rows = list(csv.DictReader(open(tmp_path / name)))
            assert column in rows[0] and ("right_knee" if convention == "clinical" else "right_knee_flexion") \
                not in rows[0], name
    clinical = list(csv.DictReader(open(tmp_path / "clinical.angles.csv")))
    included = list(csv.DictReader(open(tmp_path / "included.angles.csv")))
    pairs = [(float(a["right_knee_flexion"]), float(b["right_knee"])) for a, b in zip(clinical, included)
             if a["right_knee_flexion"]]
    assert pairs and all(abs(a - (180 - b)) < 2e-3 for a, b in pairs)
    with pytest.raises(InvalidInputError, match="convention"):
        Settings(angles=True, convention="degrees")
    assert KeypointWriter(tmp_path / "k.csv", "csv", convention="included").convention == "included"
