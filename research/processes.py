"""ProcessPool: worker processes for CPU-heavy work, so threads never hold the GIL against the loop.

HTML extraction, keyphrase statistics, clustering and workbook building run here; what crosses
is small and picklable (markup in, a `Page` out). Blocking I/O that releases the GIL (SQLite,
files) stays in threads. Functions sent to a worker must live in `research/` modules: a spawned
worker imports them by name (and re-runs an unguarded main script, see ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import importlib
import multiprocessing
import os
import pickle
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import TypeAlias, TypeVar

import anyio

T = TypeVar("T")


def available_cores() -> int:
    """Return how many CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def worker_pid() -> int:
    """Return the id of the process that runs this call (shows where pool work ran)."""
    return os.getpid()


def _preload(
    modules: Sequence[str], setup: Sequence[Callable[[], object]], owner: int, shared: str | None
) -> None:
    """Import the modules a worker will run and set it up, once, when it starts; end it with
    its owner."""
    global _shared_dir, _in_worker
    _shared_dir = Path(shared) if shared else None
    _in_worker = True
    # CPU work yields the cores to the loop's process (and Streamlit's threads) when both want
    # them, so the loop wakes on time while workers compute.
    os.setpriority(os.PRIO_PROCESS, 0, min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICE))
    for name in modules:
        importlib.import_module(name)
    for prepare in setup:
        prepare()
    # The libraries imported (a few hundred thousand objects) live as long as the worker:
    # frozen, the full collections that building a site's statistics triggers do not walk them.
    gc.collect()
    gc.freeze()
    threading.Thread(
        target=_end_with, args=(owner, _shared_dir), name="owner-watch", daemon=True
    ).start()


def _end_with(owner: int, shared: Path | None) -> None:
    """Exit this worker once the process that owns the pool is gone (killed, say)."""
    tick = threading.Event()
    while not tick.wait(OWNER_CHECK_SECONDS):
        if not _alive(owner):
            if shared is not None:
                shutil.rmtree(shared, ignore_errors=True)  # its owner can no longer remove it
            os._exit(0)  # nobody is left to take its results


def _alive(pid: int) -> bool:
    """Whether a process exists and has not died (a killed one not yet reaped is a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (not Linux): existing is all we can tell
    return stat.rpartition(")")[2].split()[0] != "Z"


# How much lower than its owner a worker's scheduling priority is (nice levels).
WORKER_NICE = 5
# Results the workers of one pool share (see `shared_result`): at most this many, newest kept.
SHARED_RESULTS = 16
# The directory a worker shares results in with the other workers of its pool; None in a pool
# of one worker (nobody to share with) and outside a pool.
_shared_dir: Path | None = None
# Whether this process is a pool's worker (set when it starts).
_in_worker = False


def shared_result(name: str, compute: Callable[[], T]) -> T:
    """Return the result stored under `name` by any worker of this pool, else `compute()`'s.

    A result several later tasks need (a site's phrase statistics) is computed once per pool,
    not once per worker: the worker that computes it leaves it, pickled, in a directory only
    the pool's workers read, so what crosses the owner's queues stays small. Outside a pool of
    several workers this is `compute()`.
    """
    folder = _shared_dir
    if folder is None:
        return _kept(compute())
    path = folder / f"{name}.pickle"
    try:
        with path.open("rb") as file, _collector_paused():
            found: T = pickle.load(file)
        return _kept(found)
    except (OSError, EOFError, pickle.UnpicklingError):
        pass  # not there yet, or removed as the oldest meanwhile
    value = compute()
    partial_path = folder / f".{name}.{os.getpid()}"
    try:
        with partial_path.open("wb") as file:
            pickle.dump(value, file, pickle.HIGHEST_PROTOCOL)
        os.replace(partial_path, path)  # readers see a whole file or none
        _drop_oldest(folder)
    except OSError:
        with contextlib.suppress(OSError):
            partial_path.unlink()
    return _kept(value)


def _kept(value: T) -> T:
    """Freeze, in a worker, what it keeps for later tasks (and what else is alive now).

    A site's statistics are hundreds of thousands of objects that every full collection would
    walk again, task after task; frozen, they are not. They hold no reference cycles, so
    dropping them from a cache still frees them.
    """
    if _in_worker:
        gc.freeze()
    return value


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: loading tens of thousands of objects would
    otherwise trigger collections that walk them all, several times over (3x slower)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _drop_oldest(folder: Path) -> None:
    """Keep the newest SHARED_RESULTS files of a shared directory."""
    found = []
    for entry in os.scandir(folder):
        if not entry.name.startswith("."):
            with contextlib.suppress(OSError):
                found.append((entry.stat().st_mtime_ns, entry.path))
    for _, path in sorted(found)[:-SHARED_RESULTS]:
        with contextlib.suppress(OSError):
            os.unlink(path)


# How often a worker checks that the process owning its pool still exists: a SIGKILLed
# dashboard, CLI or queue worker leaves no worker processes behind for longer than this.
OWNER_CHECK_SECONDS = 1.0


class ProcessPool:
    """A bounded pool of worker processes, usable from the event loop."""

    def __init__(
        self,
        size: int = 0,
        preload: Sequence[str] = (),
        setup: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.size = size if size > 0 else available_cores()
        self._preload = tuple(preload)
        # Run in each worker as it starts: what a library builds on its first use (tables,
        # caches) is then built before any run waits for it.
        self._setup = tuple(setup)
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._closed = False
        self._limiter = anyio.CapacityLimiter(self.size)
        self._shared = tempfile.mkdtemp(prefix="research-shared-") if self.size > 1 else None
        # Workers fork from one server process that imported the preload once (per Python
        # process), so a pool starts in milliseconds; the server itself is spawned, not forked
        # from this many-threaded process.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(list(self._preload))
        self._executor = self._new_executor()

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        return concurrent.futures.ProcessPoolExecutor(
            self.size,
            mp_context=self._context,
            initializer=_preload,
            initargs=(self._preload, self._setup, os.getpid(), self._shared),
        )

    def warm(self) -> None:
        """Start every worker in a background thread; calls made meanwhile wait for it."""
        self._ready.clear()
        threading.Thread(target=self._start_workers, name="process-pool-start", daemon=True).start()

    def _start_workers(self) -> None:
        try:
            with self._lock:
                if self._closed:
                    return
                # Starting a worker blocks until the fork server is up: never on the loop.
                started = [self._executor.submit(worker_pid) for _ in range(self.size)]
            concurrent.futures.wait(started)
        finally:
            self._ready.set()

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """Return `func(*args)` computed in a worker; cancelling stops waiting at once."""
        async with self._limiter:
            try:
                return await self._submit(func, args)
            except BrokenProcessPool:
                # A worker died (killed, out of memory): start fresh workers and try once more.
                self._replace()
                return await self._submit(func, args)

    async def started(self) -> None:
        """Return once the workers that warm() is starting are up."""
        if not self._ready.is_set():
            await anyio.to_thread.run_sync(self._ready.wait, abandon_on_cancel=True)

    async def _submit(self, func: Callable[..., T], args: tuple[object, ...]) -> T:
        await self.started()
        with self._lock:
            if self._closed:
                raise RuntimeError("The process pool has been closed.")
            future = self._executor.submit(func, *args)
        # Cancelling the awaiting task cancels a call still queued; one already running in a
        # worker finishes there and its result is discarded.
        return await asyncio.wrap_future(future)

    def _replace(self) -> None:
        with self._lock:
            if self._closed:
                return
            broken, self._executor = self._executor, self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)
        self.warm()

    def close(self) -> None:
        """Stop the workers; calls still queued are cancelled (blocking; call off the loop)."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._shared is not None:
            shutil.rmtree(self._shared, ignore_errors=True)


# Where CPU work runs: the pool, or threads under a limiter where no pool is given (tools, tests).
CpuWorkers: TypeAlias = ProcessPool | anyio.CapacityLimiter


async def run_cpu(workers: CpuWorkers, func: Callable[..., T], *args: object) -> T:
    """Return `func(*args)` computed in a worker process, or a thread when given a limiter."""
    if isinstance(workers, ProcessPool):
        return await workers.run(func, *args)
    return await anyio.to_thread.run_sync(partial(func, *args), limiter=workers)
