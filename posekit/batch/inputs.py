"""What a batch runs over: its :class:`Settings`, its inputs (:func:`collect_inputs` -> :class:`Item` s) and
where each item's outputs go (:func:`output_names`, :func:`stage_dir`)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..errors import InvalidInputError
from ..imageio import IMAGE_TYPES
from ..kinematics import CONVENTIONS, DEFAULT_CONVENTION
from ..models import DEFAULT_MODEL
from ..refine import DEFAULT_MARGIN
from ..video import MAX_FRAMES, VIDEO_TYPES

#: Extensions of files read as lists of inputs (one path a line; ``#`` starts a comment).
LIST_TYPES = ("txt", "lst", "list")
#: Staging folder (in the output folder, so that ``os.replace`` stays on one volume).
PARTIAL = ".posekit-partial"

_VERSION = "posekit-batch-3"  # bump when the bytes written for the same settings change (3: angle conventions)


@dataclass(frozen=True)
class Settings:
    """What to compute and write for every input. Everything here goes into :meth:`hash`.

    Attributes:
        model, backend, threshold, input_size, scales, extend, refine, refine_margin, refine_passes: the
            estimator (see :class:`posekit.PoseEstimator`; ``refine`` None is no second stage).
        keypoints: ``"jsonl"``, ``"csv"`` or ``None`` (no keypoints file).
        overlay: write the skeletons drawn: an H.264 MP4 for a video, an image for a photo.
        openpose_json: write OpenPose JSON, one file per frame, into ``<name>.openpose/``.
        angles: write joint and segment angles per frame and person (``<name>.angles.csv``, see
            :mod:`posekit.kinematics` and :func:`posekit.export.write_angles_csv`).
        track, smooth: follow people across a video's frames (IDs), and smooth each person's keypoints, as
            :func:`posekit.video.process_video` does.
        every, max_frames, max_seconds, height: as :func:`posekit.video.process_video` (``height`` scales
            the overlay video).
        convention: how the angles in the keypoints and angle files are reported (:mod:`posekit.kinematics`).
    """

    model: str = DEFAULT_MODEL
    backend: str = "cpu"
    threshold: float = 0.1
    input_size: object = "auto"  # "auto", "model" or (width, height)
    scales: tuple = (1.0,)
    extend: bool = True
    refine: Optional[str] = None
    refine_margin: float = DEFAULT_MARGIN
    refine_passes: int = 1
    keypoints: Optional[str] = "jsonl"
    overlay: bool = False
    openpose_json: bool = False
    angles: bool = False
    track: bool = True
    smooth: bool = True
    every: int = 1
    max_frames: Optional[int] = MAX_FRAMES
    max_seconds: Optional[float] = None
    height: Optional[int] = None
    convention: str = DEFAULT_CONVENTION

    def __post_init__(self) -> None:
        if self.keypoints not in (None, "jsonl", "csv"):
            raise InvalidInputError(f"keypoints must be 'jsonl', 'csv' or None, got {self.keypoints!r}")
        if not (self.keypoints or self.overlay or self.openpose_json or self.angles):
            raise InvalidInputError("nothing to write: ask for keypoints, angles, an overlay or OpenPose JSON")
        if self.convention not in CONVENTIONS:
            raise InvalidInputError(f"convention must be one of {', '.join(CONVENTIONS)}, got {self.convention!r}")
        if int(self.every) < 1:
            raise InvalidInputError(f"every must be 1 or more, got {self.every}")

    def hash(self) -> str:
        """12 hex digits identifying everything that decides the bytes written."""
        d = dataclasses.asdict(self)
        d["_version"] = _VERSION
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class Item:
    """One input: ``source`` (absolute path), ``key`` (its place in the output tree, POSIX separators)."""

    source: str
    key: str
    kind: str  # "photo" or "video"
    size: int
    mtime_ns: int


def _kind(path: Path) -> Optional[str]:
    ext = path.suffix.lower().lstrip(".")
    if ext in IMAGE_TYPES:
        return "photo"
    if ext in VIDEO_TYPES:
        return "video"
    return None


def _item(path: Path, key: str, kind: str) -> Item:
    st = path.stat()
    return Item(str(path), key, kind, int(st.st_size), int(st.st_mtime_ns))


def _walk(folder: Path, skip: Optional[Path]) -> Iterator[Path]:
    """Files under ``folder`` with a photo or video extension, sorted; hidden entries and ``skip`` left out."""
    for root, dirs, files in os.walk(folder):
        r = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or (r / d).resolve() != skip))
        for name in sorted(files):
            if not name.startswith(".") and _kind(Path(name)) is not None:
                yield r / name


def collect_inputs(inputs: Iterable[str | os.PathLike], output: str | os.PathLike | None = None) -> list[Item]:
    """The items of a batch, sorted by key.

    Each input is a photo or video file (any extension given explicitly is tried as a video), a folder (its
    photos and videos, recursively, keyed by their path inside it) or a list file (``.txt``/``.lst``/``.list``:
    one file or folder a line, relative paths relative to the list's folder; a file inside that folder keeps
    its path relative to it as key). The output folder is never read as input.

    Raises:
        InvalidInputError: a missing input, or two different files that would write the same outputs.
    """
    skip = Path(output).resolve() if output is not None else None
    found: dict[str, Item] = {}
    seen: set[str] = set()

    def add(path: Path, key: str, kind: str) -> None:
        src = str(path.resolve())
        if src in seen:
            return
        if key in found:
            raise InvalidInputError(f"{found[key].source} and {src} would write the same outputs ({key}); "
                                    "pass the folder that holds both instead")
        seen.add(src)
        found[key] = _item(path.resolve(), key, kind)

    def visit(path: Path, base: Optional[Path], depth: int = 0) -> None:
        if path.is_dir():
            for f in _walk(path, skip):
                add(f, f.relative_to(path).as_posix(), _kind(f) or "video")
            return
        if not path.exists():
            raise InvalidInputError(f"{path}: no such file or folder")
        ext = path.suffix.lower().lstrip(".")
        if ext in LIST_TYPES:
            if depth > 0:
                raise InvalidInputError(f"{path}: a list of inputs may not name another list")
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as e:
                raise InvalidInputError(f"{path}: cannot read the list of inputs ({e})") from None
            folder = path.resolve().parent
            for line in lines:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                entry = Path(line).expanduser()
                visit(entry if entry.is_absolute() else folder / entry, folder, depth + 1)
            return
        key = path.name
        if base is not None:
            try:
                key = path.resolve().relative_to(base).as_posix()
            except ValueError:
                pass
        add(path, key, _kind(path) or "video")

    for inp in inputs:
        visit(Path(inp).expanduser(), None)
    return [found[k] for k in sorted(found)]


def output_names(item: Item, settings: Settings) -> dict[str, str]:
    """What ``settings`` writes for ``item``: kind -> path relative to the output folder."""
    out = {}
    if settings.keypoints:
        out["keypoints"] = f"{item.key}.keypoints.{settings.keypoints}"
    if settings.overlay:
        if item.kind == "video":
            out["overlay"] = f"{item.key}.overlay.mp4"
        else:
            ext = Path(item.key).suffix.lower()
            out["overlay"] = f"{item.key}.overlay{'.jpg' if ext in ('.jpg', '.jpeg') else '.png'}"
    if settings.angles:
        out["angles"] = f"{item.key}.angles.csv"
    if settings.openpose_json:
        out["openpose"] = f"{item.key}.openpose"
    return out


def stage_dir(output: str | os.PathLike, item: Item) -> Path:
    """Where a worker writes ``item``'s outputs before moving them into place."""
    return Path(output) / PARTIAL / hashlib.sha1(item.key.encode()).hexdigest()[:16]
