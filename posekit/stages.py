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

import collections
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
#: ``progress(done, total, eta_seconds)``
Progress = Callable[[int, int, float], None]


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


def report_progress(progress: Optional[Progress], total: int) -> Stage:
    """``progress(done, total, eta_s)`` as frames pass: on the first, then at most ~10 times a second, and once
    at the end with ``done == total`` (the total grows when the video holds more frames than announced)."""

    def stage(frames: Frames) -> Iterator[FrameRecord]:
        if progress is None:
            yield from frames
            return
        done, n, last_report, last_call = 0, total, 0.0, None
        t0 = time.perf_counter()
        for frame in frames:
            yield frame
            done += 1
            now = time.perf_counter()
            if now - last_report >= 0.1 or done == 1:
                last_report, n = now, max(n, done)
                last_call = (done, n)
                progress(done, n, (now - t0) / done * (n - done))
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


__all__ = ["LOOKAHEAD", "EstimatorFacts", "Progress", "Stage", "estimate", "estimator_facts", "report_progress",
           "run", "smooth", "track"]
