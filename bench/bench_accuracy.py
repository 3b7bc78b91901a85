"""Keypoint accuracy: COCO OKS AP / AP50 / AR on the annotated photos of ../shared/eval, one row per configuration.

Run: .venv/bin/python bench/bench_accuracy.py [--backend B] [--config "ARGS" ...] [--repeat 1]

Each configuration is a list of ``python -m posekit estimate`` options ("--model mobilenet_v2_1.4 --scales 2"),
parsed by the CLI's own parser and turned into an estimator by the CLI's own ``make_estimator``: what is scored
is what a user of ``estimate`` gets. Images are read with ``posekit.imageio.load_image`` as the CLI reads them.
Rows are printed side by side from one run: AP on all 16 people, AP50, AP75, AR, AP on the COCO and the
CrowdPose photos apart, AP with everyone half as large (each photo shrunk to 50 % and pasted off-centre on a
grey canvas of its own size, the annotations moved with it: accuracy at another scale), and the median
milliseconds per image. The default configuration is marked ``*``.

These 16 people are a development set: compare configurations on the whole table, never tune to one image.
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

from posekit.accuracy import coco_ap, load_eval_set, merge_eval_sets  # noqa: E402
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", default=None, help="backend for every row (default: each row's own)")
    ap.add_argument("--config", action="append", help="estimate options of one row (repeatable)")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the images per row")
    args = ap.parse_args()

    sets = [load_eval_set(p) for p in sorted(EVAL.iterdir()) if p.is_dir()]
    gt = merge_eval_sets(sets)
    images = {im.id: load_image(im.path) for im in gt.images}
    half_gt, half_images = half_size(gt, images)
    default = default_config()
    print(f"{len(gt.images)} photos, {gt.num_people} annotated people "
          f"({', '.join(f'{s.name}: {s.num_people}' for s in sets)}); COCO OKS with pycocotools")
    head = (f"  {'configuration (estimate options)':58s} {'backend':9s} {'AP':>5s} {'AP50':>5s} {'AP75':>5s} "
            f"{'AR':>5s} | " + " ".join(f"{s.name[:9]:>9s}" for s in sets) + f" | {'AP half':>7s} | {'ms/img':>7s}")
    print(head)
    print("-" * len(head))
    for config in args.config or CONFIGS:
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
        m = coco_ap(gt, results)
        half = coco_ap(half_gt, [r for image_id, img in half_images.items()
                                 for r in coco_results(est.estimate(img), image_id)])["AP"]
        per_set = [coco_ap(s, results)["AP"] for s in sets]
        mark = "*" if " ".join(f"{k}={v}" for k, v in sorted(vars(ns).items())
                               if k not in ("inputs", "func")) == default else " "
        print(f"{mark} {config:58s} {est.backend:9s} {m['AP']:5.3f} {m['AP50']:5.3f} {m['AP75']:5.3f} "
              f"{m['AR']:5.3f} | " + " ".join(f"{a:9.3f}" for a in per_set)
              + f" | {half:7.3f} | {statistics.median(times) * 1e3:7.1f}")
    print("* = the default of `python -m posekit estimate`. Targets: default AP >= 0.58 without a second stage "
          "(issue 9, rows with --refine none); the default photo configuration AP >= 0.72 (issue 10).")


if __name__ == "__main__":
    main()
