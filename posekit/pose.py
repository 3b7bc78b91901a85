"""The plain data object every stage of posekit passes around."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .layouts import Layout, get_layout


@dataclass
class Pose:
    """One person.

    Attributes:
        keypoints: float32 array of shape (K, 3): x, y in image pixels and a confidence in [0, 1]
            (the heatmap peak). A keypoint that was not found has confidence 0 and x = y = 0.
        score: the person's overall score (OpenPose's: sum of keypoint and limb scores over found keypoints,
            normalised to [0, 1] by the number of keypoints in the layout).
        layout: the layout name, e.g. ``"COCO-18"``.
        track_id: the person's ID in a video or webcam session (1-based, given by :mod:`posekit.tracking`;
            the same person keeps it from frame to frame), or ``None`` when the pose was not tracked.
    """

    keypoints: np.ndarray
    score: float
    layout: str = "COCO-18"
    extra: dict = field(default_factory=dict, repr=False, compare=False)
    track_id: int | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32).reshape(-1, 3)
        n = get_layout(self.layout).num_keypoints
        if self.keypoints.shape[0] != n:
            raise ValueError(f"{self.layout} pose needs {n} keypoints, got {self.keypoints.shape[0]}")

    @property
    def spec(self) -> Layout:
        return get_layout(self.layout)

    @property
    def visible(self) -> np.ndarray:
        """Boolean mask (K,) of keypoints that were found."""
        return self.keypoints[:, 2] > 0

    @property
    def num_visible(self) -> int:
        return int(self.visible.sum())

    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) around the visible keypoints; all zeros when none is visible."""
        pts = self.keypoints[self.visible, :2]
        if len(pts) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        x0, y0 = pts.min(axis=0)
        x1, y1 = pts.max(axis=0)
        return (float(x0), float(y0), float(x1), float(y1))

    def area(self) -> float:
        x0, y0, x1, y1 = self.bbox()
        return (x1 - x0) * (y1 - y0)

    def keypoint(self, name: str) -> np.ndarray:
        """The (x, y, confidence) row of a keypoint by name."""
        return self.keypoints[self.spec.index(name)]

    def scaled(self, sx: float, sy: float | None = None, dx: float = 0.0, dy: float = 0.0) -> "Pose":
        """A copy with visible keypoints mapped by x' = x * sx + dx, y' = y * sy + dy."""
        sy = sx if sy is None else sy
        kp = self.keypoints.copy()
        vis = kp[:, 2] > 0
        kp[vis, 0] = kp[vis, 0] * sx + dx
        kp[vis, 1] = kp[vis, 1] * sy + dy
        return Pose(kp, self.score, self.layout, dict(self.extra), self.track_id)


def image_size(image: np.ndarray) -> tuple[int, int]:
    """(width, height) of an image array."""
    return int(image.shape[1]), int(image.shape[0])


#: Spread (fraction of the image's width / height) of the centrality weight in :func:`prominence`.
CENTRE_SPREAD = 0.35


def prominence(pose: Pose, image_size: tuple[int, int] | None = None) -> float:
    """How much ``pose`` is the picture's main subject: its size (square root of its keypoint box) times its
    completeness (``0.5 + 0.5 * visible / keypoints``) times, when the image's (width, height) is given, how
    central it is (a Gaussian of the box centre's distance from the image centre, in image widths / heights,
    spread :data:`CENTRE_SPREAD`: 0.36 at an edge)."""
    x0, y0, x1, y1 = pose.bbox()
    size = math.sqrt(max((x1 - x0) * (y1 - y0), 1.0))
    completeness = 0.5 + 0.5 * pose.num_visible / max(1, pose.keypoints.shape[0])
    centrality = 1.0
    if image_size is not None and image_size[0] > 0 and image_size[1] > 0:
        dx = ((x0 + x1) / 2 - image_size[0] / 2) / image_size[0]
        dy = ((y0 + y1) / 2 - image_size[1] / 2) / image_size[1]
        centrality = math.exp(-(dx * dx + dy * dy) / (2 * CENTRE_SPREAD ** 2))
    return size * completeness * centrality + 1e-3 * pose.score


def most_prominent(poses: list[Pose], image_size: tuple[int, int] | None = None) -> int:
    """Index of the most prominent person (the largest, most complete and, given the image's (width, height),
    most central: :func:`prominence`); -1 when there is none."""
    if not poses:
        return -1
    return int(np.argmax([prominence(p, image_size) for p in poses]))
