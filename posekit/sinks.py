"""Sinks: where the frames of a video go once their people are known (see :func:`posekit.stages.run`).

Every sink has the same five steps, called by :func:`~posekit.stages.run` in the caller's thread:
``open(source)`` before the first frame (the :class:`~posekit.videoio.FrameSource`, or None outside a video
run), ``write(frame)`` for each :class:`~posekit.videoio.FrameRecord`, then ``finish()`` (complete, may fail)
and ``publish()`` (rename into place) once every sink has finished, or ``abort()`` on any error (nothing half
written stays). Files are written with :mod:`posekit.files`.

- :class:`KeypointWriter`: every frame's poses in one file, JSON lines or CSV (:mod:`posekit.export`'s formats).
- :class:`OpenPoseFolder`: one OpenPose JSON file per frame, ``<stem>_<frame:012d>_keypoints.json``.
- :class:`AngleCollector`: the poses of every frame, for joint angles per person (:mod:`posekit.kinematics`),
  their CSV, or the trajectories.
- :class:`Thumbnails`: a picture of each tracked person, from the frame where they look largest.
- :class:`OverlayVideo`: the H.264 MP4 with the skeletons drawn (in the encoder thread), with the source's sound.
- :class:`FrameCallback` (``on_frame(index, time_s, poses)``) and :class:`Tally` (counts).

A sink that reads ``frame.image`` must come before :class:`OverlayVideo`, which draws on it.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from . import export
from .draw import draw_person_labels, draw_poses
from .errors import InvalidInputError
from .files import discard, publish, temp_path
from .kinematics import DEFAULT_CONVENTION, angle_series, check_convention, trajectories
from .pose import Pose
from .videoio import FrameRecord, FrameSource, VideoEncoder, audio_format


class Sink:
    """The five steps of a sink (each does nothing here). As a context manager outside :func:`run`:
    ``with KeypointWriter(path) as kp: kp.write(frame)`` opens, then finishes and publishes (aborts on an
    error)."""

    def open(self, source: Optional[FrameSource] = None) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        pass

    def finish(self) -> None:
        pass

    def publish(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def __enter__(self):
        self.open(None)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        try:
            self.finish()
            self.publish()
        except BaseException:
            self.abort()
            raise


def check_keypoints_format(fmt: str) -> str:
    """``fmt`` when it is a keypoints file format (``"jsonl"`` or ``"csv"``).

    Raises:
        InvalidInputError: any other.
    """
    if fmt not in ("jsonl", "csv"):
        raise InvalidInputError(f"keypoints format must be 'jsonl' or 'csv', got {fmt!r}")
    return fmt


class KeypointWriter(Sink):
    """Every frame's poses in one file: ``"jsonl"`` (one JSON object per frame) or ``"csv"`` (one row per
    person per frame), angles included in ``convention`` (the formats of :mod:`posekit.export`). ``layout``
    names the CSV columns (default COCO-18)."""

    def __init__(self, path: str | os.PathLike, fmt: str = "jsonl", layout=None, *,
                 convention: str = DEFAULT_CONVENTION) -> None:
        self.path, self.fmt, self.layout = Path(path), check_keypoints_format(fmt), layout
        self.convention = check_convention(convention)
        self._tmp: Optional[Path] = None
        self._file = self._csv = None

    def open(self, source: Optional[FrameSource] = None) -> None:
        self._tmp = temp_path(self.path, f".part.{self.fmt}")
        self._file = open(self._tmp, "w", encoding="utf-8", newline="")
        if self.fmt == "csv":
            self._csv = csv.writer(self._file)
            self._csv.writerow(export.csv_header(self.layout or "COCO-18", angles=True, convention=self.convention))

    def write(self, frame: FrameRecord) -> None:
        if self._csv is not None:
            self._csv.writerows(export.csv_rows(frame.poses, frame.index, angles=True, time_s=frame.time_s,
                                                convention=self.convention))
        else:
            self._file.write(export.jsonl_line(frame.index, frame.time_s, frame.poses, angles=True,
                                               convention=self.convention) + "\n")

    def finish(self) -> None:
        if self._file is not None:
            self._file.close()

    def publish(self) -> None:
        publish(self._tmp, self.path)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
        discard(self._tmp)


class OpenPoseFolder(Sink):
    """One OpenPose JSON file per frame in ``folder`` (created): ``<stem>_<frame:012d>_keypoints.json``, as
    OpenPose's ``--write_json`` names them. Each file is written atomically as its frame comes; on an error
    the files written are removed (no half set stays)."""

    def __init__(self, folder: str | os.PathLike, stem: str, layout=None) -> None:
        self.folder, self.stem, self.layout = Path(folder), stem, layout
        self.written: list[Path] = []

    def open(self, source: Optional[FrameSource] = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, frame: FrameRecord) -> None:
        path = self.folder / f"{self.stem}_{frame.index:012d}_keypoints.json"
        self.written.append(export.write_openpose_json(path, frame.poses, self.layout))

    def abort(self) -> None:
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written = []


class AngleCollector(Sink):
    """Keeps ``(index, time_s, poses)`` of every frame: :meth:`series` (joint and segment angles per person),
    :meth:`csv_text`, :meth:`trajectories`; with a ``path``, writes the angles CSV
    (:func:`posekit.export.write_angles_csv`) when published. Angles in ``convention``
    (:mod:`posekit.kinematics`)."""

    def __init__(self, path: str | os.PathLike | None = None, *, convention: str = DEFAULT_CONVENTION) -> None:
        self.path = Path(path) if path is not None else None
        self.convention = check_convention(convention)
        self.frames: list[tuple[int, float, list[Pose]]] = []
        self.fps: Optional[float] = None
        self._series: Optional[dict] = None

    def open(self, source: Optional[FrameSource] = None) -> None:
        self.frames, self._series = [], None
        self.fps = float(source.rate) if source is not None else None

    def write(self, frame: FrameRecord) -> None:
        self.frames.append((frame.index, frame.time_s, frame.poses))
        self._series = None

    def trajectories(self) -> dict:
        """``{track ID: Trajectory}`` (:func:`posekit.kinematics.trajectories`)."""
        return trajectories(self.frames, self.fps)

    def series(self) -> dict:
        """``{track ID: AngleSeries}`` (:func:`posekit.kinematics.angle_series`)."""
        if self._series is None:
            self._series = angle_series(self.frames, fps=self.fps, convention=self.convention)
        return self._series

    def csv_text(self) -> str:
        return export.angles_csv_text(self.series())

    def publish(self) -> None:
        if self.path is not None:
            export.write_angles_csv(self.path, self.series())


class Thumbnails(Sink):
    """Keeps, for each track ID, a small picture of the person from the frame where they look largest
    (:attr:`pictures`, :meth:`by_id`); untracked poses are ignored."""

    HEIGHT, WIDTH = 160, 120

    def __init__(self) -> None:
        self.best: dict[int, float] = {}
        self.pictures: dict[int, np.ndarray] = {}

    def by_id(self) -> dict[int, np.ndarray]:
        """The pictures by increasing ID."""
        return dict(sorted(self.pictures.items()))

    def write(self, frame: FrameRecord) -> None:
        self.add(frame.image, frame.poses)

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


def draw_people(image: np.ndarray, poses: list[Pose]) -> np.ndarray:
    """The overlay's default drawing: the skeletons (on ``image`` itself), and each tracked person's number."""
    image = draw_poses(image, poses, copy=False)  # the frame is the pipeline's own
    if any(p.track_id is not None for p in poses):
        image = draw_person_labels(image, poses, copy=False)
    return image


def output_size(display: tuple[int, int], height: Optional[int] = None) -> tuple[int, int]:
    """The overlay's (width, height): the upright frame's, or scaled to ``height`` (aspect kept), both even."""
    w, h = display
    if height:
        oh = max(2, int(height) // 2 * 2)
        ow = max(2, round(w * oh / h / 2) * 2)
        return ow, oh
    return max(2, w // 2 * 2), max(2, h // 2 * 2)


class OverlayVideo(Sink):
    """The video with the skeletons drawn: an H.264 MP4 at ``dst`` (:class:`~posekit.videoio.VideoEncoder`, in
    its own thread), on the source's time line, scaled to ``height`` (aspect kept), with its sound.

    Give it to the :class:`~posekit.videoio.FrameSource` as ``audio`` too (the sound goes from the decoder to
    the encoder). ``draw(bgr, poses) -> bgr`` runs in the encoder thread, on the frame itself (default
    :func:`draw_people`; None draws nothing): this sink comes last.
    """

    def __init__(self, dst: str | os.PathLike, *, height: Optional[int] = None,
                 draw: Optional[Callable] = draw_people) -> None:
        if height is not None and int(height) < 16:
            raise InvalidInputError(f"output height must be at least 16 pixels, got {height}")
        self.dst, self.height, self.draw = Path(dst), height, draw
        self.size = self.src_size = (0, 0)
        self._audio = None
        self._tmp: Optional[Path] = None
        self._encoder: Optional[VideoEncoder] = None

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    def open(self, source: Optional[FrameSource] = None) -> None:
        if source is None:
            raise ValueError("an overlay video needs its source video")
        self.src_size = source.info.display_size
        self.size = output_size(self.src_size, self.height)
        self._audio = audio_format(source.path)
        self._tmp = temp_path(self.dst, ".part.mp4")
        self._encoder = VideoEncoder(self._tmp, self.size, source.rate, pipeline=source.pipeline,
                                     render=self._render, audio=self._audio)

    def put_audio(self, t: float, frame) -> None:
        self._encoder.put_audio(t, frame)

    def write(self, frame: FrameRecord) -> None:
        self._encoder.put(frame.index, frame.image, frame.poses)

    def finish(self) -> None:
        self._encoder.finish()

    def publish(self) -> None:
        publish(self._tmp, self.dst)

    def abort(self) -> None:
        if self._encoder is not None:
            self._encoder.abort()
        discard(self._tmp)

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
        return bgr


class FrameCallback(Sink):
    """Calls ``on_frame(index, time_s, poses)`` for every frame."""

    def __init__(self, on_frame: Callable[[int, float, list], None]) -> None:
        self.on_frame = on_frame

    def write(self, frame: FrameRecord) -> None:
        self.on_frame(frame.index, frame.time_s, frame.poses)


class Tally(Sink):
    """Counts: ``frames``, ``estimated`` (frames the estimator ran on), ``most_people`` (in one frame)."""

    def __init__(self) -> None:
        self.frames = self.estimated = self.most_people = 0

    def write(self, frame: FrameRecord) -> None:
        self.frames += 1
        self.estimated += bool(frame.estimated)
        self.most_people = max(self.most_people, len(frame.poses))


__all__ = ["AngleCollector", "FrameCallback", "KeypointWriter", "OpenPoseFolder", "OverlayVideo", "Sink", "Tally",
           "Thumbnails", "check_keypoints_format", "draw_people", "output_size"]
