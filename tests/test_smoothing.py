"""Smoothing on synthetic trajectories: jitter removed, no lag from the zero-phase pass, gaps and outliers."""

from __future__ import annotations

import numpy as np
import pytest

from posekit.kinematics import trajectories
from posekit.smoothing import DelayedSmoother, OfflineParams, OneEuroSmoother, smooth_trajectory
from posekit.tracking import Tracker

from test_kinematics import STANDING, make_pose

FPS = 30.0


def jitter(xy: np.ndarray) -> float:
    """RMS frame-to-frame displacement of the keypoints (T, K, 2), over keypoints found in both frames."""
    d = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    return float(np.sqrt(np.nanmean(d ** 2)))


def shaky_still_person(n=90, sigma=1.5, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        p = make_pose(STANDING, track_id=1)
        p.keypoints[:, :2] += rng.normal(0, sigma, (18, 2)).astype(np.float32) * (p.keypoints[:, 2:] > 0)
        frames.append((i, i / FPS, [p]))
    return frames


def run_delayed(frames, **kw):
    sm = DelayedSmoother(FPS, **kw)
    out = []
    for index, _, poses in frames:
        out += list(sm.push(index, None, poses))
    out += list(sm.flush())
    assert [o[0] for o in out] == [f[0] for f in frames]
    return out


def xy_of(frames, tid=1):
    tr = trajectories(((i, None, poses) for i, *_, poses in frames), FPS)[tid]
    return np.where(tr.keypoints[..., 2:] > 0, tr.keypoints[..., :2], np.nan)


def test_still_person_loses_most_jitter_offline_and_live():
    frames = shaky_still_person()
    raw = jitter(xy_of(frames))
    offline = jitter(xy_of(run_delayed(frames)))
    live_sm = OneEuroSmoother()
    live = [(i, t, live_sm(poses, t)) for i, t, poses in frames]
    live_j = jitter(xy_of(live))
    assert offline <= 0.4 * raw, (raw, offline)
    assert live_j <= 0.4 * raw, (raw, live_j)


def moving_wrist(n=90, hz=1.0, noise=1.0, seed=1):
    """The right wrist swinging up and down (amplitude 40 px), the rest still."""
    rng = np.random.default_rng(seed)
    truth = 130 + 40 * np.sin(2 * np.pi * hz * np.arange(n) / FPS)
    frames = []
    for i in range(n):
        p = make_pose(dict(STANDING, RWrist=(80, truth[i])), track_id=1)
        p.keypoints[:, :2] += rng.normal(0, noise, (18, 2)).astype(np.float32) * (p.keypoints[:, 2:] > 0)
        frames.append((i, i / FPS, [p]))
    return frames, truth


def peaks(y):
    """Frames of the maxima (one per cycle: at least a third of a second apart)."""
    from scipy.signal import find_peaks

    return list(find_peaks(np.nan_to_num(y, nan=-1e9), distance=10, prominence=20)[0])


@pytest.mark.parametrize("hz", [1.0, 2.0])
def test_offline_pass_adds_no_lag(hz):
    frames, truth = moving_wrist(hz=hz)
    truth = truth + 0.001 * np.arange(len(truth))  # no ties between two frames
    k = 4  # RWrist
    true_peaks = peaks(truth)
    delayed = xy_of(run_delayed(frames))[:, k, 1]
    whole = smooth_trajectory(trajectories(frames, FPS)[1], FPS).keypoints[:, k, 1]
    for y in (delayed, whole):
        got = peaks(y)
        assert len(got) == len(true_peaks)
        assert max(abs(a - b) for a, b in zip(got, true_peaks)) <= 1
        assert np.max(np.abs(y[10:-10] - truth[10:-10])) < 4  # amplitude kept (6 Hz passes 1-2 Hz)
    # the causal filter does lag: the test can tell
    live_sm = OneEuroSmoother(beta=0.0)
    live = xy_of([(i, t, live_sm(p, t)) for i, t, p in frames])[:, k, 1]
    assert np.mean(np.array(peaks(live)) - np.array(true_peaks[:len(peaks(live))])) >= 2


def test_delayed_window_matches_the_whole_trajectory_pass_and_holds_few_frames():
    frames, _ = moving_wrist(hz=1.5, noise=2.0)
    sm = DelayedSmoother(FPS)
    out = []
    for index, _, poses in frames:
        out += list(sm.push(index, f"image {index}", poses))
        assert len(sm._buf) <= 2 * sm.delay + 1
    out += list(sm.flush())
    assert [o[1] for o in out] == [f"image {i}" for i in range(len(frames))]  # payloads back, in order
    delayed = xy_of(out)
    whole = smooth_trajectory(trajectories(frames, FPS)[1], FPS).keypoints[..., :2]
    assert np.nanmax(np.abs(delayed[15:-15] - whole[15:-15])) < 0.5


def test_short_gaps_filled_long_gaps_kept_and_outliers_dropped():
    frames, truth = moving_wrist(n=80, noise=0.0)
    frames = [(i, t, [] if 20 <= i < 24 or 40 <= i < 60 else poses) for i, t, poses in frames]
    frames[70][2][0].keypoints[4, 1] += 80  # a one-frame jump of the wrist
    frames[10][2][0].keypoints[7] = 0  # left wrist missed in one frame
    out = run_delayed(frames)
    present = [i for i, _, poses in out if poses]
    assert set(range(20, 24)) <= set(present)  # 4 missing frames: filled, same ID
    assert not set(range(40, 60)) & set(present)  # 20 missing frames: a real absence
    assert all(p.track_id == 1 for _, _, poses in out for p in poses)
    filled = out[21][2][0]  # linear across the bottom of the swing: a few pixels off
    assert abs(filled.keypoints[4, 1] - truth[21]) < 8 and filled.keypoints[4, 2] > 0
    assert abs(out[70][2][0].keypoints[4, 1] - truth[70]) < 5  # the jump is gone
    assert out[10][2][0].keypoints[7, 2] > 0  # the missed joint is filled
    whole = smooth_trajectory(trajectories(frames, FPS)[1], FPS)
    assert 22 in whole.frames and 50 not in whole.frames


def test_untracked_poses_pass_through_and_tracker_then_smoother():
    frames = shaky_still_person(n=20)
    for _, _, poses in frames:
        poses[0].track_id = None
    out = run_delayed(frames)
    for (_, _, a), (_, _, b) in zip(frames, out):
        np.testing.assert_array_equal(a[0].keypoints, b[0].keypoints)
    tracker = Tracker()
    tracked = [(i, t, tracker.update(poses, i)) for i, t, poses in frames]
    assert {p.track_id for _, _, ps in run_delayed(tracked) for p in ps} == {1}


def test_low_frame_rate_is_not_low_passed():
    assert OfflineParams().sos(4.0) is None
    assert OfflineParams().sos(10.0) is not None  # cut-off capped below Nyquist
