"""``match``: how similar the poses of one person in each of two images are (see posekit.similarity)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidInputError
from ..imageio import load_image
from ..refine import MATCH_PASSES, PHOTO_REFINE
from ..similarity import compare_images
from . import add_model_options, make_estimator


def register(sub) -> None:
    p = sub.add_parser("match", help="compare the poses of two people (one per image)",
                       description="Print how similar the pose of a person in IMAGE_A is to one in IMAGE_B "
                                   "(0-100%, independent of position and size), then the joints that differ.")
    p.add_argument("image_a", metavar="IMAGE_A", type=Path)
    p.add_argument("image_b", metavar="IMAGE_B", type=Path)
    add_model_options(p, refine=PHOTO_REFINE, refine_passes=MATCH_PASSES)
    p.add_argument("--mirror", action="store_true", help="also accept a mirror image of the pose")
    p.add_argument("--rotation", action="store_true", help="ignore an in-plane rotation of the whole body")
    p.add_argument("--person-a", type=_number, metavar="N",
                   help="person in IMAGE_A, numbered from 1 as on the overlay (default: the most prominent)")
    p.add_argument("--person-b", type=_number, metavar="N",
                   help="person in IMAGE_B, numbered from 1 as on the overlay (default: the most prominent)")
    p.add_argument("--worst", type=int, default=5, metavar="N", help="how many differing joints to list")
    p.set_defaults(func=run)


def _number(text: str) -> int:
    """A person number as users see it (1, 2, ...), as the 0-based index the API takes."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"person numbers start at 1, got {text!r}")
    return n - 1


def run(args: argparse.Namespace) -> int:
    for path in (args.image_a, args.image_b):  # fail fast, before loading the network
        if not path.is_file():
            raise InvalidInputError(f"{path}: no such file")
    img_a, img_b = load_image(args.image_a), load_image(args.image_b)
    est = make_estimator(args)
    sim = compare_images(est, img_a, img_b, args.person_a, args.person_b, name_a=str(args.image_a),
                         name_b=str(args.image_b), rotation=args.rotation, mirror=args.mirror)
    if not sim.comparable:
        print("similarity: 0.0%")
        print(f"not comparable: {sim.reason}")
        return 0
    print(f"similarity: {sim.score:.1f}%")
    if sim.partial:
        print(sim.partial_text)
    print(f"keypoints: {100 * sim.keypoint_score:.1f}% ({sim.used} joints seen in both)")
    if sim.angle_score is not None:
        print(f"angles: {100 * sim.angle_score:.1f}% ({len(sim.angles)} joint angles)")
    else:
        print("angles: n/a (no joint angle seen in both)")
    if sim.mirrored:
        print("mirrored: yes (compared as mirror images)")
    worst = sim.worst(args.worst, threshold=0.95)
    if worst:
        print("most different:")
        for d in worst:
            print(f"  {d.text}")
    return 0
