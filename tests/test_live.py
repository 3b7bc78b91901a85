"""LiveProcessor: latest-frame-wins live processing on real video frames."""

from __future__ import annotations

import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from posekit.live import LiveProcessor
from posekit.pose import Pose

from conftest import VIDEOS


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Eight real frames of people dancing (every 20th frame of dance.avi, halved to 640x360)."""
    out = []
    with av.open(str(VIDEOS / "dance.avi")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 20 == 0:
                out.append(frame.reformat(width=640, height=360).to_ndarray(format="bgr24"))
            if len(out) == 8:
                break
    assert len(out) == 8
    return out


class GatedEstimator:
    """Wraps a real estimator; each call blocks until the test opens the gate, and records concurrency."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.calls: list[np.ndarray] = []
        self._active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def estimate(self, bgr, threshold=None):
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
            self.calls.append(bgr)
        self.entered.set()
        try:
            assert self.gate.wait(30), "test never opened the gate"
            if threshold is None:
                return self.inner.estimate(bgr)
            return self.inner.estimate(bgr, threshold=threshold)
        finally:
            with self._lock:
                self._active -= 1


def test_processes_real_frames_and_measures_fps(fast_estimator, frames):
    with LiveProcessor(fast_estimator) as live:
        assert live.stats().fps == 0.0
        for f in frames[:4]:
            live.submit(f)
            assert live.flush(60)
        stats = live.stats()
        result = live.latest()
    assert stats.processed == 4 and stats.dropped == 0 and stats.received == 4
    assert stats.fps > 0 and stats.latency_ms > 0
    # the dancers are found, in the processed frame's pixel coordinates
    assert result.error is None
    assert len(result.poses) >= 1 and stats.people == len(result.poses)
    assert result.frame_index == 4 and result.frame_shape == (360, 640)
    for p in result.poses:
        x0, y0, x1, y1 = p.bbox()
        assert 0 <= x0 <= x1 <= 640 and 0 <= y0 <= y1 <= 360


def test_process_draws_latest_poses_without_waiting(fast_estimator, frames):
    with LiveProcessor(fast_estimator) as live:
        first = live.process(frames[0])  # nothing estimated yet: the frame comes back undrawn
        assert np.array_equal(first, frames[0]) and first is not frames[0]
        assert live.flush(60)
        drawn = live.process(frames[0])
        assert live.flush(60)
    assert drawn.shape == frames[0].shape
    assert np.count_nonzero(np.any(drawn != frames[0], axis=2)) > 500  # skeletons are on it


def test_poses_are_rescaled_to_the_frame_they_are_drawn_on(fast_estimator, frames):
    seen = []

    def renderer(img, poses):
        seen.append((img.shape[:2], poses))
        return img

    big = frames[0]
    small = big[::2, ::2].copy()
    with LiveProcessor(fast_estimator, renderer=renderer) as live:
        live.submit(big)
        assert live.flush(60)
        base = live.latest().poses
        live.process(small)
        assert live.flush(60)
    shape, scaled = seen[-1]
    assert shape == small.shape[:2] and len(scaled) == len(base) >= 1
    vis = base[0].visible
    np.testing.assert_allclose(scaled[0].keypoints[vis, :2], base[0].keypoints[vis, :2] * 0.5, rtol=1e-5)


def test_stale_frames_are_dropped_and_the_newest_wins(fast_estimator, frames):
    slow = GatedEstimator(fast_estimator)
    with LiveProcessor(slow) as live:
        live.submit(frames[0])
        assert slow.entered.wait(30)  # the worker is busy with frame 1
        for f in frames[1:]:
            live.submit(f)  # each one replaces the previous waiting frame
        mid = live.stats()
        assert mid.received == 8 and mid.dropped == 6 and mid.processed == 0
        slow.gate.set()
        assert live.flush(60)
        stats, result = live.stats(), live.latest()
    assert stats.processed == 2 and stats.dropped == 6 and stats.received == 8
    assert len(slow.calls) == 2
    assert slow.calls[0] is frames[0] and slow.calls[1] is frames[-1]
    assert result.frame_index == 8


def test_callers_never_wait_for_a_slow_estimator(fast_estimator, frames):
    slow = GatedEstimator(fast_estimator)
    with LiveProcessor(slow) as live:
        outs = [live.process(f) for f in frames]  # would deadlock here if process() waited for inference
        assert len(outs) == len(frames)
        slow.gate.set()
        assert live.flush(60)


def test_thread_safety_under_concurrent_callers(fast_estimator, frames):
    counting = GatedEstimator(fast_estimator)
    counting.gate.set()
    errors = []
    outputs = []
    live = LiveProcessor(counting, threshold=0.15)

    def caller(k):
        try:
            for i in range(6):
                f = frames[(k + i) % len(frames)]
                out = live.process(f)
                outputs.append(out.shape == f.shape)
                live.stats()
                live.latest()
                if i == 3:
                    live.threshold = 0.1 + 0.01 * k
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert live.flush(60)
    stats = live.stats()
    live.close()
    assert not errors
    assert len(outputs) == 24 and all(outputs)
    assert stats.received == 24
    assert stats.processed + stats.dropped == 24
    assert stats.processed == len(counting.calls) >= 1
    assert counting.max_active == 1  # the estimator is never entered twice at once
    assert not live.running


def test_worker_ends_when_idle_and_restarts(fast_estimator, frames):
    live = LiveProcessor(fast_estimator, idle_timeout=0.05)
    live.submit(frames[0])
    assert live.flush(60)
    for _ in range(200):
        if not live.running:
            break
        threading.Event().wait(0.05)
    assert not live.running
    live.submit(frames[1])
    assert live.flush(60)
    assert live.stats().processed == 2
    live.close()
    with pytest.raises(RuntimeError):
        live.submit(frames[0])


def test_estimator_errors_are_reported_not_raised(frames):
    class Broken:
        def estimate(self, bgr, threshold=None):
            raise ValueError("net exploded")

    with LiveProcessor(Broken()) as live:
        out = live.process(frames[0])
        assert live.flush(30)
        assert live.latest().error == "ValueError: net exploded"
        assert live.stats().processed == 1
        assert out.shape == frames[0].shape


def test_av_frame_callback_round_trip(fast_estimator, frames):
    frame = av.VideoFrame.from_ndarray(frames[2], format="bgr24")
    frame.pts = 1234
    frame.time_base = Fraction(1, 90000)
    with LiveProcessor(fast_estimator) as live:
        live.on_video_frame(frame)
        assert live.flush(60)
        out = live.on_video_frame(frame)
    assert isinstance(out, av.VideoFrame) and out.pts == 1234 and out.time_base == Fraction(1, 90000)
    img = out.to_ndarray(format="bgr24")
    assert img.shape == frames[2].shape and np.any(img != frames[2])


def test_live_matching_against_a_reference(fast_estimator, frames):
    ref_poses = fast_estimator.estimate(frames[0])
    assert ref_poses
    from posekit.pose import most_prominent

    reference = ref_poses[most_prominent(ref_poses)]
    with LiveProcessor(fast_estimator, reference=reference) as live:
        live.submit(frames[0])
        assert live.flush(60)
        same = live.stats()
        live.submit(frames[-1])
        assert live.flush(60)
        other = live.stats()
        live.set_reference(None)
        assert live.stats().match is None
    assert same.match is not None and other.match is not None
    assert same.match.score > 95  # a pose compared to itself
    assert 0 <= other.match.score < same.match.score
    assert same.worst == ()  # nothing differs from itself
    assert 1 <= len(other.worst) <= 3
    assert all(d.agreement < 1 for d in other.worst)
    assert isinstance(reference, Pose)
