"""The video path's parts composed from outside (posekit.videoio, posekit.stages, posekit.sinks): the same bytes
as process_video, sinks that leave nothing behind on an error, the one cap rule and message, no video encoded
that is not kept."""

from __future__ import annotations

import json
import math
import threading

import pytest

from posekit import export, sinks
from posekit.batch import Settings
from posekit.batch.inputs import Item
from posekit.batch.worker import Worker
from posekit.errors import InvalidInputError
from posekit.kinematics import angle_series
from posekit.sinks import AngleCollector, KeypointWriter, OpenPoseFolder, Tally, Thumbnails
from posekit.smoothing import DelayedSmoother
from posekit.stages import estimate, estimator_facts, report_progress, run, smooth, track
from posekit.tracking import Tracker
from posekit.video import process_video
from posekit.videoio import FrameSource, Limits, VideoInfo, probe

from conftest import VIDEOS

DANCE = VIDEOS / "dance.avi"
DEMO = VIDEOS / "demo.mp4"  # 5 frames, 960 x 540, 7 people, no sound


def _decoders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("posekit-video")]


@pytest.fixture(scope="module")
def demo_run(fast_estimator, tmp_path_factory):
    """process_video on demo.mp4 with every output a sink can give."""
    d = tmp_path_factory.mktemp("demo")
    seen = []
    result = process_video(DEMO, d / "out.mp4", fast_estimator, keypoints_path=d / "poses.jsonl",
                           on_frame=lambda *a: seen.append(a),
                           sinks=[AngleCollector(d / "angles.csv"), OpenPoseFolder(d / "json", "demo")])
    return d, result, seen


def test_stages_composed_from_outside_give_process_videos_bytes(demo_run, fast_estimator, tmp_path):
    d, result, _ = demo_run
    info = probe(DEMO)
    source = FrameSource(DEMO, Limits(), info=info,
                         input_size=estimator_facts(fast_estimator, info.display_size).input_size)
    fps = float(info.rate)
    thumbs, tally = Thumbnails(), Tally()
    n = run(source, [estimate(fast_estimator), track(Tracker.for_fps(fps)), smooth(DelayedSmoother(fps))],
            [tally, thumbs, KeypointWriter(tmp_path / "poses.jsonl", "jsonl", fast_estimator.layout)])
    assert n == result.frames == tally.frames == tally.estimated == 5
    assert (tmp_path / "poses.jsonl").read_bytes() == (d / "poses.jsonl").read_bytes()
    assert sorted(thumbs.by_id()) == sorted(result.people)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poses.jsonl"]  # no video, no temporary file
    assert not _decoders()


def test_angle_collector_and_openpose_folder(demo_run):
    d, result, seen = demo_run
    expected = export.angles_csv_text(angle_series(seen, fps=result.fps))
    assert (d / "angles.csv").read_bytes() == expected.encode()
    files = sorted((d / "json").iterdir())
    assert [f.name for f in files] == [f"demo_{i:012d}_keypoints.json" for i in range(5)]
    people = json.loads(files[2].read_text())["people"]
    assert len(people) == len(seen[2][2]) and all(p["person_id"][0] >= 1 for p in people)


def test_sinks_leave_nothing_behind_on_an_error(fast_estimator, tmp_path):
    calls = []

    def bomb(index, time_s, poses):
        calls.append(index)
        if index == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        process_video(DEMO, tmp_path / "out.mp4", fast_estimator, keypoints_path=tmp_path / "k.csv",
                      keypoints_format="csv", on_frame=bomb,
                      sinks=[OpenPoseFolder(tmp_path / "json", "demo"), AngleCollector(tmp_path / "a.csv")])
    assert calls == [0, 1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["json"] and not list((tmp_path / "json").iterdir())
    assert not _decoders()


def test_no_overlay_no_video(fast_estimator, tmp_path, monkeypatch):
    def no_encoder(*a, **kw):
        raise AssertionError("a video was encoded")

    monkeypatch.setattr(sinks, "VideoEncoder", no_encoder)
    result = process_video(DEMO, None, fast_estimator, keypoints_path=tmp_path / "k.jsonl", track=False)
    assert result.path is None and not result.has_audio and result.frames == 5 and result.ids == 0
    assert result.most_people == 7 and (result.width, result.height) == (960, 540)
    assert [p.name for p in tmp_path.iterdir()] == ["k.jsonl"]


def test_batch_encodes_no_video_it_does_not_keep(model_dir, tmp_path, monkeypatch):
    def no_encoder(*a, **kw):
        raise AssertionError("a video was encoded")

    monkeypatch.setattr(sinks, "VideoEncoder", no_encoder)
    settings = Settings(model="mobilenet_v2_0.5", keypoints="jsonl", angles=True, openpose_json=True)
    item = Item(str(DEMO), "demo.mp4", "video", DEMO.stat().st_size, DEMO.stat().st_mtime_ns)
    res = Worker(settings, tmp_path).run(item)
    assert res.status == "done", res.reason
    assert res.frames == 5 and res.outputs == "demo.mp4.keypoints.jsonl;demo.mp4.angles.csv;demo.mp4.openpose"
    assert len(list((tmp_path / "demo.mp4.openpose").iterdir())) == 5


def test_stopping_early_stops_the_decoder(fast_estimator):
    calls = []
    source = FrameSource(DANCE, Limits(max_seconds=2))
    frames = report_progress(lambda *a: calls.append(a), source.total)(iter(source))
    for frame in frames:
        if frame.index == 3:
            break
    frames.close()
    assert not _decoders() and calls[0][:2] == (1, 100) and math.isnan(calls[0][2])  # time left: not known yet


def test_a_source_is_read_once():
    source = FrameSource(DEMO)
    assert len(list(source)) == 5 and source.frames == 5 and not source.truncated and source.message == ""
    with pytest.raises(RuntimeError, match="once"):
        list(source)


def test_the_one_cap_rule_and_its_message():
    info = VideoInfo(width=1280, height=720, fps=50.0, frames=205, duration_s=4.1, rotation=0, has_audio=True,
                     codec="h264")
    assert Limits(30).expected(info) == 30 and Limits(None, 1.0).expected(info) == 50
    assert Limits(None).expected(info) == 205
    assert Limits(30).reached(30, 0.0) and not Limits(30).reached(29, 100.0)
    assert Limits(None, 1.0).reached(0, 1.0) and not Limits(None, 1.0).reached(10_000, 0.98)
    assert Limits(30).message(30, info, True) == ("Stopped at the 30-frame limit: processed 30 of about 205 frames "
                                                 "(0.6 of 4.1 s).")
    assert "the 1-second limit" in Limits(None, 1.0).message(50, info, True)
    assert "cut short" in Limits().message(120, info, False) and Limits().message(200, info, False) == ""
    for bad in ({"max_frames": 0}, {"max_seconds": 0}, {"max_seconds": -2}):
        with pytest.raises(InvalidInputError):
            Limits(**bad)


def test_estimator_facts_of_a_duck_typed_estimator(fast_estimator):
    class Plain:
        def estimate(self, bgr):
            return []

    class Fixed(Plain):
        input_size = (432, 368)
        layout = "COCO-18"

    facts = estimator_facts(Plain(), (1280, 720))
    assert (facts.input_size, facts.thread_safe, facts.layout) == (None, False, None)
    assert estimator_facts(Fixed(), (1280, 720)).input_size == (432, 368)
    own = estimator_facts(fast_estimator, (1280, 720))
    assert own.thread_safe and own.input_size == fast_estimator.network_size(1280, 720)


def test_a_tracked_video_numbers_every_person_once_per_frame(tmp_path):
    """Issue 19: untracked fragments used to be written with their place in the frame's list, taking a tracked
    person's number (two rows of person 4 in one frame of dance.avi); now every row of a tracked video has an ID
    and no ID appears twice in a frame."""
    import collections
    import json

    from posekit.video import process_video

    from tests.conftest import VIDEOS
    from tests.golden.replay import ReplayEstimator

    process_video(VIDEOS / "dance.avi", None, ReplayEstimator(), max_seconds=3, keypoints_path=tmp_path / "k.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "k.jsonl").read_text().splitlines()]
    assert len(lines) == 150
    people = [p for line in lines for p in line["people"]]
    assert people and all("id" in p for p in people)
    for line in lines:
        ids = collections.Counter(p["id"] for p in line["people"])
        assert max(ids.values(), default=1) == 1, (line["frame"], ids)
