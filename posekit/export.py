"""Keypoints out (and back in): OpenPose JSON, COCO keypoint results, CSV and JSON lines.

Conventions shared by every format: coordinates are image pixels; a keypoint that was not found is written as
``x = y = c = 0`` (OpenPose's convention) except in CSV, where its x and y cells are left empty (so that
spreadsheets and pandas read them as missing) and its confidence is 0. People are numbered from 0.
Numbers are written as the shortest decimals that read back as the same float32 values.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .errors import InvalidInputError
from .layouts import COCO17_KEYPOINTS, COCO18, Layout, get_layout
from .pose import Pose

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
    return float(np.format_float_positional(v, unique=True, trim="-"))


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
    """
    _check_layout(poses, layout)
    people = []
    for p in poses:
        person = {"person_id": [-1], "pose_keypoints_2d": _flat(p.keypoints)}
        person.update({k: [] for k in _EMPTY_PERSON_FIELDS})
        people.append(person)
    return {"version": OPENPOSE_JSON_VERSION, "people": people}


def write_openpose_json(path: str | os.PathLike, poses: Sequence[Pose], layout: str | Layout | None = None) -> Path:
    """Write :func:`openpose_json` to ``path`` (compact, as OpenPose does); returns the path."""
    path = Path(path)
    path.write_text(json.dumps(openpose_json(poses, layout), separators=(",", ":")) + "\n", encoding="utf-8")
    return path


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
        poses.append(Pose(kp, float(kp[:, 2].sum() / lay.num_keypoints), lay.name))
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

def csv_header(layout: str | Layout = COCO18) -> list[str]:
    """``frame, person, score`` then ``<name>_x, <name>_y, <name>_c`` per keypoint in the layout's order."""
    lay = get_layout(layout)
    cols = ["frame", "person", "score"]
    for name in lay.keypoints:
        cols += [f"{name}_x", f"{name}_y", f"{name}_c"]
    return cols


def csv_rows(poses: Sequence[Pose], frame: int | None = None) -> list[list]:
    """One row per person matching :func:`csv_header`; ``frame`` None leaves the frame cell empty.

    Missing keypoints have empty x and y (None) and confidence 0.
    """
    _check_layout(poses, None)
    rows = []
    for i, p in enumerate(poses):
        row: list = [frame, i, _num(p.score)]
        for x, y, c in p.keypoints:
            row += [_num(x), _num(y), _num(c)] if c > 0 else [None, None, 0.0]
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
    f = open(path_or_file, "w", newline="", encoding="utf-8") if own else path_or_file
    try:
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
    finally:
        if own:
            f.close()
    return count


def csv_text(poses: Sequence[Pose], frame: int | None = None, layout: str | Layout | None = None) -> str:
    """CSV (header and rows) of one image's poses as a string, e.g. for a download button."""
    buf = io.StringIO(newline="")
    write_csv(buf, [(frame, poses)], layout)
    return buf.getvalue()


# --- JSON lines -------------------------------------------------------------------------------------------

def jsonl_line(frame_index: int, time_s: float | None, poses: Sequence[Pose]) -> str:
    """One JSON line for a video frame (no trailing newline):

    ``{"frame": 12, "time": 0.48, "people": [{"score": 0.61, "layout": "COCO-18",
    "keypoints": [[x, y, c], ...]}, ...]}`` (missing keypoints as ``[0, 0, 0]``).
    """
    people = []
    for p in poses:
        flat = _flat(p.keypoints)
        people.append({"score": _num(p.score), "layout": p.layout,
                       "keypoints": [flat[i:i + 3] for i in range(0, len(flat), 3)]})
    t = None if time_s is None else round(float(time_s), 6)
    return json.dumps({"frame": int(frame_index), "time": t, "people": people}, separators=(",", ":"))


def parse_jsonl_line(line: str) -> tuple[int, float | None, list[Pose]]:
    """The inverse of :func:`jsonl_line`: ``(frame_index, time_s, poses)``."""
    try:
        d = json.loads(line)
        poses = [Pose(np.asarray(p["keypoints"], np.float32), float(p["score"]), p["layout"]) for p in d["people"]]
        return int(d["frame"]), d["time"], poses
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInputError(f"not a posekit JSON line: {e}") from None


__all__ = [
    "COCO17_KEYPOINTS", "OPENPOSE_JSON_VERSION", "coco_results", "csv_header", "csv_rows", "csv_text",
    "jsonl_line", "openpose_json", "parse_jsonl_line", "poses_from_openpose", "read_openpose_json", "write_csv",
    "write_openpose_json",
]
