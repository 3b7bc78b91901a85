"""Skeleton layouts as data: keypoint names, limbs, the PAF channels that score each limb, colours.

A layout describes both what a network outputs (heatmap and PAF channels in its output blob) and how a
skeleton is drawn. Channel indices are absolute indices into the network's output blob, which for every
OpenPose-style model here is ``[keypoint heatmaps..., background, PAF x/y pairs...]``. Per keypoint it also gives
the tolerance and weight that pose comparison uses (:data:`TOLERANCES`, :data:`WEIGHTS`; see
:mod:`posekit.similarity`), looked up by the keypoint's name without its side (:func:`base_name`).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

# The 17 keypoints of the COCO keypoint challenge, in COCO's order (used by the COCO results export).
COCO17_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)


# Per-joint tolerance k_i in torso lengths (pose comparison, :mod:`posekit.similarity`), by the keypoint's name
# with any R/L prefix removed: COCO's keypoint sigmas, widened for different body proportions and the stride.
TOLERANCES: dict[str, float] = {
    "nose": 0.25, "eye": 0.25, "ear": 0.25, "head": 0.25,
    "neck": 0.25, "chest": 0.30,
    "shoulder": 0.30, "elbow": 0.35, "wrist": 0.40,
    "hip": 0.40, "midhip": 0.40, "knee": 0.40,
    "ankle": 0.45, "bigtoe": 0.45, "smalltoe": 0.45, "heel": 0.45,
}
DEFAULT_TOLERANCE = 0.35

# Weight of a keypoint in a comparison's keypoint score: the face points count half (five of them would otherwise
# outweigh the arms in a body-pose score, and at the network's stride they are the least repeatable).
WEIGHTS: dict[str, float] = {"nose": 0.5, "eye": 0.5, "ear": 0.5}


def base_name(name: str) -> str:
    """A keypoint's name without its side, in lower case: ``"RElbow"`` -> ``"elbow"``, ``"MidHip"`` -> ``"midhip"``."""
    if len(name) > 1 and name[0] in "RL" and name[1].isupper():
        name = name[1:]
    return name.lower()


def _frozen(values) -> np.ndarray:
    out = np.array(values, dtype=np.float64)
    out.flags.writeable = False
    return out


def _rainbow(n: int) -> tuple[tuple[int, int, int], ...]:
    """n saturated BGR colours sweeping the hue circle, as OpenPose renders its limbs."""
    out = []
    for i in range(n):
        r, g, b = colorsys.hsv_to_rgb(i / max(n, 1) * 0.92, 1.0, 1.0)
        out.append((int(b * 255), int(g * 255), int(r * 255)))
    return tuple(out)


@dataclass(frozen=True)
class Layout:
    """A keypoint layout.

    Attributes:
        name: layout name (``"COCO-18"``, ``"BODY_25"``, ``"MPI-15"``).
        keypoints: keypoint names, in the network's heatmap order.
        limbs: keypoint index pairs ``(a, b)``, one per PAF, in the network's PAF order.
        paf_channels: for each limb, the absolute output channels ``(x, y)`` of its part affinity field.
        draw_limbs: indices into ``limbs`` that are drawn (OpenPose does not draw the ear-shoulder links).
        coco17: for each COCO-17 keypoint, its index in this layout, or ``None`` when the layout lacks it.
        limb_colors: a BGR colour for each limb.
    """

    name: str
    keypoints: tuple[str, ...]
    limbs: tuple[tuple[int, int], ...]
    paf_channels: tuple[tuple[int, int], ...]
    draw_limbs: tuple[int, ...]
    coco17: tuple[int | None, ...]
    limb_colors: tuple[tuple[int, int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.limbs) != len(self.paf_channels):
            raise ValueError(f"{self.name}: {len(self.limbs)} limbs but {len(self.paf_channels)} PAFs")
        if len(self.coco17) != len(COCO17_KEYPOINTS):
            raise ValueError(f"{self.name}: coco17 mapping must have 17 entries")
        if not self.limb_colors:
            object.__setattr__(self, "limb_colors", _rainbow(len(self.limbs)))

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoints)

    @property
    def num_heatmaps(self) -> int:
        """Heatmap channels in the output, the background channel included."""
        return len(self.keypoints) + 1

    @property
    def num_channels(self) -> int:
        """All output channels: heatmaps, background and PAFs."""
        return self.num_heatmaps + 2 * len(self.limbs)

    @cached_property
    def _indices(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i, k in enumerate(self.keypoints):
            out.setdefault(k.lower(), i)
        return out

    def index(self, name: str) -> int:
        """Index of a keypoint by name (case-insensitive)."""
        try:
            return self._indices[name.lower()]
        except KeyError:
            raise KeyError(f"{self.name} has no keypoint {name!r}") from None

    def find(self, name: str) -> int | None:
        """Index of a keypoint by name (case-insensitive), None when the layout has no such keypoint."""
        return self._indices.get(name.lower())

    @cached_property
    def tolerances(self) -> np.ndarray:
        """(K,) read-only: each keypoint's tolerance in torso lengths (:data:`TOLERANCES`)."""
        return _frozen([TOLERANCES.get(base_name(n), DEFAULT_TOLERANCE) for n in self.keypoints])

    @cached_property
    def weights(self) -> np.ndarray:
        """(K,) read-only: each keypoint's weight in a comparison's keypoint score (:data:`WEIGHTS`, else 1)."""
        return _frozen([WEIGHTS.get(base_name(n), 1.0) for n in self.keypoints])


def _layout(name, keypoints, limbs, paf_pairs, *, skip_draw=(), coco17) -> Layout:
    """Build a layout; ``paf_pairs`` are PAF channel pairs counted from the first PAF channel."""
    base = len(keypoints) + 1
    return Layout(
        name=name,
        keypoints=tuple(keypoints),
        limbs=tuple(tuple(p) for p in limbs),
        paf_channels=tuple((base + x, base + y) for x, y in paf_pairs),
        draw_limbs=tuple(i for i in range(len(limbs)) if i not in skip_draw),
        coco17=tuple(coco17),
    )


# CMU's COCO model (and the MobileNetV2 OpenPose models, trained on the same targets).
# Limb order and PAF channels follow CMU's limbSeq / mapIdx (mapIdx minus the 19 heatmap channels).
COCO18 = _layout(
    "COCO-18",
    ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
     "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar"],
    [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
     (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17)],
    [(12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
     (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27)],
    skip_draw=(17, 18),
    coco17=(0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10),
)

# OpenPose BODY_25 (POSE_BODY_25_PAIRS_RENDER / POSE_BODY_25_MAP_IDX).
BODY25 = _layout(
    "BODY_25",
    ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip", "RHip",
     "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe",
     "LHeel", "RBigToe", "RSmallToe", "RHeel"],
    [(1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11), (8, 12), (12, 13),
     (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18), (2, 17), (5, 18), (14, 19), (19, 20), (14, 21),
     (11, 22), (22, 23), (11, 24)],
    [(0, 1), (14, 15), (22, 23), (16, 17), (18, 19), (24, 25), (26, 27), (6, 7), (2, 3), (4, 5), (8, 9),
     (10, 11), (12, 13), (30, 31), (32, 33), (36, 37), (34, 35), (38, 39), (20, 21), (28, 29), (40, 41),
     (42, 43), (44, 45), (46, 47), (48, 49), (50, 51)],
    skip_draw=(18, 19),
    coco17=(0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11),
)

# OpenPose MPI-15 (POSE_MPI_PAIRS / POSE_MPI_MAP_IDX).
MPI15 = _layout(
    "MPI-15",
    ["Head", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
     "RAnkle", "LHip", "LKnee", "LAnkle", "Chest"],
    [(0, 1), (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 14), (14, 8), (8, 9), (9, 10), (14, 11),
     (11, 12), (12, 13)],
    [(2 * i, 2 * i + 1) for i in range(14)],
    coco17=(None, None, None, None, None, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10),
)

LAYOUTS: dict[str, Layout] = {layout.name: layout for layout in (COCO18, BODY25, MPI15)}


def get_layout(name: str | Layout) -> Layout:
    """Look a layout up by name (``"COCO-18"``, ``"BODY_25"``, ``"MPI-15"``)."""
    if isinstance(name, Layout):
        return name
    try:
        return LAYOUTS[name]
    except KeyError:
        raise KeyError(f"unknown layout {name!r}; known: {', '.join(LAYOUTS)}") from None
