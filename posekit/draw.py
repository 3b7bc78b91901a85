"""Drawing, apart from inference: skeleton overlays (OpenPose colours) and heatmap / PAF views.

Everything here takes a BGR uint8 image and returns a new BGR uint8 image of the same size; nothing here runs a
network. Poses come from :class:`posekit.PoseEstimator`; maps from :class:`posekit.Inference` (``heatmap()``
and ``paf()`` give them at image size; smaller grid maps are resized to the image).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from .errors import InvalidInputError
from .layouts import Layout
from .pose import Pose
from .similarity import pretty_name
from .tracking import person_numbers

#: Ring colours for highlighted joints: from yellow (severity 0) to red (severity 1), BGR.
_LOW = np.array((0, 215, 255), np.float32)
_HIGH = np.array((0, 0, 255), np.float32)


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", type(image).__name__)
        raise InvalidInputError(f"expected an H x W x 3 uint8 BGR image, got {shape} {dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidInputError(f"the image is empty ({image.shape[1]}x{image.shape[0]})")
    return image


def default_line_width(image_shape: Sequence[int]) -> int:
    """Limb thickness for an image: ``max(2, round(diagonal / 300))`` pixels."""
    h, w = image_shape[:2]
    return max(2, round(float(np.hypot(w, h)) / 300))


def keypoint_colors(layout: Layout) -> list[tuple[int, int, int]]:
    """A BGR colour per keypoint: that of the first drawn limb ending at it (else starting at it), as OpenPose."""
    colors: list[tuple[int, int, int] | None] = [None] * layout.num_keypoints
    for end in (1, 0):
        for li in layout.draw_limbs:
            k = layout.limbs[li][end]
            if colors[k] is None:
                colors[k] = layout.limb_colors[li]
    return [c if c is not None else (255, 255, 255) for c in colors]


def _highlights_for(highlight, n_poses: int) -> list[Mapping[int, float] | None]:
    if highlight is None:
        return [None] * n_poses
    if isinstance(highlight, Mapping):
        return [highlight] * n_poses
    hl = list(highlight)
    if len(hl) != n_poses:
        raise ValueError(f"highlight has {len(hl)} mappings for {n_poses} poses")
    return hl


def draw_poses(
    image_bgr: np.ndarray,
    poses: Sequence[Pose],
    *,
    line_width: int | None = None,
    radius: int | None = None,
    labels: bool = False,
    min_confidence: float = 0.0,
    highlight: Mapping[int, float] | Sequence[Mapping[int, float] | None] | None = None,
    copy: bool = True,
) -> np.ndarray:
    """Draw skeletons over an image at its full resolution, in OpenPose's colours.

    Args:
        image_bgr: H x W x 3 uint8 BGR image.
        poses: people to draw (keypoints in this image's pixels).
        line_width: limb thickness in pixels; by default scaled to the image (:func:`default_line_width`).
        radius: keypoint radius in pixels; by default ``line_width + 1``.
        labels: write each keypoint's name beside it.
        min_confidence: draw only keypoints whose confidence is above this (and limbs between two such).
        highlight: ``{keypoint index: severity 0..1}`` for every pose, or one such mapping (or None) per pose:
            those joints get a ring, yellow to red and thicker with the severity (pose matching uses it to show
            the most different joints).
        copy: draw on a copy (default); False draws into ``image_bgr`` itself.

    Returns:
        The image with the poses drawn.
    """
    img = _check_image(image_bgr)
    if copy:
        img = img.copy()
    lw = int(line_width) if line_width is not None else default_line_width(img.shape)
    lw = max(lw, 1)
    r = int(radius) if radius is not None else lw + 1
    highlights = _highlights_for(highlight, len(poses))
    thr = max(float(min_confidence), 0.0)

    for pose, hl in zip(poses, highlights):
        layout = pose.spec
        kp = pose.keypoints
        ok = (kp[:, 2] > thr) & np.isfinite(kp[:, :2]).all(axis=1)
        pts = np.round(kp[:, :2]).astype(np.int64)  # integer pixel centres; sub-pixel gains nothing here
        for li in layout.draw_limbs:
            a, b = layout.limbs[li]
            if ok[a] and ok[b]:
                cv2.line(img, tuple(map(int, pts[a])), tuple(map(int, pts[b])), layout.limb_colors[li], lw,
                         cv2.LINE_AA)
        colors = keypoint_colors(layout)
        for k in np.flatnonzero(ok):
            cv2.circle(img, tuple(map(int, pts[k])), r, colors[k], -1, cv2.LINE_AA)
        if hl:
            for k, sev in hl.items():
                k = int(k)
                if not (0 <= k < len(ok)) or not ok[k]:
                    continue
                sev = float(np.clip(sev, 0.0, 1.0))
                color = tuple(int(c) for c in np.round(_LOW + (_HIGH - _LOW) * sev))
                ring_r = int(round(r * (2.0 + 2.0 * sev)))
                thick = max(1, int(round(lw * (0.5 + sev))))
                cv2.circle(img, tuple(map(int, pts[k])), ring_r, color, thick, cv2.LINE_AA)
        if labels:
            scale = label_scale(img.shape)
            for k in np.flatnonzero(ok):
                draw_keypoint_label(img, pretty_name(layout.keypoints[k]), (int(pts[k][0]) + r + 2, int(pts[k][1])),
                                    scale)
    return img


def label_scale(shape: Sequence[int]) -> float:
    """Font scale of keypoint labels for an image of this shape: about 1/45 of its shorter side in height
    (readable on a phone photo and on a 4K frame alike), never below 0.4 (12-pixel letters)."""
    return max(0.4, min(shape[0], shape[1]) / 1350.0)


def draw_keypoint_label(img: np.ndarray, text: str, anchor: tuple[int, int], scale: float) -> None:
    """White text on a dark box, its left edge at ``anchor`` and centred on it vertically, kept inside the
    image: readable on any background."""
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, int(round(scale * 1.6)))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = max(2, int(round(th * 0.3)))
    h, w = img.shape[:2]
    x = int(np.clip(anchor[0], 0, max(0, w - tw - 2 * pad)))
    y = int(np.clip(anchor[1] - (th + base) // 2 - pad, 0, max(0, h - th - base - 2 * pad)))
    x1, y1 = x + tw + 2 * pad, y + th + base + 2 * pad
    box = img[y:y1, x:x1]
    box[...] = (box.astype(np.uint16) * 2 // 7).astype(np.uint8)  # darken to 2/7: the photo shows faintly through
    cv2.putText(img, text, (x + pad, y + pad + th), font, scale, (255, 255, 255), thick, cv2.LINE_AA)


def _resize_map(m: np.ndarray, shape: Sequence[int], what: str) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    if m.ndim != 2 or m.size == 0:
        raise InvalidInputError(f"{what} must be a non-empty 2-D array, got shape {m.shape}")
    h, w = shape[:2]
    m = np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    if m.shape != (h, w):
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_CUBIC)
    return m


def _blend(img: np.ndarray, color: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """img * (1 - weight) + color * weight, per pixel; weight (H, W) in [0, 1]."""
    w = weight[:, :, None]
    out = img.astype(np.float32) * (1.0 - w) + color.astype(np.float32) * w
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def heatmap_overlay(
    image_bgr: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, *, normalize: bool = True,
    colormap: int = cv2.COLORMAP_JET,
) -> np.ndarray:
    """Colour a heatmap (any size, float) over an image.

    The map is resized to the image (bicubic), clipped at 0 and divided by its maximum (``normalize``) or
    clipped to [0, 1], coloured with ``colormap`` and blended as ``(1 - alpha) * image + alpha * colours``
    (OpenPose's heatmap rendering).
    """
    img = _check_image(image_bgr)
    m = np.maximum(_resize_map(heatmap, img.shape, "heatmap"), 0.0)
    if normalize:
        peak = float(m.max())
        m = m / peak if peak > 1e-6 else m
    m = np.clip(m, 0.0, 1.0)
    colors = cv2.applyColorMap(np.round(m * 255).astype(np.uint8), colormap)
    a = float(np.clip(alpha, 0.0, 1.0))
    return _blend(img, colors, np.full(m.shape, a, np.float32))


def paf_colors(paf_x: np.ndarray, paf_y: np.ndarray, *, normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """BGR colours coding a vector field's direction (hue) and its magnitude (brightness), and the magnitude.

    Returns ``(colors (H, W, 3) uint8, magnitude (H, W) float32 in [0, 1])``.
    """
    mag = np.hypot(paf_x, paf_y).astype(np.float32)
    if normalize:
        peak = float(mag.max())
        mag = mag / peak if peak > 1e-6 else mag
    mag = np.clip(mag, 0.0, 1.0)
    hue = (np.degrees(np.arctan2(paf_y, paf_x)) % 360.0) / 2.0  # OpenCV hue is 0..180
    hsv = np.stack([hue, np.full_like(hue, 255.0), mag * 255.0], axis=-1)
    return cv2.cvtColor(np.round(hsv).astype(np.uint8), cv2.COLOR_HSV2BGR), mag


def paf_overlay(
    image_bgr: np.ndarray,
    paf_x: np.ndarray,
    paf_y: np.ndarray,
    alpha: float = 0.7,
    *,
    arrows: bool = True,
    arrow_spacing: int | None = None,
    min_magnitude: float = 0.2,
    normalize: bool = True,
) -> np.ndarray:
    """Show part affinity fields over an image: hue = direction, brightness = magnitude, plus arrows.

    Args:
        image_bgr: H x W x 3 uint8 BGR image.
        paf_x, paf_y: the field's x and y components, (h, w) of any size (resized to the image), or stacks
            (n, h, w) of several limbs' fields, which are summed (as OpenPose renders all PAFs at once).
        alpha: opacity of the colours where the field is strongest (it fades out where the field is 0).
        arrows: draw direction arrows on a grid where the magnitude exceeds ``min_magnitude``.
        arrow_spacing: grid step of the arrows in pixels (default: image diagonal / 40).
        normalize: scale the magnitude by its maximum (else the field's own units, clipped to 1).
    """
    img = _check_image(image_bgr)
    px, py = np.asarray(paf_x, np.float32), np.asarray(paf_y, np.float32)
    if px.shape != py.shape:
        raise InvalidInputError(f"paf_x and paf_y differ in shape: {px.shape} vs {py.shape}")
    if px.ndim == 3:
        px, py = px.sum(axis=0), py.sum(axis=0)
    px = _resize_map(px, img.shape, "paf_x")
    py = _resize_map(py, img.shape, "paf_y")
    colors, mag = paf_colors(px, py, normalize=normalize)
    out = _blend(img, colors, float(np.clip(alpha, 0.0, 1.0)) * mag)
    if arrows:
        h, w = img.shape[:2]
        step = int(arrow_spacing) if arrow_spacing else max(8, int(np.hypot(w, h) / 40))
        thick = max(1, default_line_width(img.shape) // 2)
        for y in range(step // 2, h, step):
            for x in range(step // 2, w, step):
                m = float(mag[y, x])
                if m < min_magnitude:
                    continue
                vx, vy = float(px[y, x]), float(py[y, x])
                n = float(np.hypot(vx, vy))
                if n < 1e-6:
                    continue
                length = 0.45 * step * (0.5 + 0.5 * m)
                end = (int(round(x + vx / n * length)), int(round(y + vy / n * length)))
                start = (int(round(x - vx / n * length)), int(round(y - vy / n * length)))
                cv2.arrowedLine(out, start, end, (255, 255, 255), thick, cv2.LINE_AA, tipLength=0.35)
    return out


__all__ = ["default_line_width", "draw_poses", "heatmap_overlay", "keypoint_colors", "paf_colors", "paf_overlay"]


# --- person labels (IDs) ----------------------------------------------------------------------------------

#: Label box colours per ID (BGR), cycled: distinct, dark enough for white text.
_ID_COLORS = ((180, 90, 0), (0, 120, 200), (40, 140, 40), (150, 40, 150), (30, 30, 200), (120, 110, 0),
              (0, 90, 140), (90, 60, 160), (60, 60, 60), (140, 0, 90))


def id_color(person_id: int) -> tuple[int, int, int]:
    """The BGR colour of a person's label box (stable for an ID)."""
    return _ID_COLORS[(int(person_id) - 1) % len(_ID_COLORS)]


def draw_person_labels(image_bgr: np.ndarray, poses: Sequence[Pose], ids: Sequence[int | None] | None = None, *,
                       prefix: str = "", scale: float | None = None, copy: bool = True) -> np.ndarray:
    """Write each person's number in a filled box above their head (readable on any background).

    ``ids``: the number for each pose; by default its ``track_id`` (tracked video / webcam), else its place in
    the list 1..N (one image: the same numbers as the tables and pickers). The text height is scaled to the
    image (about 1/40 of its diagonal, at least 12 pixels) unless ``scale`` (OpenCV font scale) is given; the
    box is kept inside the image.
    """
    img = _check_image(image_bgr)
    if copy:
        img = img.copy()
    if ids is None:
        ids = person_numbers(poses)
    h, w = img.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    if scale is None:
        target = max(12.0, float(np.hypot(w, h)) / 40)  # text height in pixels
        scale = target / 22.0  # FONT_HERSHEY_SIMPLEX is ~22 px high at scale 1
    thick = max(1, round(scale * 2))
    pad = max(2, round(scale * 6))
    for pose, pid in zip(poses, ids):
        if pid is None or pose.num_visible == 0:
            continue
        x0, y0, x1, _ = pose.bbox()
        text = f"{prefix}{pid}"
        (tw, th), base = cv2.getTextSize(text, font, scale, thick)
        bw, bh = tw + 2 * pad, th + base + 2 * pad
        cx = (x0 + x1) / 2
        left = int(np.clip(round(cx - bw / 2), 0, max(0, w - bw)))
        top = int(np.clip(round(y0 - bh - pad), 0, max(0, h - bh)))
        color = id_color(pid) if isinstance(pid, (int, np.integer)) else _ID_COLORS[0]
        cv2.rectangle(img, (left, top), (left + bw, top + bh), color, -1)
        cv2.rectangle(img, (left, top), (left + bw, top + bh), (255, 255, 255), max(1, thick // 2))
        cv2.putText(img, text, (left + pad, top + pad + th), font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return img
