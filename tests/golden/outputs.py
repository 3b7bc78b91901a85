"""The golden outputs: every file and number the pipeline makes from the replayed poses, as digests."""

from __future__ import annotations

import json
from pathlib import Path

from posekit.cli import main as cli
from posekit.compare import compare_videos
from posekit.draw import draw_poses
from posekit.export import csv_text, openpose_json
from posekit.imageio import encode_image, load_image
from posekit.kinematics import angle_table
from posekit.similarity import compare
from posekit.video import process_video

from .replay import SECONDS, ReplayEstimator, make_attempt, sha256, video_digest


def _file(path: Path) -> str:
    return sha256(Path(path).read_bytes())


def _pictures(people: dict) -> str:
    return sha256(b"".join(str(k).encode() + v.tobytes() for k, v in sorted(people.items())))


def photo_outputs(shared: Path, est: ReplayEstimator) -> dict[str, str]:
    out = {}
    poses_of = {}
    for path in sorted((shared / "media" / "images").glob("*.jpg")):
        img = load_image(path)
        poses = est.estimate(img)
        poses_of[path.stem] = poses
        out[f"photo/{path.stem}/overlay.png"] = sha256(encode_image(draw_poses(img, poses, labels=True), ".png"))
        out[f"photo/{path.stem}/openpose.json"] = sha256(json.dumps(openpose_json(poses)).encode())
        out[f"photo/{path.stem}/keypoints.csv"] = sha256(csv_text(poses).encode())
        out[f"photo/{path.stem}/angles"] = sha256(json.dumps([angle_table(p) for p in poses]).encode())
    sims = {f"{a}-{b}": [round(compare(pa, pb, mirror=True).score, 6) for pa in poses_of[a][:3] for pb in
                         poses_of[b][:3]] for a, b in (("p3", "handsup1"), ("golf", "ski"), ("p2", "p3"))}
    out["photo/similarity"] = sha256(json.dumps(sims, sort_keys=True).encode())
    return out


def video_outputs(shared: Path, tmp: Path, est: ReplayEstimator) -> dict[str, str]:
    dance = shared / "media" / "videos" / "dance.avi"
    out = {}
    r = process_video(dance, tmp / "a.mp4", est, max_seconds=SECONDS, keypoints_path=tmp / "a.csv",
                      keypoints_format="csv")
    out["video/default/overlay.mp4"] = video_digest(tmp / "a.mp4")
    out["video/default/keypoints.csv"] = _file(tmp / "a.csv")
    out["video/default/people"] = _pictures(r.people)
    out["video/default/result"] = sha256(json.dumps([r.frames, r.estimated, r.ids, r.truncated, r.message,
                                                     r.width, r.height]).encode())
    r = process_video(dance, tmp / "b.mp4", est, max_seconds=SECONDS, keypoints_path=tmp / "b.jsonl",
                      every=2, smooth=False, output_height=240)
    out["video/every2/overlay.mp4"] = video_digest(tmp / "b.mp4")
    out["video/every2/keypoints.jsonl"] = _file(tmp / "b.jsonl")
    r = process_video(dance, tmp / "c.mp4", est, max_seconds=SECONDS, keypoints_path=tmp / "c.jsonl",
                      track=False, draw=None)
    out["video/untracked/keypoints.jsonl"] = _file(tmp / "c.jsonl")
    assert cli(["angles", str(tmp / "a.csv"), "--output", str(tmp / "ang.csv"), "--trc", str(tmp / "px.trc"),
                "--mot", str(tmp / "a.mot")]) == 0
    assert cli(["angles", str(tmp / "a.csv"), "--output", str(tmp / "ang2.csv"), "--trc", str(tmp / "m.trc"),
                "--height", "1.7"]) == 0
    for name in ("ang.csv", "px.trc", "a.mot", "m.trc"):
        out[f"angles/{name}"] = _file(tmp / name)
    return out


def compare_outputs(shared: Path, tmp: Path, est: ReplayEstimator) -> dict[str, str]:
    dance = shared / "media" / "videos" / "dance.avi"
    attempt = make_attempt(dance, tmp / "attempt.mkv")
    comparison, ref, att = compare_videos(dance, attempt, est, max_seconds=SECONDS, output=tmp / "sbs.mp4",
                                          report=tmp / "report.csv")
    return {
        "compare/report.csv": _file(tmp / "report.csv"),
        "compare/side_by_side.mp4": video_digest(tmp / "sbs.mp4"),
        "compare/summary": sha256(comparison.summary().encode()),
        "compare/people": _pictures(ref.thumbnails) + _pictures(att.thumbnails),
    }


def golden_outputs(shared: Path, tmp: Path) -> dict[str, str]:
    est = ReplayEstimator()
    return {**photo_outputs(shared, est), **video_outputs(shared, tmp, est), **compare_outputs(shared, tmp, est)}
