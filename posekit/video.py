"""Video in, video with skeletons out: PyAV decode -> estimate -> draw -> H.264 encode.

Three stages overlap: a decoder thread (demux, decode, rotate upright, BGR, shrink to the network's input), the
caller's thread (inference; with a thread-safe estimator such as posekit's, :data:`LOOKAHEAD` frames are estimated
ahead in worker threads so that grouping overlaps the next forward pass; callbacks always run in the caller's
thread), and an encoder thread (draw, H.264 / AAC encode, mux), joined by small bounded queues so that memory
stays constant whatever the length of the video. The output is an MP4 that plays in browsers: H.264 yuv420p with even
dimensions, the ``moov`` atom at the front (``+faststart``), constant frame rate (a variable-frame-rate input
gets its average rate and keeps its frame count), AAC audio when the input has sound, upright even when the
input carries a rotation in its display matrix (phone videos).
"""

from __future__ import annotations

import collections
import csv
import math
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Optional

import av
import cv2
import numpy as np

from . import export
from .errors import InvalidInputError
from .estimator import PoseEstimator
from .files import discard, publish, temp_path
from .letterbox import letterbox_size, shrink
from .pose import Pose

#: Extensions offered for video uploads.
VIDEO_TYPES = ("mp4", "mov", "avi", "mkv", "webm", "m4v")
#: Default cap on the number of frames processed (10 minutes at 30 fps); longer videos are cut, and say so.
MAX_FRAMES = 18_000
#: Refuse frames larger than this (8K UHD is 33 megapixels).
MAX_FRAME_PIXELS = 36_000_000
#: Frames waiting between stages; memory use is about (2 * QUEUE_SIZE + LOOKAHEAD + 4) decoded frames, plus the
#: smoothing delay (at most posekit.smoothing.MAX_DELAY frames) when smoothing.
QUEUE_SIZE = 4
#: Frames estimated concurrently when the estimator is thread-safe (posekit's is): overlaps the network of one
#: frame with the pre- and post-processing of the next.
LOOKAHEAD = 2

#: x264's cheapest preset: half the CPU of "superfast" (≈ 4 instead of 8 ms a 720p frame, on cores the network
#: needs) for files about twice as large; bench/bench_video.py: end-to-end / forward 0.81-0.87 vs 0.59-0.83.
_X264_OPTIONS = {"preset": "ultrafast", "crf": "23"}
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, IndexError, UnicodeDecodeError)
_MAX_BAD_PACKETS = 100

Progress = Callable[[int, int, float], None]
FrameCallback = Callable[[int, float, list], None]


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video without decoding it all.

    ``width`` x ``height`` are the stored (coded) dimensions; ``rotation`` (0, 90, 180 or 270) is how far the
    frames are turned counter-clockwise to be shown upright (from the display matrix); ``display_size`` is the
    upright size. ``frames`` is the container's count, or an estimate from the duration.
    """

    width: int
    height: int
    fps: float
    frames: int
    duration_s: float
    rotation: int
    has_audio: bool
    codec: str

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) once the rotation is applied."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)


@dataclass
class VideoResult:
    """What :func:`process_video` produced."""

    path: Path
    frames: int  # frames written (= source frames processed)
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

    @property
    def fps_processed(self) -> float:
        """Frames processed per second of wall-clock time."""
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0


# --------------------------------------------------------------------------------------------------- probing


def _open_input(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such video file")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path.name} is empty (0 bytes), not a readable video")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except _AV_ERRORS as e:
        raise InvalidInputError(f"{path.name} is not a readable video ({_reason(e)})") from None


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return str(text).strip().splitlines()[0][:200]


def _frame_rate(stream) -> Fraction:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0.5 <= float(rate) <= 1000:
            return Fraction(rate).limit_denominator(1001)
    return Fraction(25)


def _decode_frames(container, streams, name: str) -> Iterator:
    """Decoded frames of ``streams`` in demux order; a few corrupt packets are skipped, many are an error."""
    bad = 0
    for packet in container.demux(streams):
        try:
            frames = packet.decode()
        except (av.InvalidDataError, av.error.UndefinedError, av.error.PatchWelcomeError) as e:
            bad += 1
            if bad > _MAX_BAD_PACKETS:
                raise InvalidInputError(f"{name}: too much of the video is corrupt ({_reason(e)})") from None
            continue
        yield from frames


def _rotation(frame) -> int:
    try:
        deg = float(frame.rotation)
    except (AttributeError, TypeError, ValueError):
        return 0
    if not math.isfinite(deg):
        return 0
    return int(round(deg / 90.0)) % 4 * 90


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate, frame count, rotation and audio of a video; decodes only its first frame.

    Raises:
        InvalidInputError: not a video, no video stream, or no decodable frame.
    """
    path = Path(path)
    with _open_input(path) as c:
        if not c.streams.video:
            raise InvalidInputError(f"{path.name} has no video stream, not a readable video")
        vs = c.streams.video[0]
        fps = _frame_rate(vs)
        try:
            first = next(_decode_frames(c, vs, path.name), None)
        except _AV_ERRORS as e:
            raise InvalidInputError(f"{path.name} is not a readable video ({_reason(e)})") from None
        if first is None:
            raise InvalidInputError(f"{path.name} contains no video frames, not a readable video")
        width = vs.codec_context.width or first.width
        height = vs.codec_context.height or first.height
        if width * height > MAX_FRAME_PIXELS:
            raise InvalidInputError(f"{path.name} is too large: {width}x{height} frames "
                                    f"(at most {MAX_FRAME_PIXELS / 1e6:.0f} megapixels)")
        if vs.duration and vs.time_base:
            duration = float(vs.duration * vs.time_base)
        elif c.duration:
            duration = c.duration / av.time_base
        else:
            duration = 0.0
        frames = int(vs.frames or 0) or max(1, round(duration * float(fps)))
        if not duration:
            duration = frames / float(fps)
        return VideoInfo(width=int(width), height=int(height), fps=float(fps), frames=frames,
                         duration_s=duration, rotation=_rotation(first), has_audio=bool(c.streams.audio),
                         codec=vs.codec_context.name)


# ------------------------------------------------------------------------------------------------- pipeline

_END = "end"


class _Stop(Exception):
    """Another stage failed or the run was abandoned."""


class _Pipeline:
    """The shared state of one process_video run: queues, the stop flag, the first error."""

    def __init__(self) -> None:
        self.frames: queue.Queue = queue.Queue(QUEUE_SIZE)  # decoder -> caller
        self.out: queue.Queue = queue.Queue(QUEUE_SIZE)  # decoder (audio) and caller (video) -> encoder
        self.stop = threading.Event()
        self.error: Optional[BaseException] = None

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        self.stop.set()

    def put(self, q: queue.Queue, item) -> None:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return
            except queue.Full:
                pass
        raise _Stop

    def get(self, q: queue.Queue):
        while True:
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                if self.stop.is_set():
                    raise _Stop from None


_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}


def _network_sized(bgr: np.ndarray, input_size: Optional[tuple[int, int]]) -> Optional[np.ndarray]:
    """The frame shrunk as the estimator's letterbox would shrink it (None when it would not)."""
    if not input_size:
        return None
    h, w = bgr.shape[:2]
    scale, size = letterbox_size(w, h, input_size)
    if scale >= 1:
        return None
    return shrink(bgr, size)


def _decoder(p: _Pipeline, src: Path, info: VideoInfo, with_audio: bool, max_frames: int,
             max_seconds: Optional[float], state: dict, input_size: Optional[tuple[int, int]]) -> None:
    """Thread: decode video frames into p.frames and audio frames into p.out, then _END.

    Video frames go as (index, upright BGR, the same shrunk to the network's input or None): the shrinking,
    the costliest part of the estimator's preprocessing, then overlaps with inference.
    """
    try:
        with av.open(str(src), mode="r", metadata_errors="ignore") as c:
            vs = c.streams.video[0]
            vs.thread_type = "AUTO"
            streams = [vs]
            if with_audio:
                streams.append(c.streams.audio[0])
            t0 = float(vs.start_time * vs.time_base) if vs.start_time is not None and vs.time_base else None
            n = 0
            for frame in _decode_frames(c, streams, src.name):
                if p.stop.is_set():
                    raise _Stop
                t = frame.time
                if t0 is None:
                    t0 = float(t) if t is not None else 0.0
                if isinstance(frame, av.AudioFrame):
                    if t is not None and t - t0 >= 0:
                        p.put(p.out, ("audio", float(t) - t0, frame))
                    continue
                rel = float(t) - t0 if t is not None else n / info.fps
                if n >= max_frames or (max_seconds is not None and rel >= max_seconds - 1e-6):
                    state["truncated"] = True
                    break
                bgr = frame.to_ndarray(format="bgr24")
                if info.rotation:
                    bgr = cv2.rotate(bgr, _ROTATE[info.rotation])
                p.put(p.frames, (n, bgr, _network_sized(bgr, input_size)))
                n += 1
        state["decoded"] = n
        p.put(p.frames, _END)
    except _Stop:
        pass
    except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
        p.fail(e)


class _Encoder:
    """Thread: draws the poses on each frame, encodes H.264 (+ AAC) and muxes into ``path``."""

    def __init__(self, p: _Pipeline, path: Path, size: tuple[int, int], fps: Fraction, src_size: tuple[int, int],
                 draw: Optional[Callable], audio_stream) -> None:
        self.p, self.size, self.src_size, self.fps, self.draw = p, size, src_size, fps, draw
        self.container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self.video = self.container.add_stream("libx264", rate=fps, options=dict(_X264_OPTIONS))
        self.video.width, self.video.height = size
        self.video.pix_fmt = "yuv420p"
        self.audio = None
        if audio_stream is not None:
            rate = audio_stream.codec_context.sample_rate or 44100
            in_layout = audio_stream.codec_context.layout
            layout = "mono" if in_layout is not None and in_layout.nb_channels == 1 else "stereo"
            self.audio = self.container.add_stream("aac", rate=rate, layout=layout)
            self.audio.bit_rate = 128_000
        self._pending_audio: list = []
        self._audio_samples = 0
        self._audio_start: Optional[int] = None
        self.frames = 0
        self.thread = threading.Thread(target=self._run, name="posekit-video-encoder", daemon=True)

    def _render(self, bgr: np.ndarray, poses: list[Pose]) -> np.ndarray:
        if self.size != self.src_size:
            sx, sy = self.size[0] / self.src_size[0], self.size[1] / self.src_size[1]
            interp = cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR
            bgr = cv2.resize(bgr, self.size, interpolation=interp)
            poses = [pose.scaled(sx, sy) for pose in poses]
        if self.draw is not None and poses:
            drawn = self.draw(bgr, poses)
            if drawn is not None:
                bgr = drawn
        return np.ascontiguousarray(bgr)

    def _encode_audio_until(self, t_end: float) -> None:
        rate = self.audio.codec_context.sample_rate
        keep = []
        for t, frame in self._pending_audio:
            if t >= t_end:
                keep.append((t, frame))
                continue
            if self._audio_start is None:
                self._audio_start = round(t * rate)
            frame.pts = self._audio_start + self._audio_samples
            frame.time_base = Fraction(1, rate)
            self._audio_samples += round(frame.samples * rate / (frame.sample_rate or rate))
            for packet in self.audio.encode(frame):
                self.container.mux(packet)
        self._pending_audio = keep

    def _run(self) -> None:
        p = self.p
        try:
            while True:
                item = p.get(p.out)
                if item[0] == "audio":
                    if self.audio is not None:
                        self._pending_audio.append(item[1:])
                    continue
                if item[0] == _END:
                    break
                _, index, bgr, poses = item
                yuv = cv2.cvtColor(self._render(bgr, poses), cv2.COLOR_BGR2YUV_I420)  # BT.601, like swscale
                frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
                frame.pts = index
                frame.time_base = 1 / self.fps
                for packet in self.video.encode(frame):
                    self.container.mux(packet)
                self.frames += 1
                if self.audio is not None:  # keep audio just ahead of video: interleaved, trimmed at the end
                    self._encode_audio_until((index + 2) / float(self.fps))
            for packet in self.video.encode():
                self.container.mux(packet)
            if self.audio is not None:
                self._encode_audio_until(self.frames / float(self.fps))
                for packet in self.audio.encode():
                    self.container.mux(packet)
            self.container.close()
        except _Stop:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            p.fail(e)

    def close(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already failing; the file is removed
            pass


def _estimate(estimator, bgr: np.ndarray, small: Optional[np.ndarray]) -> list[Pose]:
    if small is None:
        return estimator.estimate(bgr)
    sx, sy = bgr.shape[1] / small.shape[1], bgr.shape[0] / small.shape[0]
    return [pose.scaled(sx, sy) for pose in estimator.estimate(small)]


def _lookahead(estimator) -> int:
    """Frames estimated concurrently: 2 for estimators that are safe to share between threads, else 0."""
    safe = getattr(estimator, "thread_safe", None)
    if safe is None:
        safe = isinstance(estimator, PoseEstimator)
    return LOOKAHEAD if safe else 0


def _estimated_frames(p: _Pipeline, estimator, every: int, ahead: int) -> Iterator:
    """(index, bgr, poses or None when the frame reuses the last poses) for each decoded frame, in order.

    With ``ahead`` > 0 the next frames are estimated in worker threads while the current one finishes: the
    estimator serialises its network, so one frame's letterboxing and grouping overlap another's forward pass.
    """
    if not ahead:
        while (item := p.get(p.frames)) != _END:
            index, bgr, small = item
            yield index, bgr, _estimate(estimator, bgr, small) if index % every == 0 else None
        return
    pending: collections.deque = collections.deque()
    with ThreadPoolExecutor(ahead, thread_name_prefix="posekit-video-estimate") as pool:
        try:
            while (item := p.get(p.frames)) != _END:
                index, bgr, small = item
                job = pool.submit(_estimate, estimator, bgr, small) if index % every == 0 else None
                pending.append((index, bgr, job))
                while len(pending) > ahead:
                    index, bgr, job = pending.popleft()
                    yield index, bgr, job and job.result()
            while pending:
                index, bgr, job = pending.popleft()
                yield index, bgr, job and job.result()
        finally:
            for _, _, job in pending:
                if job is not None:
                    job.cancel()


def _usable_audio(container):
    """The first audio stream when FFmpeg can decode it (else the video is made without sound)."""
    for stream in container.streams.audio:
        ctx = stream.codec_context
        if ctx is not None and ctx.codec is not None and ctx.codec.is_decoder and ctx.sample_rate:
            return stream
        break
    return None


def _default_draw(image: np.ndarray, poses: list[Pose]) -> np.ndarray:
    from .draw import draw_person_labels, draw_poses

    image = draw_poses(image, poses, copy=False)  # the frame is the pipeline's own
    if any(p.track_id is not None for p in poses):
        image = draw_person_labels(image, poses, copy=False)
    return image


class _Thumbnails:
    """Keeps, for each track ID, a small picture of the person from the frame where they look largest."""

    HEIGHT, WIDTH = 160, 120

    def __init__(self) -> None:
        self.best: dict[int, float] = {}
        self.pictures: dict[int, np.ndarray] = {}

    def add(self, bgr: np.ndarray, poses: list[Pose]) -> None:
        h, w = bgr.shape[:2]
        for pose in poses:
            if pose.track_id is None:
                continue
            value = pose.area() * pose.num_visible
            if value <= self.best.get(pose.track_id, 0.0) * 1.2 and pose.track_id in self.pictures:
                continue
            x0, y0, x1, y1 = pose.bbox()
            mx, my = (x1 - x0) * 0.15 + 8, (y1 - y0) * 0.15 + 8
            a, b = int(max(0, y0 - my)), int(min(h, y1 + my))
            c, d = int(max(0, x0 - mx)), int(min(w, x1 + mx))
            if b - a < 4 or d - c < 4:
                continue
            crop = bgr[a:b, c:d]
            scale = min(self.HEIGHT / crop.shape[0], self.WIDTH / crop.shape[1])
            size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
            small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
            card = np.full((self.HEIGHT, self.WIDTH, 3), 235, np.uint8)  # every picture the same size
            y, x = (self.HEIGHT - size[1]) // 2, (self.WIDTH - size[0]) // 2
            card[y:y + size[1], x:x + size[0]] = small
            self.pictures[pose.track_id] = card
            self.best[pose.track_id] = value


def _input_size(estimator, frame_size: tuple[int, int]) -> Optional[tuple[int, int]]:
    """(width, height) the estimator letterboxes frames of ``frame_size`` into, when it says so: chosen once
    per video (PoseEstimator.network_size, else a fixed PoseEstimator.input_size)."""
    network_size = getattr(estimator, "network_size", None)
    size = network_size(*frame_size) if callable(network_size) else getattr(estimator, "input_size", None)
    try:
        w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        return None
    return (w, h) if w > 0 and h > 0 else None


def _output_size(display: tuple[int, int], output_height: Optional[int]) -> tuple[int, int]:
    w, h = display
    if output_height:
        oh = max(2, int(output_height) // 2 * 2)
        ow = max(2, round(w * oh / h / 2) * 2)
        return ow, oh
    return max(2, w // 2 * 2), max(2, h // 2 * 2)


_DEFAULT = object()


def process_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    estimator,
    *,
    draw=_DEFAULT,
    every: int = 1,
    max_seconds: Optional[float] = None,
    max_frames: Optional[int] = MAX_FRAMES,
    output_height: Optional[int] = None,
    keypoints_path: str | os.PathLike | None = None,
    keypoints_format: str = "jsonl",
    progress: Optional[Progress] = None,
    on_frame: Optional[FrameCallback] = None,
    track: bool = True,
    smooth: bool = True,
) -> VideoResult:
    """Estimate poses in every frame of ``src`` and write ``dst``: an H.264 MP4 with the skeletons drawn.

    Args:
        src: input video (anything FFmpeg reads).
        dst: output path; written to a temporary file beside it and renamed when complete.
        estimator: anything with ``.estimate(bgr) -> list[Pose]`` (e.g. :class:`posekit.PoseEstimator`).
        draw: ``draw(bgr, poses) -> bgr`` (default :func:`posekit.draw.draw_poses`); ``None`` draws nothing.
        every: run the estimator on every k-th frame; the frames between reuse the last poses.
        max_seconds: stop after this much of the video.
        max_frames: stop after this many frames (``None``: no cap). The result says when a cap cut the video.
        output_height: scale the output to this height (aspect kept, dimensions even).
        keypoints_path: also write the poses of every frame there (output time line, source pixel coordinates
            of the upright frame).
        keypoints_format: ``"jsonl"`` (one JSON object per frame) or ``"csv"``.
        progress: ``progress(done, total, eta_seconds)``, called from the caller's thread (at most ~10 times a
            second, and once at the end with ``done == total``).
        on_frame: ``on_frame(index, time_s, poses)`` for every frame, from the caller's thread.
        track: follow people from frame to frame (:class:`posekit.tracking.Tracker`, one per call): poses get a
            ``track_id``, drawn as a label, written to the keypoints (``person`` / ``id``), and
            ``result.people`` holds a picture of each person.
        smooth: the zero-phase pass of :class:`posekit.smoothing.DelayedSmoother` on each tracked person (needs
            ``track``): the drawn skeletons, the keypoints and ``on_frame`` all get the smoothed poses, a few
            frames (``delay``, ≤ 16) later than they are estimated; only those frames are held in memory.

    Raises:
        InvalidInputError: unreadable input, bad arguments.
    """
    t_start = time.perf_counter()
    src, dst = Path(src), Path(dst)
    every = int(every)
    if every < 1:
        raise InvalidInputError(f"every must be 1 or more, got {every}")
    if max_seconds is not None and not max_seconds > 0:
        raise InvalidInputError(f"max_seconds must be positive, got {max_seconds}")
    if max_frames is not None and int(max_frames) < 1:
        raise InvalidInputError(f"max_frames must be 1 or more, got {max_frames}")
    if output_height is not None and int(output_height) < 16:
        raise InvalidInputError(f"output height must be at least 16 pixels, got {output_height}")
    if keypoints_format not in ("jsonl", "csv"):
        raise InvalidInputError(f"keypoints format must be 'jsonl' or 'csv', got {keypoints_format!r}")
    info = probe(src)
    if dst.resolve() == src.resolve() or (keypoints_path is not None and Path(keypoints_path).resolve() in
                                          (src.resolve(), dst.resolve())):
        raise InvalidInputError("the output must not overwrite the input")
    if draw is _DEFAULT:
        draw = _default_draw
    cap = int(max_frames) if max_frames is not None else 2**62
    fps = Fraction(info.fps).limit_denominator(1001)
    total = min(info.frames, cap)
    if max_seconds is not None:
        total = min(total, max(1, math.ceil(max_seconds * float(fps))))
    display = info.display_size
    size = _output_size(display, output_height)

    p = _Pipeline()
    state: dict = {"truncated": False, "decoded": 0}
    tmp_video = temp_path(dst, ".part.mp4")
    kp_path = Path(keypoints_path) if keypoints_path is not None else None
    tmp_kp = kp_path and temp_path(kp_path, f".part.{keypoints_format}")
    encoder = decoder = None
    tracker = smoother = None
    if track:
        from .tracking import Tracker

        tracker = Tracker.for_fps(float(fps))
        if smooth:
            from .smoothing import DelayedSmoother

            smoother = DelayedSmoother(float(fps))
    thumbs = _Thumbnails() if track else None
    try:
        with av.open(str(src), metadata_errors="ignore") as c:  # audio parameters for the encoder
            encoder = _Encoder(p, tmp_video, size, fps, display, draw, _usable_audio(c))
        decoder = threading.Thread(target=_decoder, name="posekit-video-decoder", daemon=True,
                                   args=(p, src, info, encoder.audio is not None, cap, max_seconds, state,
                                         _input_size(estimator, display)))
        decoder.start()
        encoder.thread.start()
        with _KeypointWriter(tmp_kp, keypoints_format, estimator) as kp:
            done = estimated = 0
            poses: list[Pose] = []
            last_report = 0.0
            last_call = (-1, -1)
            t_loop = time.perf_counter()

            def emit(index: int, bgr: np.ndarray, poses: list[Pose]) -> None:
                if thumbs is not None:
                    thumbs.add(bgr, poses)
                p.put(p.out, ("video", index, bgr, poses))
                t_out = index / float(fps)
                kp.write(index, t_out, poses)
                if on_frame is not None:
                    on_frame(index, t_out, poses)

            for index, bgr, new_poses in _estimated_frames(p, estimator, every, _lookahead(estimator)):
                if new_poses is not None:
                    poses = tracker.update(new_poses, index) if tracker is not None else new_poses
                    estimated += 1
                if smoother is not None:
                    for item in smoother.push(index, bgr, poses):
                        emit(*item)
                else:
                    emit(index, bgr, poses)
                done += 1
                now = time.perf_counter()
                if progress is not None and (now - last_report >= 0.1 or done == 1):
                    last_report = now
                    total = max(total, done)
                    last_call = (done, total)
                    progress(done, total, (now - t_loop) / done * (total - done))
            if smoother is not None:
                for item in smoother.flush():
                    emit(*item)
            p.put(p.out, (_END,))
        encoder.thread.join()
        decoder.join()
        if p.error is not None:
            raise p.error
        if done == 0:
            raise InvalidInputError(f"{src.name} contains no decodable video frames")
        if progress is not None and (done, total) != last_call:
            progress(done, done, 0.0)
        publish(tmp_video, dst)
        if kp_path is not None:
            publish(tmp_kp, kp_path)
    except BaseException as exc:
        p.fail(exc)
        for t in (decoder, encoder.thread if encoder else None):
            if t is not None and t.is_alive():
                t.join()
        if encoder is not None:
            encoder.close()
        discard(tmp_video)
        discard(tmp_kp)
        if isinstance(exc, _Stop) and p.error is not None and p.error is not exc:
            raise p.error from None
        raise

    truncated = bool(state["truncated"])
    message = ""
    if truncated:
        limit = (f"the {max_seconds:g}-second limit" if max_seconds is not None and done < cap
                 else f"the {cap}-frame limit")
        message = (f"Stopped at {limit}: processed {done} of about {info.frames} frames "
                   f"({done / float(fps):.1f} of {info.duration_s:.1f} s).")
    elif done < 0.95 * info.frames:
        message = (f"The video ended after {done} of the {info.frames} frames it announces: "
                   "it may be cut short or damaged.")
    return VideoResult(path=dst, frames=done, estimated=estimated, fps=float(fps), width=size[0], height=size[1],
                       duration_s=done / float(fps), has_audio=encoder.audio is not None, truncated=truncated,
                       message=message, keypoints_path=kp_path, elapsed_s=time.perf_counter() - t_start,
                       source=info, people=dict(sorted(thumbs.pictures.items())) if thumbs else {},
                       ids=tracker.ids_issued if tracker is not None else 0)


# ------------------------------------------------------------------------------------------------ keypoints


class _KeypointWriter:
    """Writes the poses of each frame as JSON lines or CSV (the formats of :mod:`posekit.export`)."""

    def __init__(self, path: Optional[Path], fmt: str, estimator) -> None:
        self.path, self.fmt, self.file, self.csv = path, fmt, None, None
        self.layout = getattr(estimator, "layout", None)

    def __enter__(self) -> "_KeypointWriter":
        if self.path is not None:
            self.file = open(self.path, "w", encoding="utf-8", newline="")
            if self.fmt == "csv":
                self.csv = csv.writer(self.file)
                self.csv.writerow(export.csv_header(self.layout or "COCO-18", angles=True))
        return self

    def write(self, index: int, time_s: float, poses: list[Pose]) -> None:
        if self.file is None:
            return
        if self.csv is not None:
            self.csv.writerows(export.csv_rows(poses, index, angles=True, time_s=time_s))
        else:
            self.file.write(export.jsonl_line(index, time_s, poses, angles=True) + "\n")

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()


# ------------------------------------------------------------------------------- building blocks for others


def estimate_frames(src: str | os.PathLike, estimator, *, max_seconds: Optional[float] = None,
                    max_frames: Optional[int] = MAX_FRAMES, keep_frames: bool = True,
                    progress: Optional[Progress] = None) -> Iterator[tuple[int, float, Optional[np.ndarray], list]]:
    """``(index, time_s, upright BGR frame or None, poses)`` for each frame of ``src``, in order: the decoding
    and estimation stages of :func:`process_video` (same threads, queues, caps and progress), without drawing
    or writing a video. ``estimator`` None decodes only (poses ``[]``). Stopping the iteration early stops the
    decoder. The caps end the iteration silently: compare the count with :func:`probe` to tell the user.
    """
    src = Path(src)
    info = probe(src)
    cap = int(max_frames) if max_frames is not None else 2**62
    fps = Fraction(info.fps).limit_denominator(1001)
    total = min(info.frames, cap)
    if max_seconds is not None:
        total = min(total, max(1, math.ceil(max_seconds * float(fps))))
    p = _Pipeline()
    state: dict = {"truncated": False, "decoded": 0}
    decoder = threading.Thread(target=_decoder, name="posekit-video-decoder", daemon=True,
                               args=(p, src, info, False, cap, max_seconds, state,
                                     _input_size(estimator, info.display_size) if estimator is not None else None))
    decoder.start()
    try:
        if estimator is None:
            items = ((i, bgr, []) for i, bgr, _ in iter(lambda: p.get(p.frames), _END))
        else:
            items = _estimated_frames(p, estimator, 1, _lookahead(estimator))
        t_loop = time.perf_counter()
        last = 0.0
        done = 0
        for index, bgr, poses in items:
            done += 1
            now = time.perf_counter()
            if progress is not None and (now - last >= 0.1 or done == 1):
                last, total = now, max(total, done)
                progress(done, total, (now - t_loop) / done * (total - done))
            yield index, index / float(fps), bgr if keep_frames else None, poses or []
        if p.error is not None:
            raise p.error
        if progress is not None:
            progress(done, done, 0.0)
    except _Stop:
        if p.error is not None:
            raise p.error from None
        raise
    finally:
        p.stop.set()
        decoder.join()


class VideoWriter:
    """Write BGR frames (all the same size) as an H.264 MP4 that browsers play, with :func:`process_video`'s
    encoder (its own thread; atomic: a temporary file beside ``dst``, renamed on a clean :meth:`close`, removed
    on an error). Use as a context manager; ``write(bgr)`` per frame."""

    def __init__(self, dst: str | os.PathLike, size: tuple[int, int], fps: float) -> None:
        self.dst = Path(dst)
        self.size = (max(2, int(size[0]) // 2 * 2), max(2, int(size[1]) // 2 * 2))
        self.fps = Fraction(fps).limit_denominator(1001)
        self._p = _Pipeline()
        self._tmp = temp_path(self.dst, ".part.mp4")
        self._encoder = _Encoder(self._p, self._tmp, self.size, self.fps, self.size, None, None)
        self._encoder.thread.start()
        self.frames = 0

    def write(self, bgr: np.ndarray) -> None:
        h, w = bgr.shape[:2]
        if (w, h) != self.size:
            bgr = bgr[: self.size[1], : self.size[0]] if w >= self.size[0] and h >= self.size[1] else \
                cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        try:
            self._p.put(self._p.out, ("video", self.frames, np.ascontiguousarray(bgr), []))
        except _Stop:
            raise self._p.error or InvalidInputError("the video writer stopped") from None
        self.frames += 1

    def close(self) -> Path:
        self._p.put(self._p.out, (_END,))
        self._encoder.thread.join()
        if self._p.error is not None:
            self.abort()
            raise self._p.error
        if self.frames == 0:
            self.abort()
            raise InvalidInputError("no frame to write")
        publish(self._tmp, self.dst)
        return self.dst

    def abort(self) -> None:
        self._p.fail(_Stop())
        if self._encoder.thread.is_alive():
            self._encoder.thread.join()
        self._encoder.close()
        discard(self._tmp)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
