"""A corpus of hostile and odd inputs, generated from /work/shared/media.

Odd but valid input gives a correct result; invalid input gives InvalidInputError with a clear message (and
exit status 2 with one ``error: ...`` line from the CLI, never a traceback); no temporary file survives.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from posekit.errors import InvalidInputError
from posekit.imageio import encode_image, load_image
from posekit.video import probe, process_video

from clips import read_frames, write_clip
from conftest import IMAGES, ROOT, VIDEOS, read_image

P3 = IMAGES / "p3.jpg"


@pytest.fixture
def clean_tmp(tmp_path, monkeypatch):
    """TMPDIR (and tempfile's cached choice) pointed at a fresh folder that must be empty at the end."""
    t = tmp_path / "TMPDIR"
    t.mkdir()
    monkeypatch.setenv("TMPDIR", str(t))
    monkeypatch.setattr(tempfile, "tempdir", str(t))
    yield t
    assert sorted(os.listdir(t)) == [], "temporary files left behind"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(w: int, h: int) -> bytes:
    """A PNG that claims w x h RGB pixels and holds none: costs nothing unless someone decodes it."""
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + _png_chunk(b"IEND", b""))


def _pil_bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _p3_rgb() -> Image.Image:
    return Image.open(P3).convert("RGB")


def _corrupt_idat() -> bytes:
    data = bytearray(encode_image(read_image("p3.jpg"), ".png"))
    start = data.find(b"IDAT") + 4
    data[start + 100:start + 400] = os.urandom(300)
    return bytes(data)


# ------------------------------------------------------------------------------------------------ images

INVALID_IMAGES = {
    "zero_byte.jpg": lambda: b"",
    "text_renamed.jpg": lambda: b"Dear diary,\nthis is not a photo.\n" * 20,
    "truncated.jpg": lambda: P3.read_bytes()[: P3.stat().st_size // 2],
    "jpeg_headers_only.jpg": lambda: P3.read_bytes()[:600],
    "html_posing_as.png": lambda: b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
    "svg_posing_as.png": lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>',
    "random_bytes.jpg": lambda: np.random.default_rng(1).integers(0, 256, 8192, dtype=np.uint8).tobytes(),
    "png_signature_then_garbage.png": lambda: b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 100,
    "corrupt_png_data.png": _corrupt_idat,
    "video_renamed.jpg": lambda: (VIDEOS / "demo.mp4").read_bytes(),
    "gif_not_supported.gif": lambda: _pil_bytes(_p3_rgb(), "GIF"),
    "bomb_144_megapixel_header.png": lambda: _png_header_only(12000, 12000),
    "bomb_144_megapixel_real.png": lambda: _pil_bytes(Image.new("1", (12000, 12000)), "PNG"),
    "bomb_10_gigapixel_header.png": lambda: _png_header_only(100_000, 100_000),
}

IMAGE_MESSAGE = r"not a readable image|too large"


@pytest.fixture(scope="module")
def image_corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hostile_images")
    for name, make in INVALID_IMAGES.items():
        (d / name).write_bytes(make())
    return d


@pytest.mark.parametrize("name", sorted(INVALID_IMAGES))
def test_invalid_image_is_refused_clearly(image_corpus, clean_tmp, name):
    path = image_corpus / name
    with pytest.raises(InvalidInputError, match=IMAGE_MESSAGE) as exc:
        load_image(path)
    message = str(exc.value)
    assert name in message and "\n" not in message and len(message) < 300
    with pytest.raises(InvalidInputError, match=IMAGE_MESSAGE):  # same answer from the bytes
        load_image(path.read_bytes())
    if "bomb" in name:
        assert "too large" in message


def test_bomb_is_refused_before_decoding(image_corpus, monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(InvalidInputError, match="12000x12000 = 144 megapixels"):
        load_image(image_corpus / "bomb_144_megapixel_real.png")


def _gray(img):
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _check_same_people(est, got, reference, tolerance=0):
    n, m = len(est.estimate(got)), len(est.estimate(reference))
    assert m >= 2 and abs(n - m) <= tolerance, (n, m)


def _valid_cases():
    """name -> (bytes maker, check(est, decoded, p3))"""
    p3_pil = _p3_rgb

    def exif_rotated():
        stored = Image.fromarray(np.ascontiguousarray(np.rot90(np.asarray(p3_pil()), 1)))  # 90 degrees CCW
        exif = Image.Exif()
        exif[0x0112] = 6  # display: rotate 90 degrees CW
        return _pil_bytes(stored, "JPEG", quality=95, exif=exif.tobytes())

    def rgba():
        a = np.dstack([np.asarray(p3_pil()), np.full((471, 600), 255, np.uint8)])
        a[:, :40, 3] = 0
        return _pil_bytes(Image.fromarray(a, "RGBA"), "PNG")

    def gray16():
        g = _gray(read_image("p3.jpg")).astype(np.uint16) * 257
        return _pil_bytes(Image.fromarray(g), "PNG")

    def close(tol):
        def check(est, got, p3):
            assert got.shape == p3.shape
            assert np.abs(got.astype(int) - p3).mean() < tol

        return check

    def gray_people(est, got, p3):
        assert got.shape == p3.shape and (got[:, :, 0] == got[:, :, 2]).all()
        assert np.abs(got[:, :, 0].astype(int) - _gray(p3)).mean() < 2
        _check_same_people(est, got, p3, tolerance=1)

    def no_people_no_crash(est, got, p3):
        assert got.ndim == 3 and got.dtype == np.uint8
        assert est.estimate(got) == []

    def exif_check(est, got, p3):
        assert got.shape == p3.shape  # upright: 471 x 600 again
        assert np.abs(got.astype(int) - p3).mean() < 3
        _check_same_people(est, got, p3)

    def rgba_check(est, got, p3):
        assert (got[:, :40] == 255).all()
        assert np.abs(got[:, 40:].astype(int) - p3[:, 40:]).mean() < 1.5
        _check_same_people(est, got, p3)

    def cmyk_check(est, got, p3):
        close(4)(est, got, p3)
        _check_same_people(est, got, p3)

    return {
        "one_pixel.png": (lambda: _pil_bytes(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"),
                          lambda est, got, p3: (got.shape == (1, 1, 3) and (got[0, 0] == (30, 200, 10)).all()
                                                and est.estimate(got) == []) or pytest.fail(str(got))),
        "three_by_two.bmp": (lambda: _pil_bytes(Image.new("RGB", (3, 2)), "BMP"), no_people_no_crash),
        "extreme_aspect_2000x3.png": (lambda: _pil_bytes(Image.new("RGB", (2000, 3), "white"), "PNG"),
                                      no_people_no_crash),
        "grayscale_p3.jpg": (lambda: _pil_bytes(p3_pil().convert("L"), "JPEG", quality=95), gray_people),
        "rgba_p3.png": (rgba, rgba_check),
        "sixteen_bit_gray_p3.png": (gray16, lambda est, got, p3: close(1.5)(est, cv2.cvtColor(
            _gray(got), cv2.COLOR_GRAY2BGR), cv2.cvtColor(_gray(p3), cv2.COLOR_GRAY2BGR))),
        "cmyk_p3.jpg": (lambda: _pil_bytes(p3_pil().convert("CMYK"), "JPEG", quality=95), cmyk_check),
        "exif_rotated_p3.jpg": (exif_rotated, exif_check),
        "progressive_p3.jpg": (lambda: _pil_bytes(p3_pil(), "JPEG", quality=95, progressive=True), close(3)),
        "palette_p3.png": (lambda: _pil_bytes(p3_pil().convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
                           close(12)),
        "lossless_p3.webp": (lambda: _pil_bytes(p3_pil(), "WEBP", lossless=True), close(1.0)),
    }


VALID_IMAGES = _valid_cases()


@pytest.mark.parametrize("name", sorted(VALID_IMAGES))
def test_odd_but_valid_image_gives_a_correct_result(fast_estimator, tmp_path, clean_tmp, name):
    make, check = VALID_IMAGES[name]
    path = tmp_path / name
    path.write_bytes(make())
    p3 = load_image(P3)
    got = load_image(path)
    assert got.dtype == np.uint8 and got.ndim == 3 and got.shape[2] == 3
    check(fast_estimator, got, p3)


# ------------------------------------------------------------------------------------------------ videos


def _header_without_frames(path: Path) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 320, 240, "yuv420p"
        out.start_encoding()  # header and (empty) index, no frame
    return path


def _avi_without_frames(path: Path) -> Path:
    with av.open(str(path), "w", format="avi") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height = 320, 240
        out.start_encoding()
    return path


def _audio_only(path: Path) -> Path:
    rate = 22050
    with av.open(str(path), "w", format="mp4") as out:
        a = out.add_stream("aac", rate=rate, layout="mono")
        t = np.arange(rate) / rate
        samples = (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
        for start in range(0, rate, 1024):
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, start:start + 1024]), format="flt",
                                           layout="mono")
            f.sample_rate, f.pts, f.time_base = rate, start, Fraction(1, rate)
            out.mux(a.encode(f))
        out.mux(a.encode())
    return path


def _cut(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _small_dance(n: int = 20, size=(320, 180)) -> list[np.ndarray]:
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in read_frames(VIDEOS / "dance.avi", n)]


def _mp4_moov_at_end(path: Path) -> Path:
    """An ordinary (not faststart) MP4: the index comes last, so a cut file has none."""
    return write_clip(path, _small_dance(30), fps=25)


INVALID_VIDEOS = {
    "zero_byte.mp4": (lambda p: (p.write_bytes(b""), p)[1], "empty"),
    "random_bytes.avi": (lambda p: (p.write_bytes(np.random.default_rng(2).integers(0, 256, 65536, np.uint8)
                                                  .tobytes()), p)[1], "not a readable video"),
    "text_renamed.mp4": (lambda p: (p.write_bytes(b"just some notes\n" * 100), p)[1], "not a readable video"),
    "html_posing_as.mp4": (lambda p: (p.write_bytes(b"<html><script>fetch('/x')</script></html>"), p)[1],
                           "not a readable video"),
    "mp4_header_no_frames.mp4": (_header_without_frames, "no video stream|not a readable video"),
    "avi_zero_frames.avi": (_avi_without_frames, "no video frames|not a readable video"),
    "audio_only.mp4": (_audio_only, "no video stream"),
    "mp4_cut_before_its_index.mp4": (lambda p: _cut(_mp4_moov_at_end(p.with_name("whole.mp4")), p),
                                     "not a readable video"),
}


@pytest.fixture(scope="module")
def video_corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hostile_videos")
    for name, (make, _) in INVALID_VIDEOS.items():
        make(d / name)
    return d


@pytest.mark.parametrize("name", sorted(INVALID_VIDEOS))
def test_invalid_video_is_refused_clearly(fast_estimator, video_corpus, tmp_path, clean_tmp, name):
    path = video_corpus / name
    pattern = INVALID_VIDEOS[name][1]
    with pytest.raises(InvalidInputError, match=pattern):
        probe(path)
    with pytest.raises(InvalidInputError, match=pattern) as exc:
        process_video(path, tmp_path / "out.mp4", fast_estimator)
    assert name in str(exc.value) and "\n" not in str(exc.value)
    assert list(tmp_path.glob("*out*")) == []


def test_video_cut_mid_stream_gives_what_is_there(fast_estimator, tmp_path, clean_tmp):
    avi = _cut(VIDEOS / "dance.avi", tmp_path / "cut.avi")  # AVI: no index needed to read on
    result = process_video(avi, tmp_path / "out_avi.mp4", fast_estimator, every=25)
    assert 50 < result.frames < 205 and not result.truncated
    assert "cut short" in result.message and "205" in result.message
    assert len(read_frames(tmp_path / "out_avi.mp4")) == result.frames
    # a faststart MP4 (index first) cut in the middle of its frames: what is there plays
    whole = process_video(VIDEOS / "dance.avi", tmp_path / "whole.mp4", fast_estimator, max_frames=60, every=30,
                          draw=None)
    cut = _cut(whole.path, tmp_path / "cut.mp4")
    result = process_video(cut, tmp_path / "out_mp4.mp4", fast_estimator, every=30)
    assert 10 < result.frames < 60 and "cut short" in result.message


def test_portrait_phone_clip(fast_estimator, tmp_path, clean_tmp):
    upright = read_image("COCO_val2014_000000000241.jpg")  # 480 x 640
    src = write_clip(tmp_path / "phone.mov", [np.rot90(upright, 1)] * 3, fps=30, rotation=270, fmt="mov")
    assert probe(src).rotation == 270
    result = process_video(src, tmp_path / "out.mp4", fast_estimator)
    assert (result.width, result.height) == (480, 640)
    assert read_frames(tmp_path / "out.mp4")[0].shape == (640, 480, 3)


def test_variable_frame_rate_keeps_frame_count(fast_estimator, tmp_path, clean_tmp):
    pts = [0, 5, 100, 110, 300, 301, 302, 500, 900, 905]  # ms, very irregular
    src = write_clip(tmp_path / "vfr.mkv", _small_dance(10), fps=25, pts=pts, time_base=Fraction(1, 1000))
    result = process_video(src, tmp_path / "out.mp4", fast_estimator)
    assert result.frames == 10 == len(read_frames(tmp_path / "out.mp4"))


@pytest.mark.parametrize("codec,container,size,pix_fmt", [
    ("mjpeg", "avi", (321, 241), "yuvj420p"),  # odd size: the output is made even
    ("ffv1", "mkv", (97, 55), "bgr0"),
    ("libvpx-vp9", "webm", (320, 180), "yuv420p"),
    ("mpeg4", "avi", (16, 16), "yuv420p"),  # tiny
])
def test_other_codecs_and_odd_sizes(fast_estimator, tmp_path, clean_tmp, codec, container, size, pix_fmt):
    frames = _small_dance(6, size)
    src = write_clip(tmp_path / f"clip.{container}", frames, fps=25, codec=codec, pix_fmt=pix_fmt)
    result = process_video(src, tmp_path / "out.mp4", fast_estimator, draw=None)
    out = read_frames(tmp_path / "out.mp4")
    assert len(out) == result.frames == 6
    assert out[0].shape[:2] == (size[1] // 2 * 2, size[0] // 2 * 2)
    if min(size) > 50:  # the picture survives (within compression and a 1-pixel resize)
        ref = cv2.resize(frames[3], out[3].shape[1::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(out[3].astype(int) - ref).mean() < 12


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    """Two minutes at 25 fps (3000 frames), low resolution so that it is quick to make."""
    d = tmp_path_factory.mktemp("long")
    frames = _small_dance(50, (160, 96))
    with av.open(str(d / "long.mp4"), "w") as out:
        s = out.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        for i in range(3000):
            f = av.VideoFrame.from_ndarray(frames[i % 50], format="bgr24")
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode())
    return d / "long.mp4"


def test_very_long_video_is_capped_with_a_message(fast_estimator, long_clip, tmp_path, clean_tmp):
    info = probe(long_clip)
    assert info.frames == 3000 and info.duration_s == pytest.approx(120)
    result = process_video(long_clip, tmp_path / "out.mp4", fast_estimator, max_frames=40, every=10)
    assert result.frames == 40 and result.truncated
    assert "40-frame limit" in result.message and "3000" in result.message
    assert len(read_frames(tmp_path / "out.mp4")) == 40


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_long_video_is_streamed_not_loaded(fast_estimator, tmp_path, clean_tmp):
    """With a consumer slower than the decoder, memory stays flat instead of filling with decoded frames."""
    n, w, h = 600, 640, 360
    texture = np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)
    frames = (np.roll(texture, 3 * i, axis=1) for i in range(n))
    src = write_clip(tmp_path / "long.mp4", frames, fps=25)
    fast_estimator.estimate(texture)  # the network's own buffers are not the pipeline's
    base, peak = _rss(), [0]

    def slow_consumer(*_):
        peak[0] = max(peak[0], _rss() - base)
        time.sleep(0.003)

    result = process_video(src, tmp_path / "out.mp4", fast_estimator, every=1000, draw=None, on_frame=slow_consumer)
    assert result.frames == n
    all_frames = n * w * h * 3  # 415 MB if the frames piled up
    assert peak[0] < all_frames / 4, peak[0] / 1e6


def test_bad_arguments_and_destinations(fast_estimator, tmp_path, clean_tmp):
    demo = VIDEOS / "demo.mp4"
    with pytest.raises(InvalidInputError, match="does not exist"):
        process_video(demo, tmp_path / "missing" / "out.mp4", fast_estimator)
    with pytest.raises(InvalidInputError, match="overwrite the input"):
        process_video(demo, demo, fast_estimator)
    for kw, pattern in (({"every": 0}, "every"), ({"max_seconds": -1}, "max_seconds"),
                        ({"max_frames": 0}, "max_frames"), ({"output_height": 4}, "height"),
                        ({"keypoints_format": "xml"}, "keypoints format")):
        with pytest.raises(InvalidInputError, match=pattern):
            process_video(demo, tmp_path / "out.mp4", fast_estimator, **kw)
    with pytest.raises(InvalidInputError, match="no such video file"):
        probe(tmp_path / "nothing.mp4")
    assert list(tmp_path.iterdir()) == [clean_tmp]


# --------------------------------------------------------------------------------------------------- CLI


def _cli(*args: str, tmpdir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "posekit", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def _assert_one_error_line(proc: subprocess.CompletedProcess, name: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], proc.stderr


@pytest.mark.parametrize("name", ["zero_byte.jpg", "truncated.jpg", "html_posing_as.png",
                                  "bomb_144_megapixel_header.png"])
def test_cli_estimate_refuses_with_one_line(image_corpus, clean_tmp, model_dir, name):
    _assert_one_error_line(_cli("estimate", image_corpus / name, tmpdir=clean_tmp), name)


def test_cli_estimate_reports_each_bad_file_and_goes_on(image_corpus, tmp_path, clean_tmp, model_dir):
    names = sorted(INVALID_IMAGES)
    proc = _cli("estimate", P3, *(image_corpus / n for n in names), "--model", "mobilenet_v2_0.5",
                "--json-dir", tmp_path / "json", tmpdir=clean_tmp)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(names) and all(n in e for n, e in zip(names, errors)), proc.stderr
    assert (tmp_path / "json" / "p3_keypoints.json").is_file()  # the good file was still done


@pytest.mark.parametrize("name", sorted(INVALID_VIDEOS))
def test_cli_video_refuses_with_one_line(video_corpus, tmp_path, clean_tmp, name):
    proc = _cli("video", video_corpus / name, "--output", tmp_path / "out.mp4", tmpdir=clean_tmp)
    _assert_one_error_line(proc, name)
    assert not (tmp_path / "out.mp4").exists()


def test_cli_video_writes_openpose_json_per_frame(tmp_path, clean_tmp, model_dir):
    src = write_clip(tmp_path / "clip.mp4", _small_dance(4, (640, 360)), fps=25)
    proc = _cli("video", src, "--output", tmp_path / "out.mp4", "--json-dir", tmp_path / "json", "--keypoints",
                tmp_path / "poses.csv", "--model", "mobilenet_v2_0.5", "--height", "180", tmpdir=clean_tmp)
    assert proc.returncode == 0, proc.stderr
    assert "4 frames" in proc.stdout and "320x180" in proc.stdout
    names = sorted(p.name for p in (tmp_path / "json").iterdir())
    assert names == [f"clip_{i:012d}_keypoints.json" for i in range(4)]
    assert (tmp_path / "poses.csv").read_text().startswith("frame,person,score,Nose_x")
    assert len(read_frames(tmp_path / "out.mp4")) == 4
