"""Keypoint accuracy on the annotated photos of ../shared/eval, one block of rows per configuration: COCO OKS AP,
and what AP cannot see (phantom and borrowed joints, false people, joint-angle errors: issue 21).

Run: .venv/bin/python bench/bench_accuracy.py [--quick] [--backend B] [--config "ARGS" ...] [--repeat 1]

Each configuration is a list of ``python -m posekit estimate`` options ("--model mobilenet_v2_1.4 --scales 2"),
parsed by the CLI's own parser and turned into an estimator by the CLI's own ``make_estimator``: what is scored
is what a user of ``estimate`` gets. Images are read with ``posekit.imageio.load_image`` as the CLI reads them.
``--quick`` runs three rows only: the first stage default, + MoveNet Lightning, + MoveNet Thunder (the photo
default). The default configuration is marked ``*``.

Each configuration prints its backend and median milliseconds per image, then one row for all the photos
together and one per set (coco, crowdpose, jhmdb: small low-resolution people, mhp: people in contact), all from
the same detections:

- AP (OKS 0.50:0.95), AP50, AP75, AR: COCO's keypoint metrics, pycocotools;
- phantom: body joints (shoulders ... ankles) placed by detections matched to an annotated person (COCO's
  matching at OKS >= 0.5) where that person's annotation has none (v = 0), as a percentage of the body joints
  placed by matched detections (count / placed);
- borrowed: joints placed by matched detections within their OKS tolerance (per-joint OKS similarity >= 0.5) of
  another annotated person's joint of the same kind and not within tolerance of their own person's;
- false: detections matching no annotated person at OKS >= 0.5 (crowd and unlabelled annotations ignored, as
  COCO does), of all detections;
- angle err: median and 90th percentile (degrees) of |detected - annotated| included angle (elbow, knee,
  hip = shoulder-hip-knee, shoulder = hip-shoulder-elbow, from COCO-17 points) over the angles whose three
  points are annotated and placed (n: how many);
- AP half: AP with everyone half as large (each photo shrunk to 50 % and pasted off-centre on a grey canvas of
  its own size, the annotations moved with it: accuracy at another scale).

The row ``all-mhp`` is all the sets but mhp: mhp's annotations (converted from MPII) leave some joints that are
in the picture but hidden unannotated, so joints placed there count as phantoms; the row shows where the
phantoms come from.

The definitions are posekit.accuracy's (tested in tests/test_accuracy.py). These 23 people are a development
set: compare configurations on the whole table, never tune to one image.
"""

from __future__ import annotations

import argparse
import copy
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posekit.accuracy import EvalSet, coco_ap, joint_errors, load_eval_set, merge_eval_sets  # noqa: E402
from posekit.cli import build_parser, make_estimator  # noqa: E402
from posekit.export import coco_results  # noqa: E402
from posekit.imageio import load_image  # noqa: E402

SHARED = Path(os.environ.get("POSEKIT_SHARED", ROOT.parent / "shared"))
EVAL = SHARED / "eval"

#: The rows printed by default: what each change to the defaults bought, in the order they were made.
CONFIGS = [
    # The first stage alone: the model's fixed 432 x 368 input and OpenPose's grouping (before), then the input
    # sized to the image, then the grouping's second chance for missing joints (the default).
    "--model mobilenet_v2_0.5 --input-size model --no-extend --refine none",
    "--model mobilenet_v2_1.0 --input-size model --no-extend --refine none",
    "--model mobilenet_v2_1.4 --input-size model --no-extend --refine none",
    "--model mobilenet_v2_1.4 --no-extend --refine none",
    "--model mobilenet_v2_0.5 --refine none",
    "--model mobilenet_v2_1.0 --refine none",
    "--model mobilenet_v2_1.4 --input-size model --refine none",
    "--model mobilenet_v2_1.4 --refine none",
    # Multi-scale (the app's "Extra" accuracy is 1.25,0.75) and thresholds.
    "--model mobilenet_v2_1.4 --scales 1,0.75 --refine none",
    "--model mobilenet_v2_1.4 --scales 1.25,0.75 --no-extend --refine none",
    "--model mobilenet_v2_1.4 --scales 1.25,0.75 --refine none",
    "--model mobilenet_v2_1.4 --threshold 0.05 --refine none",
    "--model mobilenet_v2_1.4 --threshold 0.2 --refine none",
    # The second stage (issue 10): each person re-estimated on a crop around them.
    "--model mobilenet_v2_1.4 --refine crop",
    "--model mobilenet_v2_1.4 --refine movenet_lightning",
    "--model mobilenet_v2_1.4 --no-extend --refine movenet_thunder",
    "--model mobilenet_v2_1.4 --refine movenet_thunder",
    "--model mobilenet_v2_1.4 --refine movenet_thunder --refine-passes 2",
    "--model mobilenet_v2_1.4 --refine movenet_lightning --refine-passes 2",
    "--model mobilenet_v2_1.4 --refine movenet_thunder --refine-margin 1.3",
    "--model mobilenet_v2_1.4 --refine movenet_thunder --refine-margin 2.0",
    "--model mobilenet_v2_1.4 --scales 1.25,0.75 --refine movenet_thunder",
    "--model mobilenet_v2_0.5 --refine movenet_thunder",
    "--model mobilenet_v2_0.5 --refine movenet_lightning",
]

#: ``--quick``: the first stage default, then each second stage on it (Thunder: the photo default).
QUICK = [
    "--model mobilenet_v2_1.4 --refine none",
    "--model mobilenet_v2_1.4 --refine movenet_lightning",
    "--model mobilenet_v2_1.4 --refine movenet_thunder",
]


#: Where the half-size photo goes on its canvas, as fractions of the canvas (off-centre, as a subject may be).
HALF_OFFSET = (0.4, 0.15)


def half_size(gt, images: dict[int, np.ndarray]):
    """The evaluation set with every photo shrunk to 50 % and pasted at :data:`HALF_OFFSET` on a grey canvas of
    the photo's size; keypoints, boxes and areas moved and scaled with it."""
    out_images, shift = {}, {}
    for image_id, img in images.items():
        h, w = img.shape[:2]
        small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        ox, oy = int(HALF_OFFSET[0] * w), int(HALF_OFFSET[1] * h)
        canvas = np.full_like(img, 114)
        canvas[oy: oy + small.shape[0], ox: ox + small.shape[1]] = small
        out_images[image_id] = canvas
        shift[image_id] = (ox, oy, small.shape[1] / w, small.shape[0] / h)
    half = copy.deepcopy(gt)
    for a in half.dataset["annotations"]:
        ox, oy, sx, sy = shift[a["image_id"]]
        kp = np.array(a["keypoints"], np.float64).reshape(-1, 3)
        seen = kp[:, 2] > 0
        kp[seen, 0] = (kp[seen, 0] + 0.5) * sx - 0.5 + ox  # pixel centres: u = (x + 0.5) * s - 0.5
        kp[seen, 1] = (kp[seen, 1] + 0.5) * sy - 0.5 + oy
        a["keypoints"] = kp.ravel().tolist()
        x, y, bw, bh = a["bbox"]
        a["bbox"] = [x * sx + ox, y * sy + oy, bw * sx, bh * sy]
        a["area"] = a["area"] * sx * sy
    return half, out_images


def estimate_args(config: str, backend: str | None) -> argparse.Namespace:
    argv = ["estimate", "x.jpg", *shlex.split(config)]
    if backend and "--backend" not in argv:
        argv += ["--backend", backend]
    return build_parser().parse_args(argv)


def default_config() -> str:
    """The options a plain ``python -m posekit estimate IMG`` runs with, for marking the default row."""
    args = build_parser().parse_args(["estimate", "x.jpg"])
    return " ".join(f"{k}={v}" for k, v in sorted(vars(args).items()) if k not in ("inputs", "func"))


def subset(gt: EvalSet, like: EvalSet) -> EvalSet:
    """The images and annotations of ``gt`` on the images of ``like`` (one set's share of a merged one)."""
    ids = {im.id for im in like.images}
    dataset = {**gt.dataset, "images": [im for im in gt.dataset["images"] if im["id"] in ids],
               "annotations": [a for a in gt.dataset["annotations"] if a["image_id"] in ids]}
    return EvalSet(like.name, [im for im in gt.images if im.id in ids], dataset)


def _num(v: float, fmt: str) -> str:
    return format(v, fmt) if v == v else format("-", f">{fmt.split('.')[0]}")  # NaN: nothing to measure


def block(gt: EvalSet, sets: list[EvalSet], half_gt: EvalSet, results: list[dict], half_results: list[dict]):
    """The rows of one configuration: all the photos, all but mhp (whose converted annotations leave some hidden
    joints inside the picture unannotated, so a joint placed there counts as a phantom), then each set."""
    rows = []
    others = [s for s in sets if s.name != "mhp"]
    but_mhp = [merge_eval_sets(others, "all-mhp")] if len(others) < len(sets) else []
    for s in [gt, *but_mhp, *sets]:
        m = coco_ap(s, results)
        e = joint_errors(s, results)
        half = coco_ap(subset(half_gt, s), half_results)["AP"]
        phantom = (f"{_num(e.phantom_rate * 100, '5.1f')}% {e.phantoms:>3d}/{e.body_joints:<4d}")
        rows.append(f"    {s.name:10s} {s.num_people:>3d} {m['AP']:5.3f} {m['AP50']:5.3f} {m['AP75']:5.3f} "
                    f"{m['AR']:5.3f} | {phantom:15s} {e.borrowed:>8d} {f'{e.false_people}/{e.detections}':>7s} | "
                    f"{_num(e.angle_error_median, '6.1f')} {_num(e.angle_error_p90, '6.1f')} "
                    f"{len(e.angle_errors):>4d} | {half:7.3f}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default=None, help="backend for every row (default: each row's own)")
    ap.add_argument("--config", action="append", help="estimate options of one row (repeatable)")
    ap.add_argument("--quick", action="store_true",
                    help="the first stage default, + MoveNet Lightning, + MoveNet Thunder (the photo default) only")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the images per row")
    args = ap.parse_args()

    sets = [load_eval_set(p) for p in sorted(EVAL.iterdir()) if p.is_dir()]
    gt = merge_eval_sets(sets)
    images = {im.id: load_image(im.path) for im in gt.images}
    half_gt, half_images = half_size(gt, images)
    default = default_config()
    print(f"{len(gt.images)} photos, {gt.num_people} annotated people "
          f"({', '.join(f'{s.name}: {s.num_people}' for s in sets)}); COCO OKS with pycocotools")
    head = (f"  {'configuration [backend, ms/img] / set':14s}\n"
            f"    {'set':10s} {'ppl':>3s} {'AP':>5s} {'AP50':>5s} {'AP75':>5s} {'AR':>5s} | {'phantom':15s} "
            f"{'borrowed':>8s} {'false':>7s} | {'angle err (deg)':>11s}   {'n':>4s} | {'AP half':>7s}\n"
            f"    {'':10s} {'':3s} {'':5s} {'':5s} {'':5s} {'':5s} | {'% count/placed':15s} {'joints':>8s} "
            f"{'/dets':>7s} | {'median':>6s} {'p90':>6s} {'':>4s} |")
    print(head)
    print("-" * max(len(line) for line in head.splitlines()))
    for config in args.config or (QUICK if args.quick else CONFIGS):
        ns = estimate_args(config, args.backend)
        est = make_estimator(ns)
        for img in images.values():  # warm-up: first calls build graphs for new input sizes
            est.estimate(img)
        results, times = [], []
        for rep in range(max(1, args.repeat)):
            for image_id, img in images.items():
                t0 = time.perf_counter()
                poses = est.estimate(img)
                times.append(time.perf_counter() - t0)
                if rep == 0:
                    results += coco_results(poses, image_id)
        half_results = [r for image_id, img in half_images.items() for r in coco_results(est.estimate(img), image_id)]
        mark = "*" if " ".join(f"{k}={v}" for k, v in sorted(vars(ns).items())
                               if k not in ("inputs", "func")) == default else " "
        print(f"{mark} {config} [{est.backend}, {statistics.median(times) * 1e3:.1f} ms/img]")
        print("\n".join(block(gt, sets, half_gt, results, half_results)), flush=True)
    print("* = the default of `python -m posekit estimate`. Targets: default AP >= 0.58 without a second stage "
          "(issue 9, rows with --refine none) and the default photo configuration AP >= 0.72 (issue 10), both set on "
          "coco + crowdpose; issue 21, "
          "photo default on all: phantom <= 1.5 %, no borrowed joint, at most one false person, median angle "
          "error <= 4 deg.")
    print("Definitions: the docstrings of bench/bench_accuracy.py and posekit/accuracy.py.")


if __name__ == "__main__":
    main()
