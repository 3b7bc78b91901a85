"""Video in, video with skeletons out: :func:`process_video`, the usual composition of the frame path.

The path is built from parts that other pipelines compose too (batch, compare, the CLI and the pages):
:mod:`posekit.videoio` (probe, decode in a thread, H.264 + AAC encode in a thread), :mod:`posekit.stages`
(estimate -> track -> smooth, progress; :func:`~posekit.stages.run`) and :mod:`posekit.sinks` (keypoint files,
OpenPose JSON, angles, thumbnails, the overlay video). Three threads overlap: the decoder, the caller's
(inference, with frames estimated ahead in worker threads for a thread-safe estimator; callbacks and sinks run
here) and the encoder (drawing, encoding, muxing), joined by small bounded queues so that memory stays constant
whatever the length of the video. The output is an MP4 that plays in browsers (see :mod:`posekit.videoio`),
upright even when the input carries a rotation (phone videos).

``probe``, ``VideoInfo``, ``VideoWriter``, ``VIDEO_TYPES``, ``MAX_FRAMES`` and ``MAX_SECONDS`` come from
:mod:`posekit.videoio` and are importable from here as well.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from . import stages
from .errors import InvalidInputError
from .kinematics import DEFAULT_CONVENTION
from .sinks import (
    FrameCallback,
    KeypointWriter,
    OverlayVideo,
    Sink,
    Tally,
    Thumbnails,
    check_keypoints_format,
    draw_people,
    output_size,
)
from .smoothing import DelayedSmoother
from .tracking import Tracker
from .videoio import MAX_FRAMES, MAX_SECONDS, VIDEO_TYPES, FrameSource, Limits, VideoInfo, VideoWriter, probe

FrameCallbackFn = Callable[[int, float, list], None]


@dataclass
class VideoResult:
    """What :func:`process_video` produced."""

    path: Optional[Path]  # the overlay video (None when none was asked for)
    frames: int  # frames processed (= written)
    estimated: int  # frames the estimator ran on (every k-th)
    fps: float
    width: int
    height: int
    duration_s: float
    has_audio: bool
    truncated: bool  # a limit (max_frames / max_seconds) stopped it before the end of the video
    message: str  # for the user: why it stopped early (a limit, or a video cut short); "" otherwise
    keypoints_path: Optional[Path]
    elapsed_s: float
    source: VideoInfo
    #: {track ID: BGR picture of that person} (the frame where they are seen largest), when tracked
    people: dict = field(default_factory=dict)
    #: IDs given out (0 when not tracked)
    ids: int = 0
    #: the most people seen in one frame
    most_people: int = 0

    @property
    def fps_processed(self) -> float:
        """Frames processed per second of wall-clock time."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


def _refuse_overwriting(src: Path, *outputs: Optional[str | os.PathLike]) -> None:
    paths = [src.resolve()]
    for out in outputs:
        if out is not None and Path(out).resolve() in paths:
            raise InvalidInputError("the output must not overwrite the input")
        if out is not None:
            paths.append(Path(out).resolve())


def process_video(src: str | os.PathLike, dst: str | os.PathLike | None, estimator, *, draw=draw_people,
                  every: int = 1, max_seconds: Optional[float] = None, max_frames: Optional[int] = MAX_FRAMES,
                  output_height: Optional[int] = None, keypoints_path: str | os.PathLike | None = None,
                  keypoints_format: str = "jsonl", progress: Optional[stages.Progress] = None,
                  on_frame: Optional[FrameCallbackFn] = None, track: bool = True, smooth: bool = True,
                  sinks: Sequence[Sink] = (), convention: str = DEFAULT_CONVENTION) -> VideoResult:
    """Estimate poses in every frame of ``src``; write ``dst``, an H.264 MP4 with the skeletons drawn (None:
    no video), the keypoints and whatever ``sinks`` (:mod:`posekit.sinks`) are given.

    ``estimator``: anything with ``.estimate(bgr) -> list[Pose]``. ``draw(bgr, poses) -> bgr`` (default
    :func:`posekit.sinks.draw_people`; None draws nothing). ``every``: the estimator runs on every k-th frame,
    the frames between reuse its poses. ``max_seconds`` / ``max_frames`` (None: no cap): where to stop; the
    result says when a cap cut the video. ``output_height``: the overlay's height (aspect kept, even).
    ``keypoints_path``: every frame's poses, ``keypoints_format`` ``"jsonl"`` or ``"csv"`` (output time line,
    pixels of the upright source frame; angles in ``convention``, :mod:`posekit.kinematics`).
    ``progress(done, total, eta_s)`` and ``on_frame(index, time_s,
    poses)`` are called from the caller's thread. ``track``: people keep an ID from frame to frame (drawn,
    written, pictured in ``result.people``). ``smooth`` (with ``track``): the zero-phase pass of
    :class:`~posekit.smoothing.DelayedSmoother` on each person, a few frames (≤ 16) late. Every output is
    written to a temporary file and renamed when complete; an error anywhere leaves none behind.

    Raises:
        InvalidInputError: unreadable input, bad arguments.
    """
    t_start = time.perf_counter()
    src = Path(src)
    limits, steps = Limits(max_frames, max_seconds), [stages.estimate(estimator, every)]
    check_keypoints_format(keypoints_format)
    overlay = OverlayVideo(dst, height=output_height, draw=draw) if dst is not None else None
    info = probe(src)
    _refuse_overwriting(src, dst, keypoints_path)
    facts = stages.estimator_facts(estimator, info.display_size)
    keypoints = (KeypointWriter(keypoints_path, keypoints_format, facts.layout, convention=convention)
                 if keypoints_path else None)
    fps = float(info.rate)
    tracker = Tracker.for_fps(fps) if track else None
    if tracker is not None:
        steps.append(stages.track(tracker))
    steps.append(stages.report_progress(progress, limits.expected(info)))
    if tracker is not None and smooth:
        steps.append(stages.smooth(DelayedSmoother(fps)))
    tally, thumbs = Tally(), Thumbnails() if track else None
    outputs = [tally, thumbs, keypoints, FrameCallback(on_frame) if on_frame else None, *sinks, overlay]
    source = FrameSource(src, limits, info=info, input_size=facts.input_size, audio=overlay)
    done = stages.run(source, steps, [s for s in outputs if s is not None])
    width, height = output_size(info.display_size, output_height)
    return VideoResult(path=Path(dst) if dst is not None else None, frames=done, estimated=tally.estimated,
                       fps=fps, width=width, height=height, duration_s=done / fps,
                       has_audio=overlay is not None and overlay.has_audio, truncated=source.truncated,
                       message=source.message, keypoints_path=keypoints and keypoints.path,
                       elapsed_s=time.perf_counter() - t_start, source=info,
                       people=thumbs.by_id() if thumbs else {}, ids=tracker.ids_issued if tracker else 0,
                       most_people=tally.most_people)


__all__ = ["MAX_FRAMES", "MAX_SECONDS", "VIDEO_TYPES", "VideoInfo", "VideoResult", "VideoWriter", "probe",
           "process_video"]
