"""Shared fixtures. Weights and media come from ../shared (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared")).resolve()
MEDIA = SHARED / "media"
IMAGES = MEDIA / "images"
VIDEOS = MEDIA / "videos"
TFLITE_DIR = SHARED / "models" / "mobilenet_v2_openpose"
CMU_DIR = SHARED / "models" / "cmu_openpose"
MOVENET_DIR = SHARED / "models" / "movenet"
REFERENCE = SHARED / "reference"

if not SHARED.is_dir():  # pragma: no cover - a broken checkout, not a test outcome
    raise RuntimeError(f"tests need the shared data beside the repo: {SHARED} is missing")


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A model cache seeded the way a user's finished download leaves it (weights from ../shared).

    Set as POSEKIT_MODEL_DIR for the whole session, so the CLI and `streamlit run` subprocesses see it too.
    """
    d = tmp_path_factory.mktemp("models")
    for f in TFLITE_DIR.glob("*.tflite"):
        (d / f.name).symlink_to(f)
    for f in [*MOVENET_DIR.glob("movenet-*.json"), *MOVENET_DIR.glob("movenet-*.bin")]:
        (d / f.name).symlink_to(f)
    os.environ["POSEKIT_MODEL_DIR"] = str(d)
    return d


@pytest.fixture(scope="session", autouse=True)
def _session_model_dir(model_dir):
    yield


def read_image(name: str):
    img = cv2.imread(str(IMAGES / name), cv2.IMREAD_COLOR)
    assert img is not None, name
    return img


@pytest.fixture(scope="session")
def estimator(model_dir):
    """The default estimator (mobilenet_v2_1.4, CPU), shared by the tests as the app shares it."""
    from posekit import PoseEstimator

    return PoseEstimator()


@pytest.fixture(scope="session")
def fast_estimator(model_dir):
    """The fastest model (mobilenet_v2_0.5, CPU)."""
    from posekit import PoseEstimator

    return PoseEstimator(model="mobilenet_v2_0.5")
