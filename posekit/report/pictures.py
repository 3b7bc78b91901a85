"""The report's pictures: frames read back from the clip (:class:`posekit.videoio.FrameSource`, the frames the
stages saw, upright), the person's skeleton drawn by :mod:`posekit.draw`, embedded as JPEG ``data:`` URIs.

Without the clip (a keypoints file alone) a skeleton is drawn on a plain background of the clip's size.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Iterable, Mapping

import av
import cv2
import numpy as np

from ..draw import draw_person_labels, draw_poses
from ..imageio import encode_image
from ..pose import Pose
from ..sinks import Thumbnails
from ..videoio import FrameSource, Limits

#: Largest side of a picture in the report (pixels): sharp on paper, small in the file.
MAX_SIDE = 720
#: JPEG quality of the pictures.
QUALITY = 80
#: The plain background of a skeleton drawn without its clip (BGR).
BACKGROUND = (242, 242, 242)


class Portrait(Thumbnails):
    """A picture of the person (the Video page's :class:`~posekit.sinks.Thumbnails`, larger)."""

    HEIGHT, WIDTH = 240, 180


def read_frames(path: str | os.PathLike, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """``{index: upright BGR frame}`` for the frame indices asked for (those the video has), decoding only up to
    the last one."""
    wanted = {int(i) for i in indices if i is not None and i >= 0}
    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    frames = iter(FrameSource(path, Limits(max(wanted) + 1)))
    try:
        for frame in frames:
            if frame.index in wanted:
                out[frame.index] = frame.image
                if len(out) == len(wanted):
                    break
    finally:
        frames.close()
    return out


def recorded(path: str | os.PathLike | None) -> str | None:
    """The date the clip was recorded, from its ``creation_time`` (phones and cameras write it), as
    ``YYYY-MM-DD HH:MM``; None when it has none."""
    if path is None:
        return None
    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            meta = dict(c.metadata)
            for s in c.streams:
                meta.update({k: v for k, v in s.metadata.items() if k not in meta})
    except (OSError, av.FFmpegError):
        return None
    value = meta.get("creation_time")
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.strftime("%Y-%m-%d %H:%M") if when.year > 1970 else None


def fit(bgr: np.ndarray, max_side: int = MAX_SIDE) -> tuple[np.ndarray, float]:
    """The picture scaled down to at most ``max_side`` pixels on its longer side, and the scale."""
    s = min(1.0, max_side / max(bgr.shape[:2]))
    if s >= 1.0:
        return bgr, 1.0
    size = (max(1, round(bgr.shape[1] * s)), max(1, round(bgr.shape[0] * s)))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), s


def jpeg_uri(bgr: np.ndarray) -> str:
    """A ``data:image/jpeg`` URI of the picture."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_image(bgr, ".jpg", quality=QUALITY)).decode("ascii")


def blank(size: tuple[int, int]) -> np.ndarray:
    """A plain picture of ``size`` (width, height): where a skeleton is drawn without its clip."""
    w, h = size
    return np.full((max(1, int(h)), max(1, int(w)), 3), BACKGROUND, np.uint8)


def around(pose: Pose, width: int, height: int, margin: float = 0.3, aspect: float = 0.75,
           max_share: float = 0.6) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``: the part of a ``width`` x ``height`` picture around the person (their keypoint box
    and ``margin`` of its larger side all round, widened to at least ``aspect`` width / height), or the whole
    picture when that part would cover more than ``max_share`` of it."""
    bx0, by0, bx1, by1 = pose.bbox()
    m = margin * max(bx1 - bx0, by1 - by0) + 8
    x0, y0, x1, y1 = bx0 - m, by0 - m, bx1 + m, by1 + m
    if (x1 - x0) < aspect * (y1 - y0):
        grow = (aspect * (y1 - y0) - (x1 - x0)) / 2
        x0, x1 = x0 - grow, x1 + grow
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    if x1 - x0 < 4 or y1 - y0 < 4 or (x1 - x0) * (y1 - y0) > max_share * width * height:
        return 0, 0, width, height
    return x0, y0, x1, y1


def skeleton(bgr: np.ndarray | None, pose: Pose | None, size: tuple[int, int], *, number: int | None = None,
             highlight: Mapping[int, float] | None = None, max_side: int = MAX_SIDE, crop: bool = True,
             max_zoom: float = 2.5) -> np.ndarray:
    """The person in the frame (or on a plain background of ``size`` without one): the part of the picture
    around them (:func:`around`; the whole picture with ``crop=False``) scaled to ``max_side`` (enlarged at most
    ``max_zoom`` times), their skeleton drawn on it (:func:`posekit.draw.draw_poses`, joints in ``highlight``
    ringed) and their number in a label."""
    img = bgr if bgr is not None else blank(size)
    h, w = img.shape[:2]
    seen = pose is not None and pose.num_visible > 0
    x0, y0, x1, y1 = around(pose, w, h) if crop and seen else (0, 0, w, h)
    s = min(max_side / max(x1 - x0, y1 - y0), max_zoom if (x1 - x0, y1 - y0) != (w, h) else 1.0)
    size_out = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
    part = cv2.resize(img[y0:y1, x0:x1], size_out, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if not seen:
        return part
    shown = pose.scaled(s, s, -x0 * s, -y0 * s)
    part = draw_poses(part, [shown], highlight=highlight or None, copy=False)
    return draw_person_labels(part, [shown], [number if number is not None else pose.track_id], copy=False)


def portrait(bgr: np.ndarray | None, pose: Pose | None) -> np.ndarray | None:
    """A picture of the person cut from ``bgr`` (None without a frame or a person)."""
    if bgr is None or pose is None or pose.num_visible == 0:
        return None
    card = Portrait()
    card.add(bgr, [Pose(pose.keypoints, pose.score, pose.layout, track_id=1)])
    return card.pictures.get(1)


def best_view(keypoints: np.ndarray) -> int:
    """Index of the frame (of ``keypoints`` (T, K, 3)) where the person looks largest and most complete
    (:class:`~posekit.sinks.Thumbnails`' rule: keypoint box area x keypoints seen)."""
    if not len(keypoints):
        return 0
    seen = keypoints[:, :, 2] > 0

    def extent(c):
        v = keypoints[:, :, c]
        return np.where(seen, v, -np.inf).max(axis=1) - np.where(seen, v, np.inf).min(axis=1)

    area = np.where(seen.any(axis=1), extent(0) * extent(1), 0.0)
    return int(np.argmax(area * seen.sum(axis=1)))


__all__ = ["MAX_SIDE", "Portrait", "around", "best_view", "blank", "fit", "jpeg_uri", "portrait", "read_frames",
           "recorded", "skeleton"]
