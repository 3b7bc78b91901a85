"""IDs that stay with a person from frame to frame: :class:`Tracker`.

One tracker per video and per webcam session. Each call of :meth:`Tracker.update` takes one frame's poses and
sets their ``track_id`` (1-based, never reused in one tracker's life).

**Time base.** The tracker counts in frames of its nominal rate :attr:`Tracker.fps`. A video passes frame indices
(``update(poses, index)``); a live source that analyses only some frames (the webcam at 2-3 analysed frames per
second) passes the time, ``update(poses, t=seconds)`` (a monotonic clock; ``frame`` may be given too and is then
ignored), and the tracker converts it: 0.4 s is 12 frames at 30 fps. Every gate below then scales with the time
between analysed frames, not with their count: the velocity is in pixels per frame of time, a person is
extrapolated over the whole interval, the tolerance grows with the time since a track was seen, and an unseen
track is retired only after :attr:`Tracker.max_unseen` frames of time *and* :attr:`Tracker.min_missed` updates
without it, so a still person seen two or three times a second and missed once or twice keeps their ID.

1. **Prediction**: every live track is moved by its constant velocity (the mean motion of its visible keypoints,
   in pixels per frame, smoothed over frames) to where it should be in this frame; the velocity is applied for at
   most :attr:`Tracker.max_coast` frames (or :attr:`Tracker.min_missed` intervals between updates, when that is
   longer), so a long-unseen track does not drift away.
2. **Pose distance**: an OKS-like similarity between each predicted track and each detection,
   ``sum_i exp(-d_i² / (2 (s k_i)²)) / max(n_track, n_detection)`` over the keypoints both have (as in OKS, a
   keypoint only one of them has counts 0, so a fragment of a person scores low against a whole one), where
   ``d_i`` is the distance of keypoint ``i`` in pixels, ``s`` the person's size (the square root of the area of
   their keypoint box, in pixels) and
   ``k_i`` the joint's tolerance (COCO's per-keypoint sigmas × 2 × :attr:`tolerance`: tighter for the face, looser
   for wrists and hips). The tolerance grows with the frames a track has been unseen (its position is less sure).
   With no keypoint in common, the distance of the box centres stands in.
3. **Gates**: a pair is not allowed when the similarity is below :attr:`min_similarity` or the centre moved more
   than :attr:`max_jump` person sizes from the prediction.
4. **Assignment**: the Hungarian method (``scipy.optimize.linear_sum_assignment``) on ``1 - similarity`` over the
   allowed pairs. A matched track takes the detection's keypoints (a joint the detection lacks keeps its last
   place, moved with the person, for up to :attr:`max_coast` frames); an unmatched detection starts a new track with
   the next ID, unless most of its joints lie on a person matched in this frame (a fragment of that person:
   left untracked, ``track_id`` None); an unmatched track is kept, unseen, for :attr:`max_unseen` frames (an
   occlusion, a missed frame), and for at least :attr:`Tracker.min_missed` updates, then retired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from .layouts import COCO17_KEYPOINTS, get_layout
from .pose import Pose

# COCO's per-keypoint OKS sigmas, by COCO-17 name.
_COCO_SIGMAS = dict(zip(COCO17_KEYPOINTS, (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087,
    0.089, 0.089)))
_NECK_SIGMA = 0.079  # like the shoulders
_OTHER_SIGMA = 0.089  # feet, chest, mid-hip: like the ankles


def keypoint_sigmas(layout: str) -> np.ndarray:
    """Per-keypoint tolerances (K,) of a layout, as fractions of the person's size (COCO's OKS sigmas)."""
    lay = get_layout(layout)
    sig = np.full(lay.num_keypoints, _OTHER_SIGMA, np.float64)
    for coco_name, k in zip(COCO17_KEYPOINTS, lay.coco17):
        if k is not None:
            sig[k] = _COCO_SIGMAS[coco_name]
    for i, name in enumerate(lay.keypoints):
        if name.lower() in ("neck", "chest"):
            sig[i] = _NECK_SIGMA
        elif name.lower() == "head":
            sig[i] = _COCO_SIGMAS["nose"] * 2
    return sig


def person_size(keypoints: np.ndarray, minimum: float = 16.0) -> float:
    """sqrt(area of the box around the found keypoints), in pixels (at least ``minimum``)."""
    vis = keypoints[:, 2] > 0
    if vis.sum() < 2:
        return minimum
    pts = keypoints[vis, :2]
    w, h = pts.max(axis=0) - pts.min(axis=0)
    return float(max(np.sqrt(max(w, 1.0) * max(h, 1.0)), minimum))


@dataclass
class Track:
    """A person followed by a :class:`Tracker`.

    Attributes:
        id: 1-based ID.
        keypoints: (K, 3) the last detection's keypoints.
        velocity: (2,) pixels per frame of the person's centre (smoothed).
        last_frame: frame (of the tracker's clock: see the module docstring) of the last detection.
        first_frame: frame of the first detection.
        hits: frames the person was detected in.
        missed: updates in a row the person was not detected in.
    """

    id: int
    keypoints: np.ndarray
    velocity: np.ndarray
    last_frame: float
    first_frame: float
    hits: int = 1
    size: float = 0.0
    layout: str = "COCO-18"
    joint_frame: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64), repr=False)
    _centre: np.ndarray = field(default_factory=lambda: np.zeros(2), repr=False)
    missed: int = 0

    def __post_init__(self) -> None:
        if len(self.joint_frame) != len(self.keypoints):
            self.joint_frame = np.where(self.keypoints[:, 2] > 0, self.last_frame, -1e9)

    def unseen(self, frame: float) -> float:
        """Frames since the last detection (0 when detected in ``frame``)."""
        return frame - self.last_frame


def _centre(kp: np.ndarray) -> np.ndarray:
    vis = kp[:, 2] > 0
    if not vis.any():
        return np.zeros(2)
    return kp[vis, :2].mean(axis=0).astype(np.float64)


class Tracker:
    """Frame-to-frame person tracker (see the module docstring).

    Args:
        max_unseen: frames a track is kept while unseen before it is retired (default 30: 1 s at 30 fps) ...
        min_missed: ... and updates it must have missed first (default 3: a still person analysed once a second
            and missed once keeps their ID).
        fps: the nominal frame rate, to convert the times given to :meth:`update` (``t=``) into frames.
        min_similarity: the lowest OKS-like similarity (0-1) that may join a detection to a track.
        max_jump: the farthest a person's centre may be from its predicted place, in person sizes.
        tolerance: multiplies the per-joint tolerances (1 = twice COCO's sigmas).
        max_coast: frames the constant velocity is extrapolated at most while a track is unseen (at least
            ``min_missed`` intervals between updates).
        velocity_smoothing: weight (0-1) of the newest motion in the velocity estimate.
    """

    def __init__(self, *, max_unseen: int = 30, min_similarity: float = 0.1, max_jump: float = 1.0,
                 tolerance: float = 1.5, max_coast: int = 10, velocity_smoothing: float = 0.5, min_missed: int = 3,
                 fps: float = 30.0) -> None:
        if max_unseen < 0:
            raise ValueError("max_unseen must be 0 or more")
        if not fps or fps <= 0:
            raise ValueError("fps must be positive")
        self.max_unseen = int(max_unseen)
        self.min_missed = int(min_missed)
        self.fps = float(fps)
        #: Frames of the clock between updates (smoothed): 1 for a video, 12 for 2.5 analysed frames a second.
        self.interval = 1.0
        self.min_similarity = float(min_similarity)
        self.max_jump = float(max_jump)
        self.tolerance = float(tolerance)
        self.max_coast = int(max_coast)
        self.velocity_smoothing = float(velocity_smoothing)
        self.tracks: list[Track] = []
        self.next_id = 1
        self.frame: float = -1
        self._updates = 0
        self._sigmas: dict[str, np.ndarray] = {}

    @classmethod
    def for_fps(cls, fps: float, *, unseen_s: float = 1.0, **kwargs) -> "Tracker":
        """A tracker that keeps unseen tracks for ``unseen_s`` seconds at ``fps`` frames per second."""
        fps = fps if fps and fps > 0 else 30.0
        return cls(max_unseen=max(1, round(unseen_s * fps)), fps=fps, **kwargs)

    @property
    def ids_issued(self) -> int:
        """How many IDs this tracker has given out."""
        return self.next_id - 1

    def reset(self) -> None:
        """Forget every track; IDs start again at 1 (a new video)."""
        self.tracks.clear()
        self.next_id = 1
        self.frame = -1
        self._updates = 0
        self.interval = 1.0

    def _sigma(self, layout: str) -> np.ndarray:
        if layout not in self._sigmas:
            self._sigmas[layout] = keypoint_sigmas(layout) * 2.0 * self.tolerance
        return self._sigmas[layout]

    def _coast(self) -> float:
        """Frames a velocity or a lost joint is carried forward at most: ``max_coast``, or ``min_missed``
        intervals between updates when that is longer (a track is kept that long)."""
        return max(float(self.max_coast), self.interval * self.min_missed)

    def similarity(self, tracks: Sequence[Track], poses: Sequence[Pose], frame: float) -> np.ndarray:
        """(T, D) OKS-like similarity of each track, predicted to ``frame``, with each detection; 0 where gated."""
        if not tracks or not poses:
            return np.zeros((len(tracks), len(poses)))
        det = np.stack([p.keypoints for p in poses]).astype(np.float64)  # (D, K, 3)
        dvis = det[:, :, 2] > 0
        dcen = np.stack([_centre(p.keypoints) for p in poses])  # (D, 2)
        steps = np.array([min(max(t.unseen(frame), 0), self._coast()) for t in tracks], np.float64)
        vel = np.stack([t.velocity for t in tracks])
        pred = np.stack([t.keypoints[:, :2] for t in tracks]).astype(np.float64) + (vel * steps[:, None])[:, None, :]
        tvis = np.stack([t.keypoints[:, 2] > 0 for t in tracks])  # (T, K)
        tcen = np.stack([t._centre for t in tracks]) + vel * steps[:, None]
        # size grows with the uncertainty of an unseen track's place: with the time since it was seen
        unseen = np.array([max(t.unseen(frame), 1) for t in tracks], np.float64)
        size = np.array([t.size for t in tracks]) * (1.0 + 0.1 * (unseen - 1))
        sig = self._sigma(poses[0].layout)
        d2 = np.sum((pred[:, None] - det[None, :, :, :2]) ** 2, axis=-1)  # (T, D, K)
        both = tvis[:, None, :] & dvis[None, :, :]
        e = np.exp(-d2 / (2.0 * (size[:, None, None] * sig[None, None, :]) ** 2))
        n = both.sum(axis=-1)
        norm = np.maximum(tvis.sum(axis=-1)[:, None], dvis.sum(axis=-1)[None, :])
        oks = np.where(n > 0, (e * both).sum(axis=-1) / np.maximum(norm, 1), 0.0)
        # how much of each detection a track explains, and whether the detection is the smaller of the two
        self._cover = np.where(n > 0, (e * both).sum(axis=-1) / np.maximum(dvis.sum(axis=-1)[None, :], 1), 0.0)
        self._cover[dvis.sum(axis=-1)[None, :] > 0.7 * tvis.sum(axis=-1)[:, None]] = 0.0
        jump = np.linalg.norm(tcen[:, None] - dcen[None], axis=-1) / size[:, None]
        # no joint in common: the centres' distance alone, at the looser hip tolerance
        centre_sim = np.exp(-jump ** 2 / (2.0 * (2.0 * 0.107 * self.tolerance * 2) ** 2))
        sim = np.where(n > 0, oks, centre_sim)
        sim[(jump > self.max_jump) | (sim < self.min_similarity)] = 0.0
        return sim

    def _clock(self, frame: int | None, t: float | None) -> float:
        """This update's place on the tracker's clock (frames of :attr:`fps`), and the interval since the last."""
        if t is not None:
            now = float(t) * self.fps
        elif frame is not None:
            now = float(frame)
        else:
            now = self.frame + 1.0
        if self._updates:
            step = max(now - self.frame, 1.0)
            self.interval = step if self._updates == 1 else 0.5 * self.interval + 0.5 * step
        self._updates += 1
        self.frame = now
        return now

    def update(self, poses: Sequence[Pose], frame: int | None = None, *, t: float | None = None) -> list[Pose]:
        """Give each pose of this frame its ``track_id`` (set on the poses; they are also returned, as a list).

        ``frame`` is the frame index (to know how many frames passed, e.g. when frames are skipped); by default
        the frame after the last one. ``t``: the frame's time in seconds (a monotonic clock), for sources that
        analyse only some frames (the webcam): then ``frame`` is ignored and every gate scales with the time
        between updates (module docstring).
        """
        frame = self._clock(frame, t)
        poses = list(poses)
        self.tracks = [tr for tr in self.tracks if tr.unseen(frame) <= self.max_unseen or tr.missed < self.min_missed]
        live = [i for i, p in enumerate(poses) if p.num_visible > 0]
        cand = [poses[i] for i in live]
        matched_det: set[int] = set()
        fragments: set[int] = set()
        if self.tracks and cand:
            sim = self.similarity(self.tracks, cand, frame)
            rows, cols = linear_sum_assignment(1.0 - sim)
            pairs = [(r, c) for r, c in zip(rows, cols) if sim[r, c] > 0]
            self._refresh([self.tracks[r] for r, _ in pairs], [cand[c] for _, c in pairs], frame)
            for r, c in pairs:
                cand[c].track_id = self.tracks[r].id
                matched_det.add(c)
            matched_rows = [r for r, c in zip(rows, cols) if sim[r, c] > 0]
            for c in range(len(cand)):
                # a few joints lying on a person already matched: a fragment of them, not a newcomer
                if c not in matched_det and matched_rows and self._cover[matched_rows, c].max() > 0.6:
                    fragments.add(c)
                    cand[c].track_id = None
        matched_tracks = {self.tracks[r].id for r, _ in pairs} if self.tracks and cand else set()
        for track in self.tracks:
            track.missed = 0 if track.id in matched_tracks else track.missed + 1
        for c, pose in enumerate(cand):
            if c not in matched_det and c not in fragments:
                kp = np.array(pose.keypoints, np.float32)
                track = Track(self.next_id, kp, np.zeros(2), frame, frame, 1, person_size(kp), pose.layout,
                              np.where(kp[:, 2] > 0, frame, -1e9), _centre(kp))
                self.next_id += 1
                self.tracks.append(track)
                pose.track_id = track.id
        for i, p in enumerate(poses):
            if i not in live:
                p.track_id = None
        # fragments are left untracked (track_id None): drawn, but not followed or exported as a person
        return poses

    def _refresh(self, tracks: list[Track], poses: list[Pose], frame: float) -> None:
        """Matched tracks take their detections, all at once (vectorised over the M pairs)."""
        if not tracks:
            return
        kp = np.stack([p.keypoints for p in poses]).astype(np.float32)  # (M, K, 3)
        old = np.stack([t.keypoints for t in tracks])
        dt = np.array([max(frame - t.last_frame, 1) for t in tracks], np.float64)
        vel = np.stack([t.velocity for t in tracks])
        seen, had = kp[..., 2] > 0, old[..., 2] > 0
        both = seen & had
        n = both.sum(axis=1)
        # the motion of the joints seen both times, not of the centre of whichever were found
        motion = ((kp[..., :2] - old[..., :2]) * both[..., None]).sum(axis=1) / np.maximum(n, 1)[:, None] / dt[:, None]
        a = np.array([self.velocity_smoothing if t.hits > 1 else 1.0 for t in tracks])[:, None]
        vel = np.where(n[:, None] > 0, a * motion + (1 - a) * vel, vel)
        joint_frame = np.stack([t.joint_frame for t in tracks])
        keep = ~seen & had & (frame - joint_frame <= self._coast())
        # joints this detection lacks: their last place, moved with the person
        moved = old.copy()
        moved[..., :2] += (vel * dt[:, None])[:, None, :].astype(np.float32)
        kp = np.where(keep[..., None], moved, kp)
        vis = kp[..., 2] > 0
        cnt = vis.sum(axis=1)
        centre = (kp[..., :2] * vis[..., None]).sum(axis=1) / np.maximum(cnt, 1)[:, None]
        lo = np.where(vis[..., None], kp[..., :2], np.inf).min(axis=1)
        hi = np.where(vis[..., None], kp[..., :2], -np.inf).max(axis=1)
        wh = np.where(cnt[:, None] >= 2, hi - lo, 0.0)
        size = np.maximum(np.sqrt(np.maximum(wh[:, 0], 1.0) * np.maximum(wh[:, 1], 1.0)), 16.0)
        size = np.where(cnt >= 2, size, 16.0)
        joint_frame = np.where(seen, frame, joint_frame)
        for i, t in enumerate(tracks):
            t.velocity = vel[i]
            t.keypoints = kp[i]
            t.joint_frame = joint_frame[i]
            t._centre = centre[i].astype(np.float64)
            t.size = 0.7 * t.size + 0.3 * float(size[i]) if t.size else float(size[i])
            t.last_frame = frame
            t.hits += 1


def person_numbers(poses: Sequence[Pose]) -> list[int]:
    """The one numbering rule: the number shown and written for each person is its ``track_id`` (from 1, given
    by :class:`Tracker`), else its place in the list, 1..N (one image: the overlay, the tables, the pickers and
    every file of that image use these numbers)."""
    return [p.track_id if p.track_id is not None else i for i, p in enumerate(poses, 1)]


__all__ = ["Track", "Tracker", "keypoint_sigmas", "person_numbers", "person_size"]
