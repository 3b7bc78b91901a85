"""Frame stages: the people in each frame of a video, added stage by stage, and :func:`run`, which composes a
source, stages and sinks.

A stage takes the iterator of :class:`~posekit.videoio.FrameRecord` s before it and yields the same records,
completed, in order: :func:`estimate` (the estimator on every k-th frame, the next frames estimated ahead in
worker threads when the estimator is thread-safe), :func:`track` (IDs across frames), :func:`smooth` (the
zero-phase pass, a few frames late) and :func:`report_progress` (the one progress rule). :func:`run` pulls a
:class:`~posekit.videoio.FrameSource` through stages into sinks (:mod:`posekit.sinks`) in the caller's thread,
and knows nothing of poses::

    source = FrameSource("clip.mp4", Limits(max_seconds=10), input_size=estimator_facts(est).input_size)
    run(source, [estimate(est), track(Tracker.for_fps(source.info.fps))], [KeypointWriter("clip.jsonl")])

:func:`estimator_facts` is the one place that asks an estimator what it can do.
"""

from __future__ import annotations

import bisect
import collections
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Optional, Sequence

from .errors import InvalidInputError
from .pose import Pose
from .smoothing import DelayedSmoother
from .tracking import Tracker
from .videoio import FrameRecord, FrameSource

#: Frames estimated concurrently when the estimator is thread-safe (posekit's is): overlaps the network of one
#: frame with the pre- and post-processing of the next.
LOOKAHEAD = 2

Frames = Iterable[FrameRecord]
Stage = Callable[[Frames], Iterator[FrameRecord]]
#: ``progress(done, total, eta_seconds)``; ``eta_seconds`` is NaN while the time left is not known yet
#: (:class:`TimeLeft`).
Progress = Callable[[int, int, float], None]
#: :class:`TimeLeft` measures the pace over at least this many seconds (over the later half of the run so far
#: when that is longer).
PACE_WINDOW_S = 2.0
#: :class:`TimeLeft` says nothing before this many frames came out after the first one ...
PACE_MIN_FRAMES = 3
#: ... over at least this many seconds.
PACE_MIN_S = 0.3


@dataclass(frozen=True)
class EstimatorFacts:
    """What a pipeline needs to know of an estimator: the network's input (width, height) for frames of a given
    size, or None (frames are then not shrunk ahead); whether ``estimate`` may run in several threads at once;
    the layout of its poses (for file headers), or None."""

    input_size: Optional[tuple[int, int]]
    thread_safe: bool
    layout: object  # a layout name or Layout


def estimator_facts(estimator, frame_size: Optional[tuple[int, int]] = None) -> EstimatorFacts:
    """Ask ``estimator`` what it says of itself: an :class:`posekit.estimator.Estimator` says everything
    (``network_size(w, h)``, chosen once per video; ``thread_safe``; ``layout``); anything else with
    ``estimate(bgr) -> list[Pose]`` may say less (a fixed ``input_size`` instead; not thread-safe unless it
    says so)."""
    size = None
    if frame_size is not None:
        network_size = getattr(estimator, "network_size", None)
        size = network_size(*frame_size) if callable(network_size) else getattr(estimator, "input_size", None)
    try:
        w, h = (int(v) for v in size)
        input_size = (w, h) if w > 0 and h > 0 else None
    except (TypeError, ValueError):
        input_size = None
    return EstimatorFacts(input_size, bool(getattr(estimator, "thread_safe", False)),
                          getattr(estimator, "layout", None))


# ------------------------------------------------------------------------------------------------ stages


def _estimate(estimator, frame: FrameRecord) -> list[Pose]:
    small = frame.network_image
    if small is None:
        return estimator.estimate(frame.image)
    bgr = frame.image
    sx, sy = bgr.shape[1] / small.shape[1], bgr.shape[0] / small.shape[0]
    return [pose.scaled(sx, sy) for pose in estimator.estimate(small)]


def estimate(estimator, every: int = 1, *, lookahead: Optional[int] = None) -> Stage:
    """Run ``estimator`` on every ``every``-th frame (``estimated`` set); the frames between get the last poses.

    With a ``lookahead`` (default: :data:`LOOKAHEAD` for a thread-safe estimator, else 0) the next frames are
    estimated in worker threads while the current one finishes: the estimator serialises its network, so one
    frame's letterboxing and grouping overlap another's forward pass.
    """
    every = int(every)
    if every < 1:
        raise InvalidInputError(f"every must be 1 or more, got {every}")
    ahead = (LOOKAHEAD if estimator_facts(estimator).thread_safe else 0) if lookahead is None else int(lookahead)

    def done(frame: FrameRecord, poses: Optional[list], last: list) -> list:
        frame.estimated = poses is not None
        frame.poses = poses if poses is not None else last
        frame.network_image = None
        return frame.poses

    def stage(frames: Frames) -> Iterator[FrameRecord]:
        last: list = []
        if not ahead:
            for frame in frames:
                last = done(frame, _estimate(estimator, frame) if frame.index % every == 0 else None, last)
                yield frame
            return
        pending: collections.deque = collections.deque()
        with ThreadPoolExecutor(ahead, thread_name_prefix="posekit-video-estimate") as pool:
            try:
                for frame in frames:
                    job = pool.submit(_estimate, estimator, frame) if frame.index % every == 0 else None
                    pending.append((frame, job))
                    while len(pending) > ahead:
                        frame, job = pending.popleft()
                        last = done(frame, job and job.result(), last)
                        yield frame
                while pending:
                    frame, job = pending.popleft()
                    last = done(frame, job and job.result(), last)
                    yield frame
            finally:
                for _, job in pending:
                    if job is not None:
                        job.cancel()

    return stage


def track(tracker: Tracker) -> Stage:
    """Give the people of each estimated frame their IDs (``tracker.update``); the frames between keep the last
    tracked poses. A pose the tracker leaves without an ID (a few joints lying on someone it matched: a fragment
    of that person, or no joint at all) is that person or nobody: it goes no further, so every person in a tracked
    video's files, overlay and angles has the one number of their track."""

    def stage(frames: Frames) -> Iterator[FrameRecord]:
        last: list = []
        for frame in frames:
            if frame.estimated:
                last = [p for p in tracker.update(frame.poses, frame.index) if p.track_id is not None]
            frame.poses = last
            yield frame

    return stage


def smooth(smoother: DelayedSmoother) -> Stage:
    """The zero-phase pass on each tracked person: frames come out ``smoother.delay`` frames late (only those
    are held), all of them by the end."""

    def stage(frames: Frames) -> Iterator[FrameRecord]:
        for frame in frames:
            for _, held, poses in smoother.push(frame.index, frame, frame.poses):
                held.poses = poses
                yield held
        for _, held, poses in smoother.flush():
            held.poses = poses
            yield held

    return stage


class TimeLeft:
    """The time left of a run, from the pace of its recent frames (the one rule behind every progress bar).

    The first frame of a run carries the start-up (the network's first runs, threads and decoders starting), so
    the pace is measured from the moment the first frame is out: the time before it says nothing of the frames
    to come. The pace is then measured over the later half of the time since (at least :data:`PACE_WINDOW_S`
    seconds): it follows a run that slows down or speeds up, without jumping with each frame. Until
    :data:`PACE_MIN_FRAMES` frames came out over at least :data:`PACE_MIN_S` seconds after the first one, the
    time left is not known (NaN).

    ``update(done, total, now)`` is called with every frame done (``now``: seconds on any clock that only goes
    forward) and returns the seconds left for the ``total - done`` frames still to come.
    """

    def __init__(self, window_s: float = PACE_WINDOW_S) -> None:
        self.window_s = float(window_s)
        self._times: list[float] = []  # when each frame came out, the first one included

    def update(self, done: int, total: int, now: float) -> float:
        self._times.append(float(now))
        if done >= total:
            return 0.0
        rate = self.rate(now)
        return (total - done) / rate if rate > 0 else math.nan

    def rate(self, now: float) -> float:
        """Frames per second over the recent window (NaN until measurable)."""
        times = self._times
        if len(times) - 1 < PACE_MIN_FRAMES or now - times[0] < PACE_MIN_S:
            return math.nan
        window = max(self.window_s, (now - times[0]) / 2)
        j = min(bisect.bisect_left(times, now - window), len(times) - 2)
        seconds = now - times[j]
        return (len(times) - 1 - j) / seconds if seconds > 0 else math.nan


def report_progress(progress: Optional[Progress], total: int, *,
                    clock: Callable[[], float] = time.perf_counter) -> Stage:
    """``progress(done, total, eta_s)`` as frames pass: on the first, then at most ~10 times a second, and once
    at the end with ``done == total`` (the total grows when the video holds more frames than announced).
    ``eta_s`` is :class:`TimeLeft`'s (NaN at first: not known yet). ``clock``: seconds (tests pass their own)."""

    def stage(frames: Frames) -> Iterator[FrameRecord]:
        if progress is None:
            yield from frames
            return
        done, n, last_report, last_call = 0, total, 0.0, None
        left = TimeLeft()
        for frame in frames:
            yield frame
            done += 1
            now = clock()
            n = max(n, done)
            eta = left.update(done, n, now)
            if now - last_report >= 0.1 or done == 1:
                last_report, last_call = now, (done, n)
                progress(done, n, eta)
        if done and last_call != (done, done):
            progress(done, done, 0.0)

    return stage


# -------------------------------------------------------------------------------------------------- the core


def run(source: FrameSource, stages: Sequence[Stage] = (), sinks: Sequence = ()) -> int:
    """Pull every frame of ``source`` through ``stages`` into every sink (in the caller's thread, in order),
    then finish and publish the sinks; returns the number of frames.

    On any error, from any thread: every thread is stopped, every sink aborted (no partial file stays) and the
    first error is raised.

    Raises:
        InvalidInputError: no frame could be decoded.
    """
    p = source.pipeline
    frames: Iterator[FrameRecord] = iter(source)
    for stage in stages:
        frames = stage(frames)
    count = 0
    try:
        for sink in sinks:
            sink.open(source)
        try:
            for frame in frames:
                for sink in sinks:
                    sink.write(frame)
                count += 1
        finally:  # stops the stages' threads (lookahead, decoder) at once, not when collected
            getattr(frames, "close", lambda: None)()
        if count == 0:
            raise InvalidInputError(f"{source.name} contains no decodable video frames")
        for sink in sinks:
            sink.finish()
        if p.error is not None:
            raise p.error
        for sink in sinks:
            sink.publish()
    except BaseException as exc:
        p.fail(exc)
        source.close()
        for sink in sinks:
            sink.abort()
        first = p.first_error(exc)
        if first is not exc:
            raise first from None
        raise
    return count


__all__ = ["LOOKAHEAD", "PACE_MIN_FRAMES", "PACE_MIN_S", "PACE_WINDOW_S", "EstimatorFacts", "Progress", "Stage",
           "TimeLeft", "estimate", "estimator_facts", "report_progress", "run", "smooth", "track"]
