"""Atomic file writes: one rule for every file posekit writes.

A file is written to a temporary name beside its destination (same folder, so the final ``os.replace`` stays on
one volume) and renamed into place only once it is complete: a reader never sees half a file, and an error or a
crash leaves no partial file behind. The finished file gets the permissions any new file of the user would get
(``0o666`` less the process umask), not the private ``0o600`` of :func:`tempfile.mkstemp`: a batch's results on
a shared volume stay readable by the team.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator

from .errors import InvalidInputError

_UMASK_LOCK = threading.Lock()
_UMASK: int | None = None


def user_mode() -> int:
    """The mode a new file gets for this user: ``0o666`` less the process umask (read once, thread-safely)."""
    global _UMASK
    if _UMASK is None:
        with _UMASK_LOCK:
            if _UMASK is None:
                current = os.umask(0o022)  # the only portable way to read it is to set it
                os.umask(current)
                _UMASK = current
    return 0o666 & ~_UMASK


def temp_path(dst: str | os.PathLike, suffix: str = ".part") -> Path:
    """A new, empty temporary file beside ``dst`` (``.<stem>.<random><suffix>``), for a writer that needs a path
    (an encoder, a converter). Move it into place with :func:`publish`; remove it with :func:`discard`.

    Raises:
        InvalidInputError: ``dst``'s folder does not exist.
    """
    dst = Path(dst)
    if not dst.parent.is_dir():
        raise InvalidInputError(f"output folder {dst.parent} does not exist")
    fd, name = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.stem}.", suffix=suffix)
    os.close(fd)
    return Path(name)


def publish(tmp: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Give the finished ``tmp`` the user's usual permissions and rename it to ``dst`` (atomically)."""
    os.chmod(tmp, user_mode())
    os.replace(tmp, dst)
    return Path(dst)


def discard(path: str | os.PathLike | None) -> None:
    """Remove a temporary file if it is there."""
    if path is not None:
        Path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(dst: str | os.PathLike, suffix: str = ".part") -> Iterator[Path]:
    """``with atomic_path(dst) as tmp:`` write ``tmp`` by any means; on a clean exit it becomes ``dst`` (user's
    permissions), on an exception it is removed and ``dst`` is left as it was."""
    tmp = temp_path(dst, suffix)
    try:
        yield tmp
        publish(tmp, dst)
    except BaseException:
        discard(tmp)
        raise


@contextlib.contextmanager
def atomic_open(dst: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8",
                newline: str | None = "", fsync: bool = False) -> Iterator[IO]:
    """``with atomic_open(dst) as f:`` a file object whose content becomes ``dst`` on a clean exit.

    ``mode`` is ``"w"`` (text; ``newline=""`` writes line ends as given) or ``"wb"``; ``fsync`` makes the data
    durable before the rename (manifests)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    binary = mode == "wb"
    with atomic_path(dst) as tmp:
        with open(tmp, mode, encoding=None if binary else encoding, newline=None if binary else newline) as f:
            yield f
            if fsync:
                f.flush()
                os.fsync(f.fileno())


def write_atomic(dst: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``dst`` atomically. Returns ``dst`` as a Path.

    Raises:
        InvalidInputError: the folder does not exist or the file cannot be written (disk full, no permission).
    """
    dst = Path(dst)
    try:
        with atomic_open(dst, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as e:
        raise InvalidInputError(f"cannot write {dst}: {e.strerror or e}") from None
    return dst


__all__ = ["atomic_open", "atomic_path", "discard", "publish", "temp_path", "user_mode", "write_atomic"]
