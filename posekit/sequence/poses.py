"""One person through a video as arrays (:class:`PoseSequence`), and what is measured on it in every frame:
normalised keypoints (:func:`normalised_keypoints`, the normalisation of photo matching,
:func:`posekit.normalise.normalise`) and joint angles (:func:`joint_angles`, :mod:`posekit.kinematics`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from ..kinematics import JOINT_ANGLES, angles_array
from ..layouts import get_layout
from ..normalise import normalise
from ..pose import Pose
from ..similarity import MIN_COMMON, mirror_keypoints


@dataclass
class PoseSequence:
    """The poses of one person through a video.

    Attributes:
        keypoints: (T, K, 3) float32, x, y in the video's pixels and confidence; confidence 0 = not seen.
        fps: frames per second of the video.
        layout: the keypoint layout name (``"COCO-18"``).
        person: the track ID followed (None when unknown).
        name: what to call it in messages (a file name).
    """

    keypoints: np.ndarray
    fps: float
    layout: str = "COCO-18"
    person: int | None = None
    name: str = "video"

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        k = get_layout(self.layout).num_keypoints
        if self.keypoints.ndim != 3 or self.keypoints.shape[1:] != (k, 3):
            raise ValueError(f"keypoints must be (T, {k}, 3) for {self.layout}, got {self.keypoints.shape}")
        if not self.fps > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def duration_s(self) -> float:
        return len(self) / self.fps

    @property
    def seen(self) -> np.ndarray:
        """(T,) bool: frames where the person has at least :data:`MIN_COMMON` keypoints."""
        return (self.keypoints[:, :, 2] > 0).sum(axis=1) >= MIN_COMMON

    def pose(self, t: int) -> Pose | None:
        """The person in frame ``t`` as a :class:`Pose` (None when not seen at all)."""
        kp = self.keypoints[t]
        if not (kp[:, 2] > 0).any():
            return None
        return Pose(kp.copy(), float(kp[:, 2].mean()), self.layout, track_id=self.person)

    @classmethod
    def from_poses(cls, poses: Sequence[Pose | None], fps: float, *, layout: str | None = None,
                   person: int | None = None, name: str = "video") -> "PoseSequence":
        """One pose (or None where the person is missing) per frame."""
        layout = layout or next((p.layout for p in poses if p is not None), "COCO-18")
        k = get_layout(layout).num_keypoints
        kp = np.zeros((len(poses), k, 3), np.float32)
        for t, p in enumerate(poses):
            if p is not None:
                if p.layout != layout:
                    raise InvalidInputError(f"{name}: frame {t} has a {p.layout} pose, not {layout}")
                kp[t] = p.keypoints
        return cls(kp, fps, layout, person, name)

    @classmethod
    def from_trajectory(cls, trajectory, frames: int, fps: float, *, name: str = "video") -> "PoseSequence":
        """Frames ``0 .. frames-1`` of a video from one tracked person's
        :class:`~posekit.kinematics.Trajectory` (confidence 0 where the person is absent)."""
        kp = np.zeros((frames, trajectory.keypoints.shape[1], 3), np.float32)
        idx = np.asarray(trajectory.frames, np.int64)
        keep = (idx >= 0) & (idx < frames)
        kp[idx[keep]] = trajectory.keypoints[keep]
        return cls(kp, fps, trajectory.layout, int(trajectory.track_id), name)


def normalised_keypoints(seq: PoseSequence, mirror: bool = False) -> np.ndarray:
    """(T, K, 2) float64 keypoints in torso lengths, centred per frame on the hips; NaN where not seen.

    :func:`posekit.normalise.normalise` with one body size for the whole sequence: per frame the centre of
    photo matching (the hips, else the neck, else the mean of the keypoints seen); the size the median over the
    sequence of the per-frame torso length (neck to hip centre), else 1.4 x the shoulder width, else the RMS
    spread. ``mirror``: x negated and left/right keypoints swapped
    (:func:`posekit.similarity.mirror_keypoints`).
    """
    spec = get_layout(seq.layout)
    kp = mirror_keypoints(seq.keypoints, spec) if mirror else seq.keypoints
    xy = np.where((kp[..., 2] > 0)[..., None], kp[..., :2].astype(np.float64), np.nan)
    out = normalise(xy, spec, scale="median")
    return np.full(xy.shape, np.nan) if out is None else out


def joint_angles(seq: PoseSequence, mirror: bool = False) -> tuple[list[str], np.ndarray]:
    """The joint angles and trunk lean of :mod:`posekit.kinematics` (:data:`~posekit.kinematics.JOINT_ANGLES`)
    in every frame: (names, (T, A) degrees, NaN where missing). Segment directions are left out: they wrap
    around at 180° and follow the camera's rotation, which the keypoints already carry."""
    kp = mirror_keypoints(seq.keypoints, get_layout(seq.layout)) if mirror else seq.keypoints
    return [d.name for d in JOINT_ANGLES], angles_array(kp, seq.layout, JOINT_ANGLES)


__all__ = ["PoseSequence", "joint_angles", "normalised_keypoints"]
