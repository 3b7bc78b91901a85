"""Synthetic network outputs for tests and benchmarks.

:func:`synthetic_output` renders what an ideal OpenPose-style network would output for given people, the way
OpenPose builds its training targets: a Gaussian per keypoint (maximum over people), a background channel
``1 - max(heatmaps)``, and for each limb a unit vector A -> B on the cells within ``limb_width`` of the
segment (averaged where several people's limbs overlap).
"""

from __future__ import annotations

import numpy as np

from .layouts import Layout, get_layout

#: OpenPose's training sigma (7 input pixels) at output stride 8, in output cells.
DEFAULT_SIGMA = 7.0 / 8.0
#: OpenPose's PAF half-width (1 cell at stride 8).
DEFAULT_LIMB_WIDTH = 1.0


def synthetic_output(
    people: list[np.ndarray],
    layout: Layout | str = "COCO-18",
    shape: tuple[int, int] = (46, 54),
    sigma: float = DEFAULT_SIGMA,
    limb_width: float = DEFAULT_LIMB_WIDTH,
) -> np.ndarray:
    """Render heatmaps and PAFs for people given in output-grid coordinates.

    Args:
        people: one (K, 3) array per person of ``[x, y, v]`` in output-grid coordinates (cell centres at
            integers); ``v > 0`` marks a present keypoint and is its Gaussian's peak value (clipped to 1).
        layout: the layout (or its name) giving the keypoint count, limbs and channel order.
        shape: output grid ``(h, w)``.
        sigma: Gaussian standard deviation in cells.
        limb_width: PAF half-width in cells (distance from the segment).

    Returns:
        float32 (C, h, w) in the layout's channel order: keypoint heatmaps, background, PAF x/y pairs.
    """
    layout = get_layout(layout)
    h, w = shape
    k = layout.num_keypoints
    out = np.zeros((layout.num_channels, h, w), np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    pts = [np.asarray(p, np.float32).reshape(k, 3) for p in people]

    for j in range(k):
        for p in pts:
            x, y, v = p[j]
            if v > 0:
                g = min(float(v), 1.0) * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2))
                np.maximum(out[j], g, out=out[j])
    out[k] = 1.0 - out[:k].max(axis=0) if k else 1.0

    for (a, b), (cx, cy) in zip(layout.limbs, layout.paf_channels):
        acc = np.zeros((2, h, w), np.float32)
        count = np.zeros((h, w), np.float32)
        for p in pts:
            if p[a, 2] <= 0 or p[b, 2] <= 0:
                continue
            d = p[b, :2] - p[a, :2]
            length = float(np.hypot(*d))
            if length < 1e-6:
                continue
            u = d / length
            rx, ry = xs - p[a, 0], ys - p[a, 1]
            along = rx * u[0] + ry * u[1]
            across = np.abs(rx * u[1] - ry * u[0])
            on = (along >= -limb_width) & (along <= length + limb_width) & (across <= limb_width)
            acc[0][on] += u[0]
            acc[1][on] += u[1]
            count[on] += 1
        nz = count > 0
        out[cx][nz] = acc[0][nz] / count[nz]
        out[cy][nz] = acc[1][nz] / count[nz]
    return out


def standing_person(
    x: float, y: float, height: float = 24.0, layout: Layout | str = "COCO-18", conf: float = 1.0
) -> np.ndarray:
    """A frontal, upright person (COCO-18 proportions) with the neck at (x, y) and ``height`` cells from head
    to ankles, as a (K, 3) array for :func:`synthetic_output`. For BODY_25 and MPI-15 the extra keypoints
    (mid-hip, feet, chest, head) are placed where they belong."""
    layout = get_layout(layout)
    s = height / 24.0
    # Offsets from the neck in a 24-cell-tall person (x to the image right; the person's right is image left).
    body = {
        "Nose": (0, -3), "Neck": (0, 0), "RShoulder": (-3, 0), "RElbow": (-4, 4.5), "RWrist": (-4.5, 8.5),
        "LShoulder": (3, 0), "LElbow": (4, 4.5), "LWrist": (4.5, 8.5), "RHip": (-2, 9), "RKnee": (-2.2, 14.5),
        "RAnkle": (-2.4, 20), "LHip": (2, 9), "LKnee": (2.2, 14.5), "LAnkle": (2.4, 20), "REye": (-0.8, -3.8),
        "LEye": (0.8, -3.8), "REar": (-1.7, -3.4), "LEar": (1.7, -3.4), "MidHip": (0, 9),
        "LBigToe": (3.4, 21.2), "LSmallToe": (4.2, 21), "LHeel": (2.2, 20.8), "RBigToe": (-3.4, 21.2),
        "RSmallToe": (-4.2, 21), "RHeel": (-2.2, 20.8), "Head": (0, -4), "Chest": (0, 4.5),
    }
    kp = np.zeros((layout.num_keypoints, 3), np.float32)
    for i, name in enumerate(layout.keypoints):
        dx, dy = body[name]
        kp[i] = (x + dx * s, y + dy * s, conf)
    return kp
