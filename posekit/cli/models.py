"""``models``: list the registry, download a model, print the file OpenCV loads, build int8 graphs."""

from __future__ import annotations

import argparse

from .. import quantize
from ..errors import ModelError
from ..models import MODELS, get_model, is_downloaded, model_dir, print_progress, resolve, resolve_config

#: Models that have int8 graphs (posekit.quantize): the converted MobileNetV2 and MoveNet networks.
INT8_MODELS = [n for n, m in MODELS.items() if m.format in ("tflite", "tfjs")]


def register(sub) -> None:
    p = sub.add_parser("models", help="list, download or locate models")
    p.set_defaults(func=_list)
    msub = p.add_subparsers(dest="action", metavar="ACTION")
    d = msub.add_parser("download", help="download (and convert) a model into the model directory")
    d.add_argument("name", choices=list(MODELS))
    d.set_defaults(func=_download)
    w = msub.add_parser("path", help="print the path of the file cv2.dnn.readNet loads for a model")
    w.add_argument("name", choices=list(MODELS))
    w.set_defaults(func=_path)
    msub.add_parser("list", help="list the models (the default)").set_defaults(func=_list)
    q = msub.add_parser("quantize", help="build int8 graphs for OpenVINO (needs NNCF), which backend auto then "
                                         "uses; calibrated on photos and videos of people")
    q.add_argument("names", nargs="*", metavar="NAME",
                   help=f"models (default: all of {', '.join(INT8_MODELS)})")
    q.add_argument("--calibration", metavar="DIR",
                   help=f"folder of photos / videos of people (default: ${quantize.ENV_CALIBRATION})")
    q.add_argument("--frames", type=int, default=quantize.MAX_FRAMES, help="calibration frames at most")
    q.add_argument("--force", action="store_true", help="rebuild graphs already in the cache")
    q.set_defaults(func=_quantize)


def _list(args: argparse.Namespace) -> int:
    print(f"model directory: {model_dir()}")
    for spec in MODELS.values():
        state = "downloaded" if is_downloaded(spec.name) else "not downloaded"
        print(f"{spec.name:18s} {spec.layout:8s} {state:15s} {spec.speed:14s} {spec.license}")
    return 0


def _download(args: argparse.Namespace) -> int:
    path = resolve(args.name, progress=print_progress)
    resolve_config(args.name)
    print(path)
    return 0


def _path(args: argparse.Namespace) -> int:
    spec = get_model(args.name)
    if not is_downloaded(spec.name):
        raise ModelError(f"{spec.name} is not downloaded yet (model directory: {model_dir()}); "
                         f"run: python -m posekit models download {spec.name}")
    print(resolve(spec, download_missing=False))
    return 0


def _quantize(args: argparse.Namespace) -> int:
    names = args.names or INT8_MODELS
    if unknown := [n for n in names if n not in INT8_MODELS]:
        raise ModelError(f"no int8 graph for {', '.join(unknown)}; models that have one: {', '.join(INT8_MODELS)}")
    for name in names:
        files = quantize.build(name, args.calibration, max_frames=args.frames, force=args.force)
        print(files.xml)
    return 0
