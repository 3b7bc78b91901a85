"""python -m posekit: estimate and models; user errors exit 2 with one `error:` line, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import IMAGES, ROOT


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "posekit", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def test_estimate_writes_overlays_and_openpose_json(tmp_path):
    out, js = tmp_path / "out", tmp_path / "json"
    r = run("estimate", IMAGES / "p3.jpg", IMAGES / "p2.jpg", "--model", "mobilenet_v2_0.5",
            "--output", out, "--json-dir", js)
    assert r.returncode == 0, r.stderr
    assert "p3.jpg: 3 people" in r.stdout and "p2.jpg: 2 people" in r.stdout
    overlay = cv2.imread(str(out / "p3_rendered.png"))
    original = cv2.imread(str(IMAGES / "p3.jpg"))
    assert overlay.shape == original.shape and (overlay != original).any()
    data = json.loads((js / "p3_keypoints.json").read_text())
    assert len(data["people"]) == 3
    assert all(len(p["pose_keypoints_2d"]) == 18 * 3 for p in data["people"])
    assert sorted(os.listdir(js)) == ["p2_keypoints.json", "p3_keypoints.json"]


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    junk = tmp_path / "junk.jpg"
    junk.write_text("this is not an image")
    cases = [
        (["estimate", tmp_path / "missing.jpg"], "no such file"),
        (["estimate", junk, "--model", "mobilenet_v2_0.5"], "junk.jpg"),
        (["estimate", IMAGES / "p3.jpg", "--model", "nope"], "invalid choice"),
        (["estimate", IMAGES / "p3.jpg", "--threshold", "abc"], "invalid float"),
        (["models", "path", "openpose_coco"], "run: python -m posekit models download openpose_coco"),
    ]
    for args, text in cases:
        r = run(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and text in last, (args, r.stderr)


def test_models_list_and_path(model_dir):
    r = run("models")
    assert r.returncode == 0
    lines = {line.split()[0]: line for line in r.stdout.splitlines()[1:]}
    assert "not downloaded" not in lines["mobilenet_v2_0.5"] and "not downloaded" in lines["openpose_coco"]
    assert set(lines) >= {"mobilenet_v2_0.5", "mobilenet_v2_1.4", "openpose_body25", "openpose_mpi"}
    r = run("models", "path", "mobilenet_v2_0.5")
    assert r.returncode == 0 and r.stdout.strip().endswith(".onnx")
    net = cv2.dnn.readNet(r.stdout.strip())  # the file the path names runs: 19 heatmaps + 38 PAFs at stride 8
    net.setInput(np.zeros((1, 3, 368, 432), np.float32))
    assert net.forward().shape == (1, 57, 46, 54)


def test_cuda_request_warns_and_still_works(tmp_path):
    from posekit.backends import opencv_has_cuda

    if opencv_has_cuda():
        pytest.skip("this OpenCV has CUDA: nothing to fall back from")
    r = run("estimate", IMAGES / "p2.jpg", "--model", "mobilenet_v2_0.5", "--backend", "cuda")
    assert r.returncode == 0
    assert "2 people" in r.stdout
    assert "warning: backend 'cuda' is not available" in r.stderr and "Running on CPU (OpenCV)" in r.stderr


@pytest.mark.parametrize("command", ["compare", "batch", "video", "estimate", "match"])
def test_every_network_command_takes_the_second_stage_and_grouping_options(command, model_dir):
    """The options shared by the commands that run a network build the estimator they name."""
    from posekit.cli import build_parser, make_estimator

    argv = {"compare": ["compare", "a.mp4", "b.mp4"], "batch": ["batch", "x", "--output", "o"],
            "video": ["video", "a.mp4", "--output", "o.mp4"], "estimate": ["estimate", "x.jpg"],
            "match": ["match", "a.jpg", "b.jpg"]}[command]
    args = build_parser().parse_args([*argv, "--model", "mobilenet_v2_0.5", "--refine", "movenet_lightning",
                                      "--no-extend"])
    est = make_estimator(args)
    assert type(est.refiner).__name__ == "MoveNetRefiner" and est.refiner.name == "movenet_lightning"
    assert est.extend is False
