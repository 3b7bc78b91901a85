"""posekit.sequence and posekit.compare: time alignment, per-phase feedback and repetitions on real estimates.

The clips are made here from people in ../shared/media photos (a golfer, a skater, a man sitting; for another
movement a dancer and a man standing), each frame
a new image: the person is rotated, scaled and moved a little along a smooth path while the pose changes from
one photo to the next. The same movement at half speed samples that path twice as densely, so its frames are
new images, not copies.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

from posekit.errors import InvalidInputError
from posekit.normalise import normalise
from posekit.pose import most_prominent
from posekit.sequence import (
    Band,
    PoseSequence,
    align,
    compare_sequences,
    count_repetitions,
    dtw_band,
    match_repetitions,
    normalised_keypoints,
)
from posekit.similarity import compare
from posekit.testing import standing_person

from clips import write_clip
from conftest import IMAGES, ROOT

# (x0, y0, x1, y1) of one person in each photo
CROPS = {"golf.jpg": (250, 300, 720, 950), "ski.jpg": (380, 40, 575, 620), "p2.jpg": (20, 40, 260, 410),
         "handsup1.jpg": (250, 0, 570, 533), "apink2.jpg": (140, 60, 390, 627),
         "COCO_val2014_000000000241.jpg": (120, 40, 340, 640)}
W, H = 432, 368
FPS = 10
MOVEMENT = ["golf.jpg", "ski.jpg", "p2.jpg", "golf.jpg", "ski.jpg"]
HOLD = 4  # frames per photo at full speed


@functools.cache
def _person(name: str) -> np.ndarray:
    x0, y0, x1, y1 = CROPS[name]
    img = cv2.imread(str(IMAGES / name))[y0:y1, x0:x1]
    s = 300 / img.shape[0]
    return cv2.resize(img, (round(img.shape[1] * s), 300), interpolation=cv2.INTER_AREA)


def frame_at(name: str, u: float) -> np.ndarray:
    """The person of ``name`` at time ``u`` (frames) of a smooth path: turned ±6°, scaled ±6 %, moved ±50 px."""
    img = _person(name)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 6 * math.sin(2 * math.pi * u / 7), 1 + 0.06 * math.sin(u))
    m[0, 2] += W / 2 - w / 2 + 50 * math.sin(2 * math.pi * u / 9)
    m[1, 2] += H / 2 - h / 2
    return cv2.warpAffine(img, m, (W, H), borderValue=(90, 90, 90))


def movement(names, hold=HOLD, speed=1.0, mirror=False) -> list[np.ndarray]:
    """Frames showing the photos ``names`` in turn, ``hold`` frames each at speed 1 (``hold / speed`` at other
    speeds)."""
    out = []
    for k in range(int(round(len(names) * hold / speed))):
        u = k * speed
        img = frame_at(names[min(int(u // hold), len(names) - 1)], u)
        out.append(cv2.flip(img, 1) if mirror else img)
    return out


def sequence_of(est, frames, fps=FPS) -> PoseSequence:
    poses = []
    for f in frames:
        found = est.estimate(f)
        poses.append(found[most_prominent(found)] if found else None)
    return PoseSequence.from_poses(poses, fps)


@pytest.fixture(scope="module")
def clips(fast_estimator):
    return {
        "reference": sequence_of(fast_estimator, movement(MOVEMENT)),
        "slow": sequence_of(fast_estimator, movement(MOVEMENT, speed=0.5)),
        "mirrored": sequence_of(fast_estimator, movement(MOVEMENT, mirror=True)),
        # a dancer (arm up to her head) and a man standing, in turn: none of the reference's poses
        "other": sequence_of(fast_estimator, movement(["apink2.jpg", "COCO_val2014_000000000241.jpg"] * 2
                                                      + ["apink2.jpg"])),
    }


# --------------------------------------------------------------------------------- alignment, real estimates


def test_half_speed_aligns_with_slope_two(clips):
    ref, slow = clips["reference"], clips["slow"]
    assert len(slow) == 2 * len(ref) and ref.seen.all() and slow.seen.all()
    al = align(ref, slow)
    assert al.score >= 95.0
    assert al.coverage == 1.0
    assert al.slope == pytest.approx(2.0, abs=0.15)
    # every attempt frame sees the reference frame of the same pose: the one at half its time (±1 frame)
    assert np.abs(al.ref_for_attempt - np.arange(len(slow)) / 2).max() <= 1.5
    assert tuple(al.path[0]) == (0, 0) and tuple(al.path[-1]) == (len(slow) - 1, len(ref) - 1)
    assert np.all(np.diff(al.path, axis=0) >= 0) and np.all(np.diff(al.path, axis=0).sum(axis=1) >= 1)
    # an attempt that starts 1.5 s late (standing still first) aligns too: the band is at least 2 s wide
    late = PoseSequence(np.concatenate([slow.keypoints[:1]] * 15 + [slow.keypoints]), FPS)
    al = align(ref, late)
    assert al.score >= 95.0
    assert np.abs(al.ref_for_attempt[15:] - np.arange(len(slow)) / 2).max() <= 1.5


def test_frame_similarity_is_the_photo_matching_score(clips):
    """Per frame, with all joints seen, the score along the path equals Pose Matching's for the two poses (up to
    the per-sequence body size, which Pose Matching takes per photo)."""
    ref, slow = clips["reference"], clips["slow"]
    al = align(ref, slow)
    checked = 0
    for i in range(0, len(slow), 5):
        a, b = slow.pose(i), ref.pose(int(al.ref_for_attempt[i]))
        if a.num_visible == b.num_visible == (a.visible & b.visible).sum():
            assert al.similarity[i] == pytest.approx(compare(a, b).score, abs=4.0)
            checked += 1
    assert checked >= 3


def test_mirror_scores_high_only_when_allowed(clips):
    ref, mirrored = clips["reference"], clips["mirrored"]
    plain = align(ref, mirrored)
    allowed = align(ref, mirrored, mirror=True)
    assert allowed.mirrored and not plain.mirrored
    assert allowed.score >= 90.0
    assert plain.score <= allowed.score - 15.0
    # and mirror=True does not flip a movement that is not mirrored
    assert not align(ref, clips["slow"], mirror=True).mirrored


def test_a_different_movement_scores_far_lower(clips):
    ref = clips["reference"]
    same = align(ref, clips["slow"]).score
    other = align(ref, clips["other"]).score
    assert other <= 80.0 and other <= same - 15.0


def test_phase_feedback_names_the_joint_and_the_frames(clips):
    """Compare with another movement: the feedback names joint angles and the reference frames of each phase."""
    ref, other = clips["reference"], clips["other"]
    al = align(ref, other)
    assert al.phases and al.phases[0].ref_start == 0 and al.phases[-1].ref_end == len(ref) - 1
    assert all(p.ref_start <= p.ref_end for p in al.phases)
    worst = al.worst(per_phase=3)
    assert worst
    for d in worst:
        assert f"frames {d.ref_start}–{d.ref_end} of the reference" in d.text
        assert d.mean_abs_deg >= 10
        assert d.text.split(":")[0] in {"right elbow", "left elbow", "right knee", "left knee", "right hip",
                                        "left hip", "right shoulder", "left shoulder", "trunk lean"}


def test_missing_joints_and_frames_are_tolerated(clips):
    ref, slow = clips["reference"], clips["slow"]
    kp = slow.keypoints.copy()
    kp[10:14] = 0  # the person is lost for 4 frames
    kp[:, 3:5, 2] = 0  # and the right elbow and wrist are never found
    al = align(ref, PoseSequence(kp, FPS))
    assert np.isnan(al.similarity[10:14]).all()
    assert al.coverage == pytest.approx(1 - 4 / len(kp))
    assert al.score >= 90.0
    assert al.slope == pytest.approx(2.0, abs=0.2)


def test_normalisation_ignores_position_and_size(clips):
    ref = clips["reference"]
    moved = PoseSequence(ref.keypoints * np.array([2.5, 2.5, 1], np.float32) + np.array([300, -40, 0], np.float32),
                         FPS)
    moved.keypoints[ref.keypoints[..., 2] == 0] = 0
    np.testing.assert_allclose(normalised_keypoints(moved), normalised_keypoints(ref), atol=1e-4)
    assert align(ref, moved).score == pytest.approx(100.0, abs=1e-6)


def test_one_normalisation_for_sequences_and_photos():
    """A frame of a sequence is normalised as photo matching normalises a pose: same centre, same size rule
    (a sequence's size is the median over its frames: for one frame, that frame's)."""
    rng = np.random.default_rng(0)
    for layout in ("COCO-18", "BODY_25", "MPI-15"):
        kp = standing_person(200, 100, 150, layout)
        kp[:, :2] += rng.normal(0, 3, (len(kp), 2))
        kp[rng.choice(len(kp), 3, replace=False), 2] = 0  # a few joints not found
        xy = np.where(kp[:, 2:3] > 0, kp[:, :2].astype(np.float64), np.nan)
        np.testing.assert_allclose(normalised_keypoints(PoseSequence(kp[None], FPS, layout))[0],
                                   normalise(xy[None], layout)[0], atol=1e-12)


def test_bad_sequences_are_refused(clips):
    ref = clips["reference"]
    with pytest.raises(InvalidInputError, match="no person seen"):
        align(ref, PoseSequence(np.zeros((5, 18, 3)), FPS, name="empty.mp4"))
    with pytest.raises(InvalidInputError, match="no frames"):
        align(ref, PoseSequence(np.zeros((0, 18, 3)), FPS))


# ------------------------------------------------------------------------------------------------------ DTW


def _reference_dtw(cost: np.ndarray) -> float:
    """Textbook O(n m) DTW, for checking the banded one."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    return acc[n, m]


@pytest.mark.parametrize("n,m", [(30, 30), (40, 17), (9, 35), (1, 6), (6, 1)])
def test_banded_dtw_equals_textbook_dtw_when_the_band_is_full(n, m):
    rng = np.random.default_rng(n * 100 + m)
    cost = rng.random((n, m))
    band = Band.around_diagonal(n, m, max(n, m))
    banded = np.full((n, band.width), np.inf)
    for i in range(n):
        banded[i, : band.hi[i] - band.lo[i]] = cost[i, band.lo[i]:band.hi[i]]
    path, total = dtw_band(banded, band)
    assert total == pytest.approx(_reference_dtw(cost))
    assert total == pytest.approx(cost[path[:, 0], path[:, 1]].sum())


# -------------------------------------------------------------------------------------------- repetitions


def _squat_signal(reps, fps=30, period_s=2.0, rest_s=0.5, noise=4.0, seed=0):
    """Knee angle: standing (170°) -> bottom (90°) -> standing, ``reps`` times, with noise and a few holes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int((reps * period_s + 2 * rest_s) * fps)) / fps
    phase = np.clip((t - rest_s) / period_s, 0, reps)
    x = 130 + 40 * np.cos(2 * np.pi * phase) + rng.normal(0, noise, len(t))
    x[rng.choice(len(x), len(x) // 20, replace=False)] = np.nan  # missed keypoints
    return x, fps


@pytest.mark.parametrize("reps,noise", [(1, 2.0), (5, 4.0), (12, 6.0)])
def test_repetitions_on_noisy_synthetic_angles(reps, noise):
    x, fps = _squat_signal(reps, noise=noise, seed=reps)
    r = count_repetitions(x, fps, angle="right_knee")
    assert r.count == reps
    assert r.rest == "high"
    for rep in r.reps:
        assert rep.range_deg == pytest.approx(80, abs=10)
        # a 2 s cycle, less the moments spent at the top (within 5 % of the range, about 0.15 s each side)
        assert 1.4 <= rep.duration_s <= 2.2
        assert rep.start < rep.turn < rep.end
        assert rep.out_s == pytest.approx(rep.back_s, abs=0.45)  # going down and coming up take as long


def test_repetitions_need_real_movement_and_a_return():
    fps = 30
    still = 150 + np.random.default_rng(1).normal(0, 3, 200)  # trembling, not moving
    assert count_repetitions(still, fps).count == 0
    x, _ = _squat_signal(3, noise=1)
    half = x[:170]  # cut at 5.7 s: the last repetition goes down (bottom at 5.5 s) but never comes back up
    assert count_repetitions(half, fps).count == 2
    arm = 180 - x  # an arm raise: rest is low, the repetition goes up and back
    r = count_repetitions(arm, fps)
    assert r.count == 3 and r.rest == "low"


def test_attempt_repetitions_match_the_reference_ones():
    x, fps = _squat_signal(4, noise=2, seed=3)
    ref = count_repetitions(x, fps)
    slow = np.repeat(x, 2)  # the same four, twice as slow
    att = count_repetitions(slow, fps)
    path = np.stack([np.arange(len(slow)), np.arange(len(slow)) // 2], axis=1)
    matches = match_repetitions(ref, att, path)
    assert [(m.attempt.index, m.reference.index) for m in matches] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert all(m.tempo_ratio == pytest.approx(2.0, abs=0.2) for m in matches)
    one_short = count_repetitions(x[: len(x) * 3 // 4 - 10], fps)  # three repetitions only
    matches = match_repetitions(ref, one_short, np.stack([np.arange(len(x)), np.arange(len(x))], axis=1))
    assert sum(m.attempt is None for m in matches) == 1 and sum(m.reference is not None for m in matches) == 4


@pytest.fixture(scope="module")
def squats(fast_estimator):
    """Standing (the golfer, arms forward) and sitting (the man on a bench, arms down), in turn, four times."""
    names = ["golf.jpg"] + ["p2.jpg", "golf.jpg"] * 4
    return sequence_of(fast_estimator, movement(names, hold=5))


def test_repetitions_counted_on_real_poses(squats):
    c = compare_sequences(squats, squats)
    assert c.angle is not None  # the angle that moves most and most cleanly
    assert c.reference_reps.count == 4 and c.attempt_reps.count == 4
    assert all(rep.range_deg >= 20 for rep in c.reference_reps.reps)
    # the shoulder goes 50° <-> 22° and the trunk leans 18° <-> -8°; (the knees of the man sitting face the
    # camera: in the image they hardly bend, a 2D limit, so they are not asked to count)
    for angle in ("right_shoulder", "trunk_lean"):
        assert compare_sequences(squats, squats, angle=angle).attempt_reps.count == 4
    assert c.score == pytest.approx(100.0, abs=1e-6)


# ----------------------------------------------------------------------------------------- videos and CLI


def leaning(name: str, reps: int, period: float, speed: float = 1.0, lean_deg: float = 40.0) -> list[np.ndarray]:
    """A person leaning sideways from their feet and back up, ``reps`` times (``period`` frames each at speed 1,
    after a still second): a movement the tracker can follow, as the pose changes smoothly."""
    img = _person(name)
    h, w = img.shape[:2]
    out = []
    for k in range(int(round((reps * period + FPS) / speed))):
        u = k * speed
        phase = min(max(u - FPS / 2, 0.0) / period, reps)
        m = cv2.getRotationMatrix2D((w / 2, h), lean_deg * (1 - math.cos(2 * math.pi * phase)) / 2, 0.9)
        m[0, 2] += W / 2 - w / 2 + 20 * math.sin(u / 5)
        m[1, 2] += H - h - 10
        out.append(cv2.warpAffine(img, m, (W, H), borderValue=(90, 90, 90)))
    return out


@pytest.fixture(scope="module")
def video_clips(tmp_path_factory):
    """The golfer leaning three times (reference), and the same twice as slow (attempt), as H.264 files."""
    d = tmp_path_factory.mktemp("compare")
    ref = write_clip(d / "reference.mp4", leaning("golf.jpg", 3, 10), fps=FPS)
    att = write_clip(d / "attempt.mp4", leaning("golf.jpg", 3, 10, speed=0.5), fps=FPS)
    return d, ref, att


def test_cli_compare_writes_side_by_side_and_report(video_clips):
    d, ref, att = video_clips
    out, report = d / "side_by_side.mp4", d / "report.csv"
    r = subprocess.run([sys.executable, "-m", "posekit", "compare", str(ref), str(att), "--output", str(out),
                        "--report", str(report), "--model", "mobilenet_v2_0.5"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    score = float(r.stdout.split("similarity: ")[1].split("%")[0])
    assert score >= 90.0
    assert "repetitions" in r.stdout and ": 3 in the attempt, 3 in the reference" in r.stdout
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        assert v.codec_context.name == "h264" and v.codec_context.pix_fmt == "yuv420p"
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(frames) == 80  # the attempt's frames
    assert frames[0].shape[1] > 2 * frames[0].shape[0] * 0.9  # two panels side by side
    rows = list(csv.DictReader(io.StringIO(report.read_text())))
    sections = {row["section"] for row in rows}
    assert {"summary", "phase", "frame", "repetition"} <= sections
    summary = next(row for row in rows if row["measure"] == "similarity" and row["section"] == "summary")
    assert float(summary["value"]) == pytest.approx(score, abs=0.06)
    assert sum(row["section"] == "frame" for row in rows) == 80


def test_cli_compare_bad_input(tmp_path, video_clips):
    _, ref, _ = video_clips
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    r = subprocess.run([sys.executable, "-m", "posekit", "compare", str(ref), str(bad)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and "broken.mp4" in r.stderr
    r = subprocess.run([sys.executable, "-m", "posekit", "compare", str(ref), str(ref), "--person-ref", "7",
                        "--model", "mobilenet_v2_0.5"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "no person 7" in r.stderr


def test_a_video_without_anyone_is_refused_clearly(tmp_path, fast_estimator, video_clips):
    from posekit.compare import compare_videos

    _, ref, _ = video_clips
    empty = write_clip(tmp_path / "empty.mp4", [np.full((H, W, 3), 90, np.uint8)] * 5, fps=FPS)
    out = tmp_path / "side.mp4"
    with pytest.raises(InvalidInputError, match="no person found in empty.mp4"):
        compare_videos(ref, empty, fast_estimator, output=out)
    assert not out.exists() and list(tmp_path.iterdir()) == [empty]  # nothing half-written left behind


# --------------------------------------------------------------------------- feedback words, constructed poses


def _figure(arm_deg: float, left_knee_deg: float = 180.0) -> np.ndarray:
    """A COCO-18 person facing the camera (pixels, y down, 100 px torso): both arms raised ``arm_deg`` from the
    body (0 = hanging), the left knee bent to ``left_knee_deg`` (180 = straight; the shank swings backwards)."""
    kp = np.zeros((18, 3), np.float32)

    def put(i, x, y):
        kp[i] = (200 + x, 100 + y, 0.9)

    put(0, 0, -30)  # nose
    put(1, 0, 0)  # neck
    for side, sx, (s, e, w) in ((-1, -30, (2, 3, 4)), (1, 30, (5, 6, 7))):  # right is on the image's left
        a = math.radians(arm_deg)
        put(s, sx, 0)
        put(e, sx + side * 60 * math.sin(a), 60 * math.cos(a))
        put(w, sx + side * 120 * math.sin(a), 120 * math.cos(a))
    put(8, -20, 100), put(9, -20, 160), put(10, -20, 220)  # right leg, straight
    put(11, 20, 100), put(12, 20, 160)
    b = math.radians(180 - left_knee_deg)
    put(13, 20 + 60 * math.sin(b), 160 + 60 * math.cos(b))
    for i, dx in ((14, -8), (15, 8), (16, -15), (17, 15)):
        put(i, dx, -34)
    return kp


def test_feedback_words_say_which_way_a_joint_differs():
    """The reference raises its arms twice (0° -> 90° -> 0°); the attempt does the same but bends its left knee
    to 130° while its arms go up the first time, and raises its arms only to 60° the second time."""
    n = 40
    arm = 45 * (1 - np.cos(np.linspace(0, 4 * np.pi, n)))  # two raises
    ref = PoseSequence(np.stack([_figure(a) for a in arm]), FPS)
    knee = np.where(np.arange(n) < n // 4, 130.0, 180.0)
    arm_att = np.where(np.arange(n) >= n // 2, arm * 60 / 90, arm)
    att = PoseSequence(np.stack([_figure(a, k) for a, k in zip(arm_att, knee)]), FPS)
    al = align(ref, att)
    assert len(al.phases) == 4  # up, down, up, down: cut at the turning points of the arms
    texts = [d.text for d in al.worst(per_phase=1, min_deg=15)]
    assert any(t.startswith("left knee: bent ") and " more in frames 0–" in t for t in texts), texts
    # the second time, DTW lines the lower raise up with the reference's rise, so the mean difference is small;
    # its largest differences (up to ~28° at the top) are said too
    assert any(t.startswith(("right shoulder: arm raised", "left shoulder: arm raised")) and " lower, up to " in t
               for t in texts), texts
    first = [d for d in al.differences if d.phase == 0 and d.angle == "left_knee"][0]
    assert first.diff_deg == pytest.approx(-50, abs=12)  # 130° instead of 180°: bent about 50° more
