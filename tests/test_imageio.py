"""posekit.imageio: every supported kind of image becomes an upright BGR uint8 array; nothing else does."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from posekit.errors import InvalidInputError
from posekit.imageio import IMAGE_TYPES, encode_image, load_image

from conftest import IMAGES, read_image


def _png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _rgb(bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))


@pytest.fixture(scope="module")
def p3() -> np.ndarray:
    return read_image("p3.jpg")


def test_sources_path_bytes_and_file_objects_agree_with_opencv(p3):
    path = IMAGES / "p3.jpg"
    from_path = load_image(path)
    assert from_path.dtype == np.uint8 and from_path.shape == p3.shape and from_path.flags.c_contiguous
    # Pillow and OpenCV use different JPEG decoders: the pixels agree to rounding.
    assert np.abs(from_path.astype(int) - p3).mean() < 1.0
    data = path.read_bytes()
    with open(path, "rb") as f:
        from_file = load_image(f)
    for other in (load_image(str(path)), load_image(data), load_image(bytearray(data)), load_image(io.BytesIO(data)),
                  from_file):
        np.testing.assert_array_equal(other, from_path)


def test_roundtrip_through_every_supported_type(p3):
    for ext in IMAGE_TYPES:
        back = load_image(encode_image(p3, ext))
        assert back.shape == p3.shape, ext
        err = np.abs(back.astype(int) - p3).mean()
        if ext in ("png", "bmp"):
            assert err == 0, ext
        else:
            assert err < 4, (ext, err)
    assert encode_image(p3, "PNG")[:8] == b"\x89PNG\r\n\x1a\n"  # ext with or without the dot, any case


def test_encode_image_refuses_what_it_cannot_write(p3):
    with pytest.raises(InvalidInputError, match="cannot encode"):
        encode_image(p3, ".gif")
    with pytest.raises(InvalidInputError, match="uint8"):
        encode_image(p3.astype(np.float32), ".png")
    with pytest.raises(InvalidInputError, match="uint8"):
        encode_image(np.zeros((0, 0, 3), np.uint8), ".png")


# The 8 EXIF orientations: how to build the stored pixels from the upright picture (numpy only, so that the
# test does not reuse Pillow's own transposes). Tag 6 = "rotate 90 CW to display" (phones held upright).
_STORE = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],
    3: lambda u: u[::-1, ::-1],
    4: lambda u: u[::-1],
    5: lambda u: u.transpose(1, 0, 2),
    6: lambda u: np.rot90(u, 1),
    7: lambda u: np.rot90(u, 2).transpose(1, 0, 2),
    8: lambda u: np.rot90(u, -1),
}


@pytest.mark.parametrize("orientation", sorted(_STORE))
def test_exif_orientation_is_applied(p3, orientation):
    upright = p3[100:160, 200:240]  # small, not symmetric
    stored = np.ascontiguousarray(_STORE[orientation](upright))
    exif = Image.Exif()
    exif[0x0112] = orientation
    got = load_image(_png(_rgb(stored), exif=exif.tobytes()))
    np.testing.assert_array_equal(got, upright)


def test_sixteen_bit_grayscale_is_scaled_not_clipped():
    gray16 = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 257)  # 0, 257, ..., 65535
    got = load_image(_png(Image.fromarray(gray16)))
    assert got.shape == (16, 16, 3)
    np.testing.assert_array_equal(got[:, :, 0], np.arange(256).reshape(16, 16))
    np.testing.assert_array_equal(got[:, :, 0], got[:, :, 2])


def test_sixteen_bit_colour_png(p3):
    ok, buf = cv2.imencode(".png", p3.astype(np.uint16) * 257)
    assert ok
    got = load_image(buf.tobytes())
    assert np.abs(got.astype(int) - p3).max() <= 1


def test_alpha_is_composited_on_white(p3):
    rgba = np.dstack([p3[:, :, ::-1], np.full(p3.shape[:2], 255, np.uint8)])
    rgba[:50, :, 3] = 0  # transparent band
    rgba[50:60, :, 3] = 128  # half transparent
    got = load_image(_png(Image.fromarray(rgba, "RGBA")))
    assert (got[:50] == 255).all()
    np.testing.assert_array_equal(got[60:], p3[60:])
    half = got[50:60].astype(int)
    expect = (p3[50:60].astype(int) * 128 + 255 * 127) / 255
    assert np.abs(half - expect).max() <= 2
    la = Image.fromarray(rgba, "RGBA").convert("LA")
    got_la = load_image(_png(la))
    assert (got_la[:50] == 255).all() and got_la.shape == p3.shape


def test_palette_with_transparency_and_one_bit(p3):
    pal = _rgb(p3).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.info["transparency"] = 0
    got = load_image(_png(pal, transparency=0))
    index = np.asarray(pal)
    assert (got[index == 0] == 255).all()
    assert np.abs(got[index != 0].astype(int) - p3[index != 0]).mean() < 25  # 16 colours
    bits = load_image(_png(_rgb(p3).convert("1")))
    assert set(np.unique(bits)) <= {0, 255}


def test_cmyk_jpeg(p3):
    buf = io.BytesIO()
    _rgb(p3).convert("CMYK").save(buf, "JPEG", quality=95)
    got = load_image(buf.getvalue())
    assert got.shape == p3.shape
    assert np.abs(got.astype(int) - p3).mean() < 4


def test_pixel_limit_is_checked(p3):
    data = encode_image(p3, ".png")
    with pytest.raises(InvalidInputError, match="too large"):
        load_image(data, max_pixels=p3.shape[0] * p3.shape[1] - 1)
    assert load_image(data, max_pixels=p3.shape[0] * p3.shape[1]).shape == p3.shape


def test_messages_name_the_file(tmp_path):
    bad = tmp_path / "holiday.jpg"
    bad.write_text("not really a picture")
    with pytest.raises(InvalidInputError, match=r"^holiday\.jpg is not a readable image"):
        load_image(bad)
    with pytest.raises(InvalidInputError, match="no such image file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(InvalidInputError, match="cannot read an image"):
        load_image(12345)
