"""Second stage: re-estimate each person the first stage found, on a square crop around that person.

The first stage (an OpenPose-style network) finds every person at once but places joints loosely, and worse the
smaller a person is in its input. A second stage looks at one person at a time, at the network's own scale:

* :class:`MoveNetRefiner` (``"movenet_thunder"``, ``"movenet_lightning"``): Google's MoveNet SinglePose on each
  person's crop (all crops in one forward), COCO-17 mapped into COCO-18.
* :class:`CropRefiner` (``"crop"``): the first-stage network itself re-run on each person's crop, keeping the
  pose that matches that person. No extra model; it makes the keypoints of a small person as good as a large one's.

A refiner is anything with ``refine(image_bgr, poses) -> list[Pose]`` (:class:`Refiner`);
:class:`posekit.estimator.PoseEstimator` composes it after the first stage (``PoseEstimator(refine="movenet_thunder")``,
or ``TwoStage(first, refiner)`` with stages built elsewhere). What every refiner keeps:

* the same people, in the same order, in the COCO-18 layout, so drawing, matching, export and tracking work
  unchanged; the person score of the first stage (it ranks people for COCO AP);
* people with fewer than ``min_keypoints`` found keypoints, and those beyond the ``max_people`` best scored,
  keep their first-stage keypoints (the cost is per person);
* ``pose.extra["refined"]`` names the refiner that moved a person.

Crop geometry (:func:`person_crop`): a square centred on the box around the person's keypoints, side ``margin``
(default 1.6) times the box's longer side, not rotated; parts outside the image are padded black; keypoints
found in the crop are mapped back to image pixels.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from .errors import ModelError
from .layouts import COCO18
from .movenet import Crop, MoveNet, crop_square
from .openpose import OpenPose
from .pose import Pose

#: Names accepted by :func:`make_refiner` (and ``PoseEstimator(refine=...)``, the CLI's ``--refine``).
REFINERS = ("movenet_thunder", "movenet_lightning", "crop")
#: The second stage photos get by default (CLI estimate and match, the app's Image and Matching pages): the
#: accuracy benchmark (bench/bench_accuracy.py) decided it.
PHOTO_REFINE = "movenet_thunder"
#: MoveNet passes for matching (CLI ``match``, the app's Pose Matching page): 2 makes the keypoints independent
#: of the person's size in the picture (tests/test_refine.py, the scale test).
MATCH_PASSES = 2
DEFAULT_MARGIN = 1.6
DEFAULT_MAX_PEOPLE = 10
DEFAULT_MIN_KEYPOINTS = 4
#: MoveNet scores every joint, seen or not (unseen knees score 0.17-0.6): under this the first stage's joint
#: stays. 0.15 and 0.2 were tried with :mod:`posekit.screen`'s rules: no fewer phantoms, lower AP at 0.2.
KEYPOINT_THRESHOLD = 0.1
#: A group of keypoints too weak for the first stage is a person when MoveNet's 12 body joints on its crop score
#: this much on average (:meth:`MoveNetRefiner.confirm`): 0.3-0.4 confirm the faint jhmdb player of
#: bench/bench_accuracy.py and no one else on the evaluation set or the shared photos; 0.5 no one.
CONFIRM_SCORE = 0.4

_NECK = COCO18.index("Neck")
_RSHO, _LSHO = COCO18.index("RShoulder"), COCO18.index("LShoulder")
#: COCO-18 index of each COCO-17 keypoint (MoveNet's order).
_COCO17_TO_18 = np.array(COCO18.coco17, np.int64)


@runtime_checkable
class Refiner(Protocol):
    """A second stage: ``refine(image_bgr, poses)`` returns the same people with better keypoints."""

    name: str

    def refine(self, image_bgr: np.ndarray, poses: list[Pose]) -> list[Pose]: ...


def person_crop(pose: Pose, margin: float = DEFAULT_MARGIN, min_side: float = 16.0) -> Crop | None:
    """The square crop around ``pose``: centred on its keypoint box, side ``margin`` x the box's longer side
    (at least ``min_side`` pixels). None when the pose has fewer than two keypoints."""
    pts = pose.keypoints[pose.visible, :2]
    if len(pts) < 2:
        return None
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    side = max(float(max(x1 - x0, y1 - y0)) * margin, min_side)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    return Crop(float(cx - side / 2), float(cy - side / 2), side)


def _candidates(poses: list[Pose], max_people: int, min_keypoints: int) -> list[int]:
    """Indices of the people to refine: enough keypoints, the ``max_people`` best scored."""
    ok = [i for i, p in enumerate(poses) if p.layout == "COCO-18" and p.num_visible >= min_keypoints]
    ok.sort(key=lambda i: -poses[i].score)
    return sorted(ok[:max(0, int(max_people))])


def _same_person(a: Pose, b: Pose) -> bool:
    """Whether two poses are one person: at least 3 shared keypoints, their median distance under a fifth of the
    second's size."""
    both = a.visible & b.visible
    if both.sum() < 3:
        return False
    x0, y0, x1, y1 = b.bbox()
    scale = max(float(np.sqrt(max(x1 - x0, 1.0) * max(y1 - y0, 1.0))), 16.0)
    return float(np.median(np.hypot(*(a.keypoints[both, :2] - b.keypoints[both, :2]).T))) < 0.2 * scale


def _agreement(a: np.ndarray, b: np.ndarray, scale: float) -> tuple[float, int]:
    """Mean exp(-d^2 / (2 (0.1 scale)^2)) over keypoints found in both (K, 3) arrays, and how many."""
    both = (a[:, 2] > 0) & (b[:, 2] > 0)
    n = int(both.sum())
    if n == 0:
        return 0.0, 0
    d2 = ((a[both, :2] - b[both, :2]) ** 2).sum(axis=1)
    return float(np.exp(-d2 / (2 * (0.1 * scale) ** 2)).mean()), n


class MoveNetRefiner:
    """MoveNet SinglePose (Thunder or Lightning) on each person's crop; thread-safe (the network is locked).

    Args:
        model: ``"movenet_thunder"`` (256 px, accurate) or ``"movenet_lightning"`` (192 px, about 3x faster).
        backend: where MoveNet runs (a name of :mod:`posekit.backends`; falls back like the estimator).
        margin: crop side / the person's keypoint box side.
        max_people: at most this many people per image are refined (the best scored).
        min_keypoints: people with fewer found keypoints keep the first stage's.
        keypoint_threshold: MoveNet keypoints scoring below it are left out (:data:`KEYPOINT_THRESHOLD`), the
            first stage's too: MoveNet's is the closer look.
        passes: 1 (default): one pass on the crop around the first stage's keypoints (the most accurate
            keypoints on the accuracy benchmark). 2: then re-crop around the keypoints MoveNet found (those
            scoring at least ``recrop_threshold``; 0.2 as in MoveNet's own cropping on video) and run it again:
            the crop then depends on the person, not on how the first stage saw them, so a person gets the same
            keypoints at any size in the picture (what matching needs: :data:`MATCH_PASSES`); a second forward
            per person, and a little lower AP.
        min_agreement: MoveNet's person must agree with the first stage's this much (mean over shared
            keypoints of exp(-d^2 / (2 (0.1 box)^2))), else it found a neighbour and the first stage's stays.
    """

    def __init__(self, model: str = "movenet_thunder", backend: str = "cpu", *, margin: float = DEFAULT_MARGIN,
                 max_people: int = DEFAULT_MAX_PEOPLE, min_keypoints: int = DEFAULT_MIN_KEYPOINTS,
                 keypoint_threshold: float = KEYPOINT_THRESHOLD, min_agreement: float = 0.3, passes: int = 1,
                 recrop_threshold: float = 0.2, download: bool = True, net: MoveNet | None = None):
        self.net = net or MoveNet(model, backend, download=download)
        self.name = self.net.name
        self.backend = self.net.backend
        self.margin = float(margin)
        self.max_people = int(max_people)
        self.min_keypoints = int(min_keypoints)
        self.keypoint_threshold = float(keypoint_threshold)
        self.min_agreement = float(min_agreement)
        self.passes = max(1, int(passes))
        self.recrop_threshold = float(recrop_threshold)

    def __repr__(self) -> str:
        return f"MoveNetRefiner({self.name!r}, backend={self.backend!r}, margin={self.margin})"

    def refine(self, image_bgr: np.ndarray, poses: list[Pose]) -> list[Pose]:
        idx = _candidates(poses, self.max_people, self.min_keypoints)
        if not idx:
            return list(poses)
        out = list(poses)
        todo = {i: c for i in idx if (c := person_crop(poses[i], self.margin)) is not None}
        size = self.net.size
        for _ in range(self.passes):
            if not todo:
                break
            batch = np.stack([cv2.cvtColor(crop_square(image_bgr, c, size), cv2.COLOR_BGR2RGB)
                              for c in todo.values()])
            yx_score = self.net.predict(batch)  # one forward for everyone
            again = {}
            for (i, crop), res in zip(todo.items(), yx_score):
                merged = self._merge(poses[i], crop, res, image_bgr.shape[:2])
                if merged is None:
                    out[i] = poses[i]  # MoveNet found somebody else: the first stage's stays
                    continue
                out[i] = merged
                # Next pass: the crop around the person as MoveNet sees them (limbs the first stage missed).
                sure = merged.keypoints.copy()
                sure[sure[:, 2] < self.recrop_threshold] = 0.0
                if (c := person_crop(Pose(sure, merged.score), self.margin)) is not None:
                    again[i] = c
            todo = again
        return out

    def confirm(self, image_bgr: np.ndarray, weak: list[Pose], people: list[Pose]) -> list[Pose]:
        """The people among ``weak`` (groups of keypoints the first stage found too weak to keep:
        :meth:`posekit.openpose.OpenPose.weak_people`) that MoveNet sees clearly on their crop: its body joints
        score :data:`CONFIRM_SCORE` on average or more, and they are not one of ``people`` (the people kept)
        nor of each other. Their keypoints are MoveNet's, their score the first stage's (they rank last)."""
        weak = sorted(weak, key=lambda p: -p.score)[:max(0, self.max_people)]
        crops = [(p, c) for p in weak if (c := person_crop(p, self.margin)) is not None]
        if not crops:
            return []
        size = self.net.size
        batch = np.stack([cv2.cvtColor(crop_square(image_bgr, c, size), cv2.COLOR_BGR2RGB) for _, c in crops])
        found: list[Pose] = []
        for (pose, crop), res in zip(crops, self.net.predict(batch)):
            if float(res[5:17, 2].mean()) < CONFIRM_SCORE:
                continue
            empty = Pose(np.zeros_like(pose.keypoints), pose.score, pose.layout, {"confirmed": True})
            new = self._merge(empty, crop, res, image_bgr.shape[:2])
            if new is not None and not any(_same_person(new, q) for q in [*people, *found]):
                found.append(new)
        return found

    def _merge(self, first: Pose, crop: Crop, res: np.ndarray, image_hw: tuple[int, int]) -> Pose | None:
        """The first-stage pose with MoveNet's keypoints; None when MoveNet found somebody else (in a crowd the
        crop holds several people: the one MoveNet picks must agree with the first stage's person). A MoveNet
        joint scoring under ``keypoint_threshold`` keeps the first stage's; one in the padding outside the image
        is not in the picture: left out (confidence 0), the first stage's too. (The joints the picture does not
        show are left out afterwards: :mod:`posekit.screen`.)"""
        kp = first.keypoints.copy()
        xy = crop.to_image(res[:, :2])
        conf = res[:, 2]
        h, w = image_hw
        inside = (xy[:, 0] >= -0.5) & (xy[:, 0] <= w - 0.5) & (xy[:, 1] >= -0.5) & (xy[:, 1] <= h - 0.5)
        good = (conf >= self.keypoint_threshold) & inside
        rows = _COCO17_TO_18[good]
        new = np.zeros_like(kp)
        new[rows, :2] = xy[good]
        new[rows, 2] = np.maximum(conf[good], 1e-3)
        agree, n = _agreement(first.keypoints, new, crop.side / self.margin)
        if n >= 3 and agree < self.min_agreement:
            return None
        kp[rows] = new[rows]
        kp[_COCO17_TO_18[(conf >= self.keypoint_threshold) & ~inside]] = 0.0
        # Neck: the first stage's, unless the shoulders moved: then their midpoint.
        if good[5] and good[6]:
            kp[_NECK, :2] = (kp[_RSHO, :2] + kp[_LSHO, :2]) / 2
            kp[_NECK, 2] = min(kp[_RSHO, 2], kp[_LSHO, 2])
        extra = dict(first.extra)
        extra["refined"] = self.name
        return Pose(kp, first.score, first.layout, extra)


class CropRefiner:
    """The first-stage network re-run on each person's crop at network scale (issue 9: matching independent
    of how large the person appears). Thread-safe through the first stage's own lock.

    The crop is resized so the person fills the network input (small people are enlarged); among the people
    found in it (with the first stage's own grouping settings and threshold), the one whose keypoints agree
    best with the first-stage person is kept, mapped back.
    """

    name = "crop"

    def __init__(self, first: OpenPose, *, margin: float = DEFAULT_MARGIN, max_people: int = DEFAULT_MAX_PEOPLE,
                 min_keypoints: int = DEFAULT_MIN_KEYPOINTS):
        self.first = first
        self.margin = float(margin)
        self.max_people = int(max_people)
        self.min_keypoints = int(min_keypoints)
        self.backend = first.backend

    def __repr__(self) -> str:
        return f"CropRefiner(margin={self.margin})"

    def _crop_size(self) -> int:
        """Side of the square crop image: the network input's shorter side (the person fills it)."""
        return int(min(self.first.input_size or self.first.spec.input_size))

    def refine(self, image_bgr: np.ndarray, poses: list[Pose]) -> list[Pose]:
        out = list(poses)
        size = self._crop_size()
        first_stage = self.first
        for i in _candidates(poses, self.max_people, self.min_keypoints):
            first = poses[i]
            crop = person_crop(first, self.margin)
            if crop is None:
                continue
            patch = crop_square(image_bgr, crop, size)
            found = first_stage.decode(first_stage.infer(patch))
            if not found:
                continue
            s = crop.side / size
            # Keypoints in the crop image's pixels -> image pixels (pixel centres: u = (j + 0.5) * s - 0.5).
            mapped = [p.scaled(s, s, crop.x0 + 0.5 * s - 0.5, crop.y0 + 0.5 * s - 0.5) for p in found]
            x0, y0, x1, y1 = first.bbox()
            scale = max(x1 - x0, y1 - y0, 1.0)
            scores = [_agreement(first.keypoints, m.keypoints, scale) for m in mapped]
            best = int(np.argmax([a * n for a, n in scores]))
            agree, n = scores[best]
            if n < min(self.min_keypoints, first.num_visible) or agree < 0.3:
                continue  # nobody in the crop is clearly this person: keep the first stage's
            kp = mapped[best].keypoints.copy()
            lost = (kp[:, 2] <= 0) & first.visible  # not found in the crop: the first stage's stays
            kp[lost] = first.keypoints[lost]
            extra = dict(first.extra)
            extra["refined"] = self.name
            out[i] = Pose(kp, first.score, first.layout, extra)
        return out


_make_lock = threading.Lock()


def make_refiner(name: str | Refiner | None, *, first: OpenPose | None = None, backend: str = "cpu",
                 margin: float = DEFAULT_MARGIN, max_people: int = DEFAULT_MAX_PEOPLE, passes: int = 1,
                 download: bool = True) -> Refiner | None:
    """The refiner called ``name`` (see :data:`REFINERS`; None or "none": no second stage); ``first`` is the
    first stage the ``"crop"`` refiner re-runs. A ready :class:`Refiner` (anything with
    ``refine(image_bgr, poses)``) passes through: the plug-in point."""
    if name is not None and not isinstance(name, str):
        if not callable(getattr(name, "refine", None)):
            raise TypeError(f"a refiner needs a refine(image_bgr, poses) method, got {type(name).__name__}")
        return name
    if name is None or str(name).lower() in ("", "none", "off"):
        return None
    key = str(name).lower()
    if key == "crop":
        if first is None:
            raise ValueError("the 'crop' refiner re-runs the first stage: pass first=")
        return CropRefiner(first, margin=margin, max_people=max_people)
    if key in ("movenet_thunder", "movenet_lightning"):
        with _make_lock:
            return MoveNetRefiner(key, backend, margin=margin, max_people=max_people, passes=passes,
                                  download=download)
    raise ModelError(f"unknown second stage {name!r}; choose one of: none, {', '.join(REFINERS)}")
