"""Keypoint smoothing per tracked person: causal One-Euro filters (live) and a zero-phase pass (uploaded videos).

Both work on tracked poses (``Pose.track_id``, see :mod:`posekit.tracking`): each person's keypoints are
filtered along that person's own trajectory. Untracked poses (``track_id`` None) pass through unchanged.

**Live** (:class:`OneEuroSmoother`, webcam): the One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) on each
keypoint's x and y: a first-order low-pass whose cut-off rises with the keypoint's speed, so a still person
stops trembling while a fast movement lags little. Parameters:

* ``min_cutoff`` (Hz, default 1.0): the cut-off when still; lower = steadier, more lag on slow moves.
* ``beta`` (1 / (person sizes per second), default 4.0): how fast the cut-off rises with speed; speeds are
  measured in person sizes (the square root of the area of the keypoint box) per second, so the same value
  suits near and far people; higher = less lag on fast moves, more jitter.
* ``d_cutoff`` (Hz, default 1.0): the cut-off of the speed estimate.
A keypoint that was not found is left out and its filter restarts when it is found again.

**Offline** (:func:`smooth_trajectory` on a whole :class:`~posekit.kinematics.Trajectory`, and
:class:`DelayedSmoother` for a video pipeline), after Pose2Sim / Sports2D's post-processing:

1. *Outlier rejection*: a sample farther than ``outlier`` (person sizes, default 0.25) from the mean of its two
   neighbours is dropped (a keypoint that jumped to another limb or person for one frame).
2. *Gap filling*: holes of at most ``max_gap`` frames (default 10) between two found samples (a missed keypoint,
   or the whole person missed for a few frames) are filled by linear interpolation; longer holes stay holes.
3. *Butterworth low-pass*, zero phase: ``scipy.signal.sosfiltfilt`` (forwards then backwards, so no lag) of order
   ``order`` (default 4) at ``cutoff_hz`` (default 6 Hz, Pose2Sim's; capped at 0.8 × the Nyquist frequency
   ``fps / 2``; videos under 5 fps are not low-passed). Long holes are bridged linearly (and the ends held)
   for the filter only, then put back as holes.

:class:`DelayedSmoother` applies the same pass to a video as it streams: the output for frame ``t`` is computed
from frames ``t - delay … t + delay`` (a window of ``2 · delay + 1`` frames, symmetric, hence still zero phase)
and comes out ``delay`` frames late. Only ``delay`` frames (and their poses) are held, so memory stays flat
whatever the length of the video: ``delay`` is ``window_s · fps`` frames, default 0.4 s, at most
:data:`MAX_DELAY` = 16 frames (≈ 100 MB of 1080p BGR frames). Within the window, the Butterworth filter's
response has died out (at 6 Hz it lasts ≈ 5 frames at 30 fps), so the result is the whole-trajectory pass up to
window-edge effects. The rendered video and the keypoint files both get the smoothed poses.
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import butter, sosfiltfilt

from .kinematics import Trajectory
from .pose import Pose
from .tracking import person_size

#: The most frames :class:`DelayedSmoother` holds back.
MAX_DELAY = 16


# --- live: One-Euro ---------------------------------------------------------------------------------------


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """A One-Euro filter on an array of values (e.g. (K, 2) keypoint coordinates), element by element.

    ``scale`` (same unit as the values) divides the speed before ``beta`` applies (person size for keypoints).
    Elements given as NaN are not updated and restart when they come back.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 4.0, d_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = float(min_cutoff), float(beta), float(d_cutoff)
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if self.x is None or self.t is None or t <= self.t:
            if self.x is None or self.x.shape != x.shape:
                self.x, self.dx = x.copy(), np.zeros_like(x)
            else:
                fresh = ~np.isfinite(self.x)
                self.x[fresh] = x[fresh]
            self.t = t if self.t is None else max(self.t, t)
            return np.where(np.isfinite(x), self.x, np.nan)
        dt = t - self.t
        self.t = t
        new = np.isfinite(x)
        restart = new & ~np.isfinite(self.x)
        dx = (x - self.x) / dt
        a_d = _alpha(self.d_cutoff, dt)
        dx_hat = a_d * dx + (1 - a_d) * self.dx
        cutoff = self.min_cutoff + self.beta * np.abs(dx_hat) / max(scale, 1e-9)
        a = _alpha(cutoff, dt)
        x_hat = a * x + (1 - a) * self.x
        upd = new & ~restart
        self.x = np.where(upd, x_hat, np.where(restart, x, np.where(new, self.x, np.nan)))
        self.dx = np.where(upd, dx_hat, 0.0)
        return np.where(new, self.x, np.nan)


class OneEuroSmoother:
    """Causal smoothing of tracked poses, one One-Euro filter per keypoint per track (webcam sessions).

    Call it with each frame's tracked poses and the frame's time in seconds; it returns smoothed copies. Tracks
    not seen for ``forget_s`` seconds are forgotten. Parameters: see the module docstring.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 4.0, d_cutoff: float = 1.0,
                 forget_s: float = 2.0) -> None:
        self.params = dict(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff)
        self.forget_s = float(forget_s)
        self.filters: dict[int, OneEuroFilter] = {}

    def reset(self) -> None:
        self.filters.clear()

    def __call__(self, poses: Sequence[Pose], t: float) -> list[Pose]:
        out = []
        for pose in poses:
            if pose.track_id is None:
                out.append(pose)
                continue
            f = self.filters.get(pose.track_id)
            if f is None:
                f = self.filters[pose.track_id] = OneEuroFilter(**self.params)
            kp = pose.keypoints.copy()
            vis = kp[:, 2] > 0
            xy = np.where(vis[:, None], kp[:, :2], np.nan)
            sm = f(xy, float(t), person_size(kp))
            kp[vis, :2] = sm[vis]
            out.append(replace(pose, keypoints=kp, extra=dict(pose.extra)))
        for tid in [k for k, f in self.filters.items() if f.t is not None and t - f.t > self.forget_s]:
            del self.filters[tid]
        return out


# --- offline: zero phase ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineParams:
    """Parameters of the zero-phase pass (see the module docstring for their meaning and units)."""

    cutoff_hz: float = 6.0
    order: int = 4
    max_gap: int = 10
    outlier: float = 0.25

    def sos(self, fps: float) -> np.ndarray | None:
        """Second-order sections of the Butterworth filter at ``fps``; None when the video is too slow."""
        return _butter(self.order, self.cutoff_hz, float(fps or 0))


@functools.lru_cache(maxsize=64)
def _butter(order: int, cutoff_hz: float, fps: float) -> np.ndarray | None:
    if fps < 5 or cutoff_hz <= 0:
        return None
    return butter(order, min(cutoff_hz, 0.4 * fps) / (fps / 2), output="sos")


def _fill(flat: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Gap filling of each row of ``flat`` (S, N), vectorised.

    Returns ``(filled, bridged)``: ``filled`` has NaN runs of at most ``max_gap`` samples between two finite
    ones linearly interpolated (other NaN kept); ``bridged`` is finite wherever the row has any finite sample
    (long holes bridged linearly, the ends held at the nearest value): what the low-pass runs on, before the
    long holes and ends are put back to NaN.
    """
    S, N = flat.shape
    ok = np.isfinite(flat)
    idx = np.broadcast_to(np.arange(N), (S, N))
    prev = np.maximum.accumulate(np.where(ok, idx, -1), axis=1)
    nxt = np.minimum.accumulate(np.where(ok, idx, N)[:, ::-1], axis=1)[:, ::-1]
    pv = np.take_along_axis(flat, np.clip(prev, 0, N - 1), 1)
    nv = np.take_along_axis(flat, np.clip(nxt, 0, N - 1), 1)
    has_prev, has_next = prev >= 0, nxt < N
    inner = ~ok & has_prev & has_next
    with np.errstate(invalid="ignore"):
        interp = pv + (nv - pv) * (idx - prev) / np.maximum(nxt - prev, 1)
    filled = np.where(inner & (nxt - prev - 1 <= max_gap), interp, flat)
    bridged = np.where(inner, interp, flat)
    bridged = np.where(~ok & ~has_prev & has_next, nv, bridged)
    bridged = np.where(~ok & has_prev & ~has_next, pv, bridged)
    return filled, bridged


_MATRICES: dict = {}


def _filtfilt_columns(sos: np.ndarray, n: int, at: int) -> np.ndarray:
    """The weights (n,) that give the zero-phase filter's output at sample ``at`` of an n-sample series: the
    filter is linear, so ``sosfiltfilt(x)[at] == x @ w`` (cached per (filter, n, at))."""
    key = (sos.tobytes(), n, at)
    w = _MATRICES.get(key)
    if w is None:
        pad = min(3 * (2 * len(sos) + 1), n - 1)
        w = sosfiltfilt(sos, np.eye(n), axis=-1, padlen=pad)[:, at].copy()
        if len(_MATRICES) > 256:
            _MATRICES.clear()
        _MATRICES[key] = w
    return w


def smooth_block(xy: np.ndarray, sizes: np.ndarray, fps: float, params: OfflineParams = OfflineParams(),
                 at: int | None = None) -> np.ndarray:
    """The zero-phase pass on ``xy`` (P, N, K, 2): P people over N consecutive frames, NaN where a keypoint is
    missing; ``sizes`` (P,) the people's sizes in pixels. Returns the smoothed (P, N, K, 2), NaN where nothing
    could be filled; with ``at``, only frame ``at`` of it, (P, K, 2)."""
    P, N, K, _ = xy.shape
    series = np.ascontiguousarray(np.moveaxis(xy, 1, -1).reshape(P, K * 2, N), dtype=np.float64)
    tol = (np.asarray(sizes, np.float64) * params.outlier)[:, None, None]
    if N >= 3:  # 1. outliers: far from the mean of both neighbours (x and y of a keypoint go together)
        with np.errstate(invalid="ignore"):
            dev = np.abs(series[..., 1:-1] - (series[..., :-2] + series[..., 2:]) / 2) > tol
        bad = np.zeros(series.shape, bool)
        bad[..., 1:-1] = dev
        bad = np.repeat(bad.reshape(P, K, 2, N).any(axis=2), 2, axis=1)
        series[bad] = np.nan
    flat = series.reshape(P * K * 2, N)
    filled, bridged = _fill(flat, params.max_gap)  # 2. short gaps
    keep = np.isfinite(filled)
    sos = params.sos(fps)
    rows = np.isfinite(bridged).any(axis=1)
    if sos is not None and N > 3 and rows.any():  # 3. Butterworth forwards and backwards
        if at is not None:
            out = np.full(P * K * 2, np.nan)
            out[rows] = bridged[rows] @ _filtfilt_columns(sos, N, at)
            out[~keep[:, at]] = np.nan
            return out.reshape(P, K, 2)
        sm = np.full_like(bridged, np.nan)
        sm[rows] = sosfiltfilt(sos, bridged[rows], axis=-1, padlen=min(3 * (2 * len(sos) + 1), N - 1))
        filled = np.where(keep, sm, np.nan)
    result = np.moveaxis(filled.reshape(P, K, 2, N), -1, 1)
    return result if at is None else result[:, at]


def _dense(frames: np.ndarray, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A trajectory on every frame from its first to its last: (N, K, 2) xy with NaN holes, (N, K) conf, grid."""
    grid = np.arange(frames[0], frames[-1] + 1)
    pos = frames - frames[0]
    xy = np.full((len(grid), keypoints.shape[1], 2), np.nan)
    conf = np.zeros((len(grid), keypoints.shape[1]), np.float32)
    vis = keypoints[:, :, 2] > 0
    xy[pos] = np.where(vis[..., None], keypoints[:, :, :2], np.nan)
    conf[pos] = keypoints[:, :, 2]
    return xy, conf, grid


def _fill_conf(conf: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Confidence for filled samples: the smaller of the two found neighbours' (per keypoint, along frames)."""
    out = conf.copy()
    N = conf.shape[0]
    for k in range(conf.shape[1]):
        hole = filled[:, k] & (conf[:, k] <= 0)
        if not hole.any():
            continue
        found = np.flatnonzero(conf[:, k] > 0)
        if found.size == 0:
            continue
        for i in np.flatnonzero(hole):
            j = np.searchsorted(found, i)
            lo = conf[found[max(j - 1, 0)], k]
            hi = conf[found[min(j, found.size - 1)], k]
            out[i, k] = min(lo, hi) if N else 0
    return out


def smooth_trajectory(trajectory, fps: float, params: OfflineParams = OfflineParams()):
    """The zero-phase pass over one person's whole :class:`~posekit.kinematics.Trajectory`; returns a new one,
    on every frame from the first to the last, short holes filled (long holes keep the person absent)."""
    if len(trajectory) == 0:
        return trajectory
    xy, conf, grid = _dense(np.asarray(trajectory.frames), np.asarray(trajectory.keypoints, np.float32))
    size = float(np.median([person_size(k) for k in trajectory.keypoints]))
    sm = smooth_block(xy[None], np.array([size]), fps, params)[0]
    ok = np.isfinite(sm).all(axis=-1)
    conf = _fill_conf(conf, ok)
    kp = np.zeros((len(grid), xy.shape[1], 3), np.float32)
    kp[..., :2] = np.where(ok[..., None], sm, 0)
    kp[..., 2] = np.where(ok, conf, 0)
    present = kp[:, :, 2].max(axis=1) > 0
    t0 = float(trajectory.times[0])
    times = t0 + (grid - grid[0]) / fps if fps else grid.astype(float)
    scores = np.interp(grid, trajectory.frames, trajectory.scores) if len(trajectory.scores) == len(
        trajectory.frames) else np.zeros(len(grid))
    return Trajectory(trajectory.track_id, trajectory.layout, grid[present], np.asarray(times)[present],
                      kp[present], np.asarray(scores, np.float32)[present])


class DelayedSmoother:
    """The zero-phase pass for a streamed video: push each frame, get frames back ``delay`` frames later.

    >>> sm = DelayedSmoother(fps=30)
    >>> for index, payload, poses in frames:           # poses tracked (track_id set)
    ...     for index, payload, poses in sm.push(index, payload, poses): render(...)
    >>> for index, payload, poses in sm.flush(): render(...)

    ``payload`` (e.g. the frame's image) is handed back with its frame and is all the smoother holds besides
    poses. Frames must come in order, one per index. Untracked poses pass through unchanged.
    """

    def __init__(self, fps: float, *, window_s: float = 0.4, params: OfflineParams = OfflineParams(),
                 max_delay: int = MAX_DELAY) -> None:
        self.fps = float(fps)
        self.params = params
        self.delay = int(max(1, min(max_delay, round(window_s * self.fps))))
        self._buf: collections.deque = collections.deque()  # (index, payload, poses), at most 2 delay + 1
        self._out = 0  # position in _buf of the next frame to hand back

    def push(self, index: int, payload, poses: Sequence[Pose]) -> Iterator[tuple[int, object, list[Pose]]]:
        poses = list(poses)
        self._buf.append((index, payload, poses, self._arrays(poses)))
        while self._out < len(self._buf) and len(self._buf) - 1 - self._out >= self.delay:
            yield self._emit()

    def flush(self) -> Iterator[tuple[int, object, list[Pose]]]:
        while self._out < len(self._buf):
            yield self._emit()

    @staticmethod
    def _arrays(poses: list[Pose]) -> tuple | None:
        """The tracked poses of one frame stacked: (layout, ids (P,), xy (P, K, 2) NaN where missing,
        confidence (P, K), scores (P,), sizes (P,)); None when there is none. Poses of another layout than the
        first tracked one are left out."""
        tracked = [p for p in poses if p.track_id is not None]
        if not tracked:
            return None
        layout = tracked[0].layout
        tracked = [p for p in tracked if p.layout == layout]
        kp = np.stack([p.keypoints for p in tracked])
        vis = kp[..., 2] > 0
        return (layout, np.array([p.track_id for p in tracked]), np.where(vis[..., None], kp[..., :2], np.nan),
                kp[..., 2].copy(), np.array([p.score for p in tracked], np.float32),
                np.array([person_size(k) for k in kp]))

    def _emit(self) -> tuple[int, object, list[Pose]]:
        c = self._out
        index, payload, poses, arrays = self._buf[c]
        result = self._smooth_center(c)
        self._buf[c] = (index, None, poses, arrays)  # the payload goes back to the caller; arrays stay for windows
        self._out += 1
        while self._out > self.delay:  # keep only the frames a later window needs
            self._buf.popleft()
            self._out -= 1
        return index, payload, result

    def _smooth_center(self, c: int) -> list[Pose]:
        frames = list(self._buf)
        current = frames[c][2]
        stacks = [f[3] for f in frames]
        first = next((a for a in stacks if a is not None), None)
        if first is None:
            return current
        layout = first[0]
        ids_all = np.unique(np.concatenate([a[1] for a in stacks if a is not None and a[0] == layout]))
        ids = [int(t) for t in ids_all]
        K, N = first[2].shape[1], len(frames)
        xy = np.full((len(ids), N, K, 2), np.nan)
        conf = np.zeros((len(ids), N, K), np.float32)
        scores = np.zeros((len(ids), N), np.float32)
        sizes = np.zeros(len(ids))
        for n, a in enumerate(stacks):
            if a is None or a[0] != layout:
                continue
            rows = np.searchsorted(ids_all, a[1])
            xy[rows, n], conf[rows, n], scores[rows, n] = a[2], a[3], a[4]
            sizes[rows] = np.maximum(sizes[rows], a[5])
        sm = smooth_block(xy, sizes, self.fps, self.params, at=c)  # (P, K, 2)
        out = [p for p in current if p.track_id is None or p.layout != layout]
        by_id = {p.track_id: p for p in current if p.track_id is not None}
        # confidence of a filled keypoint: the smaller of the nearest found ones before and after (P, K)
        found = conf > 0
        n_idx = np.arange(N)[None, :, None]
        before = np.where(found & (n_idx < c), n_idx, -1).max(axis=1)
        after = np.where(found & (n_idx > c), n_idx, N).min(axis=1)
        pi, ki = np.indices(before.shape)
        filled_conf = np.where((before >= 0) & (after < N), np.minimum(
            conf[pi, np.clip(before, 0, N - 1), ki], conf[pi, np.clip(after, 0, N - 1), ki]), 0.0)
        center_conf = np.where(found[:, c], conf[:, c], filled_conf)
        ok = np.isfinite(sm).all(axis=-1) & (center_conf > 0)  # (P, K)
        kps = np.zeros((len(ids), K, 3), np.float32)
        kps[..., :2] = np.where(ok[..., None], sm, 0.0)
        kps[..., 2] = np.where(ok, center_conf, 0.0)
        any_ok = ok.any(axis=1)
        missing = [i for i, tid in enumerate(ids) if any_ok[i] and tid not in by_id]
        if missing:  # people missed in this frame, filled from both sides ...
            present = [p.keypoints[p.keypoints[:, 2] > 0, :2].mean(axis=0) for p in current if p.num_visible]
        for i, tid in enumerate(ids):
            if not any_ok[i]:
                continue
            src = by_id.get(tid)
            if src is not None:
                out.append(replace(src, keypoints=kps[i], extra=dict(src.extra)))
                continue
            centre = kps[i, ok[i], :2].mean(axis=0)
            if any(np.linalg.norm(centre - c2) < 0.3 * sizes[i] for c2 in present):
                continue  # ... unless someone found in this frame stands there: that is who it is (an ID change)
            s = scores[i][scores[i] > 0]
            out.append(Pose(kps[i], float(s.mean()) if s.size else 0.0, layout, track_id=tid))
        order = {p.track_id: n for n, p in enumerate(current)}
        out.sort(key=lambda p: (order.get(p.track_id, len(order)), p.track_id or 0))
        return out


__all__ = ["MAX_DELAY", "DelayedSmoother", "OfflineParams", "OneEuroFilter", "OneEuroSmoother", "smooth_block",
           "smooth_trajectory"]
