"""The time left shown under every progress bar (posekit.stages.TimeLeft, report_progress): it settles within the
first seconds and stays within ±30 % of the real remaining time from 20 % of the way.

The rule is checked on a fake clock (a start-up as slow as a model's first runs, then a steady pace, then a
slower one), and on a real run of dance.avi timed by the process's CPU clock: the predictions are compared with
the remaining CPU time of the same run, so what other programs do on the machine changes neither.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from posekit.sinks import OverlayVideo
from posekit.smoothing import DelayedSmoother
from posekit.stages import PACE_MIN_FRAMES, TimeLeft, estimate, estimator_facts, report_progress, run, smooth, track
from posekit.tracking import Tracker
from posekit.videoio import FrameSource, Limits

from conftest import VIDEOS


def _replay(durations: list[float], start_s: float = 0.0) -> tuple[list[tuple], list[float]]:
    """report_progress over len(durations) frames on a fake clock, frame k done ``durations[k]`` seconds after
    the one before (the first ``start_s`` seconds after the start): the calls ``(done, total, eta, time)`` and
    when each frame was done."""
    done_at = [float(t) for t in np.cumsum([start_s + durations[0], *durations[1:]])]
    ticks, now, calls = iter(done_at), [], []

    def clock() -> float:
        now.append(next(ticks))
        return now[-1]

    stage = report_progress(lambda *a: calls.append((*a, now[-1])), len(durations), clock=clock)
    assert sum(1 for _ in stage(iter(range(len(durations))))) == len(durations)
    return calls, done_at


def _errors(calls, done_at, since: float, after_s: float = -math.inf) -> list[float]:
    """(predicted - actual) / actual of every known time left from ``since`` (a fraction of the way) until 95 %,
    said at ``after_s`` or later."""
    n, end = len(done_at), done_at[-1]
    return [(eta - (end - t)) / (end - t) for done, total, eta, t in calls
            if since * n <= done < 0.95 * n and t >= after_s and not math.isnan(eta)]


def test_a_slow_start_does_not_inflate_the_time_left():
    """A 4-second start-up (the first frame: the network's first runs), then 20 frames a second for 200 frames:
    the old rule (all the time since the start / frames done) said about 13 minutes on the first frame and
    still three times too much at 20 % of the way; the time left is known after a few frames and right."""
    calls, done_at = _replay([0.05] * 200, start_s=4.0)
    assert calls[0][:2] == (1, 200) and math.isnan(calls[0][2])  # the first frame says nothing of the pace
    known = [c for c in calls if not math.isnan(c[2])]
    assert known[0][3] - done_at[0] <= 0.5  # known half a second after the first frame
    errors = _errors(calls, done_at, since=0.0)
    assert max(abs(e) for e in errors) < 0.05  # a steady pace: right from the first estimate
    assert calls[-1][:3] == (200, 200, 0.0)


def test_the_time_left_follows_a_run_that_slows_down():
    """The pace halves at 40 % of the way (another program takes half the machine): within a few seconds the
    time left says so again, within ±30 %."""
    calls, done_at = _replay([0.05] * 80 + [0.1] * 120, start_s=3.0)
    assert max(abs(e) for e in _errors(calls, done_at, 0.2, after_s=done_at[80] + 4.0)) <= 0.3
    assert max(abs(e) for e in _errors(calls, done_at, 0.2)) < 0.6  # never far off, even as it changes


def test_time_left_is_not_known_before_a_few_frames():
    left = TimeLeft()
    assert math.isnan(left.update(1, 100, 10.0))  # the first frame, after the start-up
    assert math.isnan(left.update(2, 100, 10.1))
    for k in range(3, 3 + PACE_MIN_FRAMES):
        eta = left.update(k, 100, 10.0 + 0.1 * (k - 1))
    assert eta == pytest.approx((100 - k) * 0.1)
    assert left.update(100, 100, 20.0) == 0.0


def test_time_left_of_a_real_run_on_the_cpu_clock(fast_estimator, tmp_path):
    """dance.avi through the Video page's path (decode, estimate ahead, track, smooth, the overlay encoded), its
    progress timed by this process's CPU clock: the time left is known within the first CPU-seconds, and every
    time left shown (until 95 % of the way) is within ±30 % of the CPU time the same run then still took to
    finish its frames; the first frame's start-up (the network's first runs) does not inflate it."""
    src = VIDEOS / "dance.avi"
    source = FrameSource(src, Limits(), input_size=estimator_facts(fast_estimator, (1280, 720)).input_size)
    calls: list[tuple] = []
    fps = float(source.info.rate)

    def progress(done, total, eta):
        calls.append((done, total, eta, time.process_time()))

    t0 = time.process_time()
    steps = [estimate(fast_estimator), track(Tracker.for_fps(fps)),
             report_progress(progress, source.total, clock=time.process_time), smooth(DelayedSmoother(fps))]
    n = run(source, steps, [OverlayVideo(tmp_path / "out.mp4")])
    assert n == 205 and calls[-1][:3] == (205, 205, 0.0)
    last = next(t for done, _, _, t in calls if done == n)  # the CPU time when the last frame came out
    known = [(done, eta, t) for done, _, eta, t in calls[:-1] if not math.isnan(eta)]
    assert known and known[0][2] - t0 <= 3.0  # known within the first CPU-seconds
    errors = [(eta - (last - t)) / (last - t) for done, eta, t in known if done < 0.95 * n]
    assert len(errors) >= 10
    assert max(abs(e) for e in errors) <= 0.3, errors
