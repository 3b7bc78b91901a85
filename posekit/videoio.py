"""Video files in and out: probe a video, decode it as upright frames (a thread), encode H.264 + AAC (a thread).

- :func:`probe`: size, frame rate, frame count, rotation and sound, from the container and one decoded frame.
- :class:`FrameSource`: iterate over a video's frames as :class:`FrameRecord` s. A decoder thread demuxes,
  decodes, turns each frame upright (phone videos carry a rotation), converts it to BGR and shrinks a copy to the
  network's input (the costliest part of the estimator's preprocessing, then overlapping with inference); the
  :class:`Limits` (a frame cap and a time cap, the one rule for both) stop it, and :attr:`FrameSource.message`
  says why a run ended early (a limit, or a video cut short). Sound goes straight from the decoder to an encoder.
- :class:`VideoEncoder`: the encoder thread: H.264 yuv420p with even dimensions, ``+faststart`` (the ``moov``
  atom first, so browsers play it while it downloads), constant frame rate (a variable-frame-rate input gets its
  average rate and keeps its frame count), AAC sound kept just ahead of the video. :class:`VideoWriter` is the
  same encoder for any BGR frames (atomic: renamed into place when complete).

The threads of one run share a :class:`Pipeline` (a stop flag and the first error) and exchange frames through
small bounded queues, so that memory stays constant whatever the length of the video. Nothing here knows
poses: a frame's ``poses`` are filled in by :mod:`posekit.stages`, and drawn by whatever ``render`` the encoder
is given (:class:`posekit.sinks.OverlayVideo`).
"""

from __future__ import annotations

import math
import os
import queue
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator, Optional

import av
import cv2
import numpy as np

from .errors import InvalidInputError
from .files import discard, publish, temp_path
from .letterbox import letterbox_size, shrink

#: Extensions offered for video uploads.
VIDEO_TYPES = ("mp4", "mov", "avi", "mkv", "webm", "m4v")
#: Default cap on the number of frames processed (10 minutes at 30 fps); longer videos are cut, and say so.
MAX_FRAMES = 18_000
#: The most seconds of video one run of the app processes (the Video and Compare pages; longer uploads are cut).
MAX_SECONDS = 120
#: Refuse frames larger than this (8K UHD is 33 megapixels).
MAX_FRAME_PIXELS = 36_000_000
#: Frames waiting between threads; memory use is about (2 * QUEUE_SIZE + LOOKAHEAD + 4) decoded frames, plus the
#: smoothing delay (at most posekit.smoothing.MAX_DELAY frames) when smoothing.
QUEUE_SIZE = 4

#: x264's cheapest preset: half the CPU of "superfast" (≈ 4 instead of 8 ms a 720p frame, on cores the network
#: needs) for files about twice as large; bench/bench_video.py: end-to-end / forward 0.81-0.87 vs 0.59-0.83.
_X264_OPTIONS = {"preset": "ultrafast", "crf": "23"}
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, IndexError, UnicodeDecodeError)
_MAX_BAD_PACKETS = 100
_ROTATE = {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
_END = "end"


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

    @property
    def rate(self) -> Fraction:
        """The frame rate as a fraction: the output's constant rate, and the time line ``index / rate``."""
        return Fraction(self.fps).limit_denominator(1001)


@dataclass
class FrameRecord:
    """One frame on its way through the stages: what every stage reads and completes, and every sink gets.

    ``index`` counts from 0; ``time_s`` is ``index / rate`` (the output's constant-rate time line); ``image`` is
    the upright BGR frame (drawn on in place by an overlay: the last sink to see it); ``network_image`` the same
    shrunk to the network's input (or None), dropped once estimated; ``poses`` the people in it, ``estimated``
    whether the estimator ran on this frame (the others reuse the last poses).
    """

    index: int
    time_s: float
    image: Optional[np.ndarray]
    poses: list = field(default_factory=list)
    estimated: bool = False
    network_image: Optional[np.ndarray] = field(default=None, repr=False)


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


def audio_format(path: str | os.PathLike) -> Optional[tuple[int, str]]:
    """``(sample rate, "mono" or "stereo")`` of the video's first audio stream when FFmpeg can decode it, else
    None (the output is then made without sound)."""
    with av.open(str(path), metadata_errors="ignore") as c:
        for stream in c.streams.audio:
            ctx = stream.codec_context
            if ctx is not None and ctx.codec is not None and ctx.codec.is_decoder and ctx.sample_rate:
                layout = ctx.layout
                return ctx.sample_rate or 44100, "mono" if layout is not None and layout.nb_channels == 1 else "stereo"
            break
    return None


# ------------------------------------------------------------------------------------------ the cap rule


@dataclass(frozen=True)
class Limits:
    """How much of a video a run processes: at most ``max_frames`` frames (None: no cap) and the first
    ``max_seconds`` seconds (None: all). The one rule for caps, the progress total and the "cut short" message.

    Raises:
        InvalidInputError: a cap below 1 frame or not above 0 seconds.
    """

    max_frames: Optional[int] = MAX_FRAMES
    max_seconds: Optional[float] = None

    def __post_init__(self) -> None:
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise InvalidInputError(f"max_seconds must be positive, got {self.max_seconds}")
        if self.max_frames is not None and int(self.max_frames) < 1:
            raise InvalidInputError(f"max_frames must be 1 or more, got {self.max_frames}")

    @property
    def cap(self) -> int:
        return int(self.max_frames) if self.max_frames is not None else 2**62

    def reached(self, frames: int, time_s: float) -> bool:
        """Whether a frame at ``time_s`` (from the first frame), after ``frames`` frames, is past a limit."""
        return frames >= self.cap or (self.max_seconds is not None and time_s >= self.max_seconds - 1e-6)

    def expected(self, info: VideoInfo) -> int:
        """The frames a run is expected to process (the progress total; the run may find a few more)."""
        total = min(info.frames, self.cap)
        if self.max_seconds is not None:
            total = min(total, max(1, math.ceil(self.max_seconds * float(info.rate))))
        return total

    def message(self, done: int, info: VideoInfo, truncated: bool) -> str:
        """For the user, after ``done`` frames: why the run stopped before the end of the video (a limit, or a
        video shorter than it announces); "" when it did not."""
        fps = float(info.rate)
        if truncated:
            limit = (f"the {self.max_seconds:g}-second limit" if self.max_seconds is not None and done < self.cap
                     else f"the {self.cap}-frame limit")
            return (f"Stopped at {limit}: processed {done} of about {info.frames} frames "
                    f"({done / fps:.1f} of {info.duration_s:.1f} s).")
        if done < 0.95 * info.frames:
            return (f"The video ended after {done} of the {info.frames} frames it announces: "
                    "it may be cut short or damaged.")
        return ""


# ------------------------------------------------------------------------------------------------ threads


class Stop(Exception):
    """Another thread of the run failed, or the run was abandoned."""


class Pipeline:
    """What the threads of one run share: the stop flag and the first error; blocking ``put`` / ``get`` on
    their queues that give up (raise :class:`Stop`) once another thread failed."""

    def __init__(self) -> None:
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
        raise Stop

    def get(self, q: queue.Queue):
        while True:
            try:
                return q.get(timeout=0.05)
            except queue.Empty:
                if self.stop.is_set():
                    raise Stop from None

    def first_error(self, exc: BaseException) -> BaseException:
        """What to raise for ``exc`` caught in the caller's thread: the failure that stopped the run."""
        return self.error if isinstance(exc, Stop) and self.error is not None else exc


def _network_sized(bgr: np.ndarray, input_size: Optional[tuple[int, int]]) -> Optional[np.ndarray]:
    """The frame shrunk as the estimator's letterbox would shrink it (None when it would not)."""
    if not input_size:
        return None
    h, w = bgr.shape[:2]
    scale, size = letterbox_size(w, h, input_size)
    if scale >= 1:
        return None
    return shrink(bgr, size)


class FrameSource:
    """The frames of a video, decoded in a thread: ``for frame in FrameSource(path): ...`` (iterate once).

    Args:
        path: the video. ``info``: its :func:`probe` (probed when not given). ``limits``: the caps
            (default: :data:`MAX_FRAMES`).
        input_size: the network's input (width, height): each frame also comes shrunk to it
            (``network_image``) when the estimator would shrink it.
        audio: where the sound goes, straight from the decoder: an encoder or an overlay (``has_audio``, then
            ``put_audio(t, frame)``); None decodes no sound.
        pipeline: shared with the other threads of the run (a new one by default).
        name: the video's name in messages (default: the file name).

    After the iteration: ``frames`` decoded, ``truncated`` (a limit stopped it), :attr:`message`. Stopping the
    iteration early stops the decoder.
    """

    def __init__(self, path: str | os.PathLike, limits: Optional[Limits] = None, *,
                 info: Optional[VideoInfo] = None, input_size: Optional[tuple[int, int]] = None, audio=None,
                 pipeline: Optional[Pipeline] = None, name: Optional[str] = None) -> None:
        self.path = Path(path)
        self.info = info or probe(self.path)
        self.limits, self.input_size, self.audio = limits or Limits(), input_size, audio
        self.pipeline = pipeline or Pipeline()
        self.name = name or self.path.name
        self.frames = 0
        self.truncated = False
        self._queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self._quit = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def rate(self) -> Fraction:
        return self.info.rate

    @property
    def total(self) -> int:
        """Frames expected (the progress total)."""
        return self.limits.expected(self.info)

    @property
    def message(self) -> str:
        """Why the run stopped early ("" when it did not); meaningful once the iteration is over."""
        return self.limits.message(self.frames, self.info, self.truncated)

    def __iter__(self) -> Iterator[FrameRecord]:
        if self._thread is not None:
            raise RuntimeError("a FrameSource is read once")
        p, fps = self.pipeline, float(self.rate)
        self._thread = threading.Thread(target=self._decode, name="posekit-video-decoder", daemon=True)
        self._thread.start()
        finished = False
        try:
            while (item := p.get(self._queue)) != _END:
                index, bgr, small = item
                yield FrameRecord(index, index / fps, bgr, network_image=small)
            finished = True
        except Stop:
            raise p.first_error(Stop()) from None
        finally:
            self.close(finished)

    def close(self, finished: bool = False) -> None:
        """Stop the decoder (unless it ``finished``) and wait for it."""
        thread = self._thread
        if thread is None:
            return
        if not finished:
            self._quit.set()
        while thread.is_alive():  # a decoder blocked on a full queue is freed
            try:
                self._queue.get_nowait()
            except queue.Empty:
                thread.join(0.05)

    def _decode(self) -> None:
        """Thread: decode video frames into the queue and audio frames into the encoder, then _END."""
        p, src, info, limits = self.pipeline, self.path, self.info, self.limits
        try:
            with av.open(str(src), mode="r", metadata_errors="ignore") as c:
                vs = c.streams.video[0]
                vs.thread_type = "AUTO"
                audio = self.audio if self.audio is not None and self.audio.has_audio else None
                streams = [vs] + ([c.streams.audio[0]] if audio is not None else [])
                t0 = float(vs.start_time * vs.time_base) if vs.start_time is not None and vs.time_base else None
                n = 0
                for frame in _decode_frames(c, streams, self.name):
                    if p.stop.is_set() or self._quit.is_set():
                        raise Stop
                    t = frame.time
                    if t0 is None:
                        t0 = float(t) if t is not None else 0.0
                    if isinstance(frame, av.AudioFrame):
                        if t is not None and t - t0 >= 0:
                            audio.put_audio(float(t) - t0, frame)
                        continue
                    if limits.reached(n, float(t) - t0 if t is not None else n / info.fps):
                        self.truncated = True
                        break
                    bgr = frame.to_ndarray(format="bgr24")
                    if info.rotation:
                        bgr = cv2.rotate(bgr, _ROTATE[info.rotation])
                    self._put((n, bgr, _network_sized(bgr, self.input_size)))
                    n += 1
            self.frames = n
            self._put(_END)
        except Stop:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            self.pipeline.fail(e)

    def _put(self, item) -> None:
        if self._quit.is_set():
            raise Stop
        self.pipeline.put(self._queue, item)


class VideoEncoder:
    """Thread: H.264 (+ AAC) encode and mux into ``path`` (an MP4 browsers play; see the module docstring).

    ``put(index, bgr, payload)`` a frame (``render(bgr, payload) -> bgr`` runs first, in this thread: the
    drawing overlaps the caller's work), ``put_audio(t, frame)`` the source's sound, :meth:`finish` at the end.
    ``audio``: ``(sample rate, layout)`` from :func:`audio_format`, or None for a silent video.
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: Fraction, *,
                 pipeline: Optional[Pipeline] = None, render: Optional[Callable] = None,
                 audio: Optional[tuple[int, str]] = None) -> None:
        self.p, self.size, self.fps, self.render = pipeline or Pipeline(), size, fps, render
        self.queue: queue.Queue = queue.Queue(QUEUE_SIZE)
        self.container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self.video = self.container.add_stream("libx264", rate=fps, options=dict(_X264_OPTIONS))
        self.video.width, self.video.height = size
        self.video.pix_fmt = "yuv420p"
        self.audio = None
        if audio is not None:
            self.audio = self.container.add_stream("aac", rate=audio[0], layout=audio[1])
            self.audio.bit_rate = 128_000
        self._pending_audio: list = []
        self._audio_samples = 0
        self._audio_start: Optional[int] = None
        self.frames = 0
        self.thread = threading.Thread(target=self._run, name="posekit-video-encoder", daemon=True)
        self.thread.start()

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    def put(self, index: int, bgr: np.ndarray, payload=None) -> None:
        self.p.put(self.queue, ("video", index, bgr, payload))

    def put_audio(self, t: float, frame) -> None:
        if self.audio is not None:
            self.p.put(self.queue, ("audio", t, frame))

    def finish(self) -> None:
        """Encode what is queued, flush and close the file; raises the run's first error."""
        self.p.put(self.queue, (_END,))
        self.thread.join()
        if self.p.error is not None:
            raise self.p.error

    def abort(self) -> None:
        """Stop the thread and close the file (the caller removes it)."""
        self.p.fail(Stop())
        if self.thread.is_alive():
            self.thread.join()
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - already failing; the file is removed
            pass

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
                item = p.get(self.queue)
                if item[0] == "audio":
                    self._pending_audio.append(item[1:])
                    continue
                if item[0] == _END:
                    break
                _, index, bgr, payload = item
                bgr = np.ascontiguousarray(self.render(bgr, payload) if self.render is not None else bgr)
                yuv = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)  # BT.601, like swscale
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
        except Stop:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            p.fail(e)


class VideoWriter:
    """Write BGR frames (all the same size) as an H.264 MP4 that browsers play, with :class:`VideoEncoder`
    (its own thread; atomic: a temporary file beside ``dst``, renamed on a clean :meth:`close`, removed on an
    error). Use as a context manager; ``write(bgr)`` per frame."""

    def __init__(self, dst: str | os.PathLike, size: tuple[int, int], fps: float) -> None:
        self.dst = Path(dst)
        self.size = (max(2, int(size[0]) // 2 * 2), max(2, int(size[1]) // 2 * 2))
        self.fps = Fraction(fps).limit_denominator(1001)
        self._tmp = temp_path(self.dst, ".part.mp4")
        try:
            self._encoder = VideoEncoder(self._tmp, self.size, self.fps)
        except BaseException:
            discard(self._tmp)
            raise
        self.frames = 0

    def write(self, bgr: np.ndarray) -> None:
        h, w = bgr.shape[:2]
        if (w, h) != self.size:
            bgr = bgr[: self.size[1], : self.size[0]] if w >= self.size[0] and h >= self.size[1] else \
                cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        try:
            self._encoder.put(self.frames, np.ascontiguousarray(bgr))
        except Stop:
            raise self._encoder.p.error or InvalidInputError("the video writer stopped") from None
        self.frames += 1

    def close(self) -> Path:
        try:
            self._encoder.finish()
            if self.frames == 0:
                raise InvalidInputError("no frame to write")
        except BaseException:
            self.abort()
            raise
        publish(self._tmp, self.dst)
        return self.dst

    def abort(self) -> None:
        self._encoder.abort()
        discard(self._tmp)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


__all__ = [
    "MAX_FRAMES", "MAX_FRAME_PIXELS", "MAX_SECONDS", "QUEUE_SIZE", "VIDEO_TYPES", "FrameRecord", "FrameSource",
    "Limits", "Pipeline", "Stop", "VideoEncoder", "VideoInfo", "VideoWriter", "audio_format", "probe",
]
