"""Joint and segment angles, per pose and over time, with the conventions written down.

Angle definitions are data (:data:`ANGLES`, like the skeleton layouts in :mod:`posekit.layouts`): each one names
the keypoints it uses, by their names in the layouts (``RElbow``, ``LHip``, ...), plus two virtual points:
``MidHip`` (the layout's own MidHip, else the middle of RHip and LHip) and ``Neck`` (the layout's own Neck, else
the middle of the shoulders). Any layout with those keypoints works (COCO-18, BODY_25, MPI-15).

Two conventions (:data:`CONVENTIONS`) for the knee, elbow and hip; every other angle is the same in both:

* ``"clinical"`` (:data:`DEFAULT_CONVENTION`, the default of files, the CLI and the app): **flexion**, as a
  goniometer, Sports2D and OpenSim's models read it: **0 = straight**, 90 = bent at a right angle, larger = more
  bent. Columns are named ``right_knee_flexion``, ``right_elbow_flexion``, ``right_hip_flexion``, ...
* ``"included"``: the included angle between the two segments, **180 = straight**, smaller = more bent (the
  geometry; what similarity and alignment use). Columns are named ``right_knee``, ``right_elbow``, ``right_hip``.

The flexion is 180 minus the included angle. Both are unsigned, in [0, 180]: a 2D image cannot tell flexion from
hyperextension (or a hip's flexion from its extension) without knowing which way the person faces.

Definitions (all angles in degrees, measured in the image plane, image y pointing down):

* **Joint angles** (``kind == "joint"``), between two vectors, in [0, 180]:

  - elbow: between elbow→shoulder and elbow→wrist; included **180 = straight arm**; flexion 0 = straight.
  - knee: between knee→hip and knee→ankle; included **180 = straight leg**; flexion 0 = straight.
  - hip: between hip→knee and the trunk line MidHip→Neck; included **180 = thigh in line with the trunk**
    (standing), ≈ 90 sitting; flexion 0 standing, ≈ 90 sitting.
  - shoulder (the same in both conventions): between shoulder→elbow and the trunk line pointing down,
    Neck→MidHip; **0 = arm along the body**, 90 = arm horizontal (raised forward or sideways), 180 = arm
    straight up.

* **Trunk lean** (``trunk_lean``): the angle of MidHip→Neck from the upward vertical of the image, signed,
  in (-180, 180]: 0 = upright, **positive = the top of the trunk leans to the right of the image**, negative =
  to the left, ±90 = lying horizontally.

* **Segment angles** (``kind == "segment"``): the direction of a segment, from its first point to its second
  (proximal to distal: thigh = hip→knee, shank = knee→ankle, upper arm = shoulder→elbow, forearm =
  elbow→wrist; shoulders and pelvis = left→right joint), measured **anticlockwise from the image's horizontal
  pointing right** as seen on screen, in (-180, 180]: 0 = pointing right, 90 = pointing up, -90 = pointing
  down (a hanging thigh is ≈ -90), 180 = pointing left.

* An angle whose keypoints are not all found (confidence 0), or whose segments have zero length, is **NaN**.
* **Angles a body can make** (issue 21): an elbow or knee more bent than the joint can bend (:data:`LIMITS`: an
  included angle under 20 degrees at the elbow, 15 at the knee, i.e. flexion over 160 / 165; the normal range
  of motion is 0-150 and 0-135-160) is a measurement failure (a wrist placed on the shoulder), not a pose: it
  is NaN as well, so tables, charts, ranges of motion, files and comparisons leave it out.
  :func:`implausible_array` tells such failures from angles that could not be measured at all. Hips (the
  thigh against the trunk, a pike folds it flat), shoulders, the trunk and segments have no limit.

Time series: :class:`Trajectory` holds one tracked person's keypoints over frames (``frames``, ``times`` in
seconds, ``keypoints`` (T, K, 3)); :func:`trajectories` groups a video's frames by ``Pose.track_id``;
:meth:`Trajectory.angles` and :func:`angle_series` give an :class:`AngleSeries` per person (a (T, A) array with
NaN where an angle is missing), and :meth:`AngleSeries.summary` the min / max / range of motion of each angle.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .layouts import Layout, get_layout
from .pose import Pose


@dataclass(frozen=True)
class AngleDef:
    """One angle.

    Attributes:
        name: column name, snake_case (``"right_knee"``); used in CSV / MOT files and dictionaries.
        label: for people (``"Right knee"``).
        kind: ``"joint"`` (unsigned angle between two vectors, [0, 180]), ``"lean"`` (signed angle of a vector
            from the upward vertical, (-180, 180]) or ``"segment"`` (signed angle of a vector anticlockwise from
            the horizontal pointing right, (-180, 180]).
        vectors: for a joint, two vectors ``((from, to), (from, to))``; for a segment or lean, one.
        description: the convention in words.
        flexion: for a joint angle, whether its clinical form is the flexion (knee, elbow, hip).
        reflect: the value is 180 minus the angle between the vectors (the flexion form of such an angle).
        opensim: the OpenSim coordinate (Rajagopal 2015 full-body model) that this angle's flexion is, if any.
        limits: (lowest, highest) value a body can show, in this angle's convention (None: any); outside, the
            value is a measurement failure (module docstring).
    """

    name: str
    label: str
    kind: str
    vectors: tuple[tuple[str, str], ...]
    description: str = ""
    flexion: bool = False
    reflect: bool = False
    opensim: str = ""
    limits: tuple[float, float] | None = None

    def in_convention(self, convention: str) -> "AngleDef":
        """This angle as it is reported in ``convention`` (itself unless a flexion angle goes clinical)."""
        check_convention(convention)
        if not self.flexion or convention == "included" or self.reflect:
            return self
        what = {"knee": "straight leg", "elbow": "straight arm", "hip": "thigh in line with the trunk"}
        joint = self.name.split("_")[-1]
        limits = None if self.limits is None else (180.0 - self.limits[1], 180.0 - self.limits[0])
        return replace(self, name=f"{self.name}_flexion", label=f"{self.label} flexion", reflect=True,
                       description=f"flexion: 0° = {what.get(joint, 'straight')}, 90° = bent at a right angle",
                       limits=limits)

    @property
    def points(self) -> tuple[str, ...]:
        """Every keypoint (or virtual point) the angle needs."""
        out: list[str] = []
        for a, b in self.vectors:
            for n in (a, b):
                if n not in out:
                    out.append(n)
        return tuple(out)


#: The included angles (degrees, 180 = straight) an elbow and a knee can show: the most a joint bends, with a
#: margin for the image plane (AAOS ranges of motion: elbow flexion 0-150, knee 0-135 active, about 160 passive).
LIMITS: dict[str, tuple[float, float]] = {"elbow": (20.0, 180.0), "knee": (15.0, 180.0)}


def _joint(name, label, v1, v2, description, opensim=""):
    return AngleDef(name, label, "joint", (v1, v2), description, flexion=bool(opensim), opensim=opensim,
                    limits=LIMITS.get(name.split("_")[-1]))


#: Points of segments in words (for descriptions people read).
_POINT_WORDS = {"MidHip": "hips", "Neck": "neck", "LHip": "left hip", "RHip": "right hip", "LShoulder": "left shoulder",
                "RShoulder": "right shoulder", "LElbow": "left elbow", "RElbow": "right elbow", "LWrist": "left wrist",
                "RWrist": "right wrist", "LKnee": "left knee", "RKnee": "right knee", "LAnkle": "left ankle",
                "RAnkle": "right ankle"}


def _segment(name, label, a, b):
    return AngleDef(name, label, "segment", ((a, b),),
                    f"direction {_POINT_WORDS.get(a, a)} → {_POINT_WORDS.get(b, b)}, anticlockwise from pointing "
                    "right: 0° = right, 90° = up, -90° = down")


#: The angles posekit computes, in the order of tables and files.
ANGLES: tuple[AngleDef, ...] = (
    _joint("right_elbow", "Right elbow", ("RElbow", "RShoulder"), ("RElbow", "RWrist"), "180° = straight arm",
           "elbow_flex_r"),
    _joint("left_elbow", "Left elbow", ("LElbow", "LShoulder"), ("LElbow", "LWrist"), "180° = straight arm",
           "elbow_flex_l"),
    _joint("right_knee", "Right knee", ("RKnee", "RHip"), ("RKnee", "RAnkle"), "180° = straight leg",
           "knee_angle_r"),
    _joint("left_knee", "Left knee", ("LKnee", "LHip"), ("LKnee", "LAnkle"), "180° = straight leg", "knee_angle_l"),
    _joint("right_hip", "Right hip", ("RHip", "RKnee"), ("MidHip", "Neck"), "180° = thigh in line with the trunk",
           "hip_flexion_r"),
    _joint("left_hip", "Left hip", ("LHip", "LKnee"), ("MidHip", "Neck"), "180° = thigh in line with the trunk",
           "hip_flexion_l"),
    _joint("right_shoulder", "Right shoulder", ("RShoulder", "RElbow"), ("Neck", "MidHip"),
           "0° = arm along the body, 90° = horizontal, 180° = straight up"),
    _joint("left_shoulder", "Left shoulder", ("LShoulder", "LElbow"), ("Neck", "MidHip"),
           "0° = arm along the body, 90° = horizontal, 180° = straight up"),
    AngleDef("trunk_lean", "Trunk lean", "lean", (("MidHip", "Neck"),),
             "0° = upright, positive = top of the trunk leaning to the right of the image"),
    _segment("trunk", "Trunk", "MidHip", "Neck"),
    _segment("pelvis", "Pelvis", "LHip", "RHip"),
    _segment("shoulders", "Shoulders", "LShoulder", "RShoulder"),
    _segment("right_arm", "Right upper arm", "RShoulder", "RElbow"),
    _segment("left_arm", "Left upper arm", "LShoulder", "LElbow"),
    _segment("right_forearm", "Right forearm", "RElbow", "RWrist"),
    _segment("left_forearm", "Left forearm", "LElbow", "LWrist"),
    _segment("right_thigh", "Right thigh", "RHip", "RKnee"),
    _segment("left_thigh", "Left thigh", "LHip", "LKnee"),
    _segment("right_shank", "Right shank", "RKnee", "RAnkle"),
    _segment("left_shank", "Left shank", "LKnee", "LAnkle"),
)

#: The angle conventions (module docstring): the flexion angles' clinical form, or the included angle.
CONVENTIONS = ("clinical", "included")
#: What files, the CLI and the app report unless told otherwise: what physiotherapists and coaches read.
DEFAULT_CONVENTION = "clinical"


#: Each convention in a sentence, for a caption under a table or chart of angles and for reports (the shoulders
#: and the trunk lean read the same in both: :func:`convention_note`).
CONVENTION_WORDS = {
    "clinical": "Knees, elbows and hips as flexion: 0° = straight, 90° = bent at a right angle (as a goniometer "
                "reads them).",
    "included": "Knees, elbows and hips as the angle between the two body parts: 180° = straight, smaller = more "
                "bent.",
}


def convention_note(convention: str = DEFAULT_CONVENTION) -> str:
    """How the angles of ``convention`` read, in words: the flexion angles, then the shoulders and the trunk
    lean (the same in both conventions)."""
    return (f"{CONVENTION_WORDS[check_convention(convention)]} Shoulder: 0° = arm along the body, 90° = arm "
            "horizontal. Trunk lean: 0° = upright, positive = leaning to the right of the picture.")


def check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown angle convention {convention!r}; choose one of: {', '.join(CONVENTIONS)}")
    return convention


@functools.lru_cache(maxsize=None)
def angle_definitions(convention: str = DEFAULT_CONVENTION) -> tuple[AngleDef, ...]:
    """:data:`ANGLES` as reported in ``convention`` (names, labels, descriptions and values); built once per
    convention (the keypoint writers ask for it on every frame)."""
    return tuple(d.in_convention(convention) for d in ANGLES)


#: Angle definitions by name, in both conventions (``right_knee`` and ``right_knee_flexion``).
ANGLES_BY_NAME: dict[str, AngleDef] = {a.name: a for c in CONVENTIONS for a in angle_definitions(c)}
#: The joint angles (elbows, knees, hips, shoulders) and the trunk lean: what pages show first.
JOINT_ANGLES: tuple[AngleDef, ...] = tuple(a for a in ANGLES if a.kind in ("joint", "lean"))

_VIRTUAL = {"MidHip": ("RHip", "LHip"), "Neck": ("RShoulder", "LShoulder")}


def points(keypoints: np.ndarray, layout: str | Layout, names: Iterable[str]) -> dict[str, np.ndarray]:
    """Positions (..., 2) of named points over any leading shape of ``keypoints`` (..., K, 3); NaN where missing.

    Virtual points: ``MidHip`` and ``Neck`` fall back to the middle of the hips / shoulders when the layout lacks
    them or they were not found.
    """
    lay = get_layout(layout)
    kp = np.asarray(keypoints, np.float64)
    xy = np.where((kp[..., 2:3] > 0), kp[..., :2], np.nan)
    out: dict[str, np.ndarray] = {}
    for name in names:
        i = lay.find(name)
        p = xy[..., i, :] if i is not None else np.full(kp.shape[:-2] + (2,), np.nan)
        if name in _VIRTUAL:
            a, b = (lay.find(n) for n in _VIRTUAL[name])
            if a is not None and b is not None:
                mid = (xy[..., a, :] + xy[..., b, :]) / 2
                p = np.where(np.isnan(p), mid, p)
        out[name] = p
    return out


def _angles_xy(pts: dict[str, np.ndarray], definitions: Sequence[AngleDef], min_length: float = 0.0) -> np.ndarray:
    cols = []
    with np.errstate(invalid="ignore", divide="ignore"):
        for d in definitions:
            vec = [pts[b] - pts[a] for a, b in d.vectors]
            if d.kind == "joint":
                u, v = vec
                nu, nv = np.linalg.norm(u, axis=-1), np.linalg.norm(v, axis=-1)
                cos = np.sum(u * v, axis=-1) / (nu * nv)
                ang = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
                if d.reflect:  # the flexion: 0 = straight
                    ang = 180.0 - ang
                ang = np.where((nu > min_length) & (nv > min_length), ang, np.nan)
            else:
                (u,) = vec
                dx, dy = u[..., 0], -u[..., 1]  # y up, as seen on screen
                if d.kind == "lean":  # from the upward vertical, positive towards the right
                    ang = np.degrees(np.arctan2(dx, dy))
                else:
                    ang = np.degrees(np.arctan2(dy, dx))
                ang = np.where(ang <= -180.0, ang + 360.0, ang)
                ang = np.where((dx == 0) & (dy == 0), np.nan, ang)
                if min_length > 0:
                    ang = np.where(np.hypot(dx, dy) > min_length, ang, np.nan)
            cols.append(ang)
    return np.stack(cols, axis=-1) if cols else np.zeros(next(iter(pts.values())).shape[:-1] + (0,))


def resolve(definitions: Sequence[AngleDef | str] | None,
            convention: str = DEFAULT_CONVENTION) -> tuple[AngleDef, ...]:
    """The angles to compute: ``definitions`` (AngleDefs or names of either convention) as given, or all of
    :data:`ANGLES` in ``convention`` when None."""
    if definitions is None:
        return angle_definitions(convention)
    try:
        return tuple(ANGLES_BY_NAME[d] if isinstance(d, str) else d for d in definitions)
    except KeyError as e:
        raise ValueError(f"unknown angle {e.args[0]!r}; known: {', '.join(ANGLES_BY_NAME)}") from None


def _outside(values: np.ndarray, defs: Sequence[AngleDef]) -> np.ndarray:
    """(..., A) True where a measured value lies outside its angle's :attr:`AngleDef.limits`."""
    lo = np.array([d.limits[0] if d.limits else -np.inf for d in defs])
    hi = np.array([d.limits[1] if d.limits else np.inf for d in defs])
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & ((values < lo - 1e-9) | (values > hi + 1e-9))


def angles_array(keypoints: np.ndarray, layout: str | Layout, definitions: Sequence[AngleDef | str] | None = None,
                 *, min_length: float = 0.0, convention: str = DEFAULT_CONVENTION,
                 plausible: bool = True) -> np.ndarray:
    """Angles of keypoints (..., K, 3) as an array (..., A) in the order of ``definitions`` (default
    :data:`ANGLES` in ``convention``), NaN where a keypoint is missing or a vector is not longer than
    ``min_length`` (in the keypoints' unit), and (``plausible``, the default) where the value is one no body
    can make (:attr:`AngleDef.limits`). Vectorised: a whole trajectory (T, K, 3) at once."""
    defs = resolve(definitions, convention)
    names = {n for d in defs for n in d.points}
    values = _angles_xy(points(keypoints, layout, names), defs, min_length)
    if plausible:
        values[_outside(values, defs)] = np.nan
    return values


def implausible_array(keypoints: np.ndarray, layout: str | Layout,
                      definitions: Sequence[AngleDef | str] | None = None, *, min_length: float = 0.0,
                      convention: str = DEFAULT_CONVENTION) -> np.ndarray:
    """(..., A) True where an angle could be measured but its value is one no body can make (a measurement
    failure that :func:`angles_array` leaves out), False where it is plausible or could not be measured."""
    defs = resolve(definitions, convention)
    return _outside(angles_array(keypoints, layout, defs, min_length=min_length, plausible=False), defs)


def angles(pose: Pose, definitions: Sequence[AngleDef | str] | None = None, *,
           convention: str = DEFAULT_CONVENTION) -> dict[str, float]:
    """``{name: degrees}`` for one pose (NaN where a keypoint is missing); see the module docstring."""
    defs = resolve(definitions, convention)
    values = angles_array(pose.keypoints, pose.layout, defs)
    return {d.name: float(v) for d, v in zip(defs, values)}


#: :func:`angle_table`'s ``status`` of an angle: measured, a keypoint it needs not placed (not in the picture),
#: or a value no body can make (a measurement failure).
MEASURED, MISSING, IMPLAUSIBLE = "measured", "missing", "implausible"


def angle_table(pose: Pose, definitions: Sequence[AngleDef | str] | None = None, *,
                convention: str = DEFAULT_CONVENTION) -> list[dict]:
    """Rows ``{"angle": label, "degrees": value or None, "convention": ..., "status": ...}`` for a table of one
    pose; ``status`` is :data:`MEASURED`, :data:`MISSING` (a keypoint it needs is not in the picture) or
    :data:`IMPLAUSIBLE` (a value no body can make: a measurement failure, not reported)."""
    defs = resolve(definitions, convention)
    values = angles(pose, defs)
    failed = implausible_array(pose.keypoints, pose.layout, defs)
    rows = []
    for d, bad in zip(defs, failed):
        v = values[d.name]
        status = IMPLAUSIBLE if bad else MISSING if math.isnan(v) else MEASURED
        rows.append({"angle": d.label, "degrees": None if math.isnan(v) else round(v, 1),
                     "convention": d.description, "status": status})
    return rows


# --- time series ------------------------------------------------------------------------------------------


def direction_arc(degrees: np.ndarray) -> np.ndarray:
    """Directions (degrees, any turn) unwrapped onto the shortest arc that holds them all: the first value of the
    arc in (-180, 180], the others up to 360° above it, in their order. Directions across 180° (175°, -178°)
    become 175°, 182°."""
    v = np.mod(np.asarray(degrees, np.float64), 360.0)
    if v.size < 2:
        return np.where(v > 180.0, v - 360.0, v)
    s = np.sort(v)
    gaps = np.diff(np.concatenate([s, [s[0] + 360.0]]))
    start = s[(int(np.argmax(gaps)) + 1) % s.size]  # the largest empty arc ends where the directions begin
    first = start - 360.0 if start > 180.0 else start
    # whole turns added to each value (so a direction that needs none keeps its exact value)
    degrees = np.asarray(degrees, np.float64)
    return degrees + 360.0 * np.round((first + np.mod(v - start, 360.0) - degrees) / 360.0)


@dataclass
class AngleSeries:
    """Angles of one person over time.

    Attributes:
        track_id: the person's ID.
        frames: (T,) frame indices.
        times: (T,) seconds.
        values: (T, A) degrees, NaN where an angle could not be measured (or was a measurement failure).
        names: the A angle names (columns of ``values``).
        implausible: (T, A) True where the value was one no body can make (left out of ``values``); None when
            not known.
    """

    track_id: int
    frames: np.ndarray
    times: np.ndarray
    values: np.ndarray
    names: tuple[str, ...]
    implausible: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frames)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.names.index(name)]

    def chart_data(self, names: Sequence[str] | None = None) -> dict[str, list]:
        """Columns for a chart or table: ``{"time (s)": [...], "<label>": [...], ...}`` (labels of
        :data:`ANGLES`; None where not measurable), for the angles ``names`` (default all)."""
        names = list(self.names if names is None else names)
        out: dict[str, list] = {"time (s)": [round(float(t), 4) for t in self.times]}
        for name in names:
            col = self.column(name)
            d = ANGLES_BY_NAME.get(name)
            out[d.label if d else name] = [None if not np.isfinite(v) else round(float(v), 2) for v in col]
        return out

    def summary(self) -> list[dict]:
        """Per angle: ``{"angle", "label", "min", "max", "range", "mean", "frames", "implausible"}`` (degrees;
        NaN-free: an angle never measured has None values and ``frames`` = 0). ``range`` is the range of motion,
        max - min, over the plausible values; ``implausible`` counts the frames whose value no body can make
        (measurement failures, left out). When: ``min_frame`` / ``max_frame`` and ``min_time`` / ``max_time``
        (seconds), the first frame at the minimum and at the maximum (None when never measured).

        Directions (segments and the trunk lean, which wrap around at ±180°) are read along the shortest arc that
        holds them all (:func:`direction_arc`): a pelvis pointing left that wobbles across 180° ranges from 175° to
        185° (10°), not from -180° to 180°; ``max`` may then pass 180°."""
        rows = []
        for i, name in enumerate(self.names):
            col = self.values[:, i]
            good = np.isfinite(col)
            ok = col[good]
            d = ANGLES_BY_NAME.get(name)
            if d is not None and d.kind in ("segment", "lean") and ok.size:
                ok = direction_arc(ok)
            failed = int(self.implausible[:, i].sum()) if self.implausible is not None else 0
            row = {"angle": name, "label": d.label if d else name, "frames": int(ok.size), "implausible": failed}
            if ok.size:
                lo, hi = (int(np.flatnonzero(good)[k]) for k in (ok.argmin(), ok.argmax()))
                row.update(min=float(ok.min()), max=float(ok.max()), range=float(ok.max() - ok.min()),
                           mean=float(ok.mean()), min_frame=int(self.frames[lo]), max_frame=int(self.frames[hi]),
                           min_time=float(self.times[lo]), max_time=float(self.times[hi]))
            else:
                row.update(min=None, max=None, range=None, mean=None, min_frame=None, max_frame=None,
                           min_time=None, max_time=None)
            rows.append(row)
        return rows


@dataclass
class Trajectory:
    """One person's keypoints over a video.

    Attributes:
        track_id: the person's ID (``Pose.track_id``).
        layout: layout name.
        frames: (T,) frame indices where the person is present, increasing.
        times: (T,) seconds.
        keypoints: (T, K, 3) float32, x, y in pixels and confidence (0 where a keypoint is missing).
        scores: (T,) pose scores.
    """

    track_id: int
    layout: str
    frames: np.ndarray
    times: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def duration_s(self) -> float:
        """Seconds between the first and the last frame the person is seen in."""
        return float(self.times[-1] - self.times[0]) if len(self.times) else 0.0

    def angles(self, definitions: Sequence[AngleDef | str] | None = None, *,
               convention: str = DEFAULT_CONVENTION) -> AngleSeries:
        defs = resolve(definitions, convention)
        return AngleSeries(self.track_id, self.frames, self.times,
                           angles_array(self.keypoints, self.layout, defs), tuple(d.name for d in defs),
                           implausible_array(self.keypoints, self.layout, defs))

    def poses(self) -> list[Pose]:
        """The person's poses, one per frame of ``frames``."""
        scores = self.scores if len(self.scores) == len(self.frames) else np.zeros(len(self.frames))
        return [Pose(kp, float(s), self.layout, track_id=self.track_id) for kp, s in zip(self.keypoints, scores)]


Frames = Iterable[tuple[int, float | None, Sequence[Pose]]]


def trajectories(frames: Frames, fps: float | None = None) -> dict[int, Trajectory]:
    """Group a video's ``(frame_index, time_s, poses)`` by person: ``{track_id: Trajectory}``, by increasing ID.

    Poses without a ``track_id`` (untracked) are numbered by their place in the frame, 1..N (as tables and
    overlays number people in one image); that is only meaningful when the frames were tracked. A time of
    None is ``frame / fps`` (or the frame index when ``fps`` is not given).
    """
    acc: dict[int, dict] = {}
    for index, t, poses in frames:
        if t is None:
            t = index / fps if fps else float(index)
        for n, pose in enumerate(poses, 1):
            tid = pose.track_id if pose.track_id is not None else n
            a = acc.setdefault(tid, {"layout": pose.layout, "frames": [], "times": [], "kp": [], "scores": []})
            if a["frames"] and a["frames"][-1] == index:
                continue  # one pose per person per frame
            a["frames"].append(int(index))
            a["times"].append(float(t))
            a["kp"].append(np.asarray(pose.keypoints, np.float32))
            a["scores"].append(float(pose.score))
    return {tid: Trajectory(tid, a["layout"], np.asarray(a["frames"], np.int64), np.asarray(a["times"]),
                            np.stack(a["kp"]), np.asarray(a["scores"], np.float32))
            for tid, a in sorted(acc.items())}


def angle_series(frames: Frames, definitions: Sequence[AngleDef | str] | None = None,
                 fps: float | None = None, *, convention: str = DEFAULT_CONVENTION) -> dict[int, AngleSeries]:
    """``{track_id: AngleSeries}`` for a video's ``(frame_index, time_s, poses)``; see :func:`trajectories`."""
    return {tid: tr.angles(definitions, convention=convention) for tid, tr in trajectories(frames, fps).items()}


__all__ = [
    "ANGLES", "ANGLES_BY_NAME", "CONVENTIONS", "CONVENTION_WORDS", "DEFAULT_CONVENTION", "IMPLAUSIBLE",
    "JOINT_ANGLES", "LIMITS", "MEASURED", "MISSING", "AngleDef", "AngleSeries", "Trajectory", "angle_definitions",
    "angle_series", "angle_table", "angles", "angles_array", "check_convention", "convention_note", "direction_arc",
    "implausible_array", "points", "resolve", "trajectories",
]
