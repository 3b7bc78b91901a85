"""Batch engines: run :class:`~posekit.batch.worker.Worker` s over items and yield their results, retrying an
item whose worker died: :class:`LocalEngine` (a process pool here) and :class:`RayEngine` (Ray actors)."""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import shutil
import signal
import socket
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import wait as wait_ready
from pathlib import Path
from typing import Optional

from ..errors import PosekitError
from ..models import model_dir
from .inputs import Item, Settings, stage_dir
from .manifest import FAILED, Result, error_reason, utc_now
from .worker import Worker, worker_name


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
                  size=item.size, mtime_ns=item.mtime_ns, source=item.source, finished_at=utc_now())


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
        raise PosekitError(f"the worker could not load the model: {error_reason(_LOCAL_ERROR)}")
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


def import_ray():
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        raise PosekitError('the ray engine needs Ray: pip install "ray[default]"') from None
    return ray


class _RayWorker:
    """A Ray actor holding one :class:`Worker` (made remote in :meth:`RayEngine.process`)."""

    def __init__(self, settings: Settings, output: str, threads: Optional[int]) -> None:
        import ray  # noqa: PLC0415

        self.worker, self.error = None, ""
        try:
            self.worker = Worker(settings, output, threads)
        except Exception as exc:  # noqa: BLE001 - said by run(), then the driver stops the run
            self.error = f"the worker could not load the model: {error_reason(exc)}"
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
            env["py_modules"] = [str(Path(__file__).resolve().parent.parent)]
            _check_reachable(address)
            try:
                ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level=logging.WARNING)
            except ConnectionError as exc:
                raise PosekitError(f"cannot join the Ray cluster at {address} ({error_reason(exc)}); is it running "
                                   "(ray start --head), and, if it asks for a token, are RAY_AUTH_MODE=token and "
                                   "its token set here?") from None
        else:
            ray.init(runtime_env=env, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        return True

    def process(self, items: Sequence[Item], settings: Settings, output: Path) -> Iterator[Result]:
        if not items:
            return
        ray = import_ray()
        from ray.exceptions import RayActorError  # noqa: PLC0415

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
                            raise PosekitError(f"a Ray worker could not start: {error_reason(exc)}") from None
                        shutil.rmtree(stage_dir(output, item), ignore_errors=True)
                        self.actors.remove(actor)
                        if actor not in completed_by:
                            startup_failures += 1
                            if startup_failures > 2 * n + self.retries:
                                raise PosekitError(f"the Ray workers keep dying: {error_reason(exc)}") from None
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
    return model_dir().resolve()
