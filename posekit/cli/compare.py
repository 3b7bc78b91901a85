"""``compare``: a performance against a reference video, aligned in time (see posekit.sequence)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..compare import compare_videos
from ..errors import InvalidInputError
from ..video import MAX_SECONDS, probe
from . import add_model_options, make_estimator


def register(sub) -> None:
    p = sub.add_parser("compare", help="compare a performance with a reference video, aligned in time",
                       description="Follow one person in REFERENCE and one in ATTEMPT, align the two movements in "
                                   "time (dynamic time warping) and print how similar they are (0-100%), the most "
                                   "different joints in each phase of the reference and the repetitions.")
    p.add_argument("reference", metavar="REFERENCE", type=Path, help="the reference video (e.g. the coach)")
    p.add_argument("attempt", metavar="ATTEMPT", type=Path, help="the video to compare with it")
    p.add_argument("--output", "-o", type=Path, help="side-by-side MP4 (H.264) on the attempt's time line")
    p.add_argument("--report", type=Path, help="CSV report: summary, phases, joints, repetitions, every frame")
    p.add_argument("--person-ref", type=int, metavar="N",
                   help="person ID in REFERENCE, from 1 as drawn in the videos (default: the most prominent)")
    p.add_argument("--person-attempt", type=int, metavar="N", help="person ID in ATTEMPT (default: most prominent)")
    p.add_argument("--mirror", action="store_true", help="also accept the attempt as a mirror image (left/right)")
    p.add_argument("--angle", metavar="NAME",
                   help="angle to count repetitions on, e.g. right_knee (default: the one that moves most)")
    p.add_argument("--window", type=float, metavar="S",
                   help="how far (seconds) the timing may drift from a steady pace (default: 10%% of the longer "
                        "video, at least 2 s)")
    add_model_options(p, refine="none")  # --refine movenet_lightning: a second stage, at its cost per person
    p.add_argument("--max-seconds", type=float, default=float(MAX_SECONDS), metavar="S",
                   help="use at most the first S seconds of each video (default: %(default)s)")
    p.add_argument("--height", type=int, default=480, metavar="H", help="height of the side-by-side video")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for path in (args.reference, args.attempt):  # fail fast, before loading the network
        probe(path)
    if args.output is not None and args.output.suffix.lower() not in (".mp4", ".m4v"):
        raise InvalidInputError(f"{args.output}: the output is an MP4 video; name it .mp4")
    if args.report is not None and args.report.suffix.lower() != ".csv":
        raise InvalidInputError(f"{args.report}: the report is a CSV file; name it .csv")
    est = make_estimator(args)
    show = not args.quiet and sys.stderr.isatty()

    def progress(stage, done, total, eta):
        print(f"\r{stage}: {done}/{total} frames, {eta:.0f} s left ", end="", file=sys.stderr, flush=True)

    try:
        comparison, ref, att = compare_videos(
            args.reference, args.attempt, est, person_ref=args.person_ref, person_attempt=args.person_attempt,
            mirror=args.mirror, window_s=args.window, angle=args.angle, max_seconds=args.max_seconds,
            output=args.output, report=args.report, height=args.height, progress=progress if show else None)
    finally:
        if show:
            print(file=sys.stderr)
    for people in (ref, att):
        if people.message:
            print(f"warning: {people.message}", file=sys.stderr)
    print(comparison.summary())
    print(f"compared: person {comparison.reference.person} of {args.reference.name} with person "
          f"{comparison.attempt.person} of {args.attempt.name} (IDs as drawn in the videos; --person-ref / "
          "--person-attempt choose others)")
    for path in (args.output, args.report):
        if path is not None:
            print(f"wrote {path}")
    return 0
