"""Safe image decoding: anything a user uploads becomes a BGR uint8 array or a clear InvalidInputError.

Pillow does the decoding (EXIF orientation, CMYK, 16-bit, palette, alpha, WebP); the pixel count is checked from
the header *before* any pixel is decoded, so a decompression bomb costs nothing. Truncated files are rejected
(never half-grey images), and only the formats in :data:`IMAGE_TYPES` are opened at all.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import cv2
import numpy as np
from PIL import (  # noqa: F401 (registers the formats)
    BmpImagePlugin,
    Image,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    UnidentifiedImageError,
    WebPImagePlugin,
)

from .errors import InvalidInputError

#: File extensions accepted for images (the upload widgets and the CLI use this list).
IMAGE_TYPES = ("jpg", "jpeg", "png", "bmp", "webp")

#: Default limit on width x height (50 megapixels: a 8660 x 5773 photo; ~150 MB as BGR).
MAX_PIXELS = 50_000_000

# Pillow format names for IMAGE_TYPES (the JPEG opener also yields MPO, the multi-picture JPEG of phones).
_PIL_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")

ImageSource = Union[bytes, bytearray, memoryview, str, os.PathLike, BinaryIO]


def _read_source(source: ImageSource) -> tuple[bytes, str]:
    """The encoded bytes and a name to use in messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), "the image"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(f"{path}: no such image file")
        try:
            return path.read_bytes(), path.name
        except OSError as e:
            raise InvalidInputError(f"{path.name}: cannot read the file ({e.strerror or e})") from None
    if hasattr(source, "getvalue"):  # io.BytesIO, Streamlit's UploadedFile
        data = source.getvalue()
    elif hasattr(source, "read"):
        data = source.read()
    else:
        raise InvalidInputError(f"cannot read an image from a {type(source).__name__}")
    if isinstance(data, str):
        raise InvalidInputError("the image was opened as text; open it in binary mode")
    name = os.path.basename(str(getattr(source, "name", "") or "")) or "the image"
    return bytes(data), name


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """RGB uint8 (H, W, 3) from any Pillow mode; transparency is composited on white."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im)
        if mode == "F":
            a = a * 255.0 if float(np.nanmax(a, initial=0.0)) <= 1.0 else a
        elif mode.startswith("I;16") or (mode == "I" and int(a.max(initial=0)) > 255):
            a = a / 257.0  # 16-bit range -> 8-bit
        gray = np.clip(np.nan_to_num(a), 0, 255).round().astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    elif mode in ("LA", "PA", "La"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, im.convert("RGBA"))
    if im.mode != "RGB":
        im = im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV ...
    return np.asarray(im, dtype=np.uint8)


def load_image(source: ImageSource, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode an image into a BGR uint8 array of shape (H, W, 3), upright.

    Args:
        source: encoded bytes, a path, or a binary file-like object (e.g. a Streamlit upload).
        max_pixels: refuse images with more than this many pixels (checked before decoding).

    Raises:
        InvalidInputError: empty, unreadable, truncated, unsupported or too large input.
    """
    data, name = _read_source(source)
    if not data:
        raise InvalidInputError(f"{name} is empty (0 bytes), not a readable image")
    kinds = ", ".join(IMAGE_TYPES)
    try:
        with warnings.catch_warnings():  # our own limit below replaces Pillow's warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
    except Image.DecompressionBombError as e:
        raise InvalidInputError(f"{name} is too large to decode safely ({e})") from None
    except UnidentifiedImageError:
        raise InvalidInputError(f"{name} is not a readable image (not a {kinds} file)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise InvalidInputError(f"{name} is not a readable image (expected {kinds}): {_short(e)}") from None
    with im:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise InvalidInputError(f"{name} has no pixels ({w}x{h}), not a readable image")
        if w * h > max_pixels:
            raise InvalidInputError(
                f"{name} is too large: {w}x{h} = {w * h / 1e6:.0f} megapixels "
                f"(the limit is {max_pixels / 1e6:.0f}); resize it first"
            )
        try:
            im.load()
            upright = ImageOps.exif_transpose(im) or im
        except Image.DecompressionBombError as e:
            raise InvalidInputError(f"{name} is too large to decode safely ({e})") from None
        except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
            reason = "it is truncated" if "truncated" in str(e) else _short(e)
            raise InvalidInputError(f"{name} is not a readable image ({im.format}): {reason}") from None
        rgb = _to_rgb_array(upright)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def encode_image(bgr: np.ndarray, ext: str = ".png", *, quality: int = 95) -> bytes:
    """Encode a BGR (or grayscale) uint8 image as ``ext`` (``.png``, ``.jpg``, ``.webp``, ``.bmp``)."""
    ext = "." + ext.lower().lstrip(".")
    if ext[1:] not in IMAGE_TYPES:
        raise InvalidInputError(f"cannot encode images as {ext!r}; use one of {', '.join(IMAGE_TYPES)}")
    img = np.asarray(bgr)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or img.size == 0:
        raise InvalidInputError(f"expected a non-empty uint8 image, got {img.dtype} {img.shape}")
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:  # pragma: no cover - OpenCV always has these encoders
        raise InvalidInputError(f"OpenCV could not encode the image as {ext}")
    return buf.tobytes()


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return text[:200]
