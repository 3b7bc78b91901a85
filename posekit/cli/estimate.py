"""``estimate``: overlays and OpenPose JSON for images, named exactly as OpenPose names them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..draw import draw_poses
from ..errors import InvalidInputError
from ..export import write_openpose_json
from ..files import write_atomic
from ..imageio import encode_image, load_image
from ..refine import PHOTO_REFINE
from . import add_model_options, make_estimator


def register(sub) -> None:
    p = sub.add_parser("estimate", help="estimate poses in images")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files")
    add_model_options(p, refine=PHOTO_REFINE)
    p.add_argument("--output", "-o", type=Path, help="directory for the overlays (<stem>_rendered.png)")
    p.add_argument("--json-dir", type=Path, help="directory for <stem>_keypoints.json (OpenPose format)")
    p.add_argument("--labels", action="store_true", help="write keypoint names on the overlay")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.inputs]
    for p in paths:  # fail fast, before loading the network
        if not p.is_file():
            raise InvalidInputError(f"{p}: no such file")
    est = make_estimator(args)
    for d in (args.output, args.json_dir):
        if d is not None:
            d.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in paths:
        try:
            image = load_image(path)
        except InvalidInputError as exc:
            if len(paths) == 1:
                raise
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        poses = est.estimate(image)
        print(f"{path}: {len(poses)} {'person' if len(poses) == 1 else 'people'}")
        if args.output is not None:
            overlay = draw_poses(image, poses, labels=args.labels)
            write_atomic(args.output / f"{path.stem}_rendered.png", encode_image(overlay, ".png"))
        if args.json_dir is not None:
            write_openpose_json(args.json_dir / f"{path.stem}_keypoints.json", poses)
    return 2 if failed else 0
