"""The `auto` backend (the default): the fastest float32 engine that runs here, chosen once, reported, silent."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from posekit import PoseEstimator, backends, quantize
from posekit.backends import AUTO_ORDER, DEFAULT_BACKEND, plain_reason

from conftest import CMU_DIR, read_image


def test_auto_is_the_default_and_picks_the_fastest_installed_engine(fast_estimator):
    assert DEFAULT_BACKEND == "auto"
    assert fast_estimator.requested_backend == "auto"
    # The first CPU engine of the order that is installed; a GPU engine only where one really runs.
    # openvino-int8 only with the model's int8 graph in the cache (posekit.quantize; tests/test_quantize.py).
    expected = next(b for b in AUTO_ORDER if backends.availability(b) is None
                    and (b != "openvino-int8" or quantize.cached("mobilenet_v2_0.5")))
    if backends.BACKENDS[expected].gpu:  # pragma: no cover - GPU machines only
        assert fast_estimator.backend in ("ort-cuda", "cuda")
    else:
        assert fast_estimator.backend == expected
    assert fast_estimator.backend_message is None
    if backends.openvino_available() and not backends.BACKENDS[expected].gpu:
        assert fast_estimator.backend == "openvino"  # requirements.txt installs it: the fast path by default


def test_auto_finds_the_same_people_as_opencv(fast_estimator):
    cpu = PoseEstimator("mobilenet_v2_0.5", backend="cpu")
    for name in ("p3.jpg", "apink2.jpg"):
        img = read_image(name)
        a, b = fast_estimator.estimate(img), cpu.estimate(img)
        assert len(a) == len(b) >= 3, name
        # Same people: their mean joint position agrees to a few pixels (float32 on both).
        for pa, pb in zip(sorted(a, key=lambda p: p.keypoints[0, 0]), sorted(b, key=lambda p: p.keypoints[0, 0])):
            both = (pa.keypoints[:, 2] > 0) & (pb.keypoints[:, 2] > 0)
            assert both.sum() >= 0.8 * max((pa.keypoints[:, 2] > 0).sum(), (pb.keypoints[:, 2] > 0).sum())
            assert np.median(np.abs(pa.keypoints[both, :2] - pb.keypoints[both, :2])) < 2.0


@pytest.mark.parametrize("missing,expected", [(("openvino",), "ort"), (("openvino", "ort"), "cpu")])
def test_auto_passes_over_engines_that_are_not_installed_without_a_warning(monkeypatch, missing, expected):
    if "ort" not in missing and not backends.ort_providers():
        pytest.skip("onnxruntime is not installed")
    if "openvino" in missing:
        monkeypatch.setattr(backends, "openvino_available", lambda: False)
    if "ort" in missing:
        monkeypatch.setattr(backends, "ort_providers", lambda: [])
    backends._warned.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # passing over an engine that is not there is not worth a warning
        est = PoseEstimator("mobilenet_v2_0.5")
    assert est.requested_backend == "auto" and est.backend == expected and est.backend_message is None
    assert len(est.estimate(read_image("p3.jpg"))) == 3


def test_auto_runs_cmu_caffe_models_on_opencv(tmp_path, monkeypatch):
    from posekit.models import get_model

    from caffe_weights import write_random_caffemodel

    spec = get_model("openpose_coco")
    (tmp_path / spec.config.filename).symlink_to(CMU_DIR / spec.config.filename)
    write_random_caffemodel(CMU_DIR / spec.config.filename, tmp_path / spec.weights.filename)
    monkeypatch.setenv("POSEKIT_MODEL_DIR", str(tmp_path))
    est = PoseEstimator("openpose_coco", input_size=(160, 128), download=False)
    assert est.requested_backend == "auto" and est.backend == "cpu" and est.backend_message is None
    assert est.infer(read_image("p2.jpg")).output.shape == (57, 16, 20)


def test_every_explicit_backend_still_runs_or_falls_back_along_its_chain():
    for name, b in backends.BACKENDS.items():
        if name == "auto":
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = PoseEstimator("mobilenet_v2_0.5", backend=name)
        assert est.requested_backend == name
        # openvino-int8 runs a cached int8 graph or builds one ($POSEKIT_CALIBRATION_DIR): else it falls back
        if backends.availability(name) is None and (name != "openvino-int8" or quantize.cached("mobilenet_v2_0.5")):
            assert est.backend == name
        else:
            assert est.backend != name and est.backend_message


def test_plain_reasons_speak_no_jargon(monkeypatch):
    monkeypatch.setattr(backends, "opencv_has_cuda", lambda: False)
    monkeypatch.setattr(backends, "ort_providers", lambda: [])
    monkeypatch.setattr(backends, "openvino_available", lambda: False)
    texts = {name: plain_reason(name) for name in backends.BACKENDS if name != "auto"}
    assert texts["cuda"] == texts["ort-cuda"] == "needs an NVIDIA graphics card that this computer does not offer to it"
    assert texts["ort"] == texts["openvino"] == "is not installed on this computer"
    for text in texts.values():
        assert not any(word in text for word in ("pip", "wheel", "CUDA", "provider", "AVX", "AMX"))


def test_openvino_runs_overlapping_calls_side_by_side_with_the_same_results(monkeypatch):
    if backends.availability("openvino") is not None:
        pytest.skip("OpenVINO is not installed")
    import threading

    est = PoseEstimator("mobilenet_v2_0.5", backend="openvino", input_size="model")
    img = read_image("p3.jpg")
    blob, _ = est.preprocess(img)
    runner = est.first.runner((blob.shape[3], blob.shape[2]))
    assert runner.thread_safe
    monkeypatch.setattr(runner, "OVERLAP_HOLD", 60.0)
    alone = est.forward(blob)  # nothing else running: the latency-compiled model on all cores
    assert runner._side_by_side is None
    results, start = [], threading.Barrier(3)

    def call():
        start.wait()
        for _ in range(4):
            results.append(est.forward(blob))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert runner._side_by_side is not None  # the calls overlapped: the throughput copy ran some of them
    assert len(results) == 12
    for out in results:  # both copies compute in float32: the same maps up to rounding
        assert out.shape == alone.shape and np.abs(out - alone).max() < 1e-3
    monkeypatch.setattr(runner, "OVERLAP_HOLD", 0.0)
    assert np.abs(est.forward(blob) - alone).max() < 1e-3  # alone again: back on the latency model
