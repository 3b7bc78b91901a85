"""posekit's files read by the tools of the field, in throwaway virtual environments (issue 19, item 5; not run in CI).

Run: .venv/bin/python bench/bench_interop.py [--video PATH] [--seconds 4] [--people 1] [--venv-dir DIR] [--keep]

1. posekit on the first ``--seconds`` of the video (default ``../shared/media/videos/dance.avi``, 4 s), through the
   CLI as a user runs it: ``video VIDEO --keypoints d.csv --json-dir json/`` (OpenPose JSON per frame), then
   ``angles d.csv --trc d_person<ID>_px.trc --mot d_person<ID>.mot --person ID`` for the person seen in the most
   frames (``--people N``: the N most seen; ties go to the lower ID; people whose number appears twice in a frame
   are passed over).
2. In a virtual environment of its own, Sports2D (``--sports2d``, default 0.8.34, with Pose2Sim 0.10.49, the
   versions issue 19 names; else the closest that installs: the same minor series, then the newest) computes its
   angles from posekit's pixel TRC, two ways:

   - ``.mot``: the documented way, ``Sports2D.process`` with ``load_trc_px`` = the TRC (``sports2d
     --load_trc_px``), the video as input, no interpolation, no filtering, no outlier rejection, no conversion to
     metres (``to_meters`` off, so no floor-angle correction), ``visible_side`` auto (Sports2D's default for the
     first person; without toe and heel keypoints it is "right", no flip); its ``*_person00.mot`` is read back.
   - per frame: what that run calls on each frame (Pose2Sim's ``read_trc``, Sports2D's ``load_pose_file``,
     ``add_shoulder_neck_hip_coords`` and ``compute_angles_for_person``), before the ``.mot``'s unwrapping over
     time (``np.unwrap(period=180)``).

   In another one, Pose2Sim (``--pose2sim``, default 0.10.49) reads posekit's JSON folder with its own readers:
   its file order and frame numbers (``sort_stringlist_by_last_number``, the ``re.split`` of its triangulation),
   ``personAssociation.read_json`` (every person's ``pose_keypoints_2d`` as written) and
   ``triangulation.extract_files_frame_f`` (by the keypoint ids of Pose2Sim's own skeleton for posekit's layout:
   ``COCO`` for COCO-18).
3. Prints, per angle, posekit's clinical column against Sports2D's after README.md's mapping (P: posekit, S:
   Sports2D; knees, hips and elbows: P = |S|; shoulders and limb segments: P = S; pelvis and shoulders segments:
   180° apart, P = S ± 180): frames compared (both finite), median and max of the absolute difference in degrees
   (on the circle: 359° and -1° are 0° apart), for the ``.mot`` and per frame; and whether the documented
   relation holds on every frame (within what rounding the TRC's coordinates to 6 significant digits can do),
   else which relation does (|S|, -S, S ± 180, S modulo 180, ±S modulo 180: Sports2D unwraps each angle of its
   ``.mot`` over time with a period of 180°, so a jump of more than 90° between two frames where it has the angle
   shifts what follows by 180°). posekit's ``trunk_lean`` has no counterpart in Sports2D. Then, for Pose2Sim:
   frames and people read back, frames whose number of people differs from posekit's CSV, the max absolute
   difference of x, y (pixels) and confidence over the keypoints both found, and keypoints found on one side only.

Everything it runs talks to nothing but the package index during ``pip install``: posekit gets the weights from
``$POSEKIT_MODEL_DIR``, ``models/`` or ``../shared/models`` (it stops rather than download them), and every run
other than pip's is put in a network namespace of its own (``unshare -n``) where the machine allows it. A failed
install or run is printed with its reason, and the rest goes on. Venvs go to a temporary directory, removed at the
end (``--venv-dir DIR``: kept there and reused by the next run); ``--keep`` keeps the work directory (posekit's
files, Sports2D's output, logs).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit.export import read_keypoints  # noqa: E402
from posekit.layouts import get_layout  # noqa: E402

SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared"))
VIDEO = SHARED / "media" / "videos" / "dance.avi"
SPORTS2D = "0.8.34"
POSE2SIM = "0.10.49"
#: Degrees within which a relation counts as holding on a frame, beyond what the TRC's rounding of each
#: coordinate to 6 significant digits can move that frame's angle (:func:`rounding_bound`: tenths of a degree
#: on a pelvis seen edge-on, half a pixel wide); covers the angles CSV's 3 decimals.
TOLERANCE = 0.002

#: posekit's clinical column, Sports2D's angle (its ``angle_dict`` name) and README.md's documented relation.
MAPPING = [
    ("right_knee_flexion", "right knee", "abs"),
    ("left_knee_flexion", "left knee", "abs"),
    ("right_hip_flexion", "right hip", "abs"),
    ("left_hip_flexion", "left hip", "abs"),
    ("right_elbow_flexion", "right elbow", "abs"),
    ("left_elbow_flexion", "left elbow", "abs"),
    ("right_shoulder", "right shoulder", "equal"),
    ("left_shoulder", "left shoulder", "equal"),
    ("trunk", "trunk", "equal"),
    ("right_arm", "right arm", "equal"),
    ("left_arm", "left arm", "equal"),
    ("right_forearm", "right forearm", "equal"),
    ("left_forearm", "left forearm", "equal"),
    ("right_thigh", "right thigh", "equal"),
    ("left_thigh", "left thigh", "equal"),
    ("right_shank", "right shank", "equal"),
    ("left_shank", "left shank", "equal"),
    ("pelvis", "pelvis", "opposite"),
    ("shoulders", "shoulders", "opposite"),
]
SPORTS2D_JOINTS = ["Right knee", "Left knee", "Right hip", "Left hip", "Right shoulder", "Left shoulder",
                   "Right elbow", "Left elbow"]
SPORTS2D_SEGMENTS = ["Right shank", "Left shank", "Right thigh", "Left thigh", "Pelvis", "Trunk", "Shoulders",
                     "Right arm", "Left arm", "Right forearm", "Left forearm"]
#: Pose2Sim's skeleton (Pose2Sim.skeletons) for each posekit layout.
POSE2SIM_SKELETON = {"COCO-18": "COCO", "BODY_25": "BODY_25", "MPI-15": "MPII"}


def _circ(x):
    """|x| on the circle, degrees: 359 and -1 are 1 apart."""
    return np.abs((np.asarray(x, float) + 180.0) % 360.0 - 180.0)


def _wrap(s):
    return (np.asarray(s, float) + 180.0) % 360.0 - 180.0


#: relation -> (how it is written, |P - relation(S)| in degrees)
RELATIONS = {
    "equal": ("P = S", lambda p, s: _circ(p - s)),
    "abs": ("P = |S|", lambda p, s: _circ(p - np.abs(_wrap(s)))),
    "opposite": ("P = S ± 180", lambda p, s: _circ(p - s - 180.0)),
    "neg": ("P = -S", lambda p, s: _circ(p + s)),
    "mod180": ("P ≡ S (mod 180)", lambda p, s: np.abs((p - s + 90.0) % 180.0 - 90.0)),
    "pm_mod180": ("P ≡ ±S (mod 180)", lambda p, s: np.minimum(np.abs((p - s + 90.0) % 180.0 - 90.0),
                                                              np.abs((p + s + 90.0) % 180.0 - 90.0))),
}

_print_lock = threading.Lock()


def say(*args) -> None:
    with _print_lock:
        print(*args, flush=True)


# --- the throwaway environments -----------------------------------------------------------------------------


def network_isolation() -> list[str]:
    """A command prefix that runs a program with no network (a network namespace of its own), or [] where this
    machine does not allow one."""
    if not shutil.which("unshare"):
        return []
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=20).returncode == 0:
                return prefix
        except (OSError, subprocess.SubprocessError):
            pass
    return []


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    errors = [ln for ln in text if ln.startswith("ERROR") or "error:" in ln.lower()]
    pick = errors[-lines:] if errors else text[-lines:]
    return textwrap.indent("\n".join(pick), "    ")


class Venv:
    """One throwaway virtual environment: its python, what got installed, or why not."""

    def __init__(self, name: str, path: Path, attempts: list[list[str]], packages: list[str]):
        self.name, self.path, self.attempts, self.packages = name, path, attempts, packages
        self.python: Path | None = None
        self.versions: dict[str, str] = {}
        self.error = ""
        self.seconds = 0.0

    def install(self, base_python: str, timeout: float) -> None:
        t0 = time.monotonic()
        try:
            self._install(base_python, timeout)
        except Exception as e:  # noqa: BLE001 - an install failure is a result of the bench, not a crash
            self.error = f"{type(e).__name__}: {e}"
        self.seconds = time.monotonic() - t0
        if self.python:
            got = ", ".join(f"{k} {v}" for k, v in self.versions.items())
            say(f"[{self.name}] installed in {self.seconds:.0f} s: {got}")
        else:
            say(f"[{self.name}] NOT installed ({self.seconds:.0f} s): {self.error}")

    def _install(self, base_python: str, timeout: float) -> None:
        py = self.path / "bin" / "python"
        log = self.path.parent / f"{self.name}-pip.log"
        if not py.exists():
            r = subprocess.run([base_python, "-m", "venv", str(self.path)], capture_output=True, text=True,
                               timeout=300)
            if r.returncode != 0:
                self.error = f"python -m venv failed: {(r.stderr or r.stdout).strip()[-500:]}"
                return
        reasons = []
        for specs in self.attempts:
            say(f"[{self.name}] pip install {' '.join(specs)} (log: {log})")
            with open(log, "a") as f:
                f.write(f"\n=== pip install {' '.join(specs)}\n")
                f.flush()
                try:
                    r = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", *specs],
                                       stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
                    code = r.returncode
                except subprocess.TimeoutExpired:
                    code = f"timed out after {timeout:.0f} s"
            if code == 0:
                self.python = py
                q = ("import json, importlib.metadata as m; import sys; "
                     "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))")
                r = subprocess.run([str(py), "-c", q, *self.packages], capture_output=True, text=True, timeout=60)
                self.versions = json.loads(r.stdout) if r.returncode == 0 else {"?": r.stderr.strip()[-200:]}
                return
            reasons.append(f"`pip install {' '.join(specs)}` failed ({code}):\n{_tail(log)}")
            say(f"[{self.name}] " + reasons[-1])
        self.error = "every attempt failed; last: " + (reasons[-1] if reasons else "?")


def attempts_for(package: str, version: str, extra: list[str] | None = None) -> list[list[str]]:
    """The exact version (with ``extra`` pins), then the exact version alone, then the same minor series (pip
    takes its newest), then the newest."""
    minor = ".".join(version.split(".")[:2])
    out = [[f"{package}=={version}", *(extra or [])]]
    if extra:
        out.append([f"{package}=={version}"])
    out += [[f"{package}~={minor}.0"], [package]]
    return out


# --- code run inside the environments -----------------------------------------------------------------------

SPORTS2D_HELPER = r'''
import json, sys, traceback
from importlib.metadata import version
from pathlib import Path
import numpy as np

args = json.load(open(sys.argv[1]))
out = {"versions": {p: version(p) for p in ("sports2d", "pose2sim")}, "people": {}}
angle_names = [a.lower() for a in args["joint_angles"] + args["segment_angles"]]

for item in args["trcs"]:
    res = {}
    trc = item["trc"]
    # 1. per frame: what Sports2D.process does with load_trc_px, frame by frame, before unwrapping over time
    try:
        import Sports2D.process as sp
        Q, frames_col, time_col, names, _ = sp.read_trc(trc)
        kps, scores = sp.load_pose_file(Q)
        feet = ("LBigToe", "LHeel", "RBigToe", "RHeel")
        has_toe_heel = all(n in names for n in feet)
        lr = [names.index(n) for n in feet] if has_toe_heel else None
        rows = []
        for f in range(len(kps)):
            X, Y, S = kps[f, 0, :, 0].copy(), kps[f, 0, :, 1].copy(), scores[f, 0].copy()
            nn, ni = list(names), list(range(len(names)))
            for k in ("RShoulder", "LShoulder", "Hip", "Neck"):
                if k not in nn:
                    X, Y, S = sp.add_shoulder_neck_hip_coords(k, X, Y, S, ni, nn)
                    nn.append(k)
                    ni.append(len(X) - 1)
            if np.isnan(X).all():
                rows.append([float("nan")] * len(angle_names))
                continue
            _, angs, _ = sp.compute_angles_for_person(X, Y, args["visible_side"], has_toe_heel, ni, nn,
                                                      angle_names, sp.angle_dict, L_R_direction_idx=lr)
            rows.append([float(a) for a in angs])
        a = np.array(rows, float).reshape(len(rows), len(angle_names))
        res["per_frame"] = {n: [None if not np.isfinite(v) else float(v) for v in a[:, j]]
                            for j, n in enumerate(angle_names)}
    except Exception:
        res["per_frame_error"] = traceback.format_exc()[-2000:]
    # 2. the documented way: Sports2D.process with load_trc_px, its .mot read back
    try:
        from Sports2D import Sports2D
        result_dir = Path(item["result_dir"])
        cfg = {
            "base": {"video_input": [args["video"]], "video_dir": "", "result_dir": str(result_dir),
                     "nb_persons_to_detect": 1, "person_ordering_method": "highest_likelihood",
                     "visible_side": [args["visible_side"]], "load_trc_px": trc, "compare": False,
                     "time_range": [], "show_realtime_results": False, "save_vid": False, "save_img": False,
                     "save_pose": True, "calculate_angles": True, "save_angles": True},
            "pose": {"pose_model": "body_with_feet", "mode": "balanced", "device": "cpu", "backend": "onnxruntime"},
            "px_to_meters_conversion": {"to_meters": False, "make_c3d": False, "save_calib": False},
            "angles": {"display_angle_values_on": ["none"], "joint_angles": args["joint_angles"],
                       "segment_angles": args["segment_angles"], "correct_segment_angles_with_floor_angle": False},
            "post-processing": {"interpolate": False, "fill_large_gaps_with": "nan", "reject_outliers": False,
                                "filter": False, "show_graphs": False, "save_graphs": False},
            "kinematics": {"do_ik": False, "do_augmentation": False},
        }
        Sports2D.process(cfg)
        mots = sorted(result_dir.rglob("*_angles_person00.mot"))
        if not mots:
            raise RuntimeError(f"Sports2D wrote no *_angles_person00.mot under {result_dir}")
        lines = mots[0].read_text().splitlines()
        start = next(i for i, ln in enumerate(lines) if ln.strip().lower() == "endheader") + 1
        head = lines[start].split("\t")
        cols = {h: [] for h in head}
        for ln in lines[start + 1:]:
            if not ln.strip():
                continue
            cells = ln.split("\t")
            cells += [""] * (len(head) - len(cells))
            for h, c in zip(head, cells):
                try:
                    v = float(c)
                    cols[h].append(v if np.isfinite(v) else None)
                except ValueError:
                    cols[h].append(None)
        res["mot"] = cols
        res["mot_file"] = str(mots[0])
    except BaseException:
        res["mot_error"] = traceback.format_exc()[-2000:]
    out["people"][str(item["person"])] = res

json.dump(out, open(sys.argv[2], "w"))
'''

POSE2SIM_HELPER = r'''
import json, os, re, sys, traceback
from importlib.metadata import version
import numpy as np

args = json.load(open(sys.argv[1]))
out = {"versions": {"pose2sim": version("pose2sim")}}
try:
    from anytree import RenderTree
    from Pose2Sim import skeletons
    from Pose2Sim.common import sort_stringlist_by_last_number
    from Pose2Sim.personAssociation import read_json
    from Pose2Sim.triangulation import extract_files_frame_f
    model = getattr(skeletons, args["skeleton"])
    nodes = [node for _, _, node in RenderTree(model) if node.id is not None]
    ids, names = [n.id for n in nodes], [n.name for n in nodes]
    d = args["json_dir"]
    files = sort_stringlist_by_last_number([f for f in os.listdir(d) if f.endswith(".json")])
    frames = []
    for f in files:
        path = os.path.join(d, f)
        x, y, c = extract_files_frame_f([path], ids)
        named = [[[None if not np.isfinite(v) else float(v) for v in arr[n][0]] for arr in (x, y, c)]
                 for n in range(len(x))]
        frames.append({"file": f, "frame": int(re.split(r"(\d+)", f)[-2]), "read_json": read_json(path),
                       "named": named})
    out.update(ids=ids, names=names, frames=frames)
except Exception:
    out["error"] = traceback.format_exc()[-2000:]
json.dump(out, open(sys.argv[2], "w"))
'''


def run_helper(venv: Venv, code: str, args: dict, work: Path, isolate: list[str], timeout: float) -> dict:
    """Run ``code`` with ``venv``'s python: its input and output are JSON files; its log goes to a file."""
    name = venv.name
    inp, outp, log = work / f"{name}-in.json", work / f"{name}-out.json", work / f"{name}-run.log"
    inp.write_text(json.dumps(args))
    script = work / f"{name}_helper.py"
    script.write_text(code)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(MPLBACKEND="Agg", QT_QPA_PLATFORM="offscreen", PYTHONNOUSERSITE="1")
    t0 = time.monotonic()
    with open(log, "w") as f:
        try:
            r = subprocess.run([*isolate, str(venv.python), str(script), str(inp), str(outp)], stdout=f,
                               stderr=subprocess.STDOUT, cwd=work, env=env, timeout=timeout)
            code_ = r.returncode
        except subprocess.TimeoutExpired:
            code_ = f"timed out after {timeout:.0f} s"
    say(f"[{name}] ran in {time.monotonic() - t0:.0f} s (log: {log})")
    if code_ != 0 or not outp.exists():
        return {"error": f"exit {code_}:\n{_tail(log, 20)}"}
    return json.loads(outp.read_text())


# --- posekit ------------------------------------------------------------------------------------------------


def model_env(work: Path) -> dict | None:
    """The environment posekit runs in: $POSEKIT_MODEL_DIR, else models/ when it holds the default weights, else
    a directory of links to ../shared/models (as the tests do). None when the weights are nowhere here: posekit
    would download them, and this bench talks to nothing but the package index."""
    from posekit.models import DEFAULT_MODEL, MODELS, model_dir

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    weights = MODELS[DEFAULT_MODEL].weights.filename
    if "POSEKIT_MODEL_DIR" in os.environ or (model_dir() / weights).exists():
        return env if (model_dir() / weights).exists() else None
    shared = SHARED / "models" / "mobilenet_v2_openpose"
    if not (shared / weights).exists():
        return None
    d = work / "models"
    d.mkdir(exist_ok=True)
    for f in shared.glob("*.tflite"):
        (d / f.name).symlink_to(f)
    env["POSEKIT_MODEL_DIR"] = str(d)
    return env


def run_posekit(args: list[str], env: dict, isolate: list[str], log: Path) -> None:
    cmd = [*isolate, sys.executable, "-m", "posekit", *args]
    say("$ python -m posekit " + " ".join(args))
    with open(log, "a") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"posekit {args[0]} failed (exit {r.returncode}):\n{_tail(log, 20)}")


def choose_people(frames, n: int) -> list[int]:
    """The ``n`` IDs seen in the most frames (ties: lower ID first), passing over IDs that appear twice in a
    frame (numbers of untracked people)."""
    seen: dict[int, int] = {}
    twice: set[int] = set()
    for _, _, poses in frames:
        ids = [p.track_id for p in poses if p.track_id is not None]
        twice |= {i for i in ids if ids.count(i) > 1}
        for i in set(ids):
            seen[i] = seen.get(i, 0) + 1
    ranked = sorted((i for i in seen if i not in twice), key=lambda i: (-seen[i], i))
    return ranked[:n]


def read_trc_times(path: Path) -> np.ndarray:
    rows = path.read_text().splitlines()[5:]
    return np.array([float(r.split("\t")[1]) for r in rows if r.strip()])


def read_trc_points(path: Path) -> tuple[np.ndarray, list[str]]:
    """The TRC's markers as (T, K, 3) x, y, found (1 or 0), and their names."""
    lines = path.read_text().splitlines()
    names = [n for n in lines[3].split("\t")[2:] if n.strip()]
    rows = [ln.split("\t")[2:] for ln in lines[5:] if ln.strip()]
    xyz = np.array([[float(v) for v in r[: 3 * len(names)]] for r in rows], float).reshape(len(rows), len(names), 3)
    found = np.isfinite(xyz[..., :2]).all(axis=-1)
    return np.concatenate([np.nan_to_num(xyz[..., :2]), found[..., None].astype(float)], axis=-1), names


def rounding_bound(kp: np.ndarray, layout: str, column: str) -> np.ndarray:
    """Per frame, degrees: how far an angle can move when each TRC coordinate is rounded to 6 significant digits
    (half a unit of the 6th digit on x and y of each end of each vector, over the vector's length)."""
    from posekit.kinematics import ANGLES_BY_NAME, points

    d = ANGLES_BY_NAME[column]
    pts = points(kp, layout, d.points)
    with np.errstate(divide="ignore", invalid="ignore"):
        def err(p):  # the rounding of one point, pixels (x and y together)
            mag = np.maximum(np.abs(p), 1e-9)
            return np.hypot(*(0.5 * 10.0 ** (np.floor(np.log10(mag)) - 5)).T)

        total = np.zeros(len(kp))
        for a, b in d.vectors:
            length = np.linalg.norm(pts[b] - pts[a], axis=-1)
            total = total + (err(pts[a]) + err(pts[b])) / length
    return np.degrees(np.where(np.isfinite(total), total, np.inf))


def posekit_angles(csv_path: Path, person: int, trc_times: np.ndarray) -> tuple[dict[str, np.ndarray], int]:
    """posekit's angle columns for ``person``, one value per TRC row (rows matched by time from the person's
    first frame, as the TRC counts it), and how many TRC rows found no row of the CSV."""
    with open(csv_path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["person"]) == person]
    rows.sort(key=lambda r: int(r["frame"]))
    times = np.array([float(r["time"]) for r in rows])
    rel = times - times[0]
    idx = np.clip(np.searchsorted(rel, trc_times), 0, len(rel) - 1)
    left = np.clip(idx - 1, 0, len(rel) - 1)
    idx = np.where(np.abs(rel[left] - trc_times) < np.abs(rel[idx] - trc_times), left, idx)
    ok = np.abs(rel[idx] - trc_times) < 1e-3
    cols = {}
    for name in rows[0]:
        if name in ("frame", "time", "person"):
            continue
        v = np.array([float(r[name]) if r[name] not in ("", None) else np.nan for r in rows])
        cols[name] = np.where(ok, v[idx], np.nan)
    return cols, int((~ok).sum())


# --- comparisons --------------------------------------------------------------------------------------------


def _as_array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


def compare_angles(pk: dict[str, np.ndarray], tol: dict[str, np.ndarray], s2d: dict, source: str,
                   n_rows: int) -> dict:
    """{posekit column: (P, S, tolerance) aligned arrays} for one Sports2D source ('per_frame' or 'mot')."""
    data = s2d.get(source) or {}
    out = {}
    for col, sname, _ in MAPPING:
        if col not in pk or sname not in data:
            continue
        s = _as_array(data[sname])[:n_rows]
        out[col] = (pk[col][: len(s)], s, tol[col][: len(s)])
    return out


def stats(p: np.ndarray, s: np.ndarray, tol: np.ndarray, relation: str) -> tuple[int, float, float, int]:
    """Frames compared, median and max |P - relation(S)|, frames where the relation holds."""
    m = np.isfinite(p) & np.isfinite(s)
    d = RELATIONS[relation][1](p[m], s[m])
    if not d.size:
        return 0, float("nan"), float("nan"), 0
    return int(m.sum()), float(np.median(d)), float(d.max()), int((d <= tol[m] + TOLERANCE).sum())


def verdict(p: np.ndarray, s: np.ndarray, tol: np.ndarray, documented: str) -> str:
    n, _, _, ok = stats(p, s, tol, documented)
    if n == 0:
        return "no frames"
    if ok == n:
        return "yes"
    better = [RELATIONS[r][0] for r in ("equal", "abs", "neg", "opposite", "mod180", "pm_mod180")
              if r != documented and stats(p, s, tol, r)[3] == n]
    if len(better) > 1 and better[-1] == RELATIONS["pm_mod180"][0]:
        better.pop()  # implied by the ones before it
    return f"NO, on {ok}/{n}; " + (" and ".join(better) + " holds" if better else "no simple relation holds")


def fmt(v: float, digits: int = 3) -> str:
    return "—" if not np.isfinite(v) else f"{v:.{digits}f}"


def print_sports2d(result: dict, pk_people: dict, venv: Venv) -> None:
    versions = result.get("versions", venv.versions)
    say(f"\nSports2D {versions.get('sports2d', '?')} (Pose2Sim {versions.get('pose2sim', '?')}) on posekit's pixel "
        f"TRC: |P - relation(S)| in degrees, P = posekit (clinical), S = Sports2D")
    for person, (pk, tol, n_rows, unmatched) in pk_people.items():
        res = result.get("people", {}).get(str(person), {})
        say(f"\nperson {person}: {n_rows} TRC rows" + (f", {unmatched} without a row in posekit's angles CSV"
                                                     if unmatched else ""))
        for key in ("per_frame_error", "mot_error"):
            if key in res:
                say(f"  {key.replace('_', ' ')}:\n{textwrap.indent(res[key].strip(), '    ')}")
        mot = compare_angles(pk, tol, res, "mot", n_rows)
        per = compare_angles(pk, tol, res, "per_frame", n_rows)
        if "mot" in res and len(next(iter(res["mot"].values()), [])) != n_rows:
            say(f"  note: the .mot has {len(next(iter(res['mot'].values())))} rows, the TRC {n_rows}")
        head = (f"  {'posekit (clinical)':<20} {'Sports2D':<15} {'README':<12} | {'.mot: frames':>12} "
                f"{'median':>7} {'max':>8} | {'per frame':>9} {'median':>7} {'max':>8} | README's relation holds? "
                f"(per frame; .mot if not the same)")
        say(head)
        say("  " + "-" * (len(head) + 12))
        for col, sname, rel in MAPPING:
            cells = []
            for src in (mot, per):
                if col in src:
                    n, med, mx, _ = stats(*src[col], rel)
                    cells.append((str(n), fmt(med), fmt(mx)))
                else:
                    cells.append(("—", "—", "—"))
            verdicts = [verdict(*src[col], rel) for src in (per, mot) if col in src]
            holds = verdicts[0] if verdicts else "not computed"
            if len(verdicts) == 2 and verdicts[1] != verdicts[0]:
                holds += f"; .mot: {verdicts[1]}"
            (n1, m1, x1), (n2, m2, x2) = cells
            say(f"  {col:<20} {sname:<15} {RELATIONS[rel][0]:<12} | {n1:>12} {m1:>7} {x1:>8} | {n2:>9} {m2:>7} "
                f"{x2:>8} | {holds}")
        if "mot_file" in res:
            say(f"  (.mot: {res['mot_file']})")


def print_pose2sim(result: dict, frames, layout_name: str, json_count: int) -> None:
    say(f"\nPose2Sim {result.get('versions', {}).get('pose2sim', '?')} reading posekit's OpenPose JSON "
        f"({json_count} files; posekit's keypoints from its CSV, layout {layout_name}, Pose2Sim skeleton "
        f"{POSE2SIM_SKELETON.get(layout_name)})")
    if "error" in result:
        say(textwrap.indent(result["error"].strip(), "  "))
        return
    lay = get_layout(layout_name)
    ours = {f: poses for f, _, poses in frames}
    got = result["frames"]
    order_ok = [g["frame"] for g in got] == sorted(g["frame"] for g in got)
    frame_ids = [g["frame"] for g in got]
    stray = [f for f in ours if f not in set(frame_ids)]
    say(f"  files in Pose2Sim's order: frames {frame_ids[0] if got else '—'}..{frame_ids[-1] if got else '—'}, "
        f"{'ascending' if order_ok else 'NOT in frame order'}, {len(set(frame_ids))} distinct; frames of posekit's "
        f"CSV with no file: {len(stray)}")
    named_index = [lay.find(n) for n in result["names"]]
    unknown = [n for n, i in zip(result["names"], named_index) if i is None]
    if unknown:
        say(f"  Pose2Sim keypoints posekit's layout does not have: {unknown}")
    head = (f"  {'reader':<41} {'frames':>6} {'people':>6} {'count≠':>6} {'max |dx|,|dy| px':>17} "
            f"{'max |dc|':>9} {'found≠':>6}")
    say(head)
    say("  " + "-" * len(head))
    for reader in ("read_json", "named"):
        people = count_diff = found_diff = 0
        dxy = dc = 0.0
        for g in got:
            mine = ours.get(g["frame"], [])
            theirs = g[reader]
            people += len(theirs)
            if len(theirs) != len(mine):
                count_diff += 1
            for pose, t in zip(mine, theirs):
                kp = np.asarray(pose.keypoints, float)
                if reader == "read_json":
                    a = np.array(t, float).reshape(-1, 3)
                    found_diff += abs(len(a) - len(kp))  # keypoints in one but not the other
                    k = min(len(a), len(kp))
                    mine_k, a = kp[:k], a[:k]
                else:
                    x, y, c = (_as_array(v) for v in t)
                    a = np.stack([x, y, c], axis=1)
                    keep = [j for j, i in enumerate(named_index) if i is not None]
                    a, mine_k = a[keep], kp[[named_index[j] for j in keep]]
                mf = mine_k[:, 2] > 0
                tf = np.nan_to_num(a[:, 2], nan=0.0) > 0
                found_diff += int((mf != tf).sum())
                both = mf & tf
                if both.any():
                    dxy = max(dxy, float(np.abs(a[both, :2] - mine_k[both, :2]).max()))
                    dc = max(dc, float(np.abs(a[both, 2] - mine_k[both, 2]).max()))
        label = ("personAssociation.read_json (as written)" if reader == "read_json"
                 else "triangulation.extract_files_frame_f")
        say(f"  {label:<41} {len(got):>6} {people:>6} {count_diff:>6} {dxy:>17.4g} {dc:>9.3g} {found_diff:>6}")
    say(f"  (posekit's CSV: {sum(len(p) for p in ours.values())} people in {len(ours)} frames with people; "
        "count≠: frames whose number of people differs; found≠: keypoints found on one side only)")


# --- main ---------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", type=Path, default=VIDEO, help=f"default: {VIDEO}")
    ap.add_argument("--seconds", type=float, default=4.0, help="the first S seconds of the video (default: 4)")
    ap.add_argument("--people", type=int, default=1, help="how many people to compare (the most seen; default 1)")
    ap.add_argument("--sports2d", default=SPORTS2D, help=f"Sports2D version (default {SPORTS2D})")
    ap.add_argument("--pose2sim", default=POSE2SIM, help=f"Pose2Sim version (default {POSE2SIM})")
    ap.add_argument("--venv-dir", type=Path, help="keep the virtual environments here (reused next time); "
                                                  "default: a temporary directory, removed at the end")
    ap.add_argument("--python", default=sys.executable, help="interpreter the venvs are made from")
    ap.add_argument("--pip-timeout", type=float, default=1800, help="seconds per pip install (default 1800)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (posekit's files, logs)")
    args = ap.parse_args(argv)

    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="posekit-interop-"))
    venv_root = args.venv_dir.resolve() if args.venv_dir else work / "venvs"
    venv_root.mkdir(parents=True, exist_ok=True)
    say(f"work directory: {work}; venvs: {venv_root}")
    isolate = network_isolation()
    say("runs other than pip's: " + (f"no network ({' '.join(isolate)})" if isolate else
                                       "this machine allows no network namespace; they are run as they are"))
    venvs = {
        "sports2d": Venv("sports2d", venv_root / "sports2d",
                         attempts_for("sports2d", args.sports2d, [f"pose2sim=={args.pose2sim}"]),
                         ["sports2d", "pose2sim"]),
        "pose2sim": Venv("pose2sim", venv_root / "pose2sim", attempts_for("pose2sim", args.pose2sim),
                         ["pose2sim"]),
    }

    def install_all():
        for v in venvs.values():
            v.install(args.python, args.pip_timeout)

    installer = threading.Thread(target=install_all, daemon=True)
    installer.start()  # pip downloads while posekit computes
    try:
        # 1. posekit
        frames, layout_name, people, pk_people, json_count = [], "COCO-18", [], {}, 0
        env = model_env(work)
        posekit_ok = False
        if not args.video.exists():
            say(f"posekit: no video at {args.video}")
        elif env is None:
            say("posekit: the default model's weights are not in $POSEKIT_MODEL_DIR, models/ or ../shared/models; "
                "not downloading them (run `python -m posekit models download` first)")
        else:
            try:
                log = work / "posekit.log"
                t0 = time.monotonic()
                run_posekit(["video", str(args.video), "-o", str(work / "d.mp4"), "--keypoints", str(work / "d.csv"),
                             "--json-dir", str(work / "json"), "--max-seconds", f"{args.seconds:g}", "--quiet"],
                            env, isolate, log)
                say(f"  ({time.monotonic() - t0:.0f} s)")
                frames = read_keypoints(work / "d.csv")
                if frames:
                    layout_name = get_layout(frames[0][2][0].layout).name
                json_count = len(list((work / "json").glob("*.json")))
                people = choose_people(frames, args.people)
                say(f"posekit: {len(frames)} frames with people, {json_count} JSON files; people compared: {people}")
                for pid in people:
                    trc, mot = work / f"d_person{pid}_px.trc", work / f"d_person{pid}.mot"
                    run_posekit(["angles", str(work / "d.csv"), "-o", str(work / "angles.csv"), "--trc", str(trc),
                                 "--mot", str(mot), "--person", str(pid), "--convention", "clinical"],
                                env, isolate, log)
                    times = read_trc_times(trc)
                    cols, unmatched = posekit_angles(work / "angles.csv", pid, times)
                    kp, _ = read_trc_points(trc)
                    tol = {c: rounding_bound(kp, layout_name, c) for c, _, _ in MAPPING}
                    pk_people[pid] = (cols, tol, len(times), unmatched)
                posekit_ok = True
            except Exception as e:  # noqa: BLE001
                say(f"posekit: {e}")
        installer.join()

        # 2. the tools, 3. the tables
        s2d, p2s = venvs["sports2d"], venvs["pose2sim"]
        if not posekit_ok:
            say("\nnothing to compare: posekit's run failed")
        else:
            if s2d.python and pk_people:
                helper_args = {
                    "video": str(args.video.resolve()), "visible_side": "auto",
                    "joint_angles": SPORTS2D_JOINTS, "segment_angles": SPORTS2D_SEGMENTS,
                    "trcs": [{"person": pid, "trc": str(work / f"d_person{pid}_px.trc"),
                              "result_dir": str(work / f"sports2d_person{pid}")} for pid in pk_people],
                }
                result = run_helper(s2d, SPORTS2D_HELPER, helper_args, work, isolate, 1800)
                if "error" in result:
                    say(f"\nSports2D: its run failed: {result['error']}")
                else:
                    print_sports2d(result, pk_people, s2d)
            elif not s2d.python:
                say(f"\nSports2D: not installed ({s2d.error})")
            if p2s.python:
                skeleton = POSE2SIM_SKELETON.get(layout_name)
                result = run_helper(p2s, POSE2SIM_HELPER, {"json_dir": str(work / "json"), "skeleton": skeleton},
                                    work, isolate, 900)
                print_pose2sim(result, frames, layout_name, json_count)
            else:
                say(f"\nPose2Sim: not installed ({p2s.error})")
        say(f"\ntotal {time.monotonic() - t_start:.0f} s (installs: "
            + ", ".join(f"{v.name} {v.seconds:.0f} s" for v in venvs.values()) + ")")
    finally:
        installer.join(timeout=0)
        if args.keep:
            say(f"kept: {work}")
        else:
            if installer.is_alive():
                say(f"an install is still running; left in place: {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
