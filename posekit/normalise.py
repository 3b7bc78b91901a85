"""Hip-centred, torso-scaled keypoints: the one normalisation of photo matching and of sequence comparison.

Positions and sizes in the image say nothing about a pose, so before two poses are compared each is moved to
its own centre and divided by its own body size (:func:`normalise`); distances are then in *torso lengths*.

* **Centre** (per frame): ``MidHip`` when the layout has it and it is seen, else the mean of the hips seen
  (``RHip``, ``LHip``), else the neck, else the mean of every keypoint seen.
* **Body size**, the first of these that can be measured: the torso length ``|neck - hip centre|``; the shoulder
  width times :data:`SHOULDER_TO_TORSO` (1.4, a typical torso / shoulder-width ratio); the RMS distance of the
  keypoints seen from their mean. A size must stand well above the float rounding of the coordinates
  (``1e-6 x`` their magnitude) to count. Which size, and how it is taken over several frames, is ``scale``'s:
  ``"own"`` (photo matching: the same method in every frame, each frame divided by its own size) or
  ``"median"`` (a sequence: one size for all frames, the median over the frames where it is measured, so that
  bending forward does not inflate the pose).

:mod:`posekit.similarity` normalises two poses over the keypoints seen in both (a 2-frame array);
:mod:`posekit.sequence` normalises every frame of a video.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from .layouts import Layout, get_layout

SHOULDER_TO_TORSO = 1.4
"""Torso length / shoulder width, used when the torso is not visible."""

SCALES = ("own", "median")


@contextlib.contextmanager
def quiet_nan():
    """Silence numpy's 'mean of empty slice' and invalid-value warnings where NaN is the answer wanted."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _centre_and_sizes(xy: np.ndarray, spec: Layout) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per frame: the centre (T, 2) and the candidate body sizes (T,) in order of preference, NaN where missing."""
    t = xy.shape[0]
    nan2 = np.full((t, 2), np.nan)
    mid, neck = spec.find("MidHip"), spec.find("Neck")
    sides = [i for i in (spec.find("RHip"), spec.find("LHip")) if i is not None]
    with quiet_nan():
        hip_c = np.nanmean(xy[:, sides], axis=1) if sides else nan2
        mean_c = np.nanmean(xy, axis=1)
        if mid is not None:
            hip_c = np.where(np.isnan(xy[:, mid]), hip_c, xy[:, mid])
        neck_xy = xy[:, neck] if neck is not None else nan2
        centre = np.where(np.isnan(hip_c), neck_xy, hip_c)
        centre = np.where(np.isnan(centre), mean_c, centre)

        sizes = []
        if neck is not None and (mid is not None or sides):
            sizes.append(np.linalg.norm(neck_xy - hip_c, axis=1))
        rs, ls = spec.find("RShoulder"), spec.find("LShoulder")
        if rs is not None and ls is not None:
            sizes.append(SHOULDER_TO_TORSO * np.linalg.norm(xy[:, rs] - xy[:, ls], axis=1))
        sizes.append(np.sqrt(np.nanmean(((xy - mean_c[:, None]) ** 2).sum(axis=2), axis=1)))
        # A size must be well above float rounding of the coordinates, or the normalisation is noise.
        eps = 1e-6 * np.maximum(1.0, np.nanmax(np.abs(xy).reshape(t, -1), axis=1, initial=-np.inf))
        sizes = [np.where(np.isfinite(s) & (s > eps), s, np.nan) for s in sizes]
    return centre, sizes


def normalise(xy: np.ndarray, layout: str | Layout, *, scale: str = "own") -> np.ndarray | None:
    """Keypoints (T, K, 2), NaN where missing, in torso lengths about their centre (module docstring).

    Args:
        xy: positions over T frames (or poses), NaN where a keypoint is missing. Photo matching passes the two
            poses with only their common keypoints kept.
        layout: their layout.
        scale: ``"own"``: the first size measurable in every frame, each frame divided by its own;
            ``"median"``: the first size measurable in some frame, every frame divided by its median.

    Returns:
        (T, K, 2) float64, NaN where missing; None when no body size can be measured (every point coincides).
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    xy = np.asarray(xy, np.float64)
    centre, sizes = _centre_and_sizes(xy, get_layout(layout))
    for s in sizes:
        ok = np.isfinite(s)
        if scale == "own" and ok.all():
            return (xy - centre[:, None]) / s[:, None, None]
        if scale == "median" and ok.any():
            return (xy - centre[:, None]) / float(np.median(s[ok]))
    return None


__all__ = ["SHOULDER_TO_TORSO", "normalise", "quiet_nan"]
