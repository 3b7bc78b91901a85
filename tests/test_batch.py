"""Batch runs (posekit.batch, `python -m posekit batch`) on a small library made from ../shared/media:
short clips, a photo folder, a corrupt video and an empty file; the local process pool and a local Ray
cluster; workers killed in the middle; reruns."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import cv2
import pytest

from posekit.batch import (
    DONE,
    FAILED,
    MANIFEST,
    PARTIAL,
    SKIPPED,
    LocalEngine,
    RayEngine,
    Settings,
    collect_inputs,
    output_names,
    run_batch,
)
from posekit.errors import InvalidInputError, PosekitError
from posekit.video import probe

from clips import read_frames, write_clip
from conftest import IMAGES, ROOT, VIDEOS

MODEL = "mobilenet_v2_0.5"
SETTINGS = Settings(model=MODEL, keypoints="jsonl", overlay=True, openpose_json=True, angles=True)
GOOD = ["clips/dance_a.mp4", "clips/demo.mp4", "clips/sub/dance_b.mp4", "photos/golf.jpg", "photos/p2.jpg",
        "photos/valid_person1.jpg"]
BAD = ["clips/broken.mp4", "clips/empty.mp4"]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    """Three short clips (8, 5 and 6 frames), three photos, a corrupt video and an empty one."""
    lib = tmp_path_factory.mktemp("library")
    (lib / "clips" / "sub").mkdir(parents=True)
    (lib / "photos").mkdir()
    frames = [cv2.resize(f, (480, 270), interpolation=cv2.INTER_AREA)
              for f in read_frames(VIDEOS / "dance.avi", limit=110)]
    write_clip(lib / "clips" / "dance_a.mp4", frames[:8], fps=25)
    write_clip(lib / "clips" / "sub" / "dance_b.mp4", frames[104:110], fps=25)
    shutil.copy(VIDEOS / "demo.mp4", lib / "clips" / "demo.mp4")
    for name in ("golf.jpg", "p2.jpg", "valid_person1.jpg"):
        shutil.copy(IMAGES / name, lib / "photos" / name)
    data = (VIDEOS / "demo.mp4").read_bytes()
    (lib / "clips" / "broken.mp4").write_bytes(data[2000:6000])  # no header: not a video
    (lib / "clips" / "empty.mp4").write_bytes(b"")
    return lib


def rows(out: Path) -> dict[str, dict]:
    with open(out / MANIFEST, newline="", encoding="utf-8") as f:
        return {r["input"]: r for r in csv.DictReader(f)}


def keypoint_files(out: Path) -> dict[str, bytes]:
    """Every keypoints file (JSON lines and OpenPose JSON) under ``out``, by relative path."""
    files = {}
    for p in sorted(out.rglob("*")):
        if p.is_file() and (p.name.endswith(".jsonl") or p.name.endswith("_keypoints.json")):
            files[p.relative_to(out).as_posix()] = p.read_bytes()
    return files


def kill_and_wait(pid: int) -> None:
    """SIGKILL a process and wait until it is dead, all its threads too (as a crash or the OOM killer would)."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
            if state in "ZX" and len(os.listdir(f"/proc/{pid}/task")) <= 1:
                return
        except FileNotFoundError:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} survived SIGKILL")


def assert_nothing_partial(out: Path) -> None:
    assert not (out / PARTIAL).exists()
    left = [p for p in out.rglob("*") if ".part" in p.name or p.name.startswith(".no-overlay")
            or (p.name.startswith(".") and p.name not in (".posekit-batch.lock",))]
    assert left == []


def assert_library_done(out: Path, summary) -> None:
    r = rows(out)
    assert sorted(r) == sorted(GOOD + BAD)
    for key in GOOD:
        assert r[key]["status"] == DONE, (key, r[key]["reason"])
        assert int(r[key]["people"]) >= 1, key
        assert r[key]["backend"] == "cpu" and r[key]["worker"], key
        for name in r[key]["outputs"].split(";"):
            assert (out / name).exists(), name
    assert r["clips/empty.mp4"]["status"] == FAILED and "empty" in r["clips/empty.mp4"]["reason"]
    assert r["clips/broken.mp4"]["status"] == FAILED
    assert "not a readable video" in r["clips/broken.mp4"]["reason"]
    assert {r[k]["error"] for k in BAD} == {"input"}
    assert int(r["clips/dance_a.mp4"]["frames"]) == 8 and int(r["clips/sub/dance_b.mp4"]["frames"]) == 6
    assert int(r["clips/demo.mp4"]["frames"]) == 5 and int(r["photos/p2.jpg"]["frames"]) == 1
    assert len({r[k]["settings_hash"] for k in r}) == 1
    # one JSON line and one OpenPose file per frame, an overlay with every frame
    assert len((out / "clips/dance_a.mp4.keypoints.jsonl").read_text().splitlines()) == 8
    assert len(list((out / "clips/sub/dance_b.mp4.openpose").glob("dance_b_*_keypoints.json"))) == 6
    assert probe(out / "clips/dance_a.mp4.overlay.mp4").frames == 8
    # angles per frame and tracked person; the keypoints carry the same IDs
    with open(out / "clips/dance_a.mp4.angles.csv", newline="") as f:
        angles = list(csv.DictReader(f))
    assert {int(a["frame"]) for a in angles} <= set(range(8)) and angles
    assert "right_elbow_flexion" in angles[0]
    assert len({a["person"] for a in angles}) == int(r["clips/dance_a.mp4"]["people"])
    first = json.loads((out / "clips/dance_a.mp4.keypoints.jsonl").read_text().splitlines()[0])
    assert all("id" in person and "angles" in person for person in first["people"])
    assert (out / "photos/golf.jpg.overlay.jpg").stat().st_size > 0
    # the run's own summary agrees with its manifest: counts, frames, videos and one result per row
    assert (summary.done, summary.failed, summary.skipped) == (len(GOOD), len(BAD), 0)
    assert summary.total == len(r) and summary.manifest == out / MANIFEST
    assert {res.input: res.status for res in summary.results} == {k: v["status"] for k, v in r.items()}
    assert summary.frames == sum(int(r[k]["frames"]) for k in GOOD) == 8 + 5 + 6 + 3
    assert summary.videos == 3
    assert_nothing_partial(out)


@pytest.fixture(scope="module")
def local_run(library, tmp_path_factory, model_dir):
    """The library run once by the local engine (2 worker processes): (output folder, the run's summary)."""
    out = tmp_path_factory.mktemp("out-local")
    summary = run_batch([library], out, SETTINGS, engine=LocalEngine(workers=2), progress=False)
    return out, summary


@pytest.fixture(scope="module")
def local_out(local_run) -> Path:
    """The reference outputs of :func:`local_run`."""
    return local_run[0]


@pytest.fixture(scope="module")
def ray_cluster(model_dir):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"POSEKIT_MODEL_DIR": str(model_dir), "PYTHONPATH": str(ROOT)}})
    yield ray
    ray.shutdown()


# ------------------------------------------------------------------------------------------------- inputs


def test_inputs_folders_lists_and_mirrored_keys(library, tmp_path):
    items = collect_inputs([library], output=library / "out")
    assert [i.key for i in items] == sorted(GOOD + BAD)
    assert {i.kind for i in items if i.key.startswith("photos/")} == {"photo"}
    listing = library / "clips" / "some.txt"
    try:
        listing.write_text(f"# two clips\ndemo.mp4\nsub/dance_b.mp4\n{IMAGES / 'p2.jpg'}\n")
        assert [i.key for i in collect_inputs([listing])] == ["demo.mp4", "p2.jpg", "sub/dance_b.mp4"]
        # the output folder is never read as input, even inside an input folder
        (library / "clips" / "out").mkdir()
        shutil.copy(library / "clips" / "demo.mp4", library / "clips" / "out" / "x.mp4")
        assert "out/x.mp4" not in [i.key for i in collect_inputs([library / "clips"], library / "clips" / "out")]
    finally:
        listing.unlink()
        shutil.rmtree(library / "clips" / "out", ignore_errors=True)
    with pytest.raises(InvalidInputError, match="the same outputs"):
        collect_inputs([library / "photos" / "p2.jpg", IMAGES / "p2.jpg"])
    with pytest.raises(InvalidInputError, match="no such"):
        collect_inputs([tmp_path / "missing.mp4"])
    names = output_names(items[0], SETTINGS)
    assert names == {"keypoints": "clips/broken.mp4.keypoints.jsonl", "overlay": "clips/broken.mp4.overlay.mp4",
                     "openpose": "clips/broken.mp4.openpose", "angles": "clips/broken.mp4.angles.csv"}
    assert Settings(model=MODEL).hash() != Settings(model=MODEL, threshold=0.2).hash()
    assert Settings(model=MODEL).hash() != Settings(model=MODEL, track=False).hash()
    assert Settings(model=MODEL).hash() != Settings(model=MODEL, extend=False).hash()
    assert Settings(model=MODEL).hash() != Settings(model=MODEL, refine="movenet_lightning").hash()
    assert Settings(model=MODEL).hash() != Settings(model=MODEL, refine_passes=2).hash()
    assert Settings(model=MODEL).hash() == Settings(model=MODEL).hash()


def test_cli_second_stage_and_grouping_reach_the_workers(tmp_path):
    """``batch --refine movenet_lightning --refine-passes 2 --refine-margin 1.3 --no-extend`` writes what
    PoseEstimator(refine=..., refine_passes=2, refine_margin=1.3, extend=False) finds on the same photo: the
    options reach the worker processes (and into the settings hash)."""
    import numpy as np

    from posekit import PoseEstimator
    from posekit.cli import main
    from posekit.export import read_keypoints
    from posekit.imageio import load_image

    shutil.copy(IMAGES / "p3.jpg", tmp_path / "p3.jpg")
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "p3.jpg"), "--output", str(out), "--model", MODEL, "--workers", "1",
                 "--refine", "movenet_lightning", "--refine-passes", "2", "--refine-margin", "1.3", "--no-extend",
                 "-q"]) == 0
    ((_, _, written),) = read_keypoints(out / "p3.jpg.keypoints.jsonl")
    est = PoseEstimator(MODEL, refine="movenet_lightning", refine_passes=2, refine_margin=1.3, extend=False)
    expected = est.estimate(load_image(IMAGES / "p3.jpg"))
    plain = PoseEstimator(MODEL, refine="movenet_lightning", extend=False).estimate(load_image(IMAGES / "p3.jpg"))
    key = lambda p: tuple(np.round(p.keypoints[1, :2], 1))  # noqa: E731 - by the neck
    assert len(written) == len(expected)
    for w, e in zip(sorted(written, key=key), sorted(expected, key=key)):
        np.testing.assert_allclose(w.keypoints, e.keypoints, atol=0.01)
    assert not all(np.allclose(a.keypoints, b.keypoints, atol=0.01)
                   for a, b in zip(sorted(plain, key=key), sorted(expected, key=key)))


# ------------------------------------------------------------------------------------------ local engine


def test_local_engine_library(local_run):
    out, summary = local_run
    assert_library_done(out, summary)  # the real run's summary and manifest, not counts made up here
    assert len(summary.load_s) == 2 and all(v > 0 for v in summary.load_s.values())


def test_rerun_skips_all_and_force_redoes(library, local_out, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local_out, out, copy_function=shutil.copy2)
    before = rows(out)
    summary = run_batch([library], out, SETTINGS, engine=LocalEngine(workers=1), progress=False)
    after = rows(out)
    assert (summary.done, summary.skipped, summary.failed) == (0, len(GOOD), len(BAD))
    assert all(after[k]["status"] == SKIPPED for k in GOOD)
    assert all(after[k] == before[k] for k in BAD)  # the same bad files: rows kept, not run again
    assert keypoint_files(out) == keypoint_files(local_out)
    # --force (through the CLI, with a list file) redoes what it names; an input changed since is redone
    from posekit.cli import main

    os.utime(library / "photos" / "p2.jpg")
    try:
        listing = tmp_path / "list.txt"
        listing.write_text(f"{library / 'clips' / 'demo.mp4'}\n{library / 'clips' / 'broken.mp4'}\n")
        assert main(["batch", str(listing), "--output", str(out / "clips"), "--model", MODEL, "--workers", "1",
                     "--video", "--json-dir", "--force", "-q"]) == 1  # 1: an input failed
        forced = rows(out / "clips")
        assert forced["demo.mp4"]["status"] == DONE and forced["broken.mp4"]["status"] == FAILED
        summary = run_batch([library], out, SETTINGS, engine=LocalEngine(workers=1), progress=False)
        r = rows(out)
        assert r["photos/p2.jpg"]["status"] == DONE and r["photos/p2.jpg"]["finished_at"] >= \
            before["photos/p2.jpg"]["finished_at"]
        assert summary.done == 1 and summary.skipped == len(GOOD) - 1
    finally:
        st = (local_out / MANIFEST).stat()  # the library file back as the reference run saw it
        os.utime(library / "photos" / "p2.jpg", ns=(st.st_atime_ns, int(before["photos/p2.jpg"]["mtime_ns"])))
    assert keypoint_files(out) == {**keypoint_files(local_out), **{
        f"clips/{k}": v for k, v in keypoint_files(out / "clips").items()}}
    assert_nothing_partial(out)


def test_local_worker_killed_mid_batch(library, local_out, tmp_path):
    """A worker process killed in the middle: its item is failed (no retries) with the reason, the run goes
    on, nothing partial is left, and a rerun redoes that item."""
    out = tmp_path / "out"
    engine = LocalEngine(workers=2, retries=0)
    killed = []

    def kill_busy_worker(res):
        if killed or not engine.running or next(iter(engine.running.values())).key not in GOOD:
            return
        finished_pid = int(res.worker.rsplit(":", 1)[1])
        busy = [pid for pid in engine.worker_pids() if pid != finished_pid]
        assert len(busy) == 1
        killed.append(next(iter(engine.running.values())).key)
        kill_and_wait(busy[0])

    summary = run_batch([library], out, SETTINGS, engine=engine, progress=False, on_result=kill_busy_worker)
    assert killed
    r = rows(out)
    assert r[killed[0]]["status"] == FAILED and r[killed[0]]["error"] == "worker"
    assert "worker process died" in r[killed[0]]["reason"]
    assert all(r[k]["status"] == DONE for k in GOOD if k != killed[0]), {k: r[k]["reason"] for k in r}
    assert summary.failed == len(BAD) + 1
    assert_nothing_partial(out)
    assert not any((out / name).exists() for name in r[killed[0]]["outputs"].split(";") if name)
    # the rerun redoes the item whose worker died (and only it); everything then equals the reference
    summary = run_batch([library], out, SETTINGS, engine=LocalEngine(workers=1), progress=False)
    assert (summary.done, summary.skipped) == (1, len(GOOD) - 1)
    assert keypoint_files(out) == keypoint_files(local_out)


def test_local_worker_killed_is_retried(library, local_out, tmp_path):
    out = tmp_path / "out"
    engine = LocalEngine(workers=2, retries=1)
    killed = []

    def kill(res):
        if not killed and engine.running and next(iter(engine.running.values())).key in GOOD:
            pid = int(res.worker.rsplit(":", 1)[1])
            victim = next(p for p in engine.worker_pids() if p != pid)
            killed.append(next(iter(engine.running.values())).key)
            kill_and_wait(victim)

    run_batch([library], out, SETTINGS, engine=engine, progress=False, on_result=kill)
    r = rows(out)
    assert r[killed[0]]["status"] == DONE and "retried: a worker process died" in r[killed[0]]["reason"]
    assert int(r[killed[0]]["attempts"]) == 2
    assert keypoint_files(out) == keypoint_files(local_out)
    assert_nothing_partial(out)


def test_interrupted_run_keeps_finished_and_leaves_nothing_partial(library, local_out, tmp_path):
    out = tmp_path / "out"
    seen = []

    def interrupt(res):
        seen.append(res.input)
        if len(seen) == 2:
            raise KeyboardInterrupt

    engine = LocalEngine(workers=2)
    with pytest.raises(KeyboardInterrupt):
        run_batch([library], out, SETTINGS, engine=engine, progress=False, on_result=interrupt)
    assert engine.pool is None
    assert sorted(rows(out)) == sorted(seen)
    assert_nothing_partial(out)
    summary = run_batch([library], out, SETTINGS, engine=LocalEngine(workers=2), progress=False)
    assert summary.skipped + sum(1 for k in seen if k in BAD) == 2
    assert keypoint_files(out) == keypoint_files(local_out)


def test_model_that_cannot_load_stops_the_run_with_a_clear_error(library, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(PosekitError, match="could not load the model: .*nope"):
        run_batch([library / "photos"], out, Settings(model="nope"), engine=LocalEngine(workers=1), progress=False)
    assert rows(out) == {}
    assert_nothing_partial(out)


# ------------------------------------------------------------------------------------------------ Ray engine


def test_ray_engine_same_outputs_as_local(ray_cluster, library, local_out, tmp_path):
    out = tmp_path / "out"
    summary = run_batch([library], out, SETTINGS, engine=RayEngine(workers=2), progress=False)
    assert_library_done(out, summary)
    assert keypoint_files(out) == keypoint_files(local_out)
    assert len({r["worker"] for r in rows(out).values()}) == 2
    summary = run_batch([library], out, SETTINGS, engine=RayEngine(workers=2), progress=False)
    assert (summary.done, summary.skipped) == (0, len(GOOD))
    with pytest.raises(PosekitError, match="could not load the model: .*nope"):
        run_batch([library / "photos"], tmp_path / "bad", Settings(model="nope"), engine=RayEngine(workers=1),
                  progress=False)


def test_ray_actor_killed_mid_run(ray_cluster, library, local_out, tmp_path):
    """Actors killed while busy: the first stays dead and is replaced by the driver, its item resubmitted; the
    second (when another good item is still in flight as a result comes in: it depends on timing) is
    restarted by Ray (max_restarts), which retries the task on it (max_task_retries)."""
    out = tmp_path / "out"
    engine = RayEngine(workers=2, retries=1)
    killed = []

    def kill_busy_actor(res):
        for actor, item in list(engine.busy.items()):
            if len(killed) < 2 and item.key in GOOD and item.key not in killed:
                killed.append(item.key)
                ray_cluster.kill(actor, no_restart=len(killed) == 1)
                return

    run_batch([library], out, SETTINGS, engine=engine, progress=False, on_result=kill_busy_actor)
    assert len(killed) >= 1
    r = rows(out)
    for key in killed:
        assert r[key]["status"] == DONE and "retried" in r[key]["reason"], r[key]
        assert int(r[key]["attempts"]) == 2
    assert all(r[k]["status"] == DONE for k in GOOD)
    assert keypoint_files(out) == keypoint_files(local_out)
    assert_nothing_partial(out)


def test_ray_engine_without_ray_says_how_to_install(library, tmp_path, monkeypatch, capsys):
    from posekit.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["batch", str(library / "photos"), "--output", str(tmp_path / "out"), "--engine", "ray"]) == 2
    assert 'pip install "ray[default]"' in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_ray_address_nothing_listens_at_fails_fast(library, tmp_path):
    pytest.importorskip("ray")
    import socket
    import subprocess

    with socket.socket() as s:  # a port nothing listens at
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "posekit", "batch", str(library / "photos"), "--output",
                           str(tmp_path / "out"), "--engine", "ray", "--ray-address", f"127.0.0.1:{port}",
                           "--model", MODEL, "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "cannot reach the Ray cluster" in proc.stderr, proc.stderr
    assert time.monotonic() - t0 < 60
