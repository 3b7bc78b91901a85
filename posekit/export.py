"""Keypoints out (and back in): OpenPose JSON, COCO keypoint results, CSV and JSON lines.

Conventions shared by every format: coordinates are image pixels; a keypoint that was not found is written as
``x = y = c = 0`` (OpenPose's convention) except in CSV, where its x and y cells are left empty (so that
spreadsheets and pandas read them as missing) and its confidence is 0. Tracked people carry their ID
(``Pose.track_id``, 1-based); untracked people are numbered from 0 in CSV and have ``person_id`` -1 in OpenPose
JSON. TRC and MOT files (OpenSim) hold one tracked person each.
Numbers are written as the shortest decimals that read back as the same float32 values.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import InvalidInputError
from .files import atomic_open, write_atomic
from .kinematics import ANGLES_BY_NAME, DEFAULT_CONVENTION, angle_definitions, angles_array, points
from .layouts import COCO17_KEYPOINTS, COCO18, Layout, get_layout
from .pose import Pose
from .tracking import person_numbers

#: The ``version`` OpenPose 1.3+ writes in its ``--write_json`` files.
OPENPOSE_JSON_VERSION = 1.3

_EMPTY_PERSON_FIELDS = (
    "face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d",
    "pose_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d", "hand_right_keypoints_3d",
)


def _num(v) -> float:
    """The shortest decimal that reads back as the same float32 (``123.456`` rather than ``123.45600128``)."""
    v = np.float32(v)
    if not np.isfinite(v):
        return 0.0
    return float(str(v))  # numpy prints a float32 as its shortest round-tripping decimal


def _pose_angles(poses: Sequence[Pose], convention: str = DEFAULT_CONVENTION) -> list[list[float | None]]:
    """Each pose's angles (:data:`posekit.kinematics.ANGLES` order, in ``convention``, degrees rounded to 0.001,
    None where not measurable), computed for all poses of a frame at once."""
    if not poses:
        return []
    if len({p.layout for p in poses}) > 1:  # not one array: pose by pose
        return [row for p in poses for row in _pose_angles([p], convention)]
    values = angles_array(np.stack([p.keypoints for p in poses]), poses[0].layout, convention=convention)
    return [[None if np.isnan(v) else round(float(v), 3) for v in row] for row in values]


def _flat(kp: np.ndarray) -> list[float]:
    """[x, y, c, ...] with missing keypoints as 0, 0, 0."""
    out = []
    for x, y, c in np.asarray(kp, np.float32).reshape(-1, 3):
        out.extend((_num(x), _num(y), _num(c)) if c > 0 else (0.0, 0.0, 0.0))
    return out


def _check_layout(poses: Sequence[Pose], layout: str | Layout | None) -> Layout | None:
    lay = get_layout(layout) if layout is not None else None
    for p in poses:
        if lay is None:
            lay = p.spec
        elif p.layout != lay.name:
            raise InvalidInputError(f"cannot write a {p.layout} pose as {lay.name}")
    return lay


# --- OpenPose JSON ----------------------------------------------------------------------------------------

def openpose_json(poses: Sequence[Pose], layout: str | Layout | None = None) -> dict:
    """The dictionary OpenPose's ``--write_json`` writes for one image.

    ``{"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [x, y, c, ...],
    "face_keypoints_2d": [], "hand_left_keypoints_2d": [], "hand_right_keypoints_2d": [],
    "pose_keypoints_3d": [], "face_keypoints_3d": [], "hand_left_keypoints_3d": [],
    "hand_right_keypoints_3d": []}, ...]}``, keypoints in the layout's order (COCO-18 for the MobileNet
    models, as OpenPose's ``--model_pose COCO``). ``layout``, when given, must be the poses' layout.
    ``person_id`` is the pose's ``track_id`` when it was tracked (as OpenPose's ``--tracking``), else -1.
    """
    _check_layout(poses, layout)
    people = []
    for p in poses:
        pid = -1 if p.track_id is None else int(p.track_id)
        person = {"person_id": [pid], "pose_keypoints_2d": _flat(p.keypoints)}
        person.update({k: [] for k in _EMPTY_PERSON_FIELDS})
        people.append(person)
    return {"version": OPENPOSE_JSON_VERSION, "people": people}


def write_openpose_json(path: str | os.PathLike, poses: Sequence[Pose], layout: str | Layout | None = None) -> Path:
    """Write :func:`openpose_json` to ``path`` (compact, as OpenPose does); returns the path."""
    return write_atomic(path, json.dumps(openpose_json(poses, layout), separators=(",", ":")) + "\n")


def poses_from_openpose(data: dict, layout: str | Layout = COCO18) -> list[Pose]:
    """Poses from an OpenPose JSON dictionary (any OpenPose version: 1.0's ``pose_keypoints`` too).

    OpenPose stores no person score: each pose's ``score`` is the mean keypoint confidence over the layout.

    Raises:
        InvalidInputError: not OpenPose JSON, or keypoints that do not fit the layout.
    """
    lay = get_layout(layout)
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise InvalidInputError("not an OpenPose keypoints file (no \"people\" list)")
    poses = []
    for i, person in enumerate(data["people"]):
        flat = person.get("pose_keypoints_2d", person.get("pose_keypoints")) if isinstance(person, dict) else None
        try:
            kp = np.asarray(flat, dtype=np.float32)
        except (TypeError, ValueError):
            kp = None
        if kp is None or kp.ndim != 1 or kp.size != 3 * lay.num_keypoints:
            n = getattr(kp, "size", 0) if kp is not None and kp.ndim == 1 else "?"
            raise InvalidInputError(
                f"person {i}: expected {3 * lay.num_keypoints} {lay.name} values (x, y, c per keypoint), got {n}")
        kp = kp.reshape(-1, 3)
        kp[~np.isfinite(kp).all(axis=1)] = 0.0
        kp[kp[:, 2] <= 0] = 0.0
        pid = person.get("person_id") if isinstance(person, dict) else None
        pid = pid[0] if isinstance(pid, list) and pid else pid
        tid = int(pid) if isinstance(pid, (int, float)) and pid >= 0 else None
        poses.append(Pose(kp, float(kp[:, 2].sum() / lay.num_keypoints), lay.name, track_id=tid))
    return poses


def read_openpose_json(path: str | os.PathLike, layout: str | Layout = COCO18) -> list[Pose]:
    """Read a file written by :func:`write_openpose_json` or by OpenPose itself (see :func:`poses_from_openpose`)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInputError(f"{path.name}: cannot read OpenPose JSON ({e})") from None
    return poses_from_openpose(data, layout)


# --- COCO keypoint results --------------------------------------------------------------------------------

def coco_results(poses: Sequence[Pose], image_id: int, category_id: int = 1, *,
                 keypoint_scores: bool = False) -> list[dict]:
    """COCO keypoint-detection results for one image, ready for ``COCO.loadRes`` / ``COCOeval``.

    One ``{"image_id", "category_id", "keypoints": [x, y, v] * 17, "score"}`` per person, the 17 keypoints in
    COCO's order (:data:`posekit.layouts.COCO17_KEYPOINTS`: nose, left_eye, right_eye, ...). As OpenPose's COCO
    writer: ``v`` = 1 for a found keypoint, and ``0, 0, 0`` for a missing one (or one the layout lacks);
    ``keypoint_scores=True`` writes the keypoint confidence in place of ``v`` (COCOeval ignores it either way).
    ``score`` is the pose's score.
    """
    results = []
    for p in poses:
        mapping = p.spec.coco17
        flat: list[float] = []
        for k in mapping:
            if k is None or p.keypoints[k, 2] <= 0:
                flat.extend((0.0, 0.0, 0))
                continue
            x, y, c = p.keypoints[k]
            flat.extend((_num(x), _num(y), _num(c) if keypoint_scores else 1))
        results.append({"image_id": image_id, "category_id": category_id, "keypoints": flat,
                        "score": _num(p.score)})
    return results


# --- CSV --------------------------------------------------------------------------------------------------

def csv_header(layout: str | Layout = COCO18, *, angles: bool = False,
               convention: str = DEFAULT_CONVENTION) -> list[str]:
    """``frame, person, score`` then ``<name>_x, <name>_y, <name>_c`` per keypoint in the layout's order.

    ``angles=True`` adds ``time`` (seconds) and one column per angle of :data:`posekit.kinematics.ANGLES`
    (degrees, named as there: ``right_elbow``, ..., empty when not measurable).
    """
    lay = get_layout(layout)
    cols = ["frame", "person", "score"]
    for name in lay.keypoints:
        cols += [f"{name}_x", f"{name}_y", f"{name}_c"]
    if angles:
        cols += ["time"] + [a.name for a in angle_definitions(convention)]
    return cols


def csv_rows(poses: Sequence[Pose], frame: int | None = None, *, angles: bool = False,
             time_s: float | None = None, convention: str = DEFAULT_CONVENTION) -> list[list]:
    """One row per person matching :func:`csv_header`; ``frame`` None leaves the frame cell empty.

    ``person`` is the number the overlay shows (:func:`posekit.tracking.person_numbers`): the pose's
    ``track_id`` when it was tracked, else its place in the list, from 1.
    Missing keypoints have empty x and y (None) and confidence 0; so have angles that cannot be measured.
    """
    _check_layout(poses, None)
    per_pose = _pose_angles(poses, convention) if angles else []
    rows = []
    for i, (p, number) in enumerate(zip(poses, person_numbers(poses))):
        row: list = [frame, int(number), _num(p.score)]
        for x, y, c in p.keypoints:
            row += [_num(x), _num(y), _num(c)] if c > 0 else [None, None, 0.0]
        if angles:
            row.append(None if time_s is None else round(float(time_s), 6))
            row += per_pose[i]
        rows.append(row)
    return rows


def write_csv(path_or_file, frames: Iterable[tuple[int | None, Sequence[Pose]]],
              layout: str | Layout | None = None) -> int:
    """Write CSV for ``(frame_index, poses)`` pairs (e.g. a video's frames); returns the number of rows.

    ``path_or_file`` is a path or a text file opened with ``newline=""``. ``layout`` gives the columns; by
    default the first pose's layout (COCO-18 when there is none). Streams: frames are written as they come.
    """
    lay = get_layout(layout) if layout is not None else None
    own = not hasattr(path_or_file, "write")
    with atomic_open(path_or_file) if own else contextlib.nullcontext(path_or_file) as f:
        writer = csv.writer(f)
        pending: list[list] = []  # rows of the first frames, held until a pose tells the layout
        count = 0
        for frame, poses in frames:
            if poses and lay is None:
                lay = poses[0].spec
            if poses and poses[0].layout != lay.name:
                raise InvalidInputError(f"frame {frame}: {poses[0].layout} poses in a {lay.name} CSV")
            rows = csv_rows(poses, frame)
            count += len(rows)
            if lay is None:
                pending += rows
                continue
            if pending is not None:
                writer.writerow(csv_header(lay))
                writer.writerows(pending)
                pending = None
            writer.writerows(rows)
        if pending is not None:
            writer.writerow(csv_header(lay or COCO18))
            writer.writerows(pending)
    return count


def csv_text(poses: Sequence[Pose], frame: int | None = None, layout: str | Layout | None = None) -> str:
    """CSV (header and rows) of one image's poses as a string, e.g. for a download button."""
    buf = io.StringIO(newline="")
    write_csv(buf, [(frame, poses)], layout)
    return buf.getvalue()


# --- JSON lines -------------------------------------------------------------------------------------------

def jsonl_line(frame_index: int, time_s: float | None, poses: Sequence[Pose], *, angles: bool = False,
               convention: str = DEFAULT_CONVENTION) -> str:
    """One JSON line for a video frame (no trailing newline):

    ``{"frame": 12, "time": 0.48, "people": [{"score": 0.61, "layout": "COCO-18",
    "keypoints": [[x, y, c], ...]}, ...]}`` (missing keypoints as ``[0, 0, 0]``). A tracked pose has an
    ``"id"`` (its ``track_id``) first; ``angles=True`` adds ``"angles": {"right_elbow": 171.2, ...}`` (degrees,
    null when not measurable; see :mod:`posekit.kinematics`).
    """
    people = []
    if angles:
        names = [d.name for d in angle_definitions(convention)]
        per_pose = _pose_angles(poses, convention)
    for i, p in enumerate(poses):
        flat = _flat(p.keypoints)
        person = {} if p.track_id is None else {"id": int(p.track_id)}
        person.update({"score": _num(p.score), "layout": p.layout,
                       "keypoints": [flat[i:i + 3] for i in range(0, len(flat), 3)]})
        if angles:
            person["angles"] = dict(zip(names, per_pose[i]))
        people.append(person)
    t = None if time_s is None else round(float(time_s), 6)
    return json.dumps({"frame": int(frame_index), "time": t, "people": people}, separators=(",", ":"))


def parse_jsonl_line(line: str) -> tuple[int, float | None, list[Pose]]:
    """The inverse of :func:`jsonl_line`: ``(frame_index, time_s, poses)``."""
    try:
        d = json.loads(line)
        poses = [Pose(np.asarray(p["keypoints"], np.float32), float(p["score"]), p["layout"],
                      track_id=int(p["id"]) if p.get("id") is not None else None) for p in d["people"]]
        return int(d["frame"]), d["time"], poses
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInputError(f"not a posekit JSON line: {e}") from None


# --- reading a video's keypoints back ---------------------------------------------------------------------


def read_keypoints(path: str | os.PathLike, fps: float | None = None) -> list[tuple[int, float | None, list[Pose]]]:
    """A video's keypoints as written by ``process_video(keypoints_path=...)`` / ``video --keypoints``: JSON
    lines (``.jsonl``) or CSV (``.csv``, the columns of :func:`csv_header`, angle columns optional). Returns
    ``(frame, time_s, poses)`` per frame that has people, in frame order; the CSV ``person`` column becomes
    ``track_id``. A CSV without a ``time`` column gets ``frame / fps`` (None without ``fps``).

    Raises:
        InvalidInputError: unreadable file or not one of these formats.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInputError(f"{path.name}: cannot read keypoints ({e})") from None
    frames: dict[int, tuple[float | None, list[Pose]]] = {}
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        fields = rows[0].keys() if rows else []
        if rows and not {"frame", "person", "score"} <= set(fields):
            raise InvalidInputError(f"{path.name}: not a posekit keypoints CSV (no frame, person, score columns)")
        names = [f[:-2] for f in fields if f.endswith("_c")]
        lay = next((lay for lay in (get_layout(n) for n in ("COCO-18", "BODY_25", "MPI-15"))
                    if list(lay.keypoints) == names), None)
        if rows and lay is None:
            raise InvalidInputError(f"{path.name}: its keypoint columns match no known layout")
        for n, r in enumerate(rows, 2):
            try:
                kp = np.zeros((lay.num_keypoints, 3), np.float32)
                for k, name in enumerate(lay.keypoints):
                    c = float(r[f"{name}_c"] or 0)
                    if c > 0:
                        kp[k] = (float(r[f"{name}_x"]), float(r[f"{name}_y"]), c)
                frame = int(r["frame"])
                t = float(r["time"]) if r.get("time") not in (None, "") else (frame / fps if fps else None)
                pose = Pose(kp, float(r["score"] or 0), lay.name, track_id=int(r["person"]))
            except (TypeError, ValueError, KeyError) as e:
                raise InvalidInputError(f"{path.name}, line {n}: {e}") from None
            frames.setdefault(frame, (t, []))[1].append(pose)
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                frame, t, poses = parse_jsonl_line(line)
            except InvalidInputError as e:
                raise InvalidInputError(f"{path.name}, line {n}: {e}") from None
            if poses:
                frames[frame] = (t, poses)
    return [(f, t, poses) for f, (t, poses) in sorted(frames.items())]


# --- OpenSim: TRC (marker trajectories) and MOT (angles) --------------------------------------------------

#: Neck-to-ankle chain (neck→mid-hip + hip→knee + knee→ankle) as a fraction of standing height (Winter's
#: anthropometric table: shoulder 0.818 H, hip 0.530 H, knee 0.285 H, ankle 0.039 H).
CHAIN_FRACTION = 0.779


def pixels_per_metre(trajectory, height_m: float) -> float:
    """Scale of a person's trajectory: median over frames of the neck→mid-hip→knee→ankle chain (both legs'
    mean), divided by :data:`CHAIN_FRACTION` × ``height_m``.

    Raises:
        InvalidInputError: a height that is not positive, or a person whose legs and trunk are never all found.
    """
    if not height_m or height_m <= 0:
        raise InvalidInputError(f"the person's height must be positive (metres), got {height_m}")
    pts = points(trajectory.keypoints, trajectory.layout,
                 ["Neck", "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle"])

    def seg(a, b):
        return np.linalg.norm(pts[a] - pts[b], axis=-1)

    legs = np.stack([seg("RHip", "RKnee") + seg("RKnee", "RAnkle"), seg("LHip", "LKnee") + seg("LKnee", "LAnkle")])
    seen = np.isfinite(legs)
    # the mean of the legs seen in each frame (NaN where neither is: no "mean of empty slice" warning)
    leg = np.where(seen.any(axis=0), np.where(seen, legs, 0.0).sum(axis=0) / np.maximum(seen.sum(axis=0), 1), np.nan)
    chain = seg("Neck", "MidHip") + leg
    chain = chain[np.isfinite(chain)]
    if chain.size == 0:
        raise InvalidInputError(f"person {trajectory.track_id}: trunk and legs never fully seen; "
                                "cannot scale to metres")
    return float(np.median(chain)) / (CHAIN_FRACTION * height_m)


def write_trc(path: str | os.PathLike, trajectory, fps: float, height_m: float | None = None) -> Path:
    """One person's keypoints as an OpenSim marker file (``.trc``, tab-separated, ``PathFileType 4 (X/Y/Z)``).

    One marker per keypoint (the layout's names), Z = 0 (2D). Without ``height_m``: image pixels, X right,
    Y down, ``Units`` = ``px``. With the person's height in metres: metres, X right, **Y up**, Y = 0 at the
    lowest ankle seen (the floor), scaled by :func:`pixels_per_metre`, ``Units`` = ``m`` (what OpenSim
    expects). Frames are numbered from 1 (``Frame#``), ``Time`` in seconds; a keypoint not found in a frame is
    ``NaN NaN NaN`` (what OpenSim's ``TRCFileAdapter`` and ``MarkerData``, Pose2Sim and Sports2D read as missing;
    empty fields are not: OpenSim's tokenizer drops them at the end of a row). Written atomically.
    """
    lay = get_layout(trajectory.layout)
    kp = np.asarray(trajectory.keypoints, np.float64)
    xy = np.where(kp[..., 2:3] > 0, kp[..., :2], np.nan)
    units = "px"
    if height_m is not None:
        s = pixels_per_metre(trajectory, height_m)
        ankles = [lay.index(n) for n in ("RAnkle", "LAnkle") if n.lower() in (k.lower() for k in lay.keypoints)]
        floor = np.nanmax(xy[:, ankles, 1]) if ankles and np.isfinite(xy[:, ankles, 1]).any() else np.nanmax(
            xy[..., 1])
        xy = np.stack([xy[..., 0] / s, (floor - xy[..., 1]) / s], axis=-1)
        units = "m"
    n, k = len(trajectory), lay.num_keypoints
    rate = f"{fps:.6g}"
    lines = [
        f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        f"{rate}\t{rate}\t{n}\t{k}\t{units}\t{rate}\t1\t{n}",
        "Frame#\tTime\t" + "\t\t\t".join(lay.keypoints) + "\t\t",
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, k + 1)),
    ]
    t0 = float(trajectory.times[0]) if n else 0.0
    for row in range(n):
        cells = [str(row + 1), f"{float(trajectory.times[row]) - t0:.6f}"]
        for j in range(k):
            x, y = xy[row, j]
            cells += [f"{x:.6g}", f"{y:.6g}", "0"] if np.isfinite(x) and np.isfinite(y) else ["NaN"] * 3
        lines.append("\t".join(cells))
    return write_atomic(path, "\n".join(lines) + "\n")


def mot_columns(names: Sequence[str]) -> list[tuple[str, bool]]:
    """For each angle name of an :class:`~posekit.kinematics.AngleSeries`: ``(MOT column, reflect)``. A knee,
    elbow or hip becomes its OpenSim coordinate (``knee_angle_r``, ``elbow_flex_r``, ``hip_flexion_r``: the
    Rajagopal 2015 full-body model's names and signs, flexion positive, 0 = straight) whatever the convention of
    the series (``reflect``: an included angle is turned into the flexion, 180 - x); every other angle keeps
    posekit's name and value."""
    out = []
    for name in names:
        d = ANGLES_BY_NAME.get(name)
        out.append((d.opensim, not d.reflect) if d is not None and d.opensim else (name, False))
    return out


def write_mot(path: str | os.PathLike, series) -> Path:
    """One person's angles (:class:`posekit.kinematics.AngleSeries`) as an OpenSim motion file (``.mot``):
    a header as OpenSim 4's own writer makes it (``version=3``, ``DataType=double``, ``inDegrees=yes``), then a
    tab-separated table ``time`` (seconds from the person's first frame) and one column per angle in degrees
    (``NaN`` where not measurable). Knees, elbows and hips are OpenSim's coordinates (:func:`mot_columns`), so
    the file plots beside an inverse-kinematics result; the other angles keep posekit's names and conventions.
    ``version=1`` would make ``opensim.Storage`` use its old parser, which silently ends the file at the first
    ``NaN``. Written atomically."""
    n = len(series)
    columns = mot_columns(series.names)
    lines = ["Coordinates", "",
             "Units are degrees for angles and seconds for time. knee_angle, hip_flexion and elbow_flex are "
             "flexion (0 when straight, positive when bent; in 2D never negative), as in OpenSim's Rajagopal 2015 "
             "model; the other columns are posekit.kinematics' angles.",
             "", "inDegrees=yes", f"nColumns={len(columns) + 1}", f"nRows={n}", "DataType=double",
             "version=3", "endheader", "\t".join(["time", *(c for c, _ in columns)])]
    values = np.asarray(series.values, np.float64).copy()
    for j, (_, reflect) in enumerate(columns):
        if reflect:
            values[:, j] = 180.0 - values[:, j]
    t0 = float(series.times[0]) if n else 0.0
    for row in range(n):
        vals = ["NaN" if not np.isfinite(v) else f"{v:.4f}" for v in values[row]]
        lines.append("\t".join([f"{float(series.times[row]) - t0:.6f}", *vals]))
    return write_atomic(path, "\n".join(lines) + "\n")


def angle_cell(value) -> float | None:
    """An angle as the angle files write it: degrees rounded to 0.001, None (an empty cell) when not measured."""
    return None if value is None or not np.isfinite(value) else round(float(value), 3)


def written_angles(series):
    """An :class:`~posekit.kinematics.AngleSeries` with its values as :func:`write_angles_csv` writes them
    (:func:`angle_cell`; NaN where a cell is empty): what reports compute on, so that their numbers are the
    file's."""
    values = np.array([[np.nan if (c := angle_cell(v)) is None else c for v in row] for row in series.values],
                      np.float64).reshape(np.shape(series.values))
    return dataclasses.replace(series, values=values)


def write_angles_csv(path_or_file, series: dict) -> int:
    """Angles per frame for each person ``{track_id: AngleSeries}``: ``frame, time, person`` then one column per
    angle (degrees, empty when not measurable), rows by frame then person. Returns the number of rows."""
    own = not hasattr(path_or_file, "write")
    names: list[str] = []
    for s in series.values():
        names = list(s.names)
        break
    rows = []
    for tid, s in series.items():
        for i in range(len(s)):
            rows.append([int(s.frames[i]), round(float(s.times[i]), 6), int(tid), *map(angle_cell, s.values[i])])
    rows.sort(key=lambda r: (r[0], r[2]))
    if not names:
        names = [a.name for a in angle_definitions(DEFAULT_CONVENTION)]
    with atomic_open(path_or_file) if own else contextlib.nullcontext(path_or_file) as f:
        w = csv.writer(f)
        w.writerow(["frame", "time", "person", *names])
        w.writerows(rows)
    return len(rows)


def angles_csv_text(series: dict) -> str:
    """:func:`write_angles_csv` as a string (for a download button)."""
    buf = io.StringIO(newline="")
    write_angles_csv(buf, series)
    return buf.getvalue()


__all__ = [
    "CHAIN_FRACTION", "angle_cell", "angles_csv_text", "mot_columns", "pixels_per_metre", "read_keypoints",
    "write_angles_csv", "write_mot", "write_trc", "written_angles",
    "COCO17_KEYPOINTS", "OPENPOSE_JSON_VERSION", "coco_results", "csv_header", "csv_rows", "csv_text",
    "jsonl_line", "openpose_json", "parse_jsonl_line", "poses_from_openpose", "read_openpose_json", "write_csv",
    "write_openpose_json",
]
