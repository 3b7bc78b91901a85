"""Tracking on synthetic sequences: crossing people keep their IDs, a missing person comes back, new people get
new IDs. (Real media: tests/test_tracking_media.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from posekit.pose import Pose
from posekit.tracking import Tracker, person_numbers

from test_kinematics import STANDING, make_pose


def person_at(x: float, y: float = 0.0, rng=None, jitter: float = 0.0, drop=()) -> Pose:
    pts = {k: (vx - 100 + x, vy + y) for k, vx_vy in STANDING.items() for vx, vy in [vx_vy] if k not in drop}
    pose = make_pose(pts)
    if rng is not None and jitter:
        vis = pose.keypoints[:, 2] > 0
        pose.keypoints[vis, :2] += rng.normal(0, jitter, (int(vis.sum()), 2)).astype(np.float32)
    return pose


def id_switches(history: list[dict[str, int]]) -> int:
    """Times a ground-truth person's ID differs from the ID it had before."""
    switches, last = 0, {}
    for frame in history:
        for who, tid in frame.items():
            if who in last and last[who] != tid:
                switches += 1
            last[who] = tid
    return switches


@pytest.mark.parametrize("occlude", [False, True])
@pytest.mark.parametrize("speed", [4.0, 12.0])
def test_two_people_crossing_keep_their_ids(occlude, speed):
    """A walks right, B walks left along the same line: their boxes overlap for many frames and, at the middle,
    their skeletons coincide; with ``occlude`` B, behind A, is not detected for 5 frames around the crossing."""
    rng = np.random.default_rng(1)
    tracker = Tracker()
    history = []
    n = int(400 / speed) + 1
    mid = n // 2
    for t in range(n):
        a = person_at(100 + speed * t, rng=rng, jitter=1.5)
        b = person_at(500 - speed * t, 4, rng=rng, jitter=1.5)
        people = {"A": a, "B": b}
        if occlude and abs(t - mid) <= 2:
            del people["B"]
        order = list(people.items())
        if t % 2:
            order.reverse()  # the estimator's order of people changes from frame to frame
        tracker.update([p for _, p in order], t)
        history.append({who: p.track_id for who, p in people.items()})
    assert history[0]["A"] != history[0]["B"]
    overlap = [t for t in range(n) if abs((100 + speed * t) - (500 - speed * t)) < 40]
    assert len(overlap) >= 2  # the boxes (40 px wide) really overlap
    assert id_switches(history) == 0
    assert {history[-1]["A"], history[-1]["B"]} == {1, 2}
    assert tracker.ids_issued == 2


def test_missing_person_returns_with_same_id_and_new_person_gets_new_id():
    tracker = Tracker(max_unseen=30)
    ids = []
    for t in range(60):
        people = []
        if not 10 <= t < 18:  # unseen for 8 frames (an occlusion)
            people.append(person_at(100 + 3 * t))
        if t >= 30:  # a newcomer far away
            people.append(person_at(600, 10))
        tracker.update(people, t)
        ids.append([p.track_id for p in people])
    # the walker kept ID 1 across the gap (predicted to where it came back)
    assert all(i[0] == 1 for t, i in enumerate(ids) if not 10 <= t < 18)
    assert all(i[1] == 2 for i in ids[30:])
    assert tracker.ids_issued == 2


def test_retired_ids_are_never_reused_and_one_missed_frame_keeps_the_id():
    tracker = Tracker(max_unseen=5)
    tracker.update([person_at(100)], 0)
    tracker.update([], 1)  # a missed frame
    assert tracker.update([person_at(101)], 2)[0].track_id == 1
    for f in range(3, 12):
        tracker.update([], f)  # gone for longer than max_unseen: retired
    assert tracker.update([person_at(100)], 12)[0].track_id == 2  # same place, but a new ID
    assert [t.id for t in tracker.tracks] == [2]


def test_a_jump_across_the_image_is_a_new_person():
    tracker = Tracker()
    tracker.update([person_at(100)], 0)
    assert tracker.update([person_at(900)], 1)[0].track_id == 2


def test_partial_poses_and_frame_skips():
    """Every 3rd frame only, the person losing half their joints: still one ID."""
    tracker = Tracker()
    for t in range(0, 60, 3):
        drop = ("RWrist", "RElbow", "RKnee", "RAnkle", "Nose") if t % 2 else ("LWrist", "LHip", "LAnkle")
        assert tracker.update([person_at(50 + 5 * t, drop=drop)], t)[0].track_id == 1


def test_person_numbers_and_empty_pose():
    tracker = Tracker()
    empty = Pose(np.zeros((18, 3), np.float32), 0.0)
    out = tracker.update([person_at(100), empty])
    assert out[0].track_id == 1 and out[1].track_id is None
    untracked = [person_at(100), person_at(300)]
    assert person_numbers(untracked) == [1, 2]
    assert person_numbers(out) == [1, 2]  # the empty pose gets its place


class WalkingEstimator:
    """Finds two people walking apart, with jitter: frame n (from the pixel value) shows them at 100 ± 3n."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def estimate(self, bgr):
        n = int(bgr[0, 0, 0])
        return [person_at(300 + 3 * n, rng=self.rng, jitter=2.0), person_at(100 - 3 * n + 600, 5, rng=self.rng,
                                                                               jitter=2.0)][::1 if n % 2 else -1]


def _live_walk(smooth: bool):
    """IDs and x of the neck per frame of two walkers through a LiveProcessor, frames timed as a 30 fps camera
    times them (their own timestamps: the result cannot depend on how busy the machine is)."""
    from posekit.live import LiveProcessor

    def no_wall_clock():
        raise AssertionError("frames with their own time must not read the wall clock")

    live = LiveProcessor(WalkingEstimator(), clock=no_wall_clock, smooth=smooth)
    ids, xs = [], []
    for n in range(30):
        live.submit(np.full((120, 160, 3), n, np.uint8), t=n / 30)
        assert live.flush(5)
        poses = live.latest().poses
        ids.append(sorted(p.track_id for p in poses))
        xs.append({p.track_id: p.keypoints[1, 0] for p in poses})
    live.close()
    return ids, xs


def _jitter(track: np.ndarray) -> float:
    t = np.arange(len(track))
    return float((track - np.polyval(np.polyfit(t, track, 1), t)).std())


def test_live_processor_tracks_and_smooths_per_session():
    from posekit.live import LiveProcessor

    ids, xs = _live_walk(smooth=True)
    _, raw = _live_walk(smooth=False)
    assert all(i == [1, 2] for i in ids)
    right = min(xs[0], key=xs[0].get)  # the one starting on the left walks right
    left = 3 - right
    for who, sign in ((right, 1), (left, -1)):  # each ID still following its walker, at 3 px a frame
        track = np.array([x[who] for x in xs[5:]], np.float64)
        steps = sign * np.diff(track)
        assert np.mean(steps) == pytest.approx(3.0, abs=0.5) and (steps > 0).mean() >= 0.9, steps
        # smoothed: well under the jitter of the same walker unsmoothed
        assert _jitter(track) < 0.8 * _jitter(np.array([x[who] for x in raw[5:]], np.float64))
    untracked = LiveProcessor(WalkingEstimator(), track=False)
    untracked.submit(np.zeros((120, 160, 3), np.uint8))
    assert untracked.flush(5)
    assert all(p.track_id is None for p in untracked.latest().poses)
    untracked.close()


# --- a low analysed frame rate (issue 21, step 4): gates scale with time -------------------------------------

def _low_rate_ids(fps: float, speed: float, use_time: bool, misses=(), seconds: float = 12.0, seed: int = 3):
    """One person (40 x 230 px), still or walking at ``speed`` px/s, analysed ``fps`` times a second by a 30 fps
    camera (the frame index jumps by 30 / fps, give or take a frame); updates in ``misses`` find nobody."""
    rng = np.random.default_rng(seed)
    tracker = Tracker(max_unseen=30)  # as the webcam builds it: 1 s at 30 fps
    ids = []
    for k in range(int(seconds * fps)):
        t = k / fps + rng.uniform(-0.03, 0.03)
        people = [] if k in misses else [person_at(100 + speed * t, rng=rng, jitter=3.0)]
        if use_time:
            tracker.update(people, t=t)
        else:
            tracker.update(people, int(round(t * 30)))
        ids += [p.track_id for p in people]
    return ids, tracker


@pytest.mark.parametrize("fps", [2.0, 3.0])
@pytest.mark.parametrize("speed", [0.0, 40.0])
def test_a_still_or_slow_person_keeps_one_id_at_two_or_three_frames_a_second(fps, speed):
    """The webcam at 2-3 analysed frames per second: one ID for a still or slowly walking person (40 px/s, a
    sixth of their height a second), missed now and then, twice in a row too (1 s unseen at 2 fps)."""
    misses = {3, 7, 8, 15, 19, 20}
    ids, tracker = _low_rate_ids(fps, speed, use_time=True, misses=misses)
    assert set(ids) == {1} and tracker.ids_issued == 1
    assert tracker.interval == pytest.approx(30 / fps, rel=0.15)  # frames of time between updates


def test_time_and_frame_indices_are_the_same_clock():
    """``update(poses, t=seconds)`` is ``update(poses, frame)`` at the tracker's nominal rate: old calls keep
    working and give the same IDs."""
    by_time, _ = _low_rate_ids(2.0, 40.0, use_time=True, misses={4, 5})
    by_frame, _ = _low_rate_ids(2.0, 40.0, use_time=False, misses={4, 5})
    assert by_time == by_frame == [1] * len(by_time)
    tracker = Tracker()
    tracker.update([person_at(100)])
    tracker.update([person_at(102)])  # no frame given: the next one
    assert tracker.frame == 1 and tracker.ids_issued == 1


def test_a_person_who_left_is_retired_after_the_time_and_the_updates():
    """Retired only when unseen for ``max_unseen`` frames of time *and* ``min_missed`` updates: at 2 analysed
    frames a second a person gone for 1.5 s (three updates) comes back with a new ID, one missed twice does not."""
    tracker = Tracker(max_unseen=30)
    for k in range(4):
        tracker.update([person_at(100)], t=k / 2)
    for k in range(4, 6):  # missed twice: 1 s unseen, kept
        tracker.update([], t=k / 2)
    back = person_at(100)
    tracker.update([back], t=3.0)
    assert back.track_id == 1
    for k in range(7, 10):  # gone for three updates (1.5 s): retired
        tracker.update([], t=k / 2)
    again = person_at(100)
    tracker.update([again], t=5.0)
    assert again.track_id == 2


def test_live_processor_times_frames_by_their_timestamps_or_its_clock():
    """issue 22 item 9: a camera frame's own timestamp times tracking and smoothing; without one, the injected
    clock does (never the machine's wall clock behind the caller's back)."""
    from fractions import Fraction

    import av

    from posekit.live import LiveProcessor

    ticks = iter(np.arange(0.0, 100.0, 0.1))
    seen = []
    live = LiveProcessor(WalkingEstimator(), clock=lambda: float(next(ticks)))
    smoother = live._smoother

    def recording(poses, t):
        seen.append(t)
        return smoother(poses, t)

    live._smoother = recording
    frame = av.VideoFrame.from_ndarray(np.zeros((120, 160, 3), np.uint8), format="bgr24")
    frame.pts, frame.time_base = 450, Fraction(1, 90)  # 5.0 s into the stream
    live.on_video_frame(frame)
    assert live.flush(5)
    live.submit(np.full((120, 160, 3), 1, np.uint8))  # no timestamp: the clock's next tick
    assert live.flush(5)
    live.close()
    assert seen == [pytest.approx(5.0), pytest.approx(0.0)]
