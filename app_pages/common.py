"""UI helpers shared by the pages: the sidebar settings, the cached estimator, uploads, drawing, downloads.

Nothing here computes anything of its own: it wires Streamlit widgets to posekit.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import streamlit as st

from posekit import MODELS, ModelError, PoseEstimator, PosekitError
from posekit.backends import BACKENDS, DEFAULT_BACKEND, availability, plain_reason
from posekit.draw import draw_person_labels, draw_poses
from posekit.errors import InvalidInputError
from posekit.imageio import IMAGE_TYPES, encode_image, load_image
from posekit.kinematics import (
    DEFAULT_CONVENTION,
    IMPLAUSIBLE,
    JOINT_ANGLES,
    AngleDef,
    angle_table,
    convention_note,
)
from posekit.movenet import MoveNet
from posekit.openpose import OpenPose
from posekit.pose import Pose
from posekit.refine import DEFAULT_MAX_PEOPLE, MATCH_PASSES, MoveNetRefiner, make_refiner
from posekit.report import ReportSettings

#: The models on the fast <-> accurate slider, fastest first.
SLIDER_MODELS = [name for name, spec in MODELS.items() if spec.format == "tflite"]
DEFAULT_MODEL = "mobilenet_v2_1.4" if "mobilenet_v2_1.4" in SLIDER_MODELS else SLIDER_MODELS[-1]
#: The sidebar's accuracy choice -> the estimator's scales (bench/bench_accuracy.py: AP 0.56 -> 0.58).
ACCURACY_SCALES = {"Standard": (1.0,), "Extra (slower)": (1.25, 0.75)}
#: Backends offered in the sidebar, in this order (those the registry knows).
BACKEND_CHOICES = [b for b in (DEFAULT_BACKEND, "cpu", "cuda", "cuda-fp16", "ort", "ort-cuda", "openvino",
                               "openvino-bf16") if b in BACKENDS]


@dataclass(frozen=True)
class Settings:
    """What the sidebar chose."""

    model: str
    backend: str
    threshold: float
    scales: tuple[float, ...]
    labels: bool
    line_width: int  # 0: automatic (scaled to the image)
    refine: str = "none"  # second stage (posekit.refine): "none", "movenet_thunder", "movenet_lightning", "crop"
    refine_passes: int = 1  # MoveNet passes: 2 on the Pose Matching page (keypoints independent of size)
    convention: str = DEFAULT_CONVENTION  # angles (posekit.kinematics): "clinical" (flexion) or "included"

    def draw(self, image: np.ndarray, poses: Sequence[Pose], ids: Sequence[int] | None = None,
             **kw: Any) -> np.ndarray:
        """Draw ``poses`` over ``image`` with the display options, each person's number in a label: ``ids``,
        else the track ID, else the place in ``poses`` (1..N)."""
        out = draw_poses(image, poses, labels=self.labels, line_width=self.line_width or None, **kw)
        return draw_person_labels(out, poses, ids, copy=False) if poses else out

    @property
    def renderer(self) -> Callable[[np.ndarray, Sequence[Pose]], np.ndarray]:
        """``renderer(img, poses) -> img`` with these display options (for video and live processing)."""
        labels, lw = self.labels, self.line_width or None

        def render(img: np.ndarray, poses: Sequence[Pose]) -> np.ndarray:
            out = draw_poses(img, poses, labels=labels, line_width=lw, copy=False)
            return draw_person_labels(out, poses, copy=False) if poses else out

        return render


def _model_label(name: str) -> str:
    spec = MODELS[name]
    width = name.rsplit("_", 1)[-1]
    return f"×{width} ({spec.speed})" if spec.speed else name


def _backend_label(name: str) -> str:
    label = BACKENDS[name].label
    return label if availability(name) is None else f"{label} (unavailable)"


#: Second stage choices (posekit.refine): short labels, and what each costs per person on a CPU with the
#: default backend (bench/bench_refine.py: Thunder ≈ 0.3 x, Lightning ≈ 0.1 x the first network's run).
REFINE_CHOICES = {
    "none": "Off (fastest)",
    "movenet_lightning": "MoveNet Lightning (fast)",
    "movenet_thunder": "MoveNet Thunder (most accurate)",
    "crop": "Same network, per person",
}
REFINE_COST = {
    "movenet_lightning": "about +10 ms per person: suggested for video and webcam",
    "movenet_thunder": "about +35 ms per person (twice that on Pose Matching)",
    "crop": "about one more run of the first network per person",
}
#: Pages that show photos get the accurate second stage by default; video and webcam run without one.
PHOTO_PAGES = ("", "image", "matching")
#: Pages with tables or charts of joint angles: the sidebar's "Angles" choice is shown there.
ANGLE_PAGES = ("image", "video", "webcam")
#: The sidebar's "Angles" choice (posekit.kinematics.CONVENTIONS), in words.
CONVENTION_CHOICES = {"clinical": "Clinical: 0° = straight", "included": "Included: 180° = straight"}
#: What a table shows for an angle whose joints are not in the picture ...
NOT_IN_PICTURE = "not in the picture"
#: ... and for one the keypoints give as no body can bend (posekit.kinematics.IMPLAUSIBLE: a measurement failure).
IMPOSSIBLE = "left out (impossible angle)"


def _refine_choice(sb, page: str) -> str:
    photo = page in PHOTO_PAGES
    return sb.selectbox(
        "Second stage (photos)" if photo else "Second stage (video and webcam)",
        list(REFINE_CHOICES),
        index=list(REFINE_CHOICES).index("movenet_thunder" if photo else "none"),
        format_func=REFINE_CHOICES.get,
        key="sb_refine_photo" if photo else "sb_refine_live",
        help="After the first network finds everyone, each person is looked at again, cropped and enlarged: "
             "joints land where they belong, small or large. MoveNet Thunder is the most accurate; Lightning is "
             "about three times faster and keeps the webcam live. The cost grows with the number of people "
             f"(at most {DEFAULT_MAX_PEOPLE} per picture are re-checked).",
    )


def sidebar(page: str = "") -> Settings:
    """Render the shared sidebar (model, backend, threshold, second stage, display options) and return the
    choices. ``page`` (the url path of the page shown) picks which second-stage choice is shown."""
    sb = st.sidebar
    sb.header("Settings")
    model = sb.select_slider(
        "Model: fast ↔ accurate",
        options=SLIDER_MODELS,
        value=DEFAULT_MODEL,
        format_func=_model_label,
        key="sb_model",
        help="MobileNetV2-OpenPose at four widths. Wider is more accurate and slower.",
    )
    backend = sb.selectbox(
        "Backend",
        BACKEND_CHOICES,
        format_func=_backend_label,
        key="sb_backend",
        help="Where the network runs. Automatic picks the fastest one installed on this computer. One that "
             "cannot run here falls back to another, and says so. OpenVINO bf16 is faster still on recent "
             "CPUs, a little less precise.",
    )
    accuracy = sb.radio(
        "Accuracy", list(ACCURACY_SCALES), horizontal=True, key="sb_accuracy",
        help="Extra looks at each picture at two sizes and combines them: people who are small in the picture "
             "are found much better, and it takes about twice as long. Best for photos, not for the webcam.",
    )
    threshold = sb.slider(
        "Keypoint threshold", 0.01, 0.9, 0.1, 0.01, key="sb_threshold",
        help="Minimum heatmap peak for a keypoint: lower finds more (and more false) keypoints.",
    )
    refine = _refine_choice(sb, page)
    convention = _convention_choice(sb, page)
    with sb.expander("Display", expanded=False):
        labels = st.checkbox("Keypoint labels", False, key="sb_labels")
        line_width = st.slider("Line width (0 = automatic)", 0, 20, 0, key="sb_line_width")
    settings = Settings(model, backend, float(threshold), ACCURACY_SCALES[accuracy], bool(labels), int(line_width),
                        refine=str(refine), refine_passes=MATCH_PASSES if page == "matching" else 1,
                        convention=convention)
    _backend_status(sb, settings)
    _refine_status(sb, settings)
    return settings


def _convention_choice(sb, page: str) -> str:
    """The "Angles" choice, on the pages that show angles; kept while the user visits the other pages."""
    kept = st.session_state.get("angle_convention", DEFAULT_CONVENTION)
    if page not in ANGLE_PAGES:
        return kept
    choice = sb.radio(
        "Angles", list(CONVENTION_CHOICES), index=list(CONVENTION_CHOICES).index(kept), key="sb_angles",
        format_func=CONVENTION_CHOICES.get,
        help="How knee, elbow and hip angles are measured. Clinical (the default): the flexion, as a goniometer "
             "reads it and as physiotherapists write it: 0° = straight, 90° = bent at a right angle. Included: "
             "the angle between the two segments, 180° = straight. Shoulders and trunk lean read the same in "
             "both. Used by the angle tables, charts and the angle CSV.")
    st.session_state["angle_convention"] = choice
    return choice


def _refine_status(container, settings: Settings) -> None:
    """Say which second stage runs (and on what)."""
    try:
        est = estimator(settings)
    except PosekitError:
        return
    ref = est.refiner
    if ref is None:
        container.caption("No second stage: keypoints as the first network found them.")
        return
    # posekit's refiners say where they run; a plug-in refiner (only a name and refine()) may not.
    where = BACKENDS[ref.backend].label if getattr(ref, "backend", None) in BACKENDS else "the same backend"
    what = {"movenet_thunder": "MoveNet Thunder", "movenet_lightning": "MoveNet Lightning",
            "crop": "the same network on each person"}.get(ref.name, ref.name)
    cost = REFINE_COST.get(ref.name, "")
    container.caption(f"Second stage: **{what}** on **{where}**, for up to {DEFAULT_MAX_PEOPLE} people"
                      + (f"; {cost}." if cost else "."))


def _backend_status(container, settings: Settings) -> None:
    """Say what really runs: load the estimator (cached) and report its active backend."""
    try:
        est = estimator(settings)
    except PosekitError:
        container.caption("Model not loaded.")
        return
    active = BACKENDS[est.backend].label if est.backend in BACKENDS else est.backend
    if est.backend != settings.backend and est.backend_message:
        # One plain sentence; the technical reason (packages, drivers) folded away for whoever needs it.
        container.warning(f"{BACKENDS[settings.backend].label} {plain_reason(settings.backend, est.name)}, so "
                          f"**{est.name}** runs on **{active}** instead.", icon=":material/warning:")
        with container.expander("Details"):
            st.caption(est.backend_message)
    elif settings.backend == DEFAULT_BACKEND:
        container.caption(f"Running **{est.name}** on **{active}**, chosen automatically: the fastest engine "
                          "installed here.")
    else:
        container.caption(f"Running **{est.name}** on **{active}**.")


@st.cache_resource(show_spinner="Loading the model (the first time, it is converted to ONNX)…", max_entries=16)
def load_first_stage(model: str, backend: str, scales: tuple[float, ...] = (1.0,)) -> OpenPose:
    """The first network, loaded once per (model, backend, scales) for every session (it is thread-safe): going
    back to a model on the slider loads nothing."""
    return OpenPose(model, backend, scales=scales)


@st.cache_resource(show_spinner="Loading the second stage…", max_entries=4)
def load_movenet(name: str, backend: str) -> MoveNet:
    """A MoveNet network (the second stage), loaded once per (network, backend) and shared by every model and
    page: moving the model slider does not load it again."""
    return MoveNet(name, backend)


@st.cache_resource(show_spinner=False, max_entries=64)
def load_estimator(model: str, backend: str, scales: tuple[float, ...] = (1.0,), refine: str = "none",
                   refine_passes: int = 1) -> PoseEstimator:
    """One shared estimator per (model, backend, scales, second stage) for every session (it is thread-safe):
    the cached first stage and second stage composed (nothing is loaded here)."""
    first = load_first_stage(model, backend, tuple(scales))
    if refine == "none":
        refiner = None
    elif refine == "crop":  # the first stage again on each person: nothing more to load
        refiner = make_refiner("crop", first=first, max_people=DEFAULT_MAX_PEOPLE)
    elif refine in ("movenet_thunder", "movenet_lightning"):  # a light wrapper of the shared network
        refiner = MoveNetRefiner(refine, first.requested_backend, max_people=DEFAULT_MAX_PEOPLE,
                                 passes=int(refine_passes), net=load_movenet(refine, first.requested_backend))
    else:
        refiner = make_refiner(refine)  # an unknown name: its error
    return PoseEstimator.of(first, refiner)


def estimator(settings: Settings | None = None) -> PoseEstimator:
    """The cached estimator for the sidebar's model and backend."""
    settings = settings or current()
    return load_estimator(settings.model, settings.backend, settings.scales, settings.refine, settings.refine_passes)


def estimator_or_stop(settings: Settings) -> PoseEstimator:
    """The estimator, or an error box and the end of the page when the model cannot be loaded."""
    try:
        return estimator(settings)
    except ModelError as exc:
        st.error(f"The model could not be loaded: {exc}")
        st.stop()
        raise  # unreachable: st.stop() ends the run


def current() -> Settings:
    """The settings the sidebar put in the session on this run."""
    return st.session_state["_settings"]


def estimate(est: PoseEstimator, image: np.ndarray, settings: Settings) -> list[Pose]:
    """Poses in ``image`` with the sidebar's threshold (the estimator is shared; the threshold is per call)."""
    return est.estimate(image, threshold=settings.threshold)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def memo(slot: str, key: Any, compute: Callable[[], Any]) -> Any:
    """Per-session memo: recompute ``slot`` only when ``key`` changed (results never leak across sessions)."""
    store = st.session_state.setdefault("_memo", {})
    hit = store.get(slot)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = compute()
    store[slot] = (key, value)
    return value


def upload_image(label: str, key: str, help: str | None = None) -> tuple[np.ndarray, str, str] | None:
    """An image upload widget; returns (BGR image, file name, content digest), or None (nothing uploaded, or an
    error shown)."""
    f = st.file_uploader(label, type=list(IMAGE_TYPES), key=key, help=help)
    if f is None:
        return None
    data = f.getvalue()
    key_data = digest(data)
    try:
        img = memo(f"decoded:{key}", key_data, lambda: load_image(f))
    except InvalidInputError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    return img, f.name, key_data


def poses_for(slot: str, image: np.ndarray, image_key: str, settings: Settings) -> list[Pose]:
    """Poses of an uploaded image, computed once per (image, model, backend, threshold) in this session."""
    est = estimator_or_stop(settings)
    key = (image_key, settings.model, est.backend, settings.scales, settings.threshold, settings.refine,
           settings.refine_passes)
    return memo(f"poses:{slot}", key, lambda: estimate(est, image, settings))


def report_settings(settings: Settings) -> ReportSettings:
    """The sidebar's choices as a report's "settings" lines (posekit.report)."""
    accuracy = next((k for k, v in ACCURACY_SCALES.items() if v == settings.scales), str(settings.scales))
    stage = None if settings.refine == "none" else REFINE_CHOICES.get(settings.refine, settings.refine).split(" (")[0]
    return ReportSettings(settings.model, stage, getattr(settings, "convention", DEFAULT_CONVENTION),
                          (("Keypoint threshold", f"{settings.threshold:g}"), ("Accuracy", accuracy)))


REPORT_HELP = ("One HTML file to hand over: it opens in any browser, without internet, and prints to PDF "
               "(File > Print).")


def png_bytes(bgr: np.ndarray) -> bytes:
    return encode_image(bgr, ".png")


def people_text(n: int) -> str:
    return "No person found" if n == 0 else f"{n} {'person' if n == 1 else 'people'} found"


def stem(filename: str) -> str:
    return filename.rsplit(".", 1)[0] if "." in filename else filename


def seen_text(seconds: float) -> str:
    """How long someone is seen: "0.5 s" under ten seconds (a whole number would say 0 s), else as
    :func:`duration_text`."""
    return f"{seconds:.1f} s" if seconds < 10 else duration_text(seconds)


def duration_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    m, s = divmod(seconds, 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def progress_text(done: int, total: int, eta: float, what: str = "Frame") -> str:
    """A progress bar's words: "Frame 40 / 205 · 5.1 frames/s · about 32 s left" (the pace and time left of
    posekit's one rule, :class:`posekit.stages.TimeLeft`); the time left once it is known."""
    text = f"{what} {done} / {total}"
    if done >= total:
        return text
    if not math.isfinite(eta):
        return f"{text} · estimating the time left…"
    rate = f" · {(total - done) / eta:.1f} frames/s" if eta > 0 else ""
    return f"{text}{rate} · " + ("almost done" if eta < 1 else f"about {duration_text(eta)} left")


def joint_angles(convention: str) -> tuple[AngleDef, ...]:
    """The joint angles and the trunk lean (what the Webcam and Video pages show first) in ``convention``."""
    return tuple(d.in_convention(convention) for d in JOINT_ANGLES)


def angle_rows(pose: Pose, convention: str, definitions: Sequence[AngleDef] | None = None,
               decimals: int = 1) -> list[dict]:
    """Rows of an angle table for one person: the angle, its value ("123.4°"; "not in the picture" when its
    joints were not found, "left out (impossible angle)" when no body bends so) and how it is measured."""

    def value(r: dict) -> str:
        if r.get("status") == IMPLAUSIBLE:
            return IMPOSSIBLE
        return NOT_IN_PICTURE if r["degrees"] is None else f"{r['degrees']:.{decimals}f}°"

    return [{"angle": r["angle"], "degrees": value(r), "how it is measured": r["convention"]}
            for r in angle_table(pose, definitions, convention=convention)]


def convention_caption(convention: str) -> str:
    """The angle convention under a table or chart, in words (posekit.kinematics.convention_note)."""
    return f"Angles ({CONVENTION_CHOICES[convention].split(':')[0].lower()}): {convention_note(convention)}"


def difference_text(diff: Any, convention: str) -> str:
    """A "most different" item of posekit.similarity in the sidebar's convention: a knee, elbow or hip angle
    (compared as the included angle) reads as its flexion in the clinical one, as the angle tables beside it."""
    joint = str(getattr(diff, "name", "")).rsplit(" ", 1)[-1]
    if convention != "clinical" or not hasattr(diff, "a_deg") or joint not in ("elbow", "knee", "hip"):
        return diff.text
    return f"{diff.name} flexion: {diff.diff_deg:.0f}° apart ({180 - diff.a_deg:.0f}° vs {180 - diff.b_deg:.0f}°)"
