"""The TFLite -> ONNX conversion reproduces the TFLite interpreter's outputs (../shared/reference)."""

from __future__ import annotations

import cv2
import numpy as np
import onnx
import pytest

from posekit.convert import tflite_to_onnx, tflite_to_onnx_model
from posekit.models import resolve

from conftest import REFERENCE, TFLITE_DIR

CASES = [(w, img) for w in ("dm05", "dm14") for img in ("p3", "apink2", "COCO_val2014_000000000192")]
MODEL_OF = {"dm05": "mobilenet_v2_0.5", "dm14": "mobilenet_v2_1.4"}


@pytest.fixture(scope="module")
def nets():
    return {tag: cv2.dnn.readNet(str(resolve(name))) for tag, name in MODEL_OF.items()}


@pytest.mark.parametrize("tag,image", CASES)
def test_opencv_reproduces_tflite_reference(nets, tag, image):
    ref = np.load(REFERENCE / f"{tag}_{image}.npz")
    x = ref["input_bgr_uint8_nhwc"].astype(np.float32).transpose(0, 3, 1, 2)
    expected = ref["output_nhwc"].reshape(46, 54, 57).transpose(2, 0, 1)
    net = nets[tag]
    net.setInput(np.ascontiguousarray(x))
    out = net.forward()[0]
    assert out.shape == expected.shape == (57, 46, 54)
    diff = np.abs(out - expected)
    assert diff.max() <= 0.06, diff.max()
    assert diff.mean() <= 0.003, diff.mean()
    # Not trivially close: the maps carry real signal (peaks near 1, PAFs signed).
    assert expected[:18].max() > 0.5 and expected[19:].min() < -0.2


@pytest.mark.parametrize("backend,package", [("ort", "onnxruntime"), ("openvino", "openvino")])
@pytest.mark.parametrize("tag", ["dm05", "dm14"])
def test_optional_backends_reproduce_reference(backend, package, tag):
    pytest.importorskip(package)
    from posekit import PoseEstimator

    est = PoseEstimator(MODEL_OF[tag], backend=backend)
    assert est.backend == backend
    ref = np.load(REFERENCE / f"{tag}_apink2.npz")
    x = np.ascontiguousarray(ref["input_bgr_uint8_nhwc"].astype(np.float32).transpose(0, 3, 1, 2))
    diff = np.abs(est.forward(x) - ref["output_nhwc"].reshape(46, 54, 57).transpose(2, 0, 1))
    assert diff.max() <= 0.06 and diff.mean() <= 0.003, (diff.max(), diff.mean())


def test_graph_is_float_nchw_and_custom_sizes_work(tmp_path):
    src = TFLITE_DIR / "mobilenet_v2_pose_dm05_368_432_weight_quant.tflite"
    model = tflite_to_onnx_model(src.read_bytes())
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 368, 432]
    assert all(init.data_type == onnx.TensorProto.FLOAT for init in model.graph.initializer
               if init.dims)  # every weight dequantized to float32
    assert {n.op_type for n in model.graph.node} <= {"Conv", "Clip", "Relu", "Add", "Concat", "Resize", "Identity"}

    # Another input size (multiples of 16) gives the same maps where the content is the same.
    dst = tflite_to_onnx(src, tmp_path / "wide.onnx", input_size=(640, 368))
    assert not list(tmp_path.glob("*.part"))
    net = cv2.dnn.readNet(str(dst))
    ref = np.load(REFERENCE / "dm05_p3.npz")
    x = np.zeros((1, 3, 368, 640), np.float32)
    x[:, :, :, :432] = ref["input_bgr_uint8_nhwc"].astype(np.float32).transpose(0, 3, 1, 2)
    net.setInput(x)
    out = net.forward()[0]
    assert out.shape == (57, 46, 80)
    expected = ref["output_nhwc"].reshape(46, 54, 57).transpose(2, 0, 1)
    # Away from the right edge (receptive field), the wider canvas does not change the heatmaps much.
    assert np.abs(out[:19, :, :40] - expected[:19, :, :40]).mean() < 0.01


def test_bad_sizes_and_bad_files_are_rejected(tmp_path):
    src = TFLITE_DIR / "mobilenet_v2_pose_dm05_368_432_weight_quant.tflite"
    with pytest.raises(ValueError, match="multiples of 16"):
        tflite_to_onnx_model(src.read_bytes(), input_size=(430, 368))
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(Exception):  # noqa: B017 - any error, as long as no file is left
        tflite_to_onnx(junk, tmp_path / "junk.onnx")
    assert not (tmp_path / "junk.onnx").exists()
    assert not list(tmp_path.glob("*.part"))
