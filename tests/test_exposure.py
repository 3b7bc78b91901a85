"""Issue 21, step 6: a dark picture is brightened before the network (and only a dark one): posekit.exposure."""

from __future__ import annotations

import numpy as np
import pytest

from posekit import PoseEstimator
from posekit.accuracy import oks_matrix
from posekit.export import coco_results
from posekit.exposure import DARK_LUMA, is_dark, measure, normalise
from posekit.refine import PHOTO_REFINE

from conftest import IMAGES, read_image


def darken(image: np.ndarray, level: float = 0.03, seed: int = 0) -> np.ndarray:
    """``image`` at ``level`` of its brightness as a sensor would record it: photon (shot) noise, 10 electrons per
    grey level, then read noise of half a grey level, quantised to uint8."""
    rng = np.random.default_rng(seed)
    signal = image.astype(np.float64) * level
    noisy = rng.poisson(signal * 10.0) / 10.0 + rng.normal(0.0, 0.5, image.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def person_oks(reference, found) -> list[float]:
    """For each person of ``reference``: the best COCO OKS of a person in ``found`` against them (their found
    joints as the annotation, their keypoint box's area as the scale)."""
    anns = []
    for r in coco_results(reference, 0):
        kp = np.asarray(r["keypoints"], np.float64).reshape(17, 3)
        seen = kp[kp[:, 2] > 0, :2]
        (x0, y0), (x1, y1) = seen.min(axis=0), seen.max(axis=0)
        anns.append({"keypoints": r["keypoints"], "area": float((x1 - x0) * (y1 - y0)),
                     "bbox": [x0, y0, x1 - x0, y1 - y0]})
    dets = [r["keypoints"] for r in coco_results(found, 0)]
    if not dets:
        return [0.0] * len(anns)
    return oks_matrix(dets, anns).max(axis=0).tolist()


@pytest.fixture(scope="module")
def photo(model_dir):
    return PoseEstimator(refine=PHOTO_REFINE)


@pytest.mark.parametrize("name", ["ski.jpg", "apink2.jpg"])
def test_a_photo_at_three_percent_brightness_gives_the_same_people(photo, name):
    image = read_image(name)
    reference = photo.estimate(image)
    dark = darken(image)
    assert is_dark(dark) and not is_dark(image)
    assert not PoseEstimator(refine=PHOTO_REFINE, exposure=False).estimate(dark)  # the network alone: nobody
    found = photo.estimate(dark)
    assert photo.last_exposure.normalised and photo.last_exposure.gain > 20
    assert "dark" in photo.last_exposure.message
    assert len(found) == len(reference)
    oks = person_oks(reference, found)
    assert min(oks) >= 0.7, oks


def test_a_normal_photo_is_left_as_it_is(photo):
    image = read_image("p3.jpg")
    out, exposure = normalise(image)
    assert out is image and not exposure.normalised and exposure.gain == 1.0 and exposure.message == ""
    with_step = photo.estimate(image)
    assert not photo.last_exposure.normalised
    without = PoseEstimator(refine=PHOTO_REFINE, exposure=False).estimate(image)
    assert len(with_step) == len(without)
    for a, b in zip(with_step, without):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_no_shared_photo_is_dark_not_even_the_night_one():
    for path in sorted(IMAGES.glob("*.jpg")):
        assert measure(read_image(path.name)).luma99 >= 2 * DARK_LUMA, path.name  # handsup1.jpg: a night street


def test_brightening_puts_the_highlights_near_white():
    image = darken(read_image("golf.jpg"), level=0.05)
    out, exposure = normalise(image)
    assert exposure.normalised and 10 < exposure.gain <= 50
    assert 180 <= np.percentile(out, 99.5) <= 255
    assert out.dtype == np.uint8 and out.shape == image.shape
