"""Video clips for the tests, made and read back with PyAV (generated in the tests, never committed)."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def read_frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """Decoded BGR frames of a video, as stored (no rotation applied)."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="bgr24"))
            if limit is not None and len(out) >= limit:
                break
    return out


def write_clip(path: Path, frames, fps: float = 25, *, codec: str = "libx264",
               pix_fmt: str = "yuv420p", audio: tuple[np.ndarray, int] | None = None, rotation: int = 0,
               pts: list[int] | None = None, time_base: Fraction | None = None, fmt: str | None = None) -> Path:
    """Write BGR frames (any iterable) as a video with PyAV: optional mono float audio (samples, rate), display rotation
    (degrees counter-clockwise, as FFmpeg's display matrix), explicit timestamps (variable frame rate)."""
    frames = iter(frames)
    first = next(frames)
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        vs.height, vs.width = first.shape[:2]
        vs.pix_fmt = pix_fmt
        if codec == "libx264":
            vs.options = {"preset": "ultrafast"}
        if time_base is not None:
            vs.codec_context.time_base = time_base
        if rotation:
            vs.set_display_rotation(rotation)
        aus = out.add_stream("aac", rate=audio[1], layout="mono") if audio is not None else None
        for i, img in enumerate(itertools.chain([first], frames)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
            frame.pts = pts[i] if pts is not None else i
            frame.time_base = time_base if time_base is not None else 1 / Fraction(fps).limit_denominator(1001)
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        if aus is not None:
            samples, rate = audio
            for start in range(0, len(samples), 1024):
                chunk = np.ascontiguousarray(samples[None, start:start + 1024], dtype=np.float32)
                af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
                out.mux(aus.encode(af))
            out.mux(aus.encode())
    return path


def write_camera_feed(path: Path, image: np.ndarray, frames: int = 15, fps: int = 15, height: int = 480) -> Path:
    """A Y4M file showing ``image`` (BGR) still, for Chromium's ``--use-file-for-fake-video-capture``: the
    browser's camera then films that photo."""
    h, w = image.shape[:2]
    size = (round(w * height / h) // 2 * 2, height)
    still = np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        vs = out.add_stream("rawvideo", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(still, format="bgr24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    return path
