"""Model registry: lookup, download over HTTP (loopback mirror), sha256 verification, atomic writes."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from posekit import models
from posekit.errors import ChecksumError, DownloadError, ModelError

from conftest import CMU_DIR, TFLITE_DIR

DM05 = "mobilenet_v2_pose_dm05_368_432_weight_quant.tflite"


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a directory; '/short/<file>' announces more bytes than it sends (a cut-off download)."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/short/"):
            data = (Path(self.directory) / self.path[len("/short/"):]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            return
        super().do_GET()


@pytest.fixture()
def mirror(tmp_path):
    """A loopback HTTP mirror with a good copy of the 0.5 model and a corrupted one under the same name."""
    root = tmp_path / "www"
    (root / "bad").mkdir(parents=True)
    data = (TFLITE_DIR / DM05).read_bytes()
    (root / DM05).write_bytes(data)
    (root / "bad" / DM05).write_bytes(data[:-100] + b"\x00" * 100)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a, **k: _Handler(*a, directory=str(root), **k))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def empty_model_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv(models.ENV_MODEL_DIR, str(d))
    return d


def test_registry_contents():
    assert models.DEFAULT_MODEL == "mobilenet_v2_1.4"
    for name in ("mobilenet_v2_0.5", "mobilenet_v2_0.75", "mobilenet_v2_1.0", "mobilenet_v2_1.4"):
        spec = models.get_model(name)
        assert spec.format == "tflite" and spec.layout == "COCO-18" and spec.input_size == (432, 368)
        assert spec.weights.url.startswith("https://github.com/PINTO0309/MobileNetV2-PoseEstimation/raw/master/")
        assert models.file_sha256(TFLITE_DIR / spec.weights.filename) == spec.weights.sha256
    for name, layout in (("openpose_coco", "COCO-18"), ("openpose_body25", "BODY_25"), ("openpose_mpi", "MPI-15")):
        spec = models.get_model(name)
        assert spec.format == "caffe" and spec.layout == layout
        assert models.file_sha256(CMU_DIR / spec.config.filename) == spec.config.sha256
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        models.get_model("nope")


def test_model_dir_env_override(empty_model_dir):
    assert models.model_dir() == empty_model_dir


def test_download_verifies_and_converts(empty_model_dir, mirror, monkeypatch):
    monkeypatch.setenv(models.ENV_MIRROR, mirror)
    seen = []
    path = models.resolve("mobilenet_v2_0.5", progress=lambda done, total: seen.append((done, total)))
    assert path.suffix == ".onnx" and path.parent == empty_model_dir
    assert (empty_model_dir / DM05).read_bytes() == (TFLITE_DIR / DM05).read_bytes()
    assert seen and seen[-1][0] == seen[-1][1] == (TFLITE_DIR / DM05).stat().st_size
    net = cv2.dnn.readNet(str(path))  # the converted graph runs: 19 heatmaps + 38 PAFs at stride 8
    net.setInput(np.zeros((1, 3, 368, 432), np.float32))
    assert net.forward().shape == (1, 57, 46, 54)
    assert models.is_downloaded("mobilenet_v2_0.5") and not models.is_downloaded("mobilenet_v2_1.4")
    assert sorted(p.name for p in empty_model_dir.iterdir()) == sorted([DM05, path.name])


def test_checksum_mismatch_leaves_nothing(empty_model_dir, mirror, monkeypatch):
    monkeypatch.setenv(models.ENV_MIRROR, mirror + "/bad")
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        models.resolve("mobilenet_v2_0.5")
    assert not empty_model_dir.exists() or not any(empty_model_dir.iterdir())


def test_cut_off_download_leaves_nothing(empty_model_dir, mirror, monkeypatch):
    monkeypatch.setenv(models.ENV_MIRROR, mirror + "/short")
    with pytest.raises(DownloadError):
        models.resolve("mobilenet_v2_0.5")
    assert not any(empty_model_dir.iterdir())


def test_unreachable_mirror_is_a_clear_error(empty_model_dir, monkeypatch):
    monkeypatch.setenv(models.ENV_MIRROR, "http://127.0.0.1:9")  # discard port: connection refused
    with pytest.raises(DownloadError, match="cannot download mobilenet_v2_pose_dm05"):
        models.resolve("mobilenet_v2_0.5")
    assert not any(empty_model_dir.iterdir())


def test_corrupt_cached_file_is_detected(empty_model_dir):
    empty_model_dir.mkdir()
    (empty_model_dir / DM05).write_bytes(b"not a model")
    with pytest.raises(ChecksumError, match="delete it"):
        models.resolve("mobilenet_v2_0.5")


def test_no_download_when_told_not_to(empty_model_dir):
    with pytest.raises(ModelError, match="not in"):
        models.resolve("mobilenet_v2_0.5", download_missing=False)
