"""``angles``: joint and segment angles per frame and per person from a video's keypoints file; OpenSim files."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidInputError
from ..export import read_keypoints, write_angles_csv, write_mot, write_trc
from ..kinematics import trajectories
from . import add_convention_option


def register(sub) -> None:
    p = sub.add_parser("angles", help="angles per frame and per person from keypoints (.jsonl / .csv); "
                                      "OpenSim TRC / MOT")
    p.add_argument("keypoints", type=Path, metavar="KEYPOINTS",
                   help="a video's keypoints, as `video --keypoints` writes them (.jsonl or .csv)")
    p.add_argument("--output", "-o", type=Path, required=True,
                   help="CSV of angles: frame, time, person, then one column per angle (degrees)")
    p.add_argument("--trc", type=Path, help="OpenSim marker file (.trc) of one person's keypoints")
    p.add_argument("--mot", type=Path, help="OpenSim motion file (.mot) of one person's angles")
    p.add_argument("--person", type=int, metavar="ID",
                   help="the person (ID) for --trc / --mot (default: the one seen in the most frames)")
    p.add_argument("--height", type=float, metavar="METRES",
                   help="the person's height: --trc in metres (Y up) instead of pixels (Y down)")
    add_convention_option(p)
    p.add_argument("--fps", type=float, default=None,
                   help="frame rate, when the file has no times (default: from the file's times, else 30)")
    p.set_defaults(func=run)


def _fps(frames, given: float | None) -> float:
    if given:
        return float(given)
    pairs = [(f, t) for f, t, _ in frames if t is not None]
    if len(pairs) >= 2 and pairs[-1][0] > pairs[0][0] and pairs[-1][1] > pairs[0][1]:
        return (pairs[-1][0] - pairs[0][0]) / (pairs[-1][1] - pairs[0][1])
    return 30.0


def run(args: argparse.Namespace) -> int:
    if args.keypoints.suffix.lower() not in (".jsonl", ".csv", ".json"):
        raise InvalidInputError(f"{args.keypoints}: expected a .jsonl or .csv keypoints file")
    if not args.keypoints.is_file():
        raise InvalidInputError(f"{args.keypoints}: no such file")
    if args.height is not None and args.trc is None:
        raise InvalidInputError("--height scales the --trc file; give --trc too")
    frames = read_keypoints(args.keypoints, args.fps)
    fps = _fps(frames, args.fps)
    tracks = trajectories(frames, fps)
    if not tracks:
        raise InvalidInputError(f"{args.keypoints.name}: no person in any frame")
    series = {tid: tr.angles(convention=args.convention) for tid, tr in tracks.items()}
    rows = write_angles_csv(args.output, series)
    print(f"{args.output}: {rows} rows, {len(series)} people, {len(next(iter(series.values())).names)} angles")
    if args.trc or args.mot:
        tid = args.person if args.person is not None else max(tracks, key=lambda t: (len(tracks[t]), -t))
        if tid not in tracks:
            raise InvalidInputError(f"no person {tid} in {args.keypoints.name}; people: "
                                    f"{', '.join(map(str, tracks))}")
        if args.trc:
            write_trc(args.trc, tracks[tid], fps, args.height)
            units = "metres" if args.height else "pixels"
            print(f"{args.trc}: person {tid}, {len(tracks[tid])} frames, {units}")
        if args.mot:
            write_mot(args.mot, series[tid])
            print(f"{args.mot}: person {tid}, {len(series[tid])} frames, degrees")
    return 0
