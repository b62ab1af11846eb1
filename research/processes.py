"""ProcessPool: worker processes for CPU-heavy work, so threads never hold the GIL against the loop.

HTML extraction, keyphrase statistics, clustering and workbook building run here; what crosses
is small and picklable (markup in, a `Page` out). Blocking I/O that releases the GIL (SQLite,
files) stays in threads. Functions sent to a worker must live in `research/` modules: a spawned
worker imports them by name (and re-runs an unguarded main script, see ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from functools import partial
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


def _preload(modules: Sequence[str]) -> None:
    """Import the modules a worker will run, once, when it starts."""
    for name in modules:
        importlib.import_module(name)


class ProcessPool:
    """A bounded pool of spawned worker processes, usable from the event loop."""

    def __init__(self, size: int = 0, preload: Sequence[str] = ()) -> None:
        self.size = size if size > 0 else available_cores()
        self._preload = tuple(preload)
        self._lock = threading.Lock()
        self._executor = self._new_executor()
        self._limiter = anyio.CapacityLimiter(self.size)
        self._closed = False

    def _new_executor(self) -> concurrent.futures.ProcessPoolExecutor:
        # Spawned, not forked: the dashboard's process has many threads, which fork copies badly.
        return concurrent.futures.ProcessPoolExecutor(
            self.size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_preload,
            initargs=(self._preload,),
        )

    def warm(self) -> list[concurrent.futures.Future[int]]:
        """Start every worker now (without waiting), so the first run does not pay for it."""
        with self._lock:
            return [self._executor.submit(worker_pid) for _ in range(self.size)]

    async def run(self, func: Callable[..., T], *args: object) -> T:
        """Return `func(*args)` computed in a worker; cancelling stops waiting at once."""
        async with self._limiter:
            try:
                return await self._submit(func, args)
            except BrokenProcessPool:
                # A worker died (killed, out of memory): start fresh workers and try once more.
                self._replace()
                return await self._submit(func, args)

    async def _submit(self, func: Callable[..., T], args: tuple[object, ...]) -> T:
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

    def close(self) -> None:
        """Stop the workers; calls still queued are cancelled (blocking; call off the loop)."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)


# Where CPU work runs: the pool, or threads under a limiter where no pool is given (tools, tests).
CpuWorkers: TypeAlias = ProcessPool | anyio.CapacityLimiter


async def run_cpu(workers: CpuWorkers, func: Callable[..., T], *args: object) -> T:
    """Return `func(*args)` computed in a worker process, or a thread when given a limiter."""
    if isinstance(workers, ProcessPool):
        return await workers.run(func, *args)
    return await anyio.to_thread.run_sync(partial(func, *args), limiter=workers)
