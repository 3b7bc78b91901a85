"""The batch manifest: one :class:`Result` row per input in ``manifest.csv`` (:class:`Manifest`), and whether a
row still stands for an input (:func:`is_current`)."""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import PosekitError
from ..files import atomic_open
from .inputs import Item, Settings, output_names

#: The manifest's name in the output folder.
MANIFEST = "manifest.csv"
#: Manifest columns, in order.
COLUMNS = ("input", "status", "reason", "error", "frames", "duration_s", "people", "seconds", "worker",
           "backend", "settings_hash", "attempts", "size", "mtime_ns", "outputs", "finished_at", "source")

DONE, FAILED, SKIPPED = "done", "failed", "skipped"


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


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_reason(exc: BaseException) -> str:
    if isinstance(exc, PosekitError):
        return one_line(str(exc))
    return one_line(f"{type(exc).__name__}: {exc}")


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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


def is_current(prev: Optional[Result], item: Item, settings: Settings, output: Path) -> bool:
    """Whether ``prev`` stands for ``item`` with these settings: done and its outputs all still there, or
    failed because the file itself is bad (the same file fails again; a changed one is redone)."""
    if prev is None or prev.settings_hash != settings.hash() or (prev.size, prev.mtime_ns) != (item.size,
                                                                                                item.mtime_ns):
        return False
    if prev.status == FAILED:
        return prev.error == "input"
    return prev.status in (DONE, SKIPPED) and all((output / name).exists()
                                                  for name in output_names(item, settings).values())
