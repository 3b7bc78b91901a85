"""posekit.video: the decode -> estimate -> draw -> H.264 pipeline on real videos (dance.avi, demo.mp4)."""

from __future__ import annotations

import csv
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from posekit.video import VideoInfo, probe, process_video

from clips import read_frames, write_clip
from conftest import VIDEOS, read_image

DANCE = VIDEOS / "dance.avi"
DEMO = VIDEOS / "demo.mp4"


def stream_facts(path: Path) -> dict:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        facts = {"codec": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt, "width": v.width,
                 "height": v.height, "rate": v.average_rate, "audio": None}
        pts = [f.pts for f in c.decode(video=0)]
        facts["frames"] = len(pts)
        facts["pts"] = pts
        facts["time_base"] = v.time_base
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            samples = np.concatenate([f.to_ndarray().mean(axis=0) for f in c.decode(audio=0)])
            facts["audio"] = {"codec": a.codec_context.name, "rate": a.codec_context.sample_rate,
                              "samples": samples}
    return facts


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


# ----------------------------------------------------------------------------------------- dance.avi run


def test_probe_dance():
    info = probe(DANCE)
    assert info == VideoInfo(width=1280, height=720, fps=50.0, frames=205, duration_s=pytest.approx(4.1, abs=0.05),
                             rotation=0, has_audio=True, codec="h264")
    assert info.display_size == (1280, 720)


@pytest.fixture(scope="module")
def dance(fast_estimator, tmp_path_factory):
    d = tmp_path_factory.mktemp("dance")
    calls = []
    result = process_video(DANCE, d / "out.mp4", fast_estimator, keypoints_path=d / "poses.jsonl",
                           progress=lambda *a: calls.append(a), smooth=False)  # raw poses: compared below
    return d, result, calls


def test_dance_becomes_browser_playable_h264(dance):
    d, result, _ = dance
    assert result.path == d / "out.mp4" and result.frames == 205 and result.estimated == 205
    assert not result.truncated and result.message == ""
    facts = stream_facts(d / "out.mp4")
    assert facts["codec"] == "h264" and facts["pix_fmt"] == "yuv420p"
    assert (facts["width"], facts["height"]) == (1280, 720)
    assert facts["frames"] == 205 and facts["rate"] == 50
    # constant frame rate: equal steps of 1/50 s
    steps = {round(float((b - a) * facts["time_base"]), 6) for a, b in zip(facts["pts"], facts["pts"][1:])}
    assert steps == {0.02}
    data = (d / "out.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "not +faststart: the browser must download it all first"
    # dance.avi has a sound track: it is kept (AAC), as long as the video
    assert result.has_audio and facts["audio"]["codec"] == "aac"
    assert len(facts["audio"]["samples"]) / facts["audio"]["rate"] == pytest.approx(4.1, abs=0.05)


def test_dance_has_skeletons_drawn_where_the_keypoints_are(dance):
    d, _, _ = dance
    lines = (d / "poses.jsonl").read_text().splitlines()
    source = read_frames(DANCE)
    output = read_frames(d / "out.mp4")
    near, everywhere = [], []
    for i in (40, 100, 160):
        record = json.loads(lines[i])
        assert record["frame"] == i
        diff = np.abs(output[i].astype(np.int16) - source[i]).max(axis=2)
        everywhere.append(diff.mean())
        for person in record["people"]:
            for x, y, c in person["keypoints"]:
                if c > 0:
                    x, y = int(round(x)), int(round(y))
                    near.append(diff[max(0, y - 2):y + 3, max(0, x - 2):x + 3].mean())
    assert len(near) > 20
    assert np.mean(near) > 5 * np.mean(everywhere), (np.mean(near), np.mean(everywhere))


def test_dance_keypoints_per_frame(dance, fast_estimator):
    d, _, _ = dance
    records = [json.loads(line) for line in (d / "poses.jsonl").read_text().splitlines()]
    # the pipeline's poses are the estimator's on the same frame, in the frame's pixels
    frame = read_frames(DANCE, 101)[100]
    direct = np.array([p.keypoints for p in fast_estimator.estimate(frame)])
    # Within half a pixel: the decoder shrinks the 1280 x 720 frame to whole pixels (654 x 368, the network's
    # 368 rows) and maps back per axis, estimate() maps back with one scale for both (0.04 % apart in x).
    assert np.abs(np.array([p["keypoints"] for p in records[100]["people"]]) - direct).max() < 0.5
    assert [r["frame"] for r in records] == list(range(205))
    assert [r["time"] for r in records] == pytest.approx([i / 50 for i in range(205)])
    assert sum(bool(r["people"]) for r in records) > 0.9 * 205  # people dance in every frame
    w, h = 1280, 720
    pts = np.array([kp for r in records for p in r["people"] for kp in p["keypoints"] if kp[2] > 0])
    assert (pts[:, 0] >= 0).all() and (pts[:, 0] < w).all() and (pts[:, 1] >= 0).all() and (pts[:, 1] < h).all()


def test_progress_is_monotonic_and_reaches_the_total(dance):
    _, result, calls = dance
    assert len(calls) >= 2
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[0] >= 1
    assert all(total >= n and eta >= 0 for n, total, eta in calls)
    assert calls[-1] == (205, 205, 0.0)


def test_no_temporary_files_are_left(dance):
    d, _, _ = dance
    assert sorted(p.name for p in d.iterdir()) == ["out.mp4", "poses.jsonl"]


# -------------------------------------------------------------------------------------- options and limits


def test_every_fifth_frame_keeps_all_frames_and_reuses_poses(fast_estimator, tmp_path):
    result = process_video(DANCE, tmp_path / "every5.mp4", fast_estimator, every=5, draw=None,
                           keypoints_path=tmp_path / "poses.csv", keypoints_format="csv", smooth=False)
    assert result.frames == 205 and result.estimated == 41
    assert stream_facts(tmp_path / "every5.mp4")["frames"] == 205
    with open(tmp_path / "poses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_frame: dict[int, list] = {}
    for row in rows:
        by_frame.setdefault(int(row["frame"]), []).append([row[k] for k in row if k not in ("frame", "time")])
    assert len(by_frame) > 0.9 * 205
    groups = [[by_frame.get(i) for i in range(s, min(s + 5, 205))] for s in range(0, 205, 5)]
    assert all(all(g == grp[0] for g in grp) for grp in groups)  # the frames between reuse the poses
    assert len({json.dumps(grp[0]) for grp in groups}) > 30  # ... and new estimates differ


def test_max_seconds_caps_video_and_audio(fast_estimator, tmp_path):
    result = process_video(DANCE, tmp_path / "first_second.mp4", fast_estimator, max_seconds=1.0, every=10)
    assert result.frames == 50 and result.truncated
    assert "1-second limit" in result.message and "205" in result.message
    facts = stream_facts(tmp_path / "first_second.mp4")
    assert facts["frames"] == 50
    assert len(facts["audio"]["samples"]) / facts["audio"]["rate"] == pytest.approx(1.0, abs=0.05)


def test_max_frames_cap_and_output_height(fast_estimator, tmp_path):
    calls = []
    result = process_video(DANCE, tmp_path / "small.mp4", fast_estimator, max_frames=30, output_height=360,
                           progress=lambda *a: calls.append(a))
    assert result.frames == 30 and result.truncated and "30-frame limit" in result.message
    assert (result.width, result.height) == (640, 360)
    facts = stream_facts(tmp_path / "small.mp4")
    assert (facts["frames"], facts["width"], facts["height"]) == (30, 640, 360)
    assert calls[-1] == (30, 30, 0.0) and all(total == 30 for _, total, _ in calls)


def test_audio_track_is_kept(fast_estimator, tmp_path):
    frames = read_frames(DEMO)  # 5 frames, 960x540
    rate = 44100
    t = np.arange(rate) / rate  # 1 s at 5 fps
    src = write_clip(tmp_path / "with_sound.mp4", frames, fps=5,
                     audio=((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate))
    assert probe(src).has_audio
    result = process_video(src, tmp_path / "out.mp4", fast_estimator)
    assert result.has_audio and result.frames == 5
    audio = stream_facts(tmp_path / "out.mp4")["audio"]
    assert audio["codec"] == "aac" and audio["rate"] == rate
    assert len(audio["samples"]) / rate == pytest.approx(1.0, abs=0.05)
    assert dominant_frequency(audio["samples"], rate) == pytest.approx(440, abs=5)


def test_no_audio_stays_silent(fast_estimator, tmp_path):
    result = process_video(DEMO, tmp_path / "out.mp4", fast_estimator)
    assert not result.has_audio and stream_facts(tmp_path / "out.mp4")["audio"] is None


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_metadata_gives_upright_output(fast_estimator, tmp_path, rotation):
    upright = read_image("COCO_val2014_000000000241.jpg")  # 480 x 640 portrait, three people
    stored = np.ascontiguousarray(np.rot90(upright, -rotation // 90))  # what the phone's sensor recorded
    src = write_clip(tmp_path / "phone.mp4", [stored] * 4, fps=10, rotation=rotation)
    info = probe(src)
    assert info.rotation == rotation and info.display_size == (480, 640)
    result = process_video(src, tmp_path / "out.mp4", fast_estimator, draw=None,
                           keypoints_path=tmp_path / "poses.jsonl")
    assert (result.width, result.height) == (480, 640)
    out = read_frames(tmp_path / "out.mp4")
    assert len(out) == 4 and out[0].shape == upright.shape
    assert np.abs(out[0].astype(int) - upright).mean() < 6
    people = json.loads((tmp_path / "poses.jsonl").read_text().splitlines()[0])["people"]
    assert len(people) == len(fast_estimator.estimate(upright)) >= 2
    for p in people:  # upright people: neck above the hips
        kp = np.array(p["keypoints"])
        hips = kp[[8, 11]][kp[[8, 11], 2] > 0]
        if kp[1, 2] > 0 and len(hips):
            assert kp[1, 1] < hips[:, 1].min()


def test_variable_frame_rate_gives_constant_rate_and_keeps_every_frame(fast_estimator, tmp_path):
    frames = [cv2.resize(f, (320, 180), interpolation=cv2.INTER_AREA) for f in read_frames(DANCE, 30)]
    gaps = [10, 50] * 15  # ms: 100 and 20 fps alternating, 33.3 fps on average
    pts = list(np.cumsum([0] + gaps[:-1]))
    src = write_clip(tmp_path / "vfr.mp4", frames, fps=30, pts=pts, time_base=Fraction(1, 1000))
    src_facts = stream_facts(src)
    assert len({b - a for a, b in zip(src_facts["pts"], src_facts["pts"][1:])}) == 2  # really variable
    info = probe(src)
    result = process_video(src, tmp_path / "cfr.mp4", fast_estimator, every=3)
    facts = stream_facts(tmp_path / "cfr.mp4")
    assert result.frames == facts["frames"] == 30
    steps = {b - a for a, b in zip(facts["pts"], facts["pts"][1:])}
    assert len(steps) == 1  # constant
    assert float(facts["rate"]) == pytest.approx(info.fps, rel=1e-3)
    assert 25 < info.fps < 40  # the average rate


class _Boom(Exception):
    pass


@pytest.mark.parametrize("where", ["estimator", "estimator-thread", "draw", "progress", "on_frame"])
def test_a_failure_anywhere_leaves_nothing_behind(fast_estimator, tmp_path, where):
    calls = {"n": 0}

    def bomb(*_):
        calls["n"] += 1
        if calls["n"] == 8:
            raise _Boom(where)

    class Estimator:
        layout = fast_estimator.layout
        thread_safe = where == "estimator-thread"  # estimated in worker threads, frames ahead

        def estimate(self, bgr):
            if where.startswith("estimator"):
                bomb()
            return fast_estimator.estimate(bgr)

    def draw(img, poses):
        if where == "draw":
            bomb()
        return img

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(_Boom):
        process_video(DANCE, out / "out.mp4", Estimator(), draw=draw, keypoints_path=out / "poses.jsonl",
                      progress=bomb if where == "progress" else None,
                      on_frame=bomb if where == "on_frame" else None)
    assert list(out.iterdir()) == []
