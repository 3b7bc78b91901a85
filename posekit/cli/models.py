"""``models``: list the registry, download a model, print the file OpenCV loads."""

from __future__ import annotations

import argparse

from ..errors import ModelError
from ..models import MODELS, get_model, is_downloaded, model_dir, print_progress, resolve, resolve_config


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
