"""The batch driver: :func:`run_batch` skips what is already done, runs the rest on an engine, keeps the manifest
and returns the run's :class:`Summary`."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from ..errors import PosekitError
from .engines import LocalEngine
from .inputs import PARTIAL, Item, Settings, collect_inputs
from .manifest import DONE, FAILED, MANIFEST, SKIPPED, Manifest, Result, is_current


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
            import fcntl  # noqa: PLC0415 - POSIX only
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
                if not force and is_current(prev, item, settings, output):
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
