"""``batch``: a whole library of photos and videos, resumable, on this machine or on a Ray cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from ..batch import FAILED, LocalEngine, RayEngine, Settings, collect_inputs, import_ray, run_batch
from ..errors import InvalidInputError
from . import add_model_options, add_video_options, make_estimator


def register(sub) -> None:
    p = sub.add_parser(
        "batch", help="process a library of photos and videos (resumable; local processes or a Ray cluster)",
        description="Keypoints (and overlays, OpenPose JSON) for every photo and video of the inputs, written "
                    "under --output mirroring the input folders, with a manifest.csv saying what was done, "
                    "what failed and why. A rerun skips what is already done with the same settings.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="photo or video files, folders (searched recursively) or .txt lists of paths")
    p.add_argument("--output", "-o", type=Path, required=True, help="output folder (created if missing)")
    p.add_argument("--keypoints", choices=["jsonl", "csv", "none"], default="jsonl",
                   help="keypoints file per input: <name>.keypoints.jsonl or .csv (default: %(default)s)")
    p.add_argument("--video", "--overlay", dest="overlay", action="store_true",
                   help="also write the skeletons drawn: <name>.overlay.mp4 for a video, an image for a photo")
    p.add_argument("--json-dir", dest="openpose_json", action="store_true",
                   help="also write OpenPose JSON per frame into a folder <name>.openpose/")
    p.add_argument("--angles", action="store_true",
                   help="also write joint and segment angles per frame and person: <name>.angles.csv")
    add_model_options(p, refine="none")  # --refine movenet_lightning: a second stage, at its cost per person
    add_video_options(p)
    p.add_argument("--force", action="store_true", help="redo inputs already done with the same settings")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: worker processes on this machine; ray: Ray actors on a Ray cluster "
                        "(default: %(default)s)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="worker processes / Ray actors, each with its own copy of the model (default: local: "
                        "half the CPU cores; ray: as many as the cluster's CPUs (or GPUs) allow)")
    p.add_argument("--threads", type=int, metavar="T", help="local: OpenCV threads per worker")
    p.add_argument("--num-cpus", type=float, default=1, metavar="C", help="ray: CPUs per actor (default: 1)")
    p.add_argument("--num-gpus", type=float, default=0, metavar="G", help="ray: GPUs per actor (default: 0)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="ray: the cluster to join (default: $RAY_ADDRESS, else a Ray started here for the run)")
    p.add_argument("--retries", type=int, default=1, metavar="R",
                   help="times an input is retried when the worker running it dies (default: 1)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = Settings(model=args.model, backend=args.backend, threshold=args.threshold,
                        input_size=args.input_size, scales=tuple(args.scales), extend=args.extend,
                        refine=None if args.refine == "none" else args.refine,
                        refine_margin=args.refine_margin, refine_passes=args.refine_passes,
                        keypoints=None if args.keypoints == "none" else args.keypoints, overlay=args.overlay,
                        openpose_json=args.openpose_json, angles=args.angles, track=args.track,
                        smooth=args.smooth, every=args.every, max_frames=args.max_frames,
                        max_seconds=args.max_seconds, height=args.height, convention=args.convention)
    if args.workers is not None and args.workers < 1:
        raise InvalidInputError(f"--workers must be 1 or more, got {args.workers}")
    if args.engine == "ray":
        import_ray()  # a clear message before anything starts
        engine = RayEngine(workers=args.workers, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                           address=args.ray_address, retries=args.retries)
    else:
        engine = LocalEngine(workers=args.workers, threads=args.threads, retries=args.retries)
    items = collect_inputs(args.inputs, args.output)
    if not items:
        raise InvalidInputError("no photos or videos found in the inputs")
    make_estimator(args)  # the model downloaded (once) and checked here, before any worker starts

    def report(res) -> None:
        if res.status == FAILED:
            tqdm.write(f"failed: {res.input}: {res.reason}", file=sys.stderr)
        elif res.reason.startswith("retried") or "retried:" in res.reason:
            tqdm.write(f"note: {res.input}: {res.reason}", file=sys.stderr)

    summary = run_batch(items, args.output, settings, engine=engine, force=args.force,
                        progress=False if args.quiet else None, on_result=report)
    print(summary)
    return 1 if summary.failed else 0
