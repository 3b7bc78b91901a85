"""Compare videos' rules for what a coach uploads: a bad file named by its own name, clips too short to compare
or to count repetitions (said, with the minimum), repetitions numbered from 1 on each side, and the person the
clip is about chosen by default."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from posekit.compare import repetition_table, report_rows, track_video
from posekit.errors import InvalidInputError
from posekit.pose import Pose
from posekit.sequence import (
    MIN_COMPARE_FRAMES,
    MIN_COMPARE_S,
    MIN_COUNT_FRAMES,
    MIN_COUNT_S,
    PoseSequence,
    Repetition,
    RepetitionMatch,
    compare_sequences,
    count_repetitions,
)
from posekit.testing import standing_person
from posekit.videoio import probe

from conftest import VIDEOS


def test_an_unreadable_upload_is_named_by_its_own_name(fast_estimator, tmp_path):
    """The page saves an upload as reference.mp4 in a temporary folder: the error names the user's file."""
    copy = tmp_path / "reference.mp4"
    copy.write_bytes(np.random.default_rng(0).integers(0, 256, 8192, dtype=np.uint8).tobytes())
    for call in (lambda: probe(copy, "random.mp4"), lambda: track_video(copy, fast_estimator, name="random.mp4")):
        with pytest.raises(InvalidInputError) as e:
            call()
        assert "random.mp4" in str(e.value) and "reference.mp4" not in str(e.value), str(e.value)
    with pytest.raises(InvalidInputError, match="reference.mp4"):  # without a name: the file's own
        probe(copy)


@pytest.fixture(scope="module")
def dance_and_demo(fast_estimator):
    """dance.avi (its first 2 s: 100 frames at 50 fps) and demo.mp4 (5 frames, 1 s), everyone tracked."""
    return (track_video(VIDEOS / "dance.avi", fast_estimator, max_seconds=2),
            track_video(VIDEOS / "demo.mp4", fast_estimator))


def test_a_clip_too_short_to_compare_says_so_with_the_minimum(dance_and_demo):
    """dance.avi against the 5-frame demo.mp4, either way round: refused, demo.mp4 named, the minimum said
    (it used to line every phase of the reference up with the first 0.2 s of the attempt)."""
    dance, demo = dance_and_demo
    for ref, att in ((dance, demo), (demo, dance)):
        with pytest.raises(InvalidInputError) as e:
            compare_sequences(ref.sequence(), att.sequence())
        text = str(e.value)
        assert text.startswith("demo.mp4 is too short to compare"), text
        assert f"at least {MIN_COMPARE_FRAMES} frames in a clip of {MIN_COMPARE_S:g} s" in text
        assert "5 of its 5 frames (1.0 s)" in text
    assert compare_sequences(dance.sequence(), dance.sequence()).score == pytest.approx(100.0)


def _still(frames: int, fps: float) -> PoseSequence:
    kp = np.repeat(standing_person(300, 100, 200)[None], frames, axis=0)
    kp[:, :, :2] += np.random.default_rng(frames).normal(0, 1.0, kp[:, :, :2].shape)
    return PoseSequence(kp, fps, name="short.mp4", person=1)


def test_a_clip_long_enough_to_compare_but_too_short_to_count_repetitions():
    """12 frames at 10 fps: compared, but repetitions are not counted, and the comparison says why and what the
    minimum is (it used to count an excursion of a few frames as a repetition)."""
    seq = _still(12, 10.0)
    c = compare_sequences(seq, seq, angle="right_knee")
    assert c.attempt_reps.count == 0 and c.reference_reps.count == 0
    why = c.repetitions_not_counted
    assert why.startswith("the reference (short.mp4) is too short to count repetitions"), why
    assert f"at least {MIN_COUNT_FRAMES} frames over {MIN_COUNT_S:g} s" in why
    assert "not counted" in c.summary()
    # a knee bending once within those 12 frames: still not counted, the clip is too short to tell
    x = np.array([170, 170, 170, 160, 120, 90, 90, 120, 160, 170, 170, 170], float)
    r = count_repetitions(x, 10.0, angle="right_knee")
    assert r.count == 0 and "right knee is measured in 12 frames (1.2 s)" in r.reason
    # 30 frames of the same: long enough, one repetition
    long = np.concatenate([np.full(9, 170.0), x, np.full(9, 170.0)])
    assert count_repetitions(long, 10.0).count == 1 and count_repetitions(long, 10.0).reason == ""


def _rep(index: int, start: int) -> Repetition:
    return Repetition(index, start, start + 5, start + 10, 80.0, 90.0, 170.0, 10.0)


def test_repetitions_are_numbered_from_1_on_each_side():
    """The attempt's one repetition matches nothing, the reference's first is missing in the attempt: the
    table says "#1" for each (it used to list the reference's first as "#2 missing")."""
    comparison = SimpleNamespace(matches=[RepetitionMatch(_rep(1, 0), None, 0.0),
                                          RepetitionMatch(None, _rep(1, 20), 0.0)])
    rows = repetition_table(comparison)
    assert [(r["attempt"], r["reference"], r["note"]) for r in rows] == [
        ("#1", "–", "extra: not in the reference"), ("–", "#1", "missing in the attempt")]
    assert all("#2" not in str(v) for r in rows for v in r.values())


def test_the_report_names_each_repetition_by_its_own_number(dance_and_demo):
    dance, _ = dance_and_demo
    c = compare_sequences(dance.sequence(), dance.sequence())
    c.matches = [RepetitionMatch(None, _rep(1, 20), 0.0)]
    c.angle = c.angle or "right_knee"
    rows = [r for r in report_rows(c) if r["section"] == "repetition"]
    assert rows and rows[0]["description"].endswith("reference's repetition 1: missing in the attempt")


def _median_height(trajectory) -> float:
    return float(np.median([Pose(kp, 0.0, trajectory.layout).bbox()[3] - Pose(kp, 0.0, trajectory.layout).bbox()[1]
                            for kp in trajectory.keypoints]))


def test_the_default_person_is_the_one_the_clip_is_about(dance_and_demo):
    """demo.mp4: a woman large in front, at the right, and walkers far away in the middle of the street: she is
    the default (a tiny distant walker was); dance.avi: the dancer large in the middle of the front row."""
    dance, demo = dance_and_demo
    for people in (demo, dance):
        kept = people.people()
        heights = {tid: _median_height(people.trajectories[tid]) for tid in kept}
        default = people.default_person()
        assert default == kept[0]
        assert heights[default] == max(heights.values()), (people.name, default, heights)
    w = demo.info.display_size[0]
    x0, _, x1, _ = Pose(demo.trajectories[demo.default_person()].keypoints[0], 0.0, "COCO-18").bbox()
    assert (x0 + x1) / 2 > 0.7 * w  # the woman at the right, not a walker in the middle
