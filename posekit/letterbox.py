"""The letterbox: how an image is fitted into a network input (aspect kept, padded at right and bottom), how
large that input is, and how the network's output grid maps back to image pixels.

Coordinates: ``x_img = ((x_grid + 0.5) * stride - 0.5) / scale`` (cell centres at integers on the grid, pixel
centres at integers in the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Network widths with ``input_size="auto"`` stay within these bounds (pixels): a panorama is letterboxed
#: rather than fed as a 2000-pixel-wide input, a very tall image keeps some context.
AUTO_MIN_WIDTH, AUTO_MAX_WIDTH = 128, 768
#: Sizes are multiples of this (the networks' total stride, twice: what the converted graphs accept).
SIZE_MULTIPLE = 16


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed into the network input: resized by ``scale``, at the top-left corner.

    Output-grid coordinates map to image pixels by ``x = ((gx + 0.5) * stride - 0.5) / scale``.
    """

    scale: float
    image_size: tuple[int, int]  # (width, height) of the original image
    input_size: tuple[int, int]  # (width, height) of the network input
    stride: int

    def grid_to_image(self, xy: np.ndarray) -> np.ndarray:
        return ((np.asarray(xy, np.float32) + 0.5) * self.stride - 0.5) / self.scale

    @property
    def valid_grid(self) -> tuple[int, int]:
        """(width, height) of the output grid covered by the image (the rest is padding)."""
        w, h = self.image_size
        return (min(int(np.ceil(w * self.scale / self.stride)), self.input_size[0] // self.stride),
                min(int(np.ceil(h * self.scale / self.stride)), self.input_size[1] // self.stride))


def auto_input_size(width: int, height: int, base_height: int, *, multiple: int = SIZE_MULTIPLE,
                    min_width: int = AUTO_MIN_WIDTH, max_width: int = AUTO_MAX_WIDTH) -> tuple[int, int]:
    """The network input (w, h) for an image of ``width`` x ``height``: the fixed network height and the width
    from the image's aspect ratio, rounded up to a multiple of ``multiple`` (OpenPose's ``-1x368``). A 16:9
    frame gets 656 x 368 where the fixed 432 x 368 input would shrink it to 432 x 243."""
    h = max(multiple, int(round(base_height / multiple)) * multiple)
    w = int(np.ceil(width * h / max(1, height) / multiple)) * multiple
    return int(np.clip(w, min_width, max_width)), h


def letterbox_size(width: int, height: int, input_size: tuple[int, int]) -> tuple[float, tuple[int, int]]:
    """(scale, (w, h)) of an image of ``width`` x ``height`` fitted into ``input_size``, aspect ratio kept."""
    in_w, in_h = input_size
    scale = min(in_w / width, in_h / height)
    return scale, (max(1, min(in_w, round(width * scale))), max(1, min(in_h, round(height * scale))))


def shrink(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (width, height) without aliasing, fast: halved (2x2 averages) while it
    stays at least twice the target, then bilinear for the last factor (< 2, where bilinear does not alias).
    Several times faster than INTER_AREA at non-integer factors, within a few grey levels of it."""
    w, h = size
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        # Bilinear at exactly 1/2 samples between each 2x2 block: its average, and OpenCV's fastest path.
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_LINEAR)
    if (image.shape[1], image.shape[0]) == (w, h):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def resample_output(out: np.ndarray, src: Letterbox, dst: Letterbox, grid: tuple[int, int]) -> np.ndarray:
    """Network maps ``out`` (C, h, w) computed through letterbox ``src``, resampled onto the output grid
    (``grid`` = (rows, cols)) of letterbox ``dst`` of the same image, cell centres mapped exactly:
    image x = ((g + 0.5) * stride - 0.5) / scale in both."""
    a = src.scale / dst.scale
    st = src.stride
    b = ((0.5 * dst.stride - 0.5) * a + 0.5) / st - 0.5
    m = np.array([[a * dst.stride / st, 0.0, b], [0.0, a * dst.stride / st, b]], np.float32)
    rows, cols = grid
    chans = [cv2.warpAffine(np.ascontiguousarray(out[c: c + 4].transpose(1, 2, 0)), m, (cols, rows),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
             for c in range(0, out.shape[0], 4)]
    return np.concatenate([c.reshape(rows, cols, -1) for c in chans], axis=2).transpose(2, 0, 1)
