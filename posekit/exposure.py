"""Dark pictures (issue 21, step 6): exposure normalised before the network, when the picture is dark and only then.

The networks were trained on well-exposed photos: at a third of a normal photo's brightness they lose people, at
a tenth they find nobody (``tests/test_exposure.py``: ski.jpg and apink2.jpg darkened to 3 % with sensor-like
noise). :func:`measure` calls a picture dark when even its brightest pixels are dim: the 99th percentile of its
luma under :data:`DARK_LUMA` (every shared and evaluation photo, the night-time handsup1.jpg included, has it
at 176 or more; a photo at 30 % brightness at about 60). :func:`normalise` then brightens it:

1. a light blur (:data:`BLUR_SIGMA` pixels) first, on floating-point values: the sensor noise of a dark
   picture would be multiplied with the signal (1, 1.5 and 2 pixels were tried on four noise draws of each
   test photo: 2 keeps every person's OKS at 0.81 or more, 1 let one fall to 0.59; a gamma of 0.8 on top did
   not help);
2. a gain that puts the 99.5th percentile of the luma at :data:`TARGET_LUMA` (at most :data:`MAX_GAIN`).

A picture that is not dark is returned as it is (the same array): its keypoints do not change. The estimator
(:class:`posekit.estimator.TwoStage`) runs this before both stages and leaves what it did in ``last_exposure``
(an :class:`Exposure`: ``normalised``, ``gain``) for the UI to say "the picture was dark: brightened x30".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: A picture whose luma's 99th percentile is below this (0-255) is dark.
DARK_LUMA = 80.0
#: Where the gain puts the luma's 99.5th percentile.
TARGET_LUMA = 230.0
MAX_GAIN = 50.0
BLUR_SIGMA = 2.0
#: Pixels sampled per axis step when measuring (every 4th row and column: the percentiles do not need more).
_STEP = 4


@dataclass(frozen=True)
class Exposure:
    """What :func:`normalise` found and did.

    Attributes:
        luma99: the 99th percentile of the picture's luma (0-255).
        normalised: whether the picture was dark and was brightened.
        gain: the factor its values were multiplied by (1.0 when not normalised).
    """

    luma99: float
    normalised: bool = False
    gain: float = 1.0

    @property
    def message(self) -> str:
        """A sentence for the UI ("" when nothing was done)."""
        if not self.normalised:
            return ""
        return f"The picture is dark: it was brightened {self.gain:.0f}x before looking for people."


def _luma_sample(image: np.ndarray) -> np.ndarray:
    sample = np.ascontiguousarray(image[::_STEP, ::_STEP])
    return cv2.cvtColor(sample, cv2.COLOR_BGR2GRAY).ravel()


def measure(image: np.ndarray) -> Exposure:
    """The exposure of a BGR uint8 picture (not normalised: see :func:`normalise`)."""
    luma = _luma_sample(image)
    return Exposure(float(np.percentile(luma, 99)) if luma.size else 0.0)


def is_dark(image: np.ndarray) -> bool:
    """Whether ``image`` is too dark for the networks (module docstring)."""
    return measure(image).luma99 < DARK_LUMA


def normalise(image: np.ndarray) -> tuple[np.ndarray, Exposure]:
    """``image`` brightened when it is dark (module docstring), else ``image`` itself; and the :class:`Exposure`."""
    luma = _luma_sample(image)
    p99 = float(np.percentile(luma, 99)) if luma.size else 0.0
    if p99 >= DARK_LUMA:
        return image, Exposure(p99)
    top = float(np.percentile(luma, 99.5))
    gain = float(min(TARGET_LUMA / max(top, 1.0), MAX_GAIN))
    x = cv2.GaussianBlur(image.astype(np.float32), (0, 0), BLUR_SIGMA)
    return cv2.convertScaleAbs(x, alpha=gain), Exposure(p99, True, gain)  # x * gain, rounded, saturated


__all__ = ["BLUR_SIGMA", "DARK_LUMA", "MAX_GAIN", "TARGET_LUMA", "Exposure", "is_dark", "measure",
           "normalise"]
