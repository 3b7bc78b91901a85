"""Batch throughput: 1 local worker, 2 local workers and 2 Ray workers on the same library, side by side.

    .venv/bin/python bench/bench_batch.py [--model mobilenet_v2_0.5] [--clips 6] [--frames 30] [--height 360]

Makes a library of short clips cut from ../shared/media/videos/dance.avi (and a few photos), then runs
``posekit.batch.run_batch`` on it (keypoints as JSON lines, tracking and smoothing on, ``force``) with each
engine, one after the other, in this one run: the local process pool with 1 worker (all cores as OpenCV
threads), with 2 workers (one thread each), and Ray actors (2, ``num_cpus=1``, on a Ray started here with as
many CPUs as the machine has). Prints videos/min, frames/s, the ratio to 1 worker, each worker's model load
time, and the start-up overhead (wall time minus the work shared out), and checks that the three runs wrote
the same keypoint bytes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import cv2  # noqa: E402

from posekit.batch import LocalEngine, RayEngine, Settings, collect_inputs, run_batch  # noqa: E402

SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared"))
DANCE = SHARED / "media" / "videos" / "dance.avi"
PHOTOS = ["p2.jpg", "p3.jpg", "golf.jpg", "ski.jpg"]


def make_library(folder: Path, clips: int, frames: int, height: int) -> None:
    with av.open(str(DANCE)) as c:
        src = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    sys.path.insert(0, str(ROOT / "tests"))
    from clips import write_clip

    (folder / "clips").mkdir(parents=True)
    (folder / "photos").mkdir()
    step = max(1, (len(src) - frames) // max(1, clips - 1))
    for i in range(clips):
        part = src[(i * step) % max(1, len(src) - frames):][:frames]
        w = round(part[0].shape[1] * height / part[0].shape[0] / 2) * 2
        write_clip(folder / "clips" / f"dance_{i:02d}.mp4",
                   [cv2.resize(f, (w, height), interpolation=cv2.INTER_AREA) for f in part], fps=25)
    for name in PHOTOS:
        shutil.copy(SHARED / "media" / "images" / name, folder / "photos" / name)


def keypoints(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.jsonl"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mobilenet_v2_0.5")
    ap.add_argument("--clips", type=int, default=6)
    ap.add_argument("--frames", type=int, default=30, help="frames per clip")
    ap.add_argument("--height", type=int, default=360, help="clip height in pixels")
    args = ap.parse_args()

    import ray

    cores = os.cpu_count() or 1
    settings = Settings(model=args.model, keypoints="jsonl")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_library(tmp / "lib", args.clips, args.frames, args.height)
        items = collect_inputs([tmp / "lib"])
        print(f"library: {args.clips} clips x {args.frames} frames at {args.height}p + {len(PHOTOS)} photos; "
              f"model {args.model}; {cores} CPU cores")
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                 runtime_env={"env_vars": {"PYTHONPATH": str(ROOT),
                                           **({"POSEKIT_MODEL_DIR": os.environ["POSEKIT_MODEL_DIR"]}
                                              if "POSEKIT_MODEL_DIR" in os.environ else {})}})
        runs = [("local, 1 worker", LocalEngine(workers=1)), ("local, 2 workers", LocalEngine(workers=2)),
                ("ray, 2 actors", RayEngine(workers=2, num_cpus=1))]
        rows, outs = [], []
        try:
            for name, engine in runs:
                out = tmp / name.replace(",", "").replace(" ", "-")
                t0 = time.perf_counter()
                s = run_batch(items, out, settings, engine=engine, force=True, progress=False)
                wall = time.perf_counter() - t0
                assert s.failed == 0, [r.reason for r in s.results if r.status == "failed"]
                work = sum(r.seconds for r in s.results)
                n = len(s.load_s) or 1
                rows.append((name, wall, s.videos / wall * 60, s.frames / wall, s.load_s, wall - work / n))
                outs.append(keypoints(out))
        finally:
            ray.shutdown()
    base = rows[0][3]
    print(f"{'engine':<18} {'wall s':>7} {'videos/min':>11} {'frames/s':>9} {'vs 1':>6} {'start-up s':>11}  "
          "model load per worker (s)")
    for name, wall, vpm, fps, load, overhead in rows:
        loads = ", ".join(f"{v:.2f}" for v in load.values())
        print(f"{name:<18} {wall:7.1f} {vpm:11.1f} {fps:9.1f} {fps / base:6.2f} {overhead:11.1f}  {loads}")
    eff = rows[1][3] / base / 2
    print(f"closing note: 2 local workers run at {eff:.0%} of twice 1 worker's rate on {cores} cores (1 worker "
          "already spreads OpenCV threads over all cores; the 2 cores of this machine are shared with other "
          "jobs). Inputs are independent and each actor holds one input at a time, so on a cluster the rate "
          "grows with the actors until the shared volume's bandwidth (reading videos, writing overlays) or, "
          "with few inputs, the longest video (one video is never split between workers) limits it; the "
          "driver's work per input is one manifest line (about a millisecond). Start-up (Ray, actors, model "
          "load) is paid once per run.")
    same = all(o == outs[0] for o in outs[1:])
    print(f"keypoint files identical across the three runs: {same} ({len(outs[0])} files)")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
