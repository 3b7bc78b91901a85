"""``video``: a video with the skeletons drawn (H.264 MP4), optionally keypoints per frame and OpenPose JSON."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..errors import InvalidInputError
from ..sinks import OpenPoseFolder
from ..video import probe, process_video
from . import add_model_options, add_video_options, make_estimator


def register(sub) -> None:
    p = sub.add_parser("video", help="draw skeletons on a video (H.264 MP4 that plays in browsers)")
    p.add_argument("input", type=Path, metavar="INPUT", help="video file (anything FFmpeg reads)")
    p.add_argument("--output", "-o", type=Path, required=True, help="the MP4 to write")
    p.add_argument("--json-dir", type=Path,
                   help="directory for OpenPose-style <stem>_<frame:012d>_keypoints.json, one per frame")
    p.add_argument("--keypoints", type=Path, help="all frames' poses in one file: .jsonl (JSON lines) or .csv")
    add_model_options(p, refine="none")  # --refine movenet_lightning: a second stage, at its cost per person
    add_video_options(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def _progress_printer():
    def report(done: int, total: int, eta: float) -> None:
        left = "time left not known yet" if math.isnan(eta) else f"{eta:.0f} s left"
        print(f"\r{done}/{total} frames, {left} ", end="", file=sys.stderr, flush=True)
    return report


def run(args: argparse.Namespace) -> int:
    probe(args.input)  # fail fast on a bad input, before loading the network
    if args.output.suffix.lower() not in (".mp4", ".m4v"):
        raise InvalidInputError(f"{args.output}: the output is an MP4 video; name it .mp4")
    fmt = "csv" if args.keypoints is not None and args.keypoints.suffix.lower() == ".csv" else "jsonl"
    est = make_estimator(args)
    sinks = [OpenPoseFolder(args.json_dir, args.input.stem, est.layout)] if args.json_dir is not None else []
    show = not args.quiet and sys.stderr.isatty()
    try:
        result = process_video(args.input, args.output, est, every=args.every, max_seconds=args.max_seconds,
                               max_frames=args.max_frames, output_height=args.height,
                               keypoints_path=args.keypoints, keypoints_format=fmt,
                               progress=_progress_printer() if show else None, track=args.track,
                               smooth=args.smooth, sinks=sinks, convention=args.convention)
    finally:
        if show:
            print(file=sys.stderr)
    if result.message:
        print(f"warning: {result.message}", file=sys.stderr)
    print(f"{result.path}: {result.frames} frames, {result.width}x{result.height} at {result.fps:g} fps"
          f"{' with audio' if result.has_audio else ''} ({result.fps_processed:.1f} frames/s processed)"
          f"{f', {result.ids} people tracked' if args.track else ''}")
    return 0
