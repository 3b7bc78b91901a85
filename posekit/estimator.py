"""What an estimator is, and the estimator posekit builds: the :class:`Estimator` protocol the pipelines (video,
batch, compare, webcam) rely on, and :class:`PoseEstimator`, a first stage and an optional refiner composed.

The two stages are built apart and composed from outside, as rtmlib's ``Body`` composes a detector and a pose
model: the first stage (:class:`posekit.openpose.OpenPose`: an OpenPose-style network and its grouping) finds
everyone, then a refiner (:mod:`posekit.refine`: MoveNet, or the first stage again on each person's crop) looks
at each person again. :class:`TwoStage` is the composing object; ``PoseEstimator(model, backend, refine=...)``
builds both stages and composes them.

The keypoint threshold is a parameter of the pipeline: ``estimate(image, threshold=t)`` for one call, or
``est.with_threshold(t)``, a cheap view (the same network, runners and lock) that pipelines call as they would
the estimator itself.
"""

from __future__ import annotations

import copy
import time
from typing import Protocol, Sequence, runtime_checkable

import cv2
import numpy as np

from .backends import DEFAULT_BACKEND
from .evidence import MapEvidence
from .exposure import Exposure, normalise
from .layouts import Layout
from .letterbox import Letterbox
from .models import DEFAULT_MODEL, ModelSpec
from .openpose import Inference, OpenPose, as_bgr
from .pose import Pose, image_size
from .refine import DEFAULT_MARGIN, DEFAULT_MAX_PEOPLE, Refiner, make_refiner
from .screen import DEFAULT_RULES, Rules, screen


@runtime_checkable
class Estimator(Protocol):
    """What a pipeline (video, batch, compare, webcam) needs of an estimator.

    Attributes:
        layout: the layout of the poses it returns (a :class:`posekit.layouts.Layout` or its name).
        thread_safe: True when one instance may estimate several frames at once from several threads (the
            video pipeline then estimates frames ahead in worker threads).
    """

    layout: Layout | str
    thread_safe: bool

    def estimate(self, image_bgr: np.ndarray, threshold: float | None = None) -> list[Pose]:
        """The people in a BGR image, keypoints in image pixels; ``threshold`` (None: the estimator's own) is
        the minimum confidence of a keypoint."""
        ...

    def network_size(self, width: int, height: int) -> tuple[int, int] | None:
        """The input (w, h) an image of ``width`` x ``height`` is letterboxed into (a decoder may shrink frames to
        it early), or None when the estimator takes images at any size."""
        ...


class TwoStage:
    """A first stage and an optional refiner, run in that order: an :class:`Estimator`.

    >>> first = OpenPose("mobilenet_v2_1.4")
    >>> est = TwoStage(first, MoveNetRefiner("movenet_thunder"))   # or CropRefiner(first)

    ``first`` is an :class:`Estimator` with ``last_timings`` and ``with_threshold`` (an :class:`OpenPose`);
    ``refiner`` a :class:`posekit.refine.Refiner` or None. Thread-safe when both stages are (posekit's are).

    The refiner's people are then screened (:func:`posekit.screen.screen` with ``rules``; None: not screened):
    a joint the picture does not show (on the border, on someone else, a leg with no evidence in the first
    stage's maps) is left out, so nothing downstream draws, measures or compares it.

    A dark picture is brightened first (:func:`posekit.exposure.normalise`; ``exposure=False``: never), for both
    stages; ``last_exposure`` says whether it was. With ``confirm_weak`` (the default), the groups of keypoints
    the first stage found too weak to keep are shown to the refiner, which keeps those it clearly sees as people
    (MoveNet: :meth:`posekit.refine.MoveNetRefiner.confirm`).
    """

    def __init__(self, first: OpenPose, refiner: Refiner | None = None, *, rules: Rules | None = DEFAULT_RULES,
                 exposure: bool = True, confirm_weak: bool = True):
        self.first = first
        self.refiner = refiner
        self.confirm_weak = bool(confirm_weak)
        self.rules = rules
        self.exposure = bool(exposure)
        self.last_timings: dict[str, float] = {}
        #: What the last call did to the picture's exposure (:class:`posekit.exposure.Exposure`; ``normalised``
        #: and ``message`` for the UI), None before the first call or with ``exposure=False``.
        self.last_exposure: Exposure | None = None

    @property
    def layout(self) -> Layout:
        return self.first.layout

    @property
    def thread_safe(self) -> bool:
        return self.first.thread_safe

    def network_size(self, width: int, height: int, scale: float = 1.0) -> tuple[int, int]:
        """The first stage's network input (w, h) for an image of ``width`` x ``height`` at a scale factor."""
        return self.first.network_size(width, height, scale)

    def with_threshold(self, threshold: float) -> "TwoStage":
        """This estimator with another keypoint threshold for the first stage: a cheap view that shares the
        network, its runners and lock, and the refiner (the crop refiner keeps its own stage's threshold)."""
        view = copy.copy(self)
        view.first = self.first.with_threshold(threshold)
        view.last_timings = {}
        view.last_exposure = None
        return view

    def _confirm(self, image: np.ndarray, inf, first: list[Pose], refined: list[Pose],
                 threshold: float | None) -> list[Pose]:
        """The people the first stage saw too faintly to keep and the refiner confirms (when both can:
        :meth:`posekit.openpose.OpenPose.weak_people`, :meth:`posekit.refine.MoveNetRefiner.confirm`)."""
        confirm = getattr(self.refiner, "confirm", None)
        weak_people = getattr(self.first, "weak_people", None)
        if not self.confirm_weak or inf is None or confirm is None or weak_people is None:
            return []
        weak = weak_people(inf, first, threshold)
        return confirm(image, weak, refined) if weak else []

    def estimate(self, image: np.ndarray, threshold: float | None = None) -> list[Pose]:
        """All people found in a BGR image, keypoints in image pixels, most confident first: the first stage's
        people (``threshold``: None is the first stage's own), then refined (and those it saw too faintly to
        keep, when the refiner confirms them: they come last). ``last_timings`` holds the
        call's milliseconds per step."""
        image = as_bgr(image)
        t0 = time.perf_counter()
        exposure = None
        if self.exposure:
            image, exposure = normalise(image)
        spent = (time.perf_counter() - t0) * 1e3
        with_maps = getattr(self.first, "estimate_with_maps", None)
        if self.refiner is None or with_maps is None:
            poses, inf = self.first.estimate(image, threshold), None
        else:
            poses, inf = with_maps(image, threshold)
        timings = dict(self.first.last_timings)
        if exposure is not None and exposure.normalised:
            timings["exposure"] = spent
        if self.refiner is not None:
            t0 = time.perf_counter()
            refined = self.refiner.refine(image, poses)
            found = self._confirm(image, inf, poses, refined, threshold)
            t1 = time.perf_counter()
            timings["refine"] = (t1 - t0) * 1e3
            refined, poses = refined + found, poses + found
            if self.rules is not None:
                refined = screen(refined, image_size(image), evidence=MapEvidence.of(inf) if inf else None,
                                 first=poses, rules=self.rules)
                timings["screen"] = (time.perf_counter() - t1) * 1e3
            poses = refined
        self.last_timings = timings
        self.last_exposure = exposure
        return poses


class PoseEstimator(TwoStage):
    """Multi-person 2D pose estimation: an OpenPose-style network (:class:`posekit.openpose.OpenPose`) and an
    optional second stage (:mod:`posekit.refine`), built from names and composed.

    >>> est = PoseEstimator("mobilenet_v2_1.4", backend="cpu")
    >>> poses = est.estimate(cv2.imread("people.jpg"))   # list[Pose], keypoints in image pixels

    One instance may be shared by many threads: the network runs under a lock (``cv2.dnn.Net`` is not
    thread-safe), everything else works on per-call data. The first stage's settings and its network
    (``spec``, ``backend``, ``infer``, ``forward`` ...) are reachable here as on ``first``.

    Args:
        model: a registry name (see ``posekit.models.MODELS``) or a ModelSpec.
        backend: a name in ``posekit.backends.BACKENDS``: "auto" (default: the fastest float32 engine installed,
            chosen once; ``backend`` then names it), "cpu", "cuda", "cuda-fp16", "ort", "ort-cuda",
            "openvino" or "openvino-bf16". Unavailable ones fall back (to "cpu" in the end) with a warning;
            ``backend`` then says what really runs and ``backend_message`` why.
        threshold: minimum heatmap peak for a keypoint (the default of :meth:`estimate`).
        paf_threshold, min_keypoints: grouping parameters (see :func:`posekit.grouping.decode`). People with
            fewer than 4 keypoints are dropped (OpenPose's rule: such fragments are noise; AP unchanged on
            ``bench/bench_accuracy.py``, false people in counts gone).
        extend: give each person a second chance for missing keypoints along weaker limbs
            (:func:`posekit.grouping.extend`; default True). False is OpenPose's grouping alone.
        input_size: the network input (width, height): ``"auto"`` (default) keeps the model's height and
            takes the width from each image's aspect ratio (:func:`posekit.letterbox.auto_input_size`), so wide
            frames are not shrunk to a strip; ``"model"`` the model's own fixed size; or a (width, height),
            multiples of 16.
        scales: multi-scale inference (OpenPose's ``scale_number`` / ``scale_gap``): the network runs once per
            factor of the input size and the heatmaps and PAFs are averaged before people are assembled.
            ``(1.0,)`` (default) is one pass; ``(1.0, 1.5)`` costs about 3.3 times as much.
        net: a ready ``cv2.dnn.Net`` (e.g. built from a prototxt alone) instead of loading the weights.
        download: fetch missing weights from the upstream address (default True).
        refine: a second stage run last on each person's crop (:mod:`posekit.refine`): "movenet_thunder",
            "movenet_lightning", "crop" (the first stage again, on the crop), a ready refiner, or None;
            ``refiner`` holds it.
        refine_max_people: at most this many people per image are refined (the best scored).
        refine_margin: the crop's side over the person's keypoint box side (see :func:`posekit.refine.person_crop`).
        refine_passes: MoveNet passes: 1 (default, the most accurate keypoints), 2 (re-cropped around
            MoveNet's own keypoints: the same keypoints at any size, what matching uses; see ``MoveNetRefiner``).
        rules: how the refined people are screened (:class:`posekit.screen.Rules`; None: not screened).
        exposure: brighten dark pictures before the network (:mod:`posekit.exposure`; default True).
        confirm_weak: show the refiner the groups of keypoints too weak for the first stage to keep; it keeps
            those it sees clearly as people (default True; see :class:`TwoStage`).
    """

    def __init__(self, model: str | ModelSpec = DEFAULT_MODEL, backend: str = DEFAULT_BACKEND,
                 threshold: float = 0.1, *, paf_threshold: float = 0.05, min_keypoints: int = 4, extend: bool = True,
                 input_size: tuple[int, int] | str | None = "auto", scales: Sequence[float] = (1.0,),
                 net: cv2.dnn.Net | None = None, download: bool = True, refine: str | Refiner | None = None,
                 refine_max_people: int = DEFAULT_MAX_PEOPLE, refine_margin: float = DEFAULT_MARGIN,
                 refine_passes: int = 1, rules: Rules | None = DEFAULT_RULES, exposure: bool = True,
                 confirm_weak: bool = True):
        first = OpenPose(model, backend, threshold, paf_threshold=paf_threshold, min_keypoints=min_keypoints,
                         extend=extend, input_size=input_size, scales=scales, net=net, download=download)
        refiner = make_refiner(refine, first=first, backend=first.requested_backend, max_people=refine_max_people,
                               margin=refine_margin, passes=refine_passes, download=download)
        super().__init__(first, refiner, rules=rules, exposure=exposure, confirm_weak=confirm_weak)

    @classmethod
    def of(cls, first: OpenPose, refiner: Refiner | None = None) -> "PoseEstimator":
        """A PoseEstimator of stages already built: a program that offers several combinations (the app: each
        model with or without a second stage) loads each network once and composes them."""
        est = cls.__new__(cls)
        TwoStage.__init__(est, first, refiner)
        return est

    def __repr__(self) -> str:
        return f"PoseEstimator(model={self.name!r}, backend={self.backend!r}, threshold={self.threshold})"

    # The first stage's settings and network, as they were on PoseEstimator before the stages were apart.

    @property
    def spec(self) -> ModelSpec:
        return self.first.spec

    @property
    def name(self) -> str:
        return self.first.name

    @property
    def backend(self) -> str:
        """The backend that really runs the first stage."""
        return self.first.backend

    @property
    def backend_message(self) -> str | None:
        """Why ``backend`` is not the one asked for (None when it is)."""
        return self.first.backend_message

    @property
    def requested_backend(self) -> str:
        return self.first.requested_backend

    @property
    def threshold(self) -> float:
        return self.first.threshold

    @property
    def extend(self) -> bool:
        return self.first.extend

    @property
    def input_size(self) -> tuple[int, int] | None:
        """The fixed network input (w, h), or None when it is chosen per image."""
        return self.first.input_size

    @property
    def scales(self) -> tuple[float, ...]:
        return self.first.scales

    def preprocess(self, image: np.ndarray, input_size: tuple[int, int] | None = None
                   ) -> tuple[np.ndarray, Letterbox]:
        """The first stage's letterboxed NCHW blob of ``image`` (:meth:`OpenPose.preprocess`)."""
        return self.first.preprocess(image, input_size)

    def forward(self, blob: np.ndarray) -> np.ndarray:
        """The first stage's bare network (:meth:`OpenPose.forward`)."""
        return self.first.forward(blob)

    def infer(self, image: np.ndarray) -> Inference:
        """The first stage's raw maps for ``image`` (:meth:`OpenPose.infer`: for heatmap and PAF views)."""
        return self.first.infer(image)

    def decode(self, inf: Inference, threshold: float | None = None) -> list[Pose]:
        """The people in ``inf`` with the first stage's grouping settings (:meth:`OpenPose.decode`)."""
        return self.first.decode(inf, threshold)


__all__ = ["Estimator", "PoseEstimator", "TwoStage"]
