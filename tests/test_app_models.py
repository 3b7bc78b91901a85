"""The app keeps each network loaded once (app_pages/common.py): stepping the sidebar's model slider back and forth
on any page loads each first-stage model once, and the second stage (MoveNet) once for all of them."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from app_pages import common
from posekit import PoseEstimator, refine
from posekit.openpose import OpenPose

from conftest import read_image


def _clear_caches() -> None:
    for name in ("load_estimator", "load_first_stage", "load_movenet"):
        f = getattr(common, name, None)
        if f is not None:
            f.clear()


@pytest.fixture
def fresh_caches():
    _clear_caches()
    yield
    _clear_caches()


def test_each_network_is_loaded_once_whatever_the_steps(monkeypatch, fresh_caches):
    """The Image page (MoveNet Thunder), the Video page (no second stage) and Pose Matching (Thunder, two
    passes), the slider moved a step at a time from one end to the other and back, twice: four first-stage
    loads and one MoveNet load (each step used to load a model and a MoveNet of its own, and the cache of eight
    estimators forgot the first ones)."""
    loads = []

    def first_stage(self, model="mobilenet_v2_1.4", backend="auto", threshold=0.1, **kw):
        loads.append(("first stage", model))
        self.requested_backend, self.spec = backend, SimpleNamespace(name=model)

    class Network:
        def __init__(self, model="movenet_thunder", backend="cpu", **kw):
            loads.append(("movenet", model))
            self.name, self.backend = model, backend

    monkeypatch.setattr(OpenPose, "__init__", first_stage)
    monkeypatch.setattr(refine, "MoveNet", Network)
    monkeypatch.setattr(common, "MoveNet", Network, raising=False)
    steps = common.SLIDER_MODELS + common.SLIDER_MODELS[::-1]
    for _ in range(2):
        for second, passes in (("movenet_thunder", 1), ("none", 1), ("movenet_thunder", 2)):
            for model in steps:
                est = common.load_estimator(model, "auto", (1.0,), second, passes)
                assert est.first.name == model
                assert (est.refiner is None) == (second == "none")
                assert est.refiner is None or (est.refiner.passes, est.refiner.name) == (passes, second)
    assert sorted(loads) == sorted([("first stage", m) for m in common.SLIDER_MODELS]
                                   + [("movenet", "movenet_thunder")])


def test_the_composed_estimator_finds_what_the_package_finds(model_dir, fresh_caches):
    """The app's estimator (cached stages composed) and the package's PoseEstimator built from names find the
    same people, refined the same way."""
    img = read_image("p3.jpg")
    app = common.load_estimator("mobilenet_v2_0.5", "auto", (1.0,), "movenet_thunder", 1)
    package = PoseEstimator("mobilenet_v2_0.5", refine="movenet_thunder", refine_max_people=common.DEFAULT_MAX_PEOPLE)
    ours, theirs = app.estimate(img, threshold=0.1), package.estimate(img)
    assert len(ours) == len(theirs) == 3
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)
    assert app.backend == package.backend and app.refiner.backend == package.refiner.backend
