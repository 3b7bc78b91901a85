"""Live (webcam) processing that never falls behind the camera.

:class:`LiveProcessor` keeps a one-frame mailbox: :meth:`LiveProcessor.submit` puts the newest frame there,
replacing (dropping) one that was not picked up yet, and a worker thread estimates poses on whatever frame is
newest when it becomes free. :meth:`LiveProcessor.process` submits a frame and returns it immediately with the
latest known poses drawn on it, so a video callback never blocks on inference and lag never grows: when the
network is slower than the camera, the skeletons update at the network's rate while the video keeps the camera's.

The processor also measures the processing rate (an exponential moving average) and, when given a reference
pose, scores the most prominent person of each processed frame against it. Everything the UI reads
(:meth:`stats`, :meth:`latest`) is a consistent snapshot taken under a lock.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import av
import numpy as np

from .draw import draw_person_labels, draw_poses
from .pose import Pose, image_size, most_prominent
from .similarity import compare
from .smoothing import OneEuroSmoother
from .tracking import Tracker

Renderer = Callable[[np.ndarray, Sequence[Pose]], np.ndarray]


@dataclass(frozen=True)
class LiveResult:
    """The outcome of the most recently processed frame.

    Attributes:
        poses: the people found, in the pixel coordinates of the processed frame.
        frame_index: 1-based number of the processed frame among all frames submitted (0: none yet).
        frame_shape: (height, width) of the processed frame.
        match: the similarity of the most prominent person to the reference pose (``None`` without a
            reference, or when nobody was found).
        error: the message of an exception the estimator raised on this frame, if any.
    """

    poses: tuple[Pose, ...] = ()
    frame_index: int = 0
    frame_shape: tuple[int, int] = (0, 0)
    match: Any = None
    error: str | None = None


@dataclass(frozen=True)
class LiveStats:
    """Counters and rates of a :class:`LiveProcessor`.

    ``received == processed + dropped + pending`` where ``pending`` is 0 or 1 (the frame in the mailbox) plus
    0 or 1 (the frame being processed).
    """

    fps: float = 0.0
    latency_ms: float = 0.0
    received: int = 0
    processed: int = 0
    dropped: int = 0
    people: int = 0
    match: Any = None
    worst: tuple = field(default=())


class LiveProcessor:
    """Latest-frame-wins pose estimation for live video, safe to call from any number of threads.

    Args:
        estimator: anything with ``estimate(bgr) -> list[Pose]`` (a :class:`posekit.PoseEstimator`); it can be
            swapped at any time through :attr:`estimator`.
        threshold: keypoint threshold passed to ``estimate(bgr, threshold=...)``; ``None`` keeps the
            estimator's own.
        renderer: ``renderer(bgr, poses) -> bgr`` used by :meth:`process` to draw; defaults to
            :func:`posekit.draw.draw_poses`.
        reference: a reference pose to score every processed frame against (see :meth:`set_reference`).
        mirror: compare against the mirrored reference too (a webcam preview is often mirrored).
        smoothing: weight of the past in the moving averages of fps and latency (0: no smoothing).
        idle_timeout: seconds without frames after which the worker thread ends (it restarts on the next
            frame), so an abandoned stream leaves no thread behind.
        worst_joints: how many of the most different joints :meth:`stats` reports.
        track: follow people from frame to frame (one :class:`posekit.tracking.Tracker` per processor, that is
            per webcam session): poses get a ``track_id``, drawn as a label.
        smooth: causal One-Euro smoothing of each tracked person's keypoints
            (:class:`posekit.smoothing.OneEuroSmoother`); needs ``track``.
    """

    def __init__(
        self,
        estimator: Any,
        *,
        threshold: float | None = None,
        renderer: Renderer | None = None,
        reference: Pose | None = None,
        mirror: bool = False,
        smoothing: float = 0.8,
        idle_timeout: float = 2.0,
        worst_joints: int = 3,
        track: bool = True,
        smooth: bool = True,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not 0.0 <= smoothing < 1.0:
            raise ValueError("smoothing must be in [0, 1)")
        self._cond = threading.Condition()
        self._estimator = estimator
        self._threshold = threshold
        self._renderer = renderer
        self._reference = reference
        self._mirror = mirror
        self._smoothing = smoothing
        self._idle_timeout = idle_timeout
        self._worst_n = worst_joints
        self._clock = clock
        self._pending: tuple[np.ndarray, int, float] | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self._result = LiveResult()
        self._received = 0
        self._processed = 0
        self._dropped = 0
        self._ema_interval: float | None = None
        self._ema_latency: float | None = None
        self._last_done: float | None = None
        self._tracker = self._smoother = None
        if track:
            self._tracker = Tracker(max_unseen=30)
            self._smoother = OneEuroSmoother() if smooth else None
        self._reset_tracking = False

    # ------------------------------------------------------------------ settings (any thread)
    @property
    def estimator(self) -> Any:
        return self._estimator

    @estimator.setter
    def estimator(self, value: Any) -> None:
        with self._cond:
            self._estimator = value

    @property
    def threshold(self) -> float | None:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float | None) -> None:
        with self._cond:
            self._threshold = value

    @property
    def renderer(self) -> Renderer | None:
        return self._renderer

    @renderer.setter
    def renderer(self, value: Renderer | None) -> None:
        with self._cond:
            self._renderer = value

    def set_reference(self, pose: Pose | None, mirror: bool | None = None) -> None:
        """Score every following frame against ``pose`` (``None`` stops matching)."""
        with self._cond:
            self._reference = pose
            if mirror is not None:
                self._mirror = mirror
            if pose is None:
                self._result = LiveResult(self._result.poses, self._result.frame_index,
                                          self._result.frame_shape, None, self._result.error)

    @property
    def reference(self) -> Pose | None:
        return self._reference

    # ------------------------------------------------------------------ frames in
    def submit(self, bgr: np.ndarray, t: float | None = None) -> int:
        """Hand a frame to the worker without waiting; returns its 1-based index.

        ``t`` is the frame's own time in seconds (a camera's timestamp): tracking and smoothing run on it, so
        their result does not depend on how busy the machine is; without it, the processor's ``clock`` when the
        frame arrives. A frame still waiting from an earlier call is dropped: only the newest frame is ever
        processed next.
        """
        if not isinstance(bgr, np.ndarray) or bgr.ndim != 3 or bgr.shape[2] != 3:
            raise ValueError("a frame must be an (H, W, 3) BGR array")
        with self._cond:
            if self._closed:
                raise RuntimeError("the LiveProcessor is closed")
            self._received += 1
            if self._pending is not None:
                self._dropped += 1
            self._pending = (bgr, self._received, self._clock() if t is None else float(t))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="posekit-live", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return self._received

    def process(self, bgr: np.ndarray, t: float | None = None) -> np.ndarray:
        """Submit ``bgr`` (its time ``t``, see :meth:`submit`) and return a copy with the latest known poses
        drawn; never waits for inference."""
        self.submit(bgr, t)
        with self._cond:
            result, renderer = self._result, self._renderer
        poses = list(result.poses)
        h, w = bgr.shape[:2]
        if poses and result.frame_shape != (h, w) and result.frame_shape[0] and result.frame_shape[1]:
            ph, pw = result.frame_shape
            poses = [p.scaled(w / pw, h / ph) for p in poses]
        if renderer is None:
            renderer = _draw_with_ids
        return renderer(bgr.copy(), poses)

    def on_video_frame(self, frame: Any) -> Any:
        """A streamlit-webrtc ``video_frame_callback``: ``av.VideoFrame`` in, annotated ``av.VideoFrame`` out. The
        frame's own timestamp (``frame.time``) times tracking and smoothing when the stream gives one."""
        t = frame.time if frame.pts is not None and frame.time_base is not None else None
        out = self.process(frame.to_ndarray(format="bgr24"), t)
        new = av.VideoFrame.from_ndarray(out, format="bgr24")
        new.pts = frame.pts
        if frame.time_base is not None:
            new.time_base = frame.time_base
        return new

    # ------------------------------------------------------------------ results out (any thread)
    def latest(self) -> LiveResult:
        """The result of the most recently processed frame."""
        with self._cond:
            return self._result

    def stats(self) -> LiveStats:
        """A consistent snapshot of the counters, rates and latest match."""
        with self._cond:
            fps = 0.0
            if self._ema_interval:
                fps = 1.0 / self._ema_interval
            elif self._ema_latency:
                fps = 1.0 / self._ema_latency
            match = self._result.match
            worst: tuple = ()
            if match is not None and hasattr(match, "worst"):
                worst = tuple(match.worst(self._worst_n))
            return LiveStats(
                fps=fps,
                latency_ms=(self._ema_latency or 0.0) * 1000.0,
                received=self._received,
                processed=self._processed,
                dropped=self._dropped,
                people=len(self._result.poses),
                match=match,
                worst=worst,
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every submitted frame is processed or dropped; False if ``timeout`` ran out first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._busy:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def reset_stats(self) -> None:
        """Forget counters and rates (e.g. when a new stream starts)."""
        with self._cond:
            self._received = self._processed = self._dropped = 0
            self._ema_interval = self._ema_latency = self._last_done = None
            self._result = LiveResult()
            self._reset_tracking = True  # a new stream: IDs start again at 1

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the worker thread; a pending frame is dropped. Further :meth:`submit` calls raise."""
        with self._cond:
            self._closed = True
            if self._pending is not None:
                self._pending = None
                self._dropped += 1
            thread = self._thread
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> "LiveProcessor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        with self._cond:
            return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    if not self._cond.wait(self._idle_timeout) and self._pending is None:
                        self._thread = None  # idle: end; submit() starts a new worker
                        self._last_done = None  # a pause is not a slow frame
                        return
                if self._closed:
                    self._thread = None
                    self._cond.notify_all()
                    return
                frame, index, t_frame = self._pending
                self._pending = None
                self._busy = True
                estimator, threshold = self._estimator, self._threshold
                reference, mirror = self._reference, self._mirror
                reset, self._reset_tracking = self._reset_tracking, False
            error = None
            poses: list[Pose] = []
            match = None
            t0 = time.perf_counter()
            try:
                poses = list(_estimate(estimator, frame, threshold))
                poses = self._follow(poses, index, t_frame, reset)
                if reference is not None and poses:
                    match = compare(reference, poses[most_prominent(poses, image_size(frame))], mirror=mirror)
            except Exception as exc:  # the stream must survive one bad frame; the UI shows the message
                error = f"{type(exc).__name__}: {exc}"
            t1 = time.perf_counter()
            with self._cond:
                self._update_rates(t0, t1)
                self._processed += 1
                self._result = LiveResult(tuple(poses), index, tuple(frame.shape[:2]), match, error)
                self._busy = False
                self._cond.notify_all()

    def _follow(self, poses: list[Pose], index: int, t: float, reset: bool) -> list[Pose]:
        """Track (IDs) and smooth (One-Euro) the poses of frame ``index`` at time ``t`` (seconds, the frame's own):
        the tracker's gates and the smoother scale with time; only the worker thread calls it."""
        if self._tracker is None:
            return poses
        if reset:
            self._tracker.reset()
            if self._smoother is not None:
                self._smoother.reset()
        poses = self._tracker.update(poses, index, t=t)  # dropped frames count as time passed
        return self._smoother(poses, t) if self._smoother is not None else poses

    def _update_rates(self, t0: float, t1: float) -> None:
        a = self._smoothing
        latency = t1 - t0
        self._ema_latency = latency if self._ema_latency is None else a * self._ema_latency + (1 - a) * latency
        if self._last_done is not None:
            interval = t1 - self._last_done
            self._ema_interval = (interval if self._ema_interval is None
                                  else a * self._ema_interval + (1 - a) * interval)
        self._last_done = t1


def _draw_with_ids(bgr: np.ndarray, poses: Sequence[Pose]) -> np.ndarray:
    out = draw_poses(bgr, poses)
    return draw_person_labels(out, poses, copy=False) if poses else out


def _estimate(estimator: Any, frame: np.ndarray, threshold: float | None) -> list[Pose]:
    if threshold is None:
        return estimator.estimate(frame)
    return estimator.estimate(frame, threshold=threshold)
