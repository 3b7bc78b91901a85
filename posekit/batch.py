"""Batch runs over a library of photos and videos: resumable, on one machine or on a Ray cluster.

>>> from posekit.batch import Settings, collect_inputs, run_batch, LocalEngine
>>> summary = run_batch(["recordings/"], "out/", Settings(keypoints="jsonl", overlay=True))

How a run goes:

* :func:`collect_inputs` turns files, folders (recursive, by extension) and list files (``.txt``: one path a
  line) into :class:`Item` s, each with a *key*: its path relative to the folder it was found in (a file given
  alone: its name). Outputs go under the output folder at that key plus a suffix (``clips/a.mp4`` ->
  ``clips/a.mp4.keypoints.jsonl``, ``clips/a.mp4.overlay.mp4``, ``clips/a.mp4.openpose/``), so the output tree
  mirrors the input tree and ``a.mp4`` and ``a.mov`` in one folder never collide.
* An engine runs :class:`Worker` s, each holding one estimator loaded once: :class:`LocalEngine` (a process
  pool on this machine) or :class:`RayEngine` (Ray actors on a Ray cluster). Both call the same
  :meth:`Worker.run`, so both write the same bytes.
* A worker writes an item's outputs into a staging folder (``<output>/.posekit-partial/<hash>/``) on the same
  volume, then moves each into place with ``os.replace``: an output file is either complete or absent. A
  worker that dies leaves only its staging folder, which the driver removes.
* The driver appends one row per finished input to ``manifest.csv`` (one ``write`` of a whole line, flushed
  and fsynced) and rewrites it compactly (temporary file + ``os.replace``) at the start and the end of a run.
  A rerun skips an input whose last row is done for the same input (size and modification time), the same
  settings hash, and whose outputs all exist; ``force=True`` redoes it. Failed inputs are retried on a rerun.
* A bad input (corrupt, unreadable, empty) is a failed row with a one-line reason, never a crashed run. A
  worker that dies (killed, out of memory, node lost) gets its item retried on a fresh worker, up to
  ``retries`` times, then that item is failed with the reason.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .errors import InvalidInputError, PosekitError
from .files import atomic_open
from .imageio import IMAGE_TYPES
from .models import DEFAULT_MODEL
from .sinks import AngleCollector, KeypointWriter, OpenPoseFolder
from .video import process_video
from .videoio import MAX_FRAMES, VIDEO_TYPES, FrameRecord
from .refine import DEFAULT_MARGIN

#: Extensions of files read as lists of inputs (one path a line; ``#`` starts a comment).
LIST_TYPES = ("txt", "lst", "list")
#: The manifest's name in the output folder.
MANIFEST = "manifest.csv"
#: Staging folder (in the output folder, so that ``os.replace`` stays on one volume).
PARTIAL = ".posekit-partial"
#: Manifest columns, in order.
COLUMNS = ("input", "status", "reason", "error", "frames", "duration_s", "people", "seconds", "worker",
           "backend", "settings_hash", "attempts", "size", "mtime_ns", "outputs", "finished_at", "source")

DONE, FAILED, SKIPPED = "done", "failed", "skipped"
_VERSION = "posekit-batch-2"  # bump when the bytes written for the same settings change


# --------------------------------------------------------------------------------------------------- settings


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

    def __post_init__(self) -> None:
        if self.keypoints not in (None, "jsonl", "csv"):
            raise InvalidInputError(f"keypoints must be 'jsonl', 'csv' or None, got {self.keypoints!r}")
        if not (self.keypoints or self.overlay or self.openpose_json or self.angles):
            raise InvalidInputError("nothing to write: ask for keypoints, angles, an overlay or OpenPose JSON")
        if int(self.every) < 1:
            raise InvalidInputError(f"every must be 1 or more, got {self.every}")

    def hash(self) -> str:
        """12 hex digits identifying everything that decides the bytes written."""
        d = dataclasses.asdict(self)
        d["_version"] = _VERSION
        blob = json.dumps(d, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# ------------------------------------------------------------------------------------------------------ inputs


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


# ------------------------------------------------------------------------------------------------------ results


@dataclass
class Result:
    """One row of the manifest."""

    input: str
    status: str
    reason: str = ""
    error: str = ""  # for a failure: "input" (the file is bad), "worker" (the worker died) or "other"
    frames: int = 0
    duration_s: float = 0.0
    people: int = 0
    seconds: float = 0.0
    worker: str = ""
    backend: str = ""  # what really ran (a node without the requested one falls back, and says so in reason)
    settings_hash: str = ""
    attempts: int = 1
    size: int = 0
    mtime_ns: int = 0
    outputs: str = ""  # ';'-separated, relative to the output folder
    finished_at: str = ""
    source: str = ""
    load_s: float = field(default=0.0, compare=False)  # the worker's model load time (not in the manifest)

    def row(self) -> list[str]:
        vals = []
        for c in COLUMNS:
            v = getattr(self, c)
            vals.append(f"{v:.3f}" if isinstance(v, float) else str(v))
        return vals

    @classmethod
    def from_row(cls, row: dict) -> "Result":
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name not in row or f.name == "load_s":
                continue
            v = row[f.name]
            if f.type in ("int",):
                v = int(v) if str(v).lstrip("-").isdigit() else int(float(v or 0))
            elif f.type in ("float",):
                v = float(v or 0)
            kw[f.name] = v
        return cls(**kw)


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PosekitError):
        return _one_line(str(exc))
    return _one_line(f"{type(exc).__name__}: {exc}")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# ------------------------------------------------------------------------------------------------------ worker


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Holds one estimator (loaded once) and processes items into the output folder."""

    def __init__(self, settings: Settings, output: str | os.PathLike, threads: Optional[int] = None) -> None:
        import cv2

        from .estimator import PoseEstimator

        if threads:
            cv2.setNumThreads(int(threads))
        self.settings = settings
        self.output = Path(output)
        self.name = worker_name()
        t0 = time.perf_counter()
        self.estimator = PoseEstimator(settings.model, backend=settings.backend, threshold=settings.threshold,
                                       input_size=settings.input_size, scales=settings.scales,
                                       extend=settings.extend, refine=settings.refine,
                                       refine_margin=settings.refine_margin, refine_passes=settings.refine_passes)
        self.load_s = time.perf_counter() - t0
        self.note = ""  # said once on the next result (e.g. "on a restarted worker")

    def run(self, item: Item, attempt: int = 1) -> Result:
        """Process one item; never raises for a bad input (the result says failed, and why)."""
        t0 = time.perf_counter()
        res = Result(item.key, DONE, settings_hash=self.settings.hash(), attempts=attempt, size=item.size,
                     mtime_ns=item.mtime_ns, source=item.source, worker=self.name, load_s=self.load_s,
                     backend=self.estimator.backend)
        stage = stage_dir(self.output, item)
        try:
            shutil.rmtree(stage, ignore_errors=True)
            stage.mkdir(parents=True)
            names = output_names(item, self.settings)
            staged = {kind: stage / Path(name).name for kind, name in names.items()}
            if item.kind == "photo":
                self._photo(item, staged, res)
            else:
                self._video(item, staged, res)
            for kind, name in names.items():
                _move_into_place(staged[kind], self.output / name, stage)
            res.outputs = ";".join(names.values())
        except Exception as exc:  # noqa: BLE001 - a bad input is a failed row, never a crashed run
            res.status, res.reason = FAILED, _reason(exc)
            res.error = "input" if isinstance(exc, InvalidInputError) else "other"
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        if self.note:
            res.reason = "; ".join(r for r in (res.reason, self.note) if r)
            self.note = ""
        if self.estimator.backend_message:
            res.reason = "; ".join(r for r in (res.reason, _one_line(self.estimator.backend_message)) if r)
        res.seconds = time.perf_counter() - t0
        res.finished_at = _now()
        return res

    def _photo(self, item: Item, staged: dict[str, Path], res: Result) -> None:
        from . import export
        from .imageio import encode_image, load_image

        bgr = load_image(item.source)
        poses = self.estimator.estimate(bgr)
        res.frames, res.people = 1, len(poses)
        s = self.settings
        if "keypoints" in staged:  # as a video's keypoints file (angles included) with one frame, number 0
            with KeypointWriter(staged["keypoints"], s.keypoints, self.estimator.layout) as kp:
                kp.write(FrameRecord(0, 0.0, bgr, poses))
        if "angles" in staged:
            from .kinematics import angle_series

            export.write_angles_csv(staged["angles"], angle_series([(0, 0.0, poses)]))
        if "overlay" in staged:
            from .draw import draw_poses

            staged["overlay"].write_bytes(encode_image(draw_poses(bgr, poses), staged["overlay"].suffix))
        if "openpose" in staged:
            staged["openpose"].mkdir()
            export.write_openpose_json(staged["openpose"] / f"{Path(item.key).stem}_keypoints.json", poses,
                                       self.estimator.layout)

    def _video(self, item: Item, staged: dict[str, Path], res: Result) -> None:
        s = self.settings
        sinks: list = []
        if "openpose" in staged:
            sinks.append(OpenPoseFolder(staged["openpose"], Path(item.key).stem, self.estimator.layout))
        if "angles" in staged:
            sinks.append(AngleCollector(staged["angles"]))
        r = process_video(item.source, staged.get("overlay"), self.estimator, every=s.every,
                          max_frames=s.max_frames, max_seconds=s.max_seconds, output_height=s.height,
                          keypoints_path=staged.get("keypoints"), keypoints_format=s.keypoints or "jsonl",
                          track=s.track, smooth=s.smooth, sinks=sinks)
        # people: IDs given out when tracking, else the most people seen in one frame
        res.frames, res.duration_s, res.people = r.frames, r.duration_s, (r.ids if s.track else r.most_people)
        res.reason = _one_line(r.message)


def _move_into_place(src: Path, dst: Path, stage: Path) -> None:
    """``os.replace`` a staged file (or folder) to its final place; a folder replaces an older one whole."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.is_dir() and dst.exists():
        os.replace(dst, stage / ".old")
    os.replace(src, dst)


# ------------------------------------------------------------------------------------------------------ engines


def _retry_or_fail(item: Item, what: str, attempts: dict, retries: int, notes: dict, pending, settings: Settings
                   ) -> Optional[Result]:
    """An item whose worker died (``what`` says how): queued again first while it has retries left (None is
    returned), else its failed manifest row."""
    n = attempts[item.key]
    if n <= retries:
        notes[item.key] = f"retried: {what}"
        pending.appendleft(item)
        return None
    reason = f"{what} while processing it ({n} attempt{'s' if n != 1 else ''})"
    return Result(item.key, FAILED, reason, "worker", settings_hash=settings.hash(), attempts=n,
                  size=item.size, mtime_ns=item.mtime_ns, source=item.source, finished_at=_now())


# Local process pool: one Worker per process, made by the initializer.
_LOCAL: Optional[Worker] = None
_LOCAL_ERROR: Optional[BaseException] = None


def _local_init(settings: Settings, output: str, threads: Optional[int]) -> None:
    global _LOCAL, _LOCAL_ERROR
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    try:
        _LOCAL = Worker(settings, output, threads)
    except Exception as exc:  # noqa: BLE001 - reported with every item it would have run
        _LOCAL_ERROR = exc


def _local_run(item: Item, attempt: int) -> Result:
    if _LOCAL is None:
        raise PosekitError(f"the worker could not load the model: {_reason(_LOCAL_ERROR)}")
    return _LOCAL.run(item, attempt)


class LocalEngine:
    """A process pool on this machine (``concurrent.futures``), one estimator per worker process.

    Args:
        workers: processes (default: half the CPU cores, at least 1).
        threads: OpenCV threads per worker (default: the cores shared out between the workers).
        retries: times an item is retried when the worker process running it dies.
    """

    name = "local"

    def __init__(self, workers: Optional[int] = None, threads: Optional[int] = None, retries: int = 1) -> None:
        cores = os.cpu_count() or 1
        self.workers = max(1, int(workers or cores // 2))
        self.threads = threads or max(1, cores // self.workers)
        self.retries = int(retries)
        self.pool = None
        self.running: dict = {}  # future -> item (what the pool is working on)

    def worker_pids(self) -> list[int]:
        """Process ids of the pool's workers (for monitoring)."""
        procs = getattr(self.pool, "_processes", None) or {}
        return [p.pid for p in list(procs.values()) if p.is_alive()]

    def process(self, items: Sequence[Item], settings: Settings, output: Path) -> Iterator[Result]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        ctx = multiprocessing.get_context("spawn")  # no fork of a driver with threads (and CUDA-safe)
        pending = collections.deque(items)
        attempts: collections.Counter = collections.Counter()
        notes: dict[str, str] = {}
        running = self.running = {}
        try:
            while pending or running:
                if self.pool is not None and not running and self._dead_worker():
                    self._stop()
                if self.pool is None:
                    self.pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_local_init,
                                                    initargs=(settings, str(output), self.threads))
                while pending and len(running) < self.workers and not self._dead_worker():
                    item = pending.popleft()  # in flight: one item per worker
                    attempts[item.key] += 1
                    running[self.pool.submit(_local_run, item, attempts[item.key])] = item
                if not running:
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                for fut in done:
                    item = running.pop(fut)
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        stage = stage_dir(output, item)
                        started = stage.exists()  # a worker had begun it (else it was only queued)
                        shutil.rmtree(stage, ignore_errors=True)
                        if not started:
                            attempts[item.key] -= 1
                            pending.appendleft(item)
                            continue
                        what = "a worker process died (killed, or out of memory)"
                        res = _retry_or_fail(item, what, attempts, self.retries, notes, pending, settings)
                        if res is None:
                            continue
                    except PosekitError as exc:
                        raise PosekitError(str(exc)) from None
                    if item.key in notes:
                        res.reason = "; ".join(r for r in (res.reason, notes.pop(item.key)) if r)
                    yield res
                if broken:  # the executor is unusable once a worker died: a fresh one for the rest
                    self._stop()
        finally:
            for item in running.values():
                shutil.rmtree(stage_dir(output, item), ignore_errors=True)
            self._stop(kill=bool(running))

    def _dead_worker(self) -> bool:
        """Whether a worker of the pool has died (the pool is then broken, whether it knows yet or not)."""
        from multiprocessing.connection import wait as wait_ready

        if getattr(self.pool, "_broken", False):
            return True
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        try:  # a process's sentinel is ready once it has exited (without reaping it, as is_alive would)
            return bool(wait_ready([p.sentinel for p in procs], timeout=0))
        except (OSError, ValueError):
            return True

    def _stop(self, kill: bool = False) -> None:
        pool, self.pool = self.pool, None
        if pool is None:
            return
        if kill:
            for p in list((getattr(pool, "_processes", None) or {}).values()):
                if p.is_alive():
                    p.kill()
        pool.shutdown(wait=True, cancel_futures=True)


def _import_ray():
    try:
        import ray
    except ImportError:
        raise PosekitError('the ray engine needs Ray: pip install "ray[default]"') from None
    return ray


class _RayWorker:
    """A Ray actor holding one :class:`Worker` (made remote in :meth:`RayEngine.process`)."""

    def __init__(self, settings: Settings, output: str, threads: Optional[int]) -> None:
        import ray

        self.worker, self.error = None, ""
        try:
            self.worker = Worker(settings, output, threads)
        except Exception as exc:  # noqa: BLE001 - said by run(), then the driver stops the run
            self.error = f"the worker could not load the model: {_reason(exc)}"
            return
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        if self.restarted:
            self.worker.note = "retried: its first worker died"

    def run(self, item: Item, attempt: int) -> Result:
        if self.worker is None:
            return Result(item.key, FAILED, self.error, "other", worker=worker_name())
        retried, self.restarted = self.restarted, False  # Ray re-runs the task the dead actor was running first
        return self.worker.run(item, attempt + retried)


class RayEngine:
    """Ray actors, each holding one estimator; one item in flight per actor.

    Args:
        workers: actors (default: as many as the cluster's CPUs (or GPUs, with ``num_gpus``) allow).
        num_cpus, num_gpus: resources each actor reserves.
        address: a running cluster (``ray://...`` or ``host:port``); default ``$RAY_ADDRESS``, else a Ray
            started on this machine for the run.
        retries: times an item is retried when its actor dies: Ray restarts the actor (``max_restarts``) and
            retries the task (``max_task_retries``); when Ray cannot, the driver starts a new actor and
            resubmits the item, within the same budget.
    """

    name = "ray"

    def __init__(self, workers: Optional[int] = None, num_cpus: float = 1, num_gpus: float = 0,
                 address: Optional[str] = None, retries: int = 1) -> None:
        self.workers = workers
        self.num_cpus, self.num_gpus = float(num_cpus), float(num_gpus)
        self.address = address
        self.retries = int(retries)
        self.actors: list = []
        self.busy: dict = {}  # actor -> item (what each actor is working on)

    def _init(self, ray) -> bool:
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS")
        env = {"env_vars": {"POSEKIT_MODEL_DIR": str(_model_dir())}}
        if address:  # posekit's own code travels with the job; its requirements must be on every node
            env["py_modules"] = [str(Path(__file__).resolve().parent)]
            _check_reachable(address)
            try:
                ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level=logging.WARNING)
            except ConnectionError as exc:
                raise PosekitError(f"cannot join the Ray cluster at {address} ({_reason(exc)}); is it running "
                                   "(ray start --head), and, if it asks for a token, are RAY_AUTH_MODE=token and "
                                   "its token set here?") from None
        else:
            ray.init(runtime_env=env, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        return True

    def process(self, items: Sequence[Item], settings: Settings, output: Path) -> Iterator[Result]:
        if not items:
            return
        ray = _import_ray()
        from ray.exceptions import RayActorError

        started = self._init(ray)
        Actor = ray.remote(_RayWorker).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                               max_restarts=self.retries, max_task_retries=self.retries)
        threads = max(1, int(self.num_cpus))
        n = self.workers
        if not n:
            res = ray.cluster_resources()
            n = int(res.get("GPU", 0) // self.num_gpus) if self.num_gpus else int(res.get("CPU", 1) // self.num_cpus)
        n = max(1, min(n, len(items)))
        pending = collections.deque(items)
        attempts: collections.Counter = collections.Counter()
        notes: dict[str, str] = {}
        inflight: dict = {}  # ref -> (actor, item)
        idle = []
        startup_failures = 0
        completed_by: set = set()
        try:
            self.actors = [Actor.remote(settings, str(output), threads) for _ in range(n)]
            idle = list(self.actors)
            while pending or inflight:
                while pending and idle:  # bounded in-flight work: one item per actor
                    actor, item = idle.pop(), pending.popleft()
                    attempts[item.key] += 1
                    inflight[actor.run.remote(item, attempts[item.key])] = (actor, item)
                    self.busy[actor] = item
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    actor, item = inflight.pop(ref)
                    self.busy.pop(actor, None)
                    try:
                        res = ray.get(ref)
                    except RayActorError as exc:  # the actor died and Ray could not retry it there
                        if getattr(exc, "actor_init_failed", False):
                            raise PosekitError(f"a Ray worker could not start: {_reason(exc)}") from None
                        shutil.rmtree(stage_dir(output, item), ignore_errors=True)
                        self.actors.remove(actor)
                        if actor not in completed_by:
                            startup_failures += 1
                            if startup_failures > 2 * n + self.retries:
                                raise PosekitError(f"the Ray workers keep dying: {_reason(exc)}") from None
                        new = Actor.remote(settings, str(output), threads)
                        self.actors.append(new)
                        idle.append(new)
                        what = "its Ray worker died (killed, out of memory, or its node was lost)"
                        res = _retry_or_fail(item, what, attempts, self.retries, notes, pending, settings)
                        if res is None:
                            continue
                    else:
                        completed_by.add(actor)
                        idle.append(actor)
                        if res.status == FAILED and res.reason.startswith("the worker could not load"):
                            raise PosekitError(res.reason)
                    if item.key in notes:
                        res.reason = "; ".join(r for r in (res.reason, notes.pop(item.key)) if r)
                    yield res
        finally:
            for actor in self.actors:
                ray.kill(actor)
            for _, item in inflight.values():
                shutil.rmtree(stage_dir(output, item), ignore_errors=True)
            self.actors, self.busy = [], {}
            if started:
                ray.shutdown()


def _check_reachable(address: str) -> None:
    """Fail in seconds on a cluster address nothing listens at (Ray itself retries for minutes)."""
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise PosekitError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start it with "
                           "ray start --head, or check the address") from None


def _model_dir() -> Path:
    from .models import model_dir

    return model_dir().resolve()


# ------------------------------------------------------------------------------------------------------ manifest


class Manifest:
    """``manifest.csv``: the latest row per input. Rows are appended as inputs finish (one write of a whole
    line, flushed and fsynced); :meth:`compact` rewrites the file with one row per input, atomically."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.rows: dict[str, Result] = {}
        if self.path.is_file():
            text = self.path.read_text(encoding="utf-8", errors="replace")
            if text and not text.endswith("\n"):  # a line cut short by a crash
                text = text[: text.rfind("\n") + 1]
            for row in csv.DictReader(io.StringIO(text, newline="")):
                if row.get("input") and row.get("status") in (DONE, FAILED, SKIPPED):
                    try:
                        self.rows[row["input"]] = Result.from_row(row)
                    except (TypeError, ValueError):
                        continue

    def compact(self) -> None:
        with atomic_open(self.path, fsync=True) as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            for key in sorted(self.rows):
                w.writerow(self.rows[key].row())

    def append(self, res: Result) -> None:
        self.rows[res.input] = res
        buf = io.StringIO(newline="")
        csv.writer(buf).writerow(res.row())
        with open(self.path, "a", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())


def _is_current(prev: Optional[Result], item: Item, settings: Settings, output: Path) -> bool:
    """Whether ``prev`` stands for ``item`` with these settings: done and its outputs all still there, or
    failed because the file itself is bad (the same file fails again; a changed one is redone)."""
    if prev is None or prev.settings_hash != settings.hash() or (prev.size, prev.mtime_ns) != (item.size,
                                                                                                item.mtime_ns):
        return False
    if prev.status == FAILED:
        return prev.error == "input"
    return prev.status in (DONE, SKIPPED) and all((output / name).exists()
                                                  for name in output_names(item, settings).values())


# ------------------------------------------------------------------------------------------------------ driver


@dataclass
class Summary:
    """What a run did."""

    done: int
    failed: int
    skipped: int
    elapsed_s: float
    frames: int  # frames processed by this run (skipped inputs not counted)
    videos: int  # videos done by this run
    results: list[Result]
    manifest: Path
    load_s: dict[str, float]  # worker -> model load seconds

    @property
    def total(self) -> int:
        return self.done + self.failed + self.skipped

    @property
    def videos_per_min(self) -> float:
        return 60.0 * self.videos / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def __str__(self) -> str:
        return (f"{self.total} inputs: {self.done} done, {self.failed} failed, {self.skipped} skipped "
                f"in {self.elapsed_s:.1f} s ({self.videos_per_min:.1f} videos/min, {self.frames_per_s:.1f} "
                f"frames/s); manifest: {self.manifest}")


class _Lock:
    """An exclusive lock on the output folder, so that two runs never write into one folder together."""

    def __init__(self, output: Path) -> None:
        self.path = output / ".posekit-batch.lock"
        self.file = None

    def __enter__(self) -> "_Lock":
        try:
            import fcntl
        except ImportError:  # not on Windows: no lock
            return self
        self.file = open(self.path, "a")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.close()
            raise PosekitError(f"another batch run is writing into {self.path.parent}") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()


def run_batch(inputs: Iterable[str | os.PathLike] | Sequence[Item], output: str | os.PathLike,
              settings: Settings = Settings(), *, engine=None, force: bool = False,
              progress: Optional[bool] = None, on_result: Optional[Callable[[Result], None]] = None) -> Summary:
    """Process every input into ``output`` (see the module's docstring); returns the :class:`Summary`.

    Args:
        inputs: paths (files, folders, list files) or items from :func:`collect_inputs`.
        engine: :class:`LocalEngine` (default) or :class:`RayEngine`.
        force: redo inputs that are already done.
        progress: show a progress bar on stderr (default: when stderr is a terminal).
        on_result: called in this thread with every row as it is written (skipped ones included).
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    inputs = list(inputs)
    items = inputs if inputs and all(isinstance(i, Item) for i in inputs) else collect_inputs(inputs, output)
    engine = engine if engine is not None else LocalEngine()
    with _Lock(output):
        shutil.rmtree(output / PARTIAL, ignore_errors=True)  # left by a run that was killed
        manifest = Manifest(output / MANIFEST)
        manifest.compact()
        results: list[Result] = []
        todo: list[Item] = []
        counts = collections.Counter()
        frames = videos = 0
        load_s: dict[str, float] = {}
        bar = tqdm(total=len(items), unit="input", disable=(not sys.stderr.isatty()) if progress is None
                   else not progress, dynamic_ncols=True, file=sys.stderr)

        def record(res: Result) -> None:
            manifest.append(res)
            results.append(res)
            counts[res.status] += 1
            bar.update(1)
            bar.set_postfix(done=counts[DONE], failed=counts[FAILED], skipped=counts[SKIPPED], refresh=False)
            if on_result is not None:
                on_result(res)

        try:
            for item in items:
                prev = manifest.rows.get(item.key)
                if not force and _is_current(prev, item, settings, output):
                    if prev.status == FAILED:  # the same bad file: its row stays as it was
                        record(dataclasses.replace(prev, source=item.source))
                    else:
                        record(dataclasses.replace(prev, status=SKIPPED, source=item.source,
                                                   reason="already done with the same settings (--force redoes it)"))
                else:
                    todo.append(item)
            todo.sort(key=lambda i: -i.size)  # biggest first: the last ones to finish are short
            kinds = {i.key: i.kind for i in todo}
            with contextlib.closing(engine.process(todo, settings, output)) as stream:
                for res in stream:
                    if res.status == DONE:
                        frames += res.frames
                        videos += kinds.get(res.input) == "video"
                    if res.worker and res.load_s:
                        load_s.setdefault(res.worker, res.load_s)
                    record(res)
        finally:
            bar.close()
            manifest.compact()
            shutil.rmtree(output / PARTIAL, ignore_errors=True)
    return Summary(counts[DONE], counts[FAILED], counts[SKIPPED], time.perf_counter() - t0, frames, videos,
                   results, manifest.path, load_s)


__all__ = ["COLUMNS", "DONE", "FAILED", "Item", "LocalEngine", "MANIFEST", "Manifest", "RayEngine", "Result",
           "SKIPPED", "Settings", "Summary", "Worker", "collect_inputs", "output_names", "run_batch"]
