"""``python -m posekit``: one module per subcommand, each exposing ``register(subparsers)``.

A subcommand's parser sets ``func`` to a callable taking the parsed arguments and returning an exit status.
User errors (:class:`posekit.errors.PosekitError`) become one line ``error: ...`` on stderr and exit status 2,
never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from ..backends import BACKENDS, DEFAULT_BACKEND
from ..errors import PosekitError
from ..estimator import PoseEstimator
from ..kinematics import CONVENTIONS, DEFAULT_CONVENTION
from ..models import DEFAULT_MODEL, FIRST_STAGE_MODELS, is_downloaded, print_progress, resolve
from ..refine import DEFAULT_MARGIN, REFINERS
from ..video import MAX_FRAMES

#: Subcommand modules, in the order `--help` lists them.
COMMANDS = ["estimate", "video", "match", "compare", "models", "angles", "batch", "report"]


def add_model_options(parser: argparse.ArgumentParser, *, threshold: bool = True, refine: str | None = None,
                      refine_passes: int = 1) -> None:
    """--model / --backend (/ --threshold) (/ --refine, with ``refine`` and ``refine_passes`` the defaults),
    shared by the subcommands that run a network."""
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=FIRST_STAGE_MODELS,
                        help="network (default: %(default)s)")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, choices=list(BACKENDS),
                        help="where the network runs (default: %(default)s, the fastest engine installed)")
    if threshold:
        parser.add_argument("--threshold", type=float, default=0.1, help="keypoint threshold (default: %(default)s)")
    if refine is not None:
        parser.add_argument("--refine", default=refine, choices=["none", *REFINERS],
                            help="second stage on each person's crop: MoveNet Thunder (accurate), Lightning "
                                 "(faster), crop (the same network again) or none (default: %(default)s)")
        parser.add_argument("--refine-margin", type=float, default=DEFAULT_MARGIN, metavar="M",
                            help="second stage crop side / the person's keypoint box side (default: %(default)s)")
        parser.add_argument("--refine-passes", type=int, default=refine_passes, choices=[1, 2], metavar="N",
                            help="MoveNet passes: 2 re-crops around MoveNet's own keypoints, so a person gets the "
                                 "same keypoints at any size (default: %(default)s)")
    parser.add_argument("--input-size", default="auto", type=_input_size, metavar="auto|model|WxH",
                        help="network input: 'auto' (default) sizes it to each image's shape, 'model' uses the "
                             "model's fixed size, WxH (multiples of 16) a size of yours")
    parser.add_argument("--scales", default=(1.0,), type=_scales, metavar="S[,S...]",
                        help="run the network at several scales and average (e.g. 1,1.5: more accurate, "
                             "about 3x slower; default: 1)")
    parser.add_argument("--no-extend", dest="extend", action="store_false",
                        help="OpenPose's grouping alone: no second chance for a person's missing joints along "
                             "weaker limbs")


def add_convention_option(parser: argparse.ArgumentParser) -> None:
    """--convention: how knee, elbow and hip angles are reported (posekit.kinematics)."""
    parser.add_argument("--convention", default=DEFAULT_CONVENTION, choices=CONVENTIONS,
                        help="knee, elbow and hip angles as flexion, 0 = straight ('clinical', the default, as a "
                             "goniometer, Sports2D and OpenSim read them) or as the included angle, 180 = straight "
                             "('included')")


def _input_size(text: str):
    if text in ("auto", "model"):
        return text
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto, model or WxH, got {text!r}") from None
    return (w, h)


def _scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected scale factors such as 1,1.5, got {text!r}") from None
    if not scales or any(not 0.2 <= s <= 3.0 for s in scales):
        raise argparse.ArgumentTypeError(f"scale factors must lie between 0.2 and 3, got {text!r}")
    return scales


def add_video_options(parser: argparse.ArgumentParser) -> None:
    """--every / --max-seconds / --max-frames / --height / --no-track / --no-smooth / --convention, shared by the
    subcommands that run the video pipeline (``video``, ``batch``)."""
    parser.add_argument("--every", type=int, default=1, metavar="K",
                        help="run the network on every K-th frame; the others reuse its poses (default: 1)")
    parser.add_argument("--max-seconds", type=float, metavar="S", help="process only the first S seconds of a video")
    parser.add_argument("--max-frames", type=int, default=MAX_FRAMES, metavar="N",
                        help="process at most N frames of a video (default: %(default)s)")
    parser.add_argument("--height", type=int, metavar="H",
                        help="scale the overlay video to this height (aspect kept)")
    parser.add_argument("--no-track", dest="track", action="store_false",
                        help="do not follow people across frames (no IDs; person numbers restart every frame)")
    parser.add_argument("--no-smooth", dest="smooth", action="store_false",
                        help="do not smooth the tracked keypoints (zero-phase low-pass per person)")
    add_convention_option(parser)


def make_estimator(args: argparse.Namespace) -> PoseEstimator:
    """The estimator the options of :func:`add_model_options` ask for (those a subcommand leaves out take their
    defaults); downloads missing weights first, and says on stderr when the backend fell back."""
    options = vars(args)
    refine = options.get("refine")
    refine = None if refine in (None, "none") else refine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name in (args.model, refine):
            if name is not None and name != "crop" and not is_downloaded(name):
                print(f"downloading {name} (first use)...", file=sys.stderr)
                resolve(name, progress=print_progress)
        est = PoseEstimator(args.model, backend=args.backend, threshold=options.get("threshold", 0.1),
                            input_size=options.get("input_size", "auto"), scales=options.get("scales", (1.0,)),
                            extend=options.get("extend", True), refine=refine,
                            refine_margin=options.get("refine_margin", DEFAULT_MARGIN),
                            refine_passes=options.get("refine_passes", 1))
    if est.backend_message:
        print(f"warning: {est.backend_message}", file=sys.stderr)
    return est


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: exit 2 with one `error:` line after the usage
        self.print_usage(sys.stderr)
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m posekit", description="Multi-person pose estimation and pose matching.")
    parser.add_argument("--version", action="version", version="posekit 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PosekitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
