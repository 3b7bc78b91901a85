"""``report``: one HTML file on one person of a video, to hand over (see :mod:`posekit.report`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..compare import VideoPeople
from ..errors import InvalidInputError
from ..export import read_keypoints
from ..kinematics import JOINT_ANGLES, trajectories
from ..models import FIRST_STAGE_MODELS
from ..refine import REFINERS
from ..report import ReportSettings, clip_of_video, comparison_report, video_report, write_report
from ..sequence import compare_sequences
from ..videoio import probe
from . import add_convention_option


def register(sub) -> None:
    p = sub.add_parser(
        "report", help="an HTML report on one person of a video: key moments, joint angles, range of motion, "
                       "repetitions (and metres, and a comparison with a reference)",
        description="Write one self-contained HTML file (opens offline, prints to PDF from a browser) on one person "
                    "of a video, from the keypoints `video --keypoints` wrote: key moments with the skeleton, joint "
                    "angles over time, range of motion, repetitions; with --height distances and speeds in metres; "
                    "with --reference the comparison with a reference movement.")
    p.add_argument("keypoints", type=Path, metavar="KEYPOINTS",
                   help="the video's keypoints, as `video --keypoints` writes them (.jsonl or .csv)")
    p.add_argument("--video", type=Path, required=True, metavar="CLIP",
                   help="the video the keypoints come from (for its pictures, frame rate and length)")
    p.add_argument("--output", "-o", type=Path, required=True, help="the HTML file to write")
    p.add_argument("--person", type=int, metavar="ID",
                   help="the person (ID, as drawn in the video; default: the one seen in the most frames)")
    p.add_argument("--height", type=float, metavar="METRES",
                   help="the person's height: distances and speeds in metres and m/s")
    p.add_argument("--reference", type=Path, metavar="REF_KEYPOINTS",
                   help="a reference movement's keypoints (.jsonl or .csv): adds the comparison with it")
    p.add_argument("--reference-video", type=Path, metavar="REF_CLIP",
                   help="the reference's video (its pictures; without it the reference is drawn as a skeleton)")
    p.add_argument("--reference-person", type=int, metavar="ID",
                   help="the person in the reference (default: the one seen in the most frames)")
    p.add_argument("--mirror", action="store_true", help="also accept the reference as a mirror image (left/right)")
    p.add_argument("--angle", metavar="NAME", choices=[d.name for d in JOINT_ANGLES],
                   help="the joint to count repetitions on, e.g. right_knee (default: the one that moves most)")
    add_convention_option(p)
    p.add_argument("--model", choices=FIRST_STAGE_MODELS,
                   help="the model that made the keypoints, for the report's settings (default: not stated)")
    p.add_argument("--refine", choices=["none", *REFINERS],
                   help="the second stage that made the keypoints, for the report's settings (default: not stated)")
    p.set_defaults(func=run)


def _keypoints(path: Path):
    if path.suffix.lower() not in (".jsonl", ".csv", ".json"):
        raise InvalidInputError(f"{path}: expected a .jsonl or .csv keypoints file")
    if not path.is_file():
        raise InvalidInputError(f"{path}: no such file")
    frames = read_keypoints(path)
    if not frames:
        raise InvalidInputError(f"{path.name}: no person in any frame")
    return frames


def _person(tracks: dict, wanted: int | None, name: str) -> int:
    if wanted is None:
        return max(tracks, key=lambda t: (len(tracks[t]), -t))
    if wanted not in tracks:
        raise InvalidInputError(f"no person {wanted} in {name}; people: {', '.join(map(str, tracks))}")
    return wanted


def _people(keypoints: Path, video: Path | None) -> VideoPeople:
    """Everyone of a keypoints file, as :func:`posekit.compare.track_video` would have followed them."""
    frames = _keypoints(keypoints)
    info = probe(video) if video is not None else None
    if info is not None:
        fps = float(info.rate)
        if frames[-1][0] >= info.frames * 1.05 + 5:
            raise InvalidInputError(f"{keypoints.name} has frame {frames[-1][0]}, but {video.name} has about "
                                    f"{info.frames} frames: they do not belong together")
    else:
        timed = [(f, t) for f, t, _ in frames if t is not None]
        span = (timed[-1][0] - timed[0][0], timed[-1][1] - timed[0][1]) if len(timed) >= 2 else (0, 0)
        fps = span[0] / span[1] if span[0] > 0 and span[1] > 0 else 30.0
    return VideoPeople((video or keypoints).name, video, info, frames[-1][0] + 1, fps, trajectories(frames, fps))


def run(args: argparse.Namespace) -> int:
    if args.output.suffix.lower() not in (".html", ".htm"):
        raise InvalidInputError(f"{args.output}: the report is an HTML file; name it .html")
    if args.height is not None and not 0.5 <= args.height <= 2.6:
        raise InvalidInputError(f"--height is the person's height in metres (e.g. 1.75), got {args.height}")
    if args.reference_video is not None and args.reference is None:
        raise InvalidInputError("--reference-video goes with --reference (the reference's keypoints)")
    attempt = _people(args.keypoints, args.video)
    person = _person(attempt.trajectories, args.person, args.keypoints.name)
    settings = ReportSettings(args.model, args.refine, args.convention, (("Keypoints", args.keypoints.name),))
    if args.reference is None:
        clip = clip_of_video(args.video, frames=attempt.frames)
        doc = video_report(clip, attempt.trajectories[person], settings=settings, height_m=args.height,
                           angle=args.angle)
    else:
        reference = _people(args.reference, args.reference_video)
        ref_person = _person(reference.trajectories, args.reference_person, args.reference.name)
        comparison = compare_sequences(reference.sequence(ref_person, smooth=False),
                                       attempt.sequence(person, smooth=False), mirror=args.mirror, angle=args.angle)
        doc = comparison_report(reference, attempt, comparison, settings=settings, height_m=args.height,
                                trajectory=attempt.trajectories[person])
    write_report(args.output, doc)
    what = f" against person {comparison.reference.person} of {args.reference.name}" if args.reference else ""
    print(f"{args.output}: person {person} of {args.video.name}{what} ({len(doc) / 1e6:.1f} MB)")
    return 0
