"""How angle tables read (posekit.kinematics): the convention in words under every table, and ranges of motion
of directions that wrap around at ±180°."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.kinematics import CONVENTIONS, AngleSeries, convention_note, direction_arc


def test_each_convention_is_said_in_words():
    assert "flexion" in convention_note("clinical") and "0° = straight" in convention_note("clinical")
    assert "180° = straight" in convention_note("included") and "flexion" not in convention_note("included")
    for c in CONVENTIONS:  # the angles that read the same in both
        assert "Shoulder: 0° = arm along the body" in convention_note(c) and "Trunk lean: 0° = upright" in \
            convention_note(c)
    with pytest.raises(ValueError, match="unknown angle convention"):
        convention_note("degrees")


def test_a_direction_across_180_degrees_has_the_range_it_moved():
    """A pelvis pointing left (LHip -> RHip of a person facing the camera) wobbling across 180°: a range of 7°,
    not the 358° of max - min (the Video page's table showed 359.9°); a joint angle keeps max - min."""
    pelvis = np.array([179.0, -179.0, 178.0, -176.0, 177.0])
    knee = np.array([10.0, 40.0, 90.0, 40.0, 10.0])
    s = AngleSeries(1, np.arange(5), np.arange(5) / 25, np.stack([pelvis, knee], axis=1),
                    ("pelvis", "right_knee_flexion"))
    rows = {r["angle"]: r for r in s.summary()}
    assert rows["pelvis"]["range"] == pytest.approx(7.0)
    assert (rows["pelvis"]["min"], rows["pelvis"]["max"]) == pytest.approx((177.0, 184.0))
    assert rows["right_knee_flexion"]["range"] == pytest.approx(80.0)
    np.testing.assert_allclose(direction_arc(np.array([-95.0, -75.0, -80.0])), [-95.0, -75.0, -80.0])
    np.testing.assert_allclose(direction_arc(np.array([-10.0, 350.0, 5.0])), [-10.0, -10.0, 5.0])
