"""Multi-person decoding of OpenPose-style outputs (heatmaps + part affinity fields) into poses.

This is OpenPose's bottom-up algorithm (Cao et al., "Realtime Multi-Person 2D Pose Estimation using Part
Affinity Fields", CVPR 2017), vectorised with numpy:

1. :func:`find_peaks`: keypoint candidates are the 3x3 local maxima of each heatmap above a threshold, refined
   to sub-cell precision by fitting a Gaussian (a parabola on the log values) through each peak's neighbours.
2. :func:`score_limb`: every candidate pair (A, B) of a limb is scored by the line integral of the limb's PAF
   along the segment A -> B (bilinear samples, dot product with the unit vector), plus OpenPose's distance prior.
   A pair is kept only when more than 80 % of the samples exceed ``paf_threshold`` and its score is positive.
3. :func:`connect`: greedy bipartite matching, highest score first, each candidate used once per limb
   (scoring and matching for all limbs in one vectorised pass).
4. :func:`assemble`: OpenPose's "subset" logic merges the connections into people, including merging two
   partial people joined by a connection when they share no keypoint.
5. :func:`extend` (posekit's addition): a second chance for the keypoints the people kept still miss. A limb
   from one of a person's keypoints to a candidate no kept person owns is accepted when a majority of its PAF
   samples agree. Step 3 needs 80 % and matches every candidate of a limb at once, so a real but weaker limb
   (a bent knee, a wrist in motion, a limb beside another person's) loses there; its candidate is then left
   to nobody, or to a fragment of two or three keypoints that the filter drops. On ../shared/eval this raised
   COCO OKS AP from 0.559 to 0.591 (``bench/bench_accuracy.py``, row ``--no-extend``).

Everything here works in output-grid coordinates: the centre of cell (row i, column j) is at (x=j, y=i).
The estimator maps these to image pixels.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InvalidInputError
from .layouts import Layout, get_layout
from .pose import Pose

#: Samples taken along each candidate limb for the PAF line integral (OpenPose uses 10).
NUM_SAMPLES = 10
#: Fraction of the samples that must exceed the PAF threshold (OpenPose: 0.8).
SAMPLE_FRACTION = 0.8
#: The same fraction for :func:`extend`'s second chance: a majority of the samples.
EXTEND_FRACTION = 0.5
#: Limbs of about the same length in a body (by keypoint names; the ones a layout lacks are skipped). A limb
#: the second chance adds may be at most :data:`EXTEND_MAX_RATIO` times as long as the longest limb of its
#: group the person already has: a weaker PAF test must not draw a forearm to another person's leg.
SIMILAR_LIMBS = (
    (("RShoulder", "RElbow"), ("RElbow", "RWrist"), ("LShoulder", "LElbow"), ("LElbow", "LWrist")),
    (("RHip", "RKnee"), ("RKnee", "RAnkle"), ("LHip", "LKnee"), ("LKnee", "LAnkle")),
    (("Neck", "RHip"), ("Neck", "LHip")),
    (("Neck", "RShoulder"), ("Neck", "LShoulder")),
)
EXTEND_MAX_RATIO = 2.0
_EPS = 1e-6
_KERNEL_3X3 = np.ones((3, 3), np.uint8)


# ---------------------------------------------------------------------------------------------------- peaks


def find_peaks(heatmaps: np.ndarray, threshold: float = 0.1) -> list[np.ndarray]:
    """Keypoint candidates of each heatmap.

    A candidate is a cell that is a maximum of its 3x3 neighbourhood (ties go to the first cell in row-major
    order, so a plateau yields one candidate) and exceeds ``threshold``. Its position is refined per axis by a
    Gaussian fit through the peak and its two neighbours (exact for Gaussian-shaped peaks), limited to half a
    cell.

    Args:
        heatmaps: float array (K, h, w), one heatmap per keypoint (no background channel needed).
        threshold: minimum heatmap value of a candidate.

    Returns:
        For each of the K heatmaps, a float32 array (n, 3) of ``[x, y, score]`` in output-grid coordinates
        (cell centres at integers), sorted by descending score; ``score`` is the heatmap value at the peak.
    """
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim == 2:
        hm = hm[None]
    if hm.ndim != 3:
        raise InvalidInputError(f"heatmaps must be (K, h, w), got shape {hm.shape}")
    k, h, w = hm.shape
    if k == 0 or h == 0 or w == 0:
        return [np.zeros((0, 3), np.float32) for _ in range(k)]
    if not np.isfinite(hm).all():
        hm = np.nan_to_num(hm, nan=0.0, posinf=0.0, neginf=0.0)
    padded = np.full((k, h + 2, w + 2), -np.inf, np.float32)
    padded[:, 1:-1, 1:-1] = hm
    # Local maxima in one pass over all maps: a 3x3 max filter of the maps stacked into one image (their -inf
    # borders keep them apart). Then, on the few survivors only, the tie rule: strictly greater than the
    # neighbours that come earlier in row-major order (>= the later ones is what the max filter checked).
    flat = padded.reshape(k * (h + 2), w + 2)
    is_max = (flat >= cv2.dilate(flat, _KERNEL_3X3)) & (flat > threshold)
    ks, rest = np.divmod(np.flatnonzero(is_max), (h + 2) * (w + 2))
    ys, xs = np.divmod(rest, w + 2)
    ys, xs = ys - 1, xs - 1
    centre = hm[ks, ys, xs]
    is_peak = np.ones(len(ks), bool)
    for dy, dx in ((-1, -1), (-1, 0), (-1, 1), (0, -1)):
        is_peak &= centre > padded[ks, ys + 1 + dy, xs + 1 + dx]
    ks, ys, xs, centre = ks[is_peak], ys[is_peak], xs[is_peak], centre[is_peak]

    def _offset(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        # Gaussian fit: a parabola through the log values. Missing (border) neighbours mirror the other side.
        lo = np.where(np.isfinite(lo), lo, hi)
        hi = np.where(np.isfinite(hi), hi, lo)
        floor = np.maximum(centre * 1e-3, _EPS)
        lc = np.log(np.maximum(centre, floor))
        ll = np.log(np.maximum(lo, floor))
        lh = np.log(np.maximum(hi, floor))
        denom = ll - 2.0 * lc + lh
        with np.errstate(divide="ignore", invalid="ignore"):
            off = np.where(denom < -_EPS, 0.5 * (ll - lh) / denom, 0.0)
        return np.clip(off, -0.5, 0.5)

    ox = _offset(padded[ks, ys + 1, xs], padded[ks, ys + 1, xs + 2])
    oy = _offset(padded[ks, ys, xs + 1], padded[ks, ys + 2, xs + 1])
    px = np.clip(xs + ox, 0, w - 1)
    py = np.clip(ys + oy, 0, h - 1)
    rows = np.stack([px, py, centre], axis=1).astype(np.float32)
    rows = rows[np.lexsort((-centre, ks))]  # by map, then by descending score (stable)
    bounds = np.searchsorted(ks, np.arange(k + 1))
    return [rows[bounds[i] : bounds[i + 1]] for i in range(k)]


# ---------------------------------------------------------------------------------------------------- limbs


def _bilinear_setup(x: np.ndarray, y: np.ndarray, h: int, w: int):
    """Flat indices of the four neighbours and their bilinear weights for float coordinates (clamped)."""
    x = np.clip(x, 0, w - 1)
    y = np.clip(y, 0, h - 1)
    x0 = np.minimum(x.astype(np.intp), max(w - 2, 0))
    y0 = np.minimum(y.astype(np.intp), max(h - 2, 0))
    fx = x - x0
    fy = y - y0
    dx = 1 if w > 1 else 0
    dy = w if h > 1 else 0
    i00 = y0 * w + x0
    idx = (i00, i00 + dx, i00 + dy, i00 + dy + dx)
    wts = ((1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy)
    return idx, wts


def _sample(flat: np.ndarray, base: np.ndarray, idx, wts) -> np.ndarray:
    """Bilinear samples from a flattened (C*h*w,) stack; ``base`` is the channel offset of each sample."""
    return sum(flat[base + i] * wt for i, wt in zip(idx, wts))


def _dots(a, vec, unit, t, cx, cy, flat, h, w) -> np.ndarray:
    """PAF . unit-vector at the fractions ``t`` along each segment: (N, len(t))."""
    px = a[:, 0, None] + vec[:, 0, None] * t
    py = a[:, 1, None] + vec[:, 1, None] * t
    idx, wts = _bilinear_setup(px, py, h, w)
    sx = _sample(flat, (cx * (h * w))[:, None], idx, wts)
    sy = _sample(flat, (cy * (h * w))[:, None], idx, wts)
    return sx * unit[:, 0, None] + sy * unit[:, 1, None]


def _score_pairs(
    a: np.ndarray,
    b: np.ndarray,
    cx: np.ndarray,
    cy: np.ndarray,
    maps: np.ndarray,
    paf_threshold: float,
    num_samples: int,
    sample_fraction: float = SAMPLE_FRACTION,
) -> np.ndarray:
    """Scores of N candidate pairs: ``a``, ``b`` (N, 2) points, ``cx``, ``cy`` (N,) PAF channels in ``maps``;
    a pair is kept when more than ``sample_fraction`` of its samples exceed ``paf_threshold``.

    Pairs are screened first on a few samples: a pair may have at most ``allowed`` samples below the
    threshold, so one whose first ``allowed + 1`` screening samples all fail is rejected without the rest.
    The result is exactly that of scoring every pair on every sample.
    """
    _, h, w = maps.shape
    flat = maps.reshape(-1)
    vec = b - a
    norm = np.sqrt((vec**2).sum(-1))
    unit = vec / np.maximum(norm, _EPS)[:, None]
    t = np.linspace(0.0, 1.0, num_samples, dtype=np.float32)
    need = int(np.floor(sample_fraction * num_samples)) + 1  # samples that must agree
    allowed = num_samples - need
    out = np.full(len(a), -np.inf, np.float32)
    keep = np.flatnonzero(norm > _EPS)
    if 0 <= allowed < num_samples // 2 and len(keep):
        probe = np.linspace(0, num_samples - 1, allowed + 3)[1:-1].round().astype(np.intp)  # interior
        d = _dots(a[keep], vec[keep], unit[keep], t[probe], cx[keep], cy[keep], flat, h, w)
        keep = keep[(d > paf_threshold).any(-1)]
    if not len(keep):
        return out
    dots = _dots(a[keep], vec[keep], unit[keep], t, cx[keep], cy[keep], flat, h, w)
    prior = np.minimum(0.5 * h / norm[keep] - 1.0, 0.0)
    score = dots.mean(-1) + prior
    ok = ((dots > paf_threshold).sum(-1) >= need) & (score > 0) & np.isfinite(score)
    out[keep[ok]] = score[ok]
    return out


def score_limb(
    cand_a: np.ndarray,
    cand_b: np.ndarray,
    paf_x: np.ndarray,
    paf_y: np.ndarray,
    *,
    paf_threshold: float = 0.05,
    num_samples: int = NUM_SAMPLES,
) -> np.ndarray:
    """Score every candidate pair of one limb by the PAF line integral.

    Args:
        cand_a, cand_b: (na, 3) and (nb, 3) candidates ``[x, y, score]`` of the limb's two keypoints.
        paf_x, paf_y: (h, w) PAF components; the field points from keypoint A towards keypoint B.
        paf_threshold: a sample "agrees" when its dot product with the unit vector A->B exceeds this.
        num_samples: points sampled (bilinearly) along each segment.

    Returns:
        float32 (na, nb) scores: mean dot product plus OpenPose's distance prior
        ``min(0.5 * h / length - 1, 0)``; ``-inf`` where the pair fails OpenPose's criteria (more than 80 % of
        samples agreeing, a positive score, distinct points).
    """
    na, nb = len(cand_a), len(cand_b)
    if na == 0 or nb == 0:
        return np.full((na, nb), -np.inf, np.float32)
    ia, ib = (g.ravel() for g in np.indices((na, nb)))
    maps = np.ascontiguousarray(np.stack([paf_x, paf_y]), dtype=np.float32)
    zeros = np.zeros(na * nb, np.intp)
    scores = _score_pairs(
        np.asarray(cand_a, np.float32)[ia, :2], np.asarray(cand_b, np.float32)[ib, :2],
        zeros, zeros + 1, maps, paf_threshold, num_samples,
    )
    return scores.reshape(na, nb)


def connect(
    peaks: list[np.ndarray],
    maps: np.ndarray,
    layout: Layout,
    *,
    paf_threshold: float = 0.05,
    num_samples: int = NUM_SAMPLES,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Score and match the candidate pairs of every limb at once (one vectorised pass over all limbs).

    Args:
        peaks: per keypoint, (n, 3) candidates from :func:`find_peaks`.
        maps: the (C, h, w) output holding the layout's PAF channels.
        layout: the layout.

    Returns:
        ``(connections, scores)``: per limb, an int array (m, 2) of global candidate ids (candidates numbered
        keypoint by keypoint, in the order of ``peaks``) and a float array (m,) of connection scores.
    """
    counts = np.array([len(p) for p in peaks], np.intp)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    connections = [np.zeros((0, 2), np.intp) for _ in layout.limbs]
    scores_out = [np.zeros(0, np.float32) for _ in layout.limbs]
    limbs = np.asarray(layout.limbs, np.intp).reshape(-1, 2)
    chans = np.asarray(layout.paf_channels, np.intp).reshape(-1, 2)
    nb = counts[limbs[:, 1]]
    n = counts[limbs[:, 0]] * nb  # candidate pairs per limb
    total = int(n.sum())
    if total == 0:
        return connections, scores_out
    # Every (A, B) pair of every limb, enumerated without a Python loop.
    limb_of = np.repeat(np.arange(len(limbs)), n)
    local = np.arange(total) - np.repeat(np.cumsum(n) - n, n)
    per_b = nb[limb_of]
    ga = offsets[limbs[limb_of, 0]] + local // per_b
    gb = offsets[limbs[limb_of, 1]] + local % per_b
    all_xy = np.concatenate([p[:, :2] for p in peaks]).astype(np.float32)
    scores = _score_pairs(
        all_xy[ga], all_xy[gb], chans[limb_of, 0], chans[limb_of, 1], maps, paf_threshold, num_samples
    )
    valid = np.flatnonzero(np.isfinite(scores))
    # Greedy matching for all limbs in one pass: by limb, then by descending score.
    valid = valid[np.lexsort((-scores[valid], limb_of[valid]))]
    used: set[tuple[int, int]] = set()
    chosen: list[list[tuple[int, int, float]]] = [[] for _ in layout.limbs]
    for li, a, b, s in zip(
        limb_of[valid].tolist(), ga[valid].tolist(), gb[valid].tolist(), scores[valid].tolist()
    ):
        if (li, a) in used or (li, b) in used:
            continue
        used.add((li, a))
        used.add((li, b))
        chosen[li].append((a, b, s))
    for li, rows in enumerate(chosen):
        if rows:
            arr = np.asarray(rows, np.float64)
            connections[li] = arr[:, :2].astype(np.intp)
            scores_out[li] = arr[:, 2].astype(np.float32)
    return connections, scores_out


# ---------------------------------------------------------------------------------------------------- people


def tree_limbs(layout: Layout) -> np.ndarray:
    """Boolean mask over ``layout.limbs``: True for limbs that join keypoints not already joined by an earlier
    limb (a spanning forest). The others (e.g. COCO's ear-shoulder links) close loops: OpenPose uses them only
    to extend or merge people, never to start one."""
    parent = list(range(layout.num_keypoints))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    mask = []
    for a, b in layout.limbs:
        ra, rb = root(a), root(b)
        mask.append(ra != rb)
        parent[ra] = rb
    return np.asarray(mask, bool)


@dataclass
class Subset:
    """A person being assembled (OpenPose calls these rows "subsets")."""

    parts: np.ndarray  #: (K,) global candidate ids, -1 where the keypoint is missing
    score: float = 0.0  #: OpenPose's total: peak scores + connection scores
    count: int = 0  #: keypoints found
    alive: bool = True  #: False once merged into another subset


def assemble(
    connections: list[np.ndarray],
    conn_scores: list[np.ndarray],
    peak_scores: np.ndarray,
    layout: Layout,
) -> list[Subset]:
    """OpenPose's subset logic: merge per-limb connections into people.

    Args:
        connections: per limb, (m, 2) global candidate ids (A, B).
        conn_scores: per limb, (m,) connection scores.
        peak_scores: (N,) heatmap scores of all candidates, indexed by global id.
        layout: the layout whose limbs the connections belong to.

    Returns the people that survive (not merged away), unfiltered.
    """
    k = layout.num_keypoints
    owner = np.full(len(peak_scores), -1, np.intp)
    people: list[Subset] = []
    tree = tree_limbs(layout)
    for li, (ka, kb) in enumerate(layout.limbs):
        for (pa, pb), cs in zip(connections[li].tolist(), conn_scores[li].tolist()):
            ja, jb = int(owner[pa]), int(owner[pb])
            if ja >= 0 and jb >= 0 and ja != jb:
                p1, p2 = people[ja], people[jb]
                if not ((p1.parts >= 0) & (p2.parts >= 0)).any():
                    # Two partial people joined by this limb and sharing no keypoint: merge them.
                    take = p2.parts >= 0
                    p1.parts[take] = p2.parts[take]
                    owner[p2.parts[take]] = ja
                    p1.score += p2.score + cs
                    p1.count += p2.count
                    p2.alive = False
                continue  # otherwise they conflict; OpenPose would overwrite, we keep both as they are
            if ja >= 0 or jb >= 0:
                j = ja if ja >= 0 else jb
                p = people[j]
                for kp, cand in ((kb, pb), (ka, pa)):
                    if owner[cand] < 0 and p.parts[kp] < 0:
                        p.parts[kp] = cand
                        owner[cand] = j
                        p.count += 1
                        p.score += float(peak_scores[cand]) + cs
                continue
            if tree[li]:
                parts = np.full(k, -1, np.intp)
                parts[ka], parts[kb] = pa, pb
                owner[pa] = owner[pb] = len(people)
                people.append(Subset(parts, float(peak_scores[pa] + peak_scores[pb]) + cs, 2))
    return [p for p in people if p.alive]


def similar_limbs(layout: Layout) -> list[list[int]]:
    """For each limb of ``layout``, the indices of the limbs of its :data:`SIMILAR_LIMBS` group (itself
    included); empty for limbs in no group (face, feet, ear-shoulder links)."""
    index = {(layout.keypoints[a], layout.keypoints[b]): i for i, (a, b) in enumerate(layout.limbs)}
    index.update({(nb, na): i for (na, nb), i in list(index.items())})
    out: list[list[int]] = [[] for _ in layout.limbs]
    for group in SIMILAR_LIMBS:
        members = [index[pair] for pair in group if pair in index]
        for m in members:
            out[m] = members
    return out


@functools.lru_cache(maxsize=None)
def _extend_plan(layout: Layout):
    """What :func:`extend` needs of a layout, worked out once per layout (it runs on every frame): each tree limb
    both ways as ``(limb, keypoint a person has, keypoint it misses, PAF x, PAF y, whether have -> miss is the
    field's direction)``, not the links that close loops; :func:`similar_limbs`; the limbs' ends as an array."""
    ends = [(li, a, b, cx, cy, True) for li, ((a, b), (cx, cy)) in enumerate(zip(layout.limbs, layout.paf_channels))]
    ends = [e for e, tree in zip(ends, tree_limbs(layout)) if tree]
    ends += [(li, b, a, cx, cy, False) for li, a, b, cx, cy, _ in list(ends)]
    return tuple(ends), similar_limbs(layout), np.asarray(layout.limbs, np.intp).reshape(-1, 2)


def extend(
    people: list[Subset],
    all_peaks: np.ndarray,
    peak_kind: np.ndarray,
    maps: np.ndarray,
    layout: Layout,
    *,
    paf_threshold: float = 0.05,
    sample_fraction: float = EXTEND_FRACTION,
    max_rounds: int = 4,
) -> int:
    """A second chance for the keypoints that ``people`` (the people kept) miss; they are extended in place.

    In each round, for every limb and every person who has one end of it and misses the other, the pair with
    every candidate of the missing keypoint that no person owns is scored with the first pass's PAF line
    integral and distance prior, but with ``sample_fraction`` of the samples agreeing instead of 80 %. Pairs
    are then taken greedily, best score first, each candidate once and each missing keypoint of a person
    once, and none longer than :data:`EXTEND_MAX_RATIO` times the longest :data:`SIMILAR_LIMBS` limb the
    person has. The next round looks only outwards from the keypoints just added (knee, then ankle), until
    nothing is added or ``max_rounds`` rounds have run.

    Args:
        people: the people kept after :func:`assemble` and the filters.
        all_peaks: (N, 3) all candidates ``[x, y, score]``, indexed by global id.
        peak_kind: (N,) the keypoint index of each candidate.
        maps: the (C, h, w) output holding the PAF channels.

    Returns the number of keypoints added.
    """
    if not people or not len(all_peaks):
        return 0
    owned = np.zeros(len(all_peaks), bool)
    for p in people:
        owned[p.parts[p.parts >= 0]] = True
    xy = np.ascontiguousarray(all_peaks[:, :2], np.float32)
    by_kind = [np.flatnonzero(peak_kind == k) for k in range(layout.num_keypoints)]
    ends, similar, limb_ends = _extend_plan(layout)
    parts = np.stack([p.parts for p in people])  # (P, K), kept in step with the people below
    grown = parts >= 0  # the keypoints to look outwards from in this round: all of them in the first
    added = 0
    for _ in range(max_rounds):
        src, dst, pid, cxs, cys, fwd, lis = [], [], [], [], [], [], []
        for li, have, miss, cx, cy, forward in ends:
            who = np.flatnonzero(grown[:, have] & (parts[:, miss] < 0))
            if not len(who):
                continue
            free = by_kind[miss][~owned[by_kind[miss]]]
            if not len(free):
                continue
            src.append(np.repeat(parts[who, have], len(free)))
            dst.append(np.tile(free, len(who)))
            pid.append(np.repeat(who, len(free)))
            n = len(who) * len(free)
            cxs.append(np.full(n, cx, np.intp))
            cys.append(np.full(n, cy, np.intp))
            fwd.append(np.full(n, forward))
            lis.append(np.full(n, li, np.intp))
        if not src:
            break
        src, dst, pid = np.concatenate(src), np.concatenate(dst), np.concatenate(pid)
        fwd, lis = np.concatenate(fwd), np.concatenate(lis)
        a = np.where(fwd[:, None], xy[src], xy[dst])  # the PAF points from the limb's first keypoint
        b = np.where(fwd[:, None], xy[dst], xy[src])
        scores = _score_pairs(a, b, np.concatenate(cxs), np.concatenate(cys), maps, paf_threshold,
                              NUM_SAMPLES, sample_fraction)
        grown[:] = False
        for j in np.argsort(-scores, kind="stable").tolist():
            if not np.isfinite(scores[j]):
                break
            i, c = int(pid[j]), int(dst[j])
            miss = int(peak_kind[c])
            if owned[c] or parts[i, miss] >= 0:
                continue
            group = similar[int(lis[j])]
            if group:
                ab = parts[i][limb_ends[group]]  # (g, 2) candidate ids of the group's limbs, -1 if missing
                ab = ab[(ab >= 0).all(1)]
                if len(ab) and (np.hypot(*(xy[c] - xy[int(src[j])]))
                                > EXTEND_MAX_RATIO * np.hypot(*(xy[ab[:, 0]] - xy[ab[:, 1]]).T).max()):
                    continue
            p = people[i]
            p.parts[miss] = parts[i, miss] = c
            p.count += 1
            p.score += float(all_peaks[c, 2]) + float(scores[j])
            owned[c] = True
            grown[i, miss] = True
            added += 1
        if not grown.any():
            break
    return added


# ---------------------------------------------------------------------------------------------------- decode


@dataclass
class DecodeTimings:
    """Seconds spent in each stage of the last :func:`decode` call given a timings object."""

    peaks: float = 0.0
    pairs: float = 0.0
    assembly: float = 0.0
    extend: float = 0.0

    @property
    def total(self) -> float:
        return self.peaks + self.pairs + self.assembly + self.extend


def decode(
    output: np.ndarray,
    layout: Layout | str,
    *,
    threshold: float = 0.1,
    paf_threshold: float = 0.05,
    min_keypoints: int = 3,
    min_score: float = 0.4,
    extend_people: bool = True,
    timings: DecodeTimings | None = None,
) -> list[Pose]:
    """Decode one network output into people (OpenPose's algorithm).

    Args:
        output: float array (C, h, w) (or (1, C, h, w)): the keypoint heatmaps, the background channel and the
            PAFs, in ``layout``'s channel order.
        layout: the output's layout (a :class:`~posekit.layouts.Layout` or its name).
        threshold: minimum heatmap value of a keypoint candidate.
        paf_threshold: minimum PAF agreement of a line-integral sample.
        min_keypoints: people with fewer keypoints are discarded.
        min_score: people whose average score per keypoint (OpenPose's total score / keypoint count) is lower
            are discarded (OpenPose uses 0.4).
        extend_people: give the people kept a second chance for their missing keypoints (:func:`extend`);
            False is OpenPose's grouping alone.
        timings: if given, filled with the time spent per stage.

    Returns:
        Poses with keypoints in output-grid coordinates, most confident first. ``Pose.score`` is OpenPose's
        total score (peak + connection scores) divided by its maximum for a complete person ``2K - 1``
        and clipped to [0, 1]; keypoint confidences are heatmap peak values clipped to [0, 1]; missing
        keypoints are (0, 0, 0). ``Pose.extra`` holds ``raw_score`` (OpenPose's total).
    """
    layout = get_layout(layout)
    out = np.asarray(output)
    if out.ndim == 4 and out.shape[0] == 1:
        out = out[0]
    if out.ndim != 3:
        raise InvalidInputError(f"network output must be (C, h, w), got shape {out.shape}")
    if out.shape[0] != layout.num_channels:
        raise InvalidInputError(
            f"{layout.name} expects {layout.num_channels} output channels, got {out.shape[0]}"
        )
    out = np.ascontiguousarray(out, dtype=np.float32)
    k = layout.num_keypoints
    clock = time.perf_counter

    t0 = clock()
    peaks = find_peaks(out[:k], threshold)
    n_total = sum(len(p) for p in peaks)
    all_peaks = np.concatenate(peaks) if n_total else np.zeros((0, 3), np.float32)
    t1 = clock()

    connections, conn_scores = connect(peaks, out, layout, paf_threshold=paf_threshold)
    t2 = clock()

    people = [p for p in assemble(connections, conn_scores, all_peaks[:, 2], layout)
              if p.count >= min_keypoints and p.score / p.count >= min_score]
    t3 = clock()
    if extend_people and people:
        kind = np.repeat(np.arange(k), [len(p) for p in peaks])
        extend(people, all_peaks, kind, out, layout, paf_threshold=paf_threshold)
    t4 = clock()
    poses = []
    norm = 2 * k - 1
    for p in people:
        kps = np.zeros((k, 3), np.float32)
        found = p.parts >= 0
        kps[found] = all_peaks[p.parts[found]]
        kps[found, 2] = np.clip(kps[found, 2], _EPS, 1.0)
        poses.append(
            Pose(kps, float(np.clip(p.score / norm, 0.0, 1.0)), layout.name, {"raw_score": p.score})
        )
    poses.sort(key=lambda q: -q.score)
    t5 = clock()
    if timings is not None:
        timings.peaks, timings.pairs = t1 - t0, t2 - t1
        timings.assembly, timings.extend = (t3 - t2) + (t5 - t4), t4 - t3
    return poses
