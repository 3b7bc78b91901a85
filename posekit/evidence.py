"""What the first stage's own maps say about a joint placed elsewhere (issue 21: "every joint we draw is one the
picture shows").

A second stage (:mod:`posekit.refine`) looks at one person at a time and places every joint, seen or not; the
first stage's heatmaps and part affinity fields (PAFs) were computed on the whole picture and show where a joint
or a limb really is. :class:`MapEvidence` reads them at image points:

* :meth:`MapEvidence.heat`: the highest heatmap value of a joint within a radius of a point (the network's
  belief that such a joint is there);
* :meth:`MapEvidence.limb`: how much of the segment between two points the limb's PAF supports (the fraction of
  samples whose field agrees with the segment's direction, as :mod:`posekit.grouping` scores limbs), and the
  mean agreement.

Coordinates are image pixels; the maps are read on the network's output grid through the inference's letterbox
(``x_grid = (x_img * scale + 0.5) / stride - 0.5``).
"""

from __future__ import annotations

import numpy as np

from .layouts import Layout, get_layout
from .letterbox import Letterbox

#: PAF samples taken along a segment (as the grouping's line integral).
LIMB_SAMPLES = 10
#: A PAF sample agrees with a segment when its dot product with the segment's direction exceeds this (the
#: grouping's default ``paf_threshold``).
LIMB_AGREEMENT = 0.05
#: The smallest radius :meth:`MapEvidence.heat` looks in, in output-grid cells (a heatmap peak is about one
#: cell wide; the two stages place a joint a cell or so apart).
MIN_RADIUS_CELLS = 1.5


def _bilinear(grid: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of a (h, w) map at float grid coordinates (clamped to the map)."""
    h, w = grid.shape
    x = np.clip(x, 0.0, w - 1.0)
    y = np.clip(y, 0.0, h - 1.0)
    x0 = np.minimum(np.floor(x).astype(np.intp), max(w - 2, 0))
    y0 = np.minimum(np.floor(y).astype(np.intp), max(h - 2, 0))
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    return (grid[y0, x0] * (1 - fx) * (1 - fy) + grid[y0, x1] * fx * (1 - fy)
            + grid[y1, x0] * (1 - fx) * fy + grid[y1, x1] * fx * fy)


class MapEvidence:
    """The first stage's heatmaps and PAFs of one image, read at image points.

    Args:
        output: the network's (C, h, w) output (heatmaps, background, PAFs), e.g. ``Inference.output``.
        letterbox: how the image was placed into the network input (``Inference.letterbox``).
        layout: the output's layout.
    """

    def __init__(self, output: np.ndarray, letterbox: Letterbox, layout: Layout | str):
        self.output = np.asarray(output, np.float32)
        self.letterbox = letterbox
        self.layout = get_layout(layout)
        self._limbs = {}
        for li, (a, b) in enumerate(self.layout.limbs):
            self._limbs[(a, b)] = (li, False)
            self._limbs.setdefault((b, a), (li, True))

    @classmethod
    def of(cls, inference) -> "MapEvidence":
        """The evidence of a :class:`posekit.openpose.Inference`."""
        return cls(inference.output, inference.letterbox, inference.layout)

    @property
    def cell(self) -> float:
        """The side of one output-grid cell in image pixels."""
        return self.letterbox.stride / self.letterbox.scale

    def to_grid(self, xy) -> np.ndarray:
        """Image pixels (..., 2) -> output-grid coordinates (cell centres at integers)."""
        lb = self.letterbox
        return (np.asarray(xy, np.float64) * lb.scale + 0.5) / lb.stride - 0.5

    def heat(self, keypoint: int, xy, radius: float = 0.0) -> float:
        """The highest value of ``keypoint``'s heatmap within ``radius`` image pixels of ``xy`` (at least
        :data:`MIN_RADIUS_CELLS` cells); 0 outside the map."""
        hm = self.output[keypoint]
        h, w = hm.shape
        gx, gy = self.to_grid(xy)
        r = max(float(radius) / self.cell, MIN_RADIUS_CELLS)
        x0, x1 = max(0, int(np.floor(gx - r))), min(w - 1, int(np.ceil(gx + r)))
        y0, y1 = max(0, int(np.floor(gy - r))), min(h - 1, int(np.ceil(gy + r)))
        if x1 < x0 or y1 < y0:
            return 0.0
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        near = (xx - gx) ** 2 + (yy - gy) ** 2 <= r * r
        return float(hm[y0:y1 + 1, x0:x1 + 1][near].max()) if near.any() else 0.0

    def has_limb(self, a: int, b: int) -> bool:
        """Whether the layout has a PAF for the limb between keypoints ``a`` and ``b``."""
        return (a, b) in self._limbs

    def limb(self, a: int, b: int, xy_a, xy_b) -> tuple[float, float]:
        """How the PAF of the limb between keypoints ``a`` and ``b`` supports the segment ``xy_a`` -> ``xy_b``
        (image pixels): (fraction of :data:`LIMB_SAMPLES` samples agreeing with its direction by more than
        :data:`LIMB_AGREEMENT`, mean agreement). (1, 1) for a segment shorter than a tenth of a cell."""
        li, backwards = self._limbs[(a, b)]
        ga, gb = self.to_grid(xy_a), self.to_grid(xy_b)
        if backwards:  # the field points from the layout's first keypoint of the limb to its second
            ga, gb = gb, ga
        vec = gb - ga
        length = float(np.hypot(*vec))
        if length < 0.1:
            return 1.0, 1.0
        unit = vec / length
        t = np.linspace(0.0, 1.0, LIMB_SAMPLES)
        px, py = ga[0] + vec[0] * t, ga[1] + vec[1] * t
        cx, cy = self.layout.paf_channels[li]
        dots = _bilinear(self.output[cx], px, py) * unit[0] + _bilinear(self.output[cy], px, py) * unit[1]
        return float((dots > LIMB_AGREEMENT).mean()), float(dots.mean())


__all__ = ["LIMB_AGREEMENT", "LIMB_SAMPLES", "MIN_RADIUS_CELLS", "MapEvidence"]
