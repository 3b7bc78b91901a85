"""int8 graphs (posekit.quantize, backend "openvino-int8"): built from the real weights and real calibration frames
in a temporary model directory, run, agree with the float graph on real photos, are reused from the cache, and
a missing NNCF or missing calibration frames fall back to float OpenVINO with a reason.

Kept fast: a handful of calibration frames (photos and frames of demo.mp4, not the photos compared on)."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from conftest import IMAGES, MOVENET_DIR, REFERENCE, TFLITE_DIR, VIDEOS, read_image

pytest.importorskip("openvino")
pytest.importorskip("nncf")

from posekit import PoseEstimator, quantize  # noqa: E402
from posekit.backends import OpenVINOInt8Runner  # noqa: E402
from posekit.movenet import MoveNet  # noqa: E402

MODEL = "mobilenet_v2_1.4"
#: Calibration photos: none of those the agreement is checked on (p3, apink2).
CALIBRATION_PHOTOS = ("golf.jpg", "ski.jpg", "handsup1.jpg", "COCO_val2014_000000000192.jpg")
FRAMES = 8


def _seed(directory):
    for f in TFLITE_DIR.glob("*.tflite"):
        (directory / f.name).symlink_to(f)
    for f in [*MOVENET_DIR.glob("movenet-*.json"), *MOVENET_DIR.glob("movenet-*.bin")]:
        (directory / f.name).symlink_to(f)
    return directory


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """A small calibration folder: four photos and a short video."""
    d = tmp_path_factory.mktemp("calibration")
    for name in CALIBRATION_PHOTOS:
        (d / name).symlink_to(IMAGES / name)
    (d / "demo.mp4").symlink_to(VIDEOS / "demo.mp4")
    return d


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory, calibration):
    """A model directory of its own with the x1.4 network's int8 graph built in it (module-wide)."""
    d = _seed(tmp_path_factory.mktemp("models-int8"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSEKIT_MODEL_DIR", str(d))
        mp.setenv(quantize.ENV_CALIBRATION, str(calibration))
        quantize.build(MODEL, max_frames=FRAMES)
        yield d


@pytest.fixture
def in_int8_dir(int8_dir, calibration, monkeypatch):
    monkeypatch.setenv("POSEKIT_MODEL_DIR", str(int8_dir))
    monkeypatch.setenv(quantize.ENV_CALIBRATION, str(calibration))
    return int8_dir


def test_graph_and_check_are_cached_beside_the_float_graph(in_int8_dir):
    files = quantize.cached(MODEL)
    assert files is not None and files.xml.parent == in_int8_dir
    assert files.xml.name == "mobilenet_v2_pose_dm14_368_432_weight_quant.posekit1.int8v1.xml"
    assert files.complete()
    # written atomically: no temporary file left beside them
    assert not [p.name for p in in_int8_dir.iterdir() if p.name.startswith(".")]
    with np.load(files.check) as data:
        assert float(data["built_max_diff"]) <= quantize.CHECK_MAX_DIFF
        assert data["input0"].shape == (1, 3, 368, 432)


def _people(est, name):
    return est.estimate(read_image(name))


@pytest.mark.parametrize("image", ["p3.jpg", "apink2.jpg"])
def test_int8_finds_the_same_people_as_float(in_int8_dir, image):
    int8 = PoseEstimator(MODEL, backend="openvino-int8", refine=None)
    assert int8.backend == "openvino-int8" and int8.backend_message is None
    ref = PoseEstimator(MODEL, backend="openvino", refine=None)
    a, b = _people(int8, image), _people(ref, image)
    assert len(a) == len(b) >= 3
    for p in b:  # each float person has an int8 twin: nearly the same joints, within a few pixels
        best = None
        for q in a:
            both = (p.keypoints[:, 2] > 0) & (q.keypoints[:, 2] > 0)
            if both.sum() >= 0.8 * (p.keypoints[:, 2] > 0).sum():
                d = np.linalg.norm(p.keypoints[both, :2] - q.keypoints[both, :2], axis=1)
                best = d if best is None or np.median(d) < np.median(best) else best
        assert best is not None, "a float person has no int8 twin"
        assert np.median(best) < 4.0, best
    found_a = sum(int((q.keypoints[:, 2] > 0).sum()) for q in a)
    found_b = sum(int((p.keypoints[:, 2] > 0).sum()) for p in b)
    assert abs(found_a - found_b) <= 0.05 * found_b + 1  # no joints appear or vanish in bulk


def test_heatmaps_agree_with_float_on_the_reference_input(in_int8_dir):
    x = np.ascontiguousarray(np.load(REFERENCE / "dm14_p3.npz")["input_bgr_uint8_nhwc"]
                             .astype(np.float32).transpose(0, 3, 1, 2))
    int8 = PoseEstimator(MODEL, backend="openvino-int8", refine=None).forward(x)
    ref = PoseEstimator(MODEL, backend="openvino", refine=None).forward(x)
    diff = np.abs(int8[:18] - ref[:18])
    assert diff.max() < 0.25 and diff.mean() < 0.005, (diff.max(), diff.mean())


def test_one_graph_serves_every_input_size(in_int8_dir):
    est = PoseEstimator(MODEL, backend="openvino-int8", refine=None)
    assert isinstance(est.first.runner((432, 368)), OpenVINOInt8Runner)
    before = sorted(in_int8_dir.iterdir())
    for image in ("p3.jpg", "apink2.jpg", "ski.jpg"):  # three aspect ratios: three input widths
        est.infer(read_image(image))
    assert len(est.first.runner((432, 368))._by_shape) >= 2
    assert sorted(in_int8_dir.iterdir()) == before  # no float graph converted per input width for it


def test_auto_prefers_a_cached_int8_graph_that_passes_its_check(in_int8_dir, monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PoseEstimator(MODEL, refine=None).backend == "openvino-int8"
        # a graph that disagrees with the float one is passed over: float OpenVINO, still without a warning
        monkeypatch.setattr(quantize, "CHECK_MAX_DIFF", 1e-6)
        est = PoseEstimator(MODEL, refine=None)
    assert est.backend == "openvino" and est.backend_message is None


def test_explicit_int8_that_fails_its_check_falls_back_with_a_reason(in_int8_dir, monkeypatch):
    monkeypatch.setattr(quantize, "CHECK_MAX_DIFF", 1e-6)
    with pytest.warns(RuntimeWarning, match="disagree with the float graph"):
        est = PoseEstimator(MODEL, backend="openvino-int8", refine=None)
    assert est.backend == "openvino"


def test_the_cache_is_reused(in_int8_dir, monkeypatch):
    files = quantize.cached(MODEL)
    before = {p: p.stat().st_mtime_ns for p in (files.xml, files.bin, files.check)}
    import nncf

    def never(*a, **k):
        raise AssertionError("quantized again")

    monkeypatch.setattr(nncf, "quantize", never)
    assert quantize.build(MODEL) == files
    assert PoseEstimator(MODEL, backend="openvino-int8", refine=None).backend == "openvino-int8"
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.fixture
def empty_dir(tmp_path, calibration, monkeypatch):
    """A fresh model directory: weights, no int8 graph."""
    monkeypatch.setenv("POSEKIT_MODEL_DIR", str(_seed(tmp_path)))
    monkeypatch.setenv(quantize.ENV_CALIBRATION, str(calibration))
    return tmp_path


def test_missing_nncf_falls_back_to_float_openvino(empty_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "nncf", None)  # import nncf -> ImportError
    with pytest.raises(quantize.Int8Unavailable, match="pip install nncf"):
        quantize.build(MODEL)
    with pytest.warns(RuntimeWarning, match=r"openvino-int8.*pip install nncf.*Running on CPU \(OpenVINO\)"):
        est = PoseEstimator(MODEL, backend="openvino-int8", refine=None)
    assert est.backend == "openvino" and "pip install nncf" in est.backend_message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert PoseEstimator(MODEL, refine=None).backend == "openvino"  # auto: no int8 graph, no warning
    assert quantize.cached(MODEL) is None


def test_no_calibration_frames_is_a_clear_reason(empty_dir, monkeypatch):
    monkeypatch.delenv(quantize.ENV_CALIBRATION)
    with pytest.warns(RuntimeWarning, match="calibration"):
        est = PoseEstimator(MODEL, backend="openvino-int8", refine=None)
    assert est.backend == "openvino"


def test_calibration_frames_come_from_photos_and_videos(calibration):
    frames = quantize.calibration_frames(calibration, max_frames=100)
    assert len(frames) == len(CALIBRATION_PHOTOS) + 5  # demo.mp4 has 5 frames
    assert len(quantize.calibration_frames(calibration, max_frames=4)) == 4


def test_movenet_int8_agrees_with_float(in_int8_dir):
    quantize.build("movenet_lightning", max_frames=FRAMES)
    int8 = MoveNet("movenet_lightning", backend="openvino-int8")
    assert int8.backend == "openvino-int8" and int8.backend_message is None
    ref = MoveNet("movenet_lightning", backend="openvino")
    import cv2

    from posekit.movenet import Crop, crop_square

    img = read_image("p3.jpg")
    crops = []
    for p in PoseEstimator(MODEL, backend="openvino", refine=None).estimate(img):
        pts = p.keypoints[p.keypoints[:, 2] > 0, :2]
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        side = 1.6 * max(x1 - x0, y1 - y0)
        crop = Crop(float((x0 + x1 - side) / 2), float((y0 + y1 - side) / 2), float(side))
        crops.append(cv2.cvtColor(crop_square(img, crop, int8.size), cv2.COLOR_BGR2RGB))
    a, b = int8.predict(np.stack(crops)), ref.predict(np.stack(crops))
    sure = b[..., 2] > 0.3
    assert sure.sum() >= 20
    d = np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)[sure] * int8.size  # crop pixels
    assert np.median(d) < 2.0 and np.percentile(d, 90) < 6.0, d
