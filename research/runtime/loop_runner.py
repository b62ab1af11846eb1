"""LoopRunner: the process's one event loop, running in one daemon thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import gc
import statistics
import threading
import time
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel

from research.config import Settings
from research.services import Services, start_processes

T = TypeVar("T")

THREAD_NAME = "research-loop"


@functools.cache
def freeze_startup_objects() -> None:
    """Move everything alive now out of the cyclic garbage collector's view, once per process.

    What was imported before the first LoopRunner lives as long as the process; frozen, a full
    collection triggered on the loop does not walk it again, so it stays short.
    """
    gc.collect()
    gc.freeze()


class LoopLag(BaseModel):
    """Scheduling lag of the loop over the recent window, in milliseconds."""

    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    samples: int = 0


class LoopRunner:
    """Owns one asyncio loop in a daemon thread; submit coroutines to it from any thread."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        debug: bool | None = None,
        slow_callback: float = 0.1,
        heartbeat: float = 0.05,
        window: int = 1200,
    ) -> None:
        self.settings = settings or Settings.from_env()
        freeze_startup_objects()
        self._heartbeat = heartbeat
        self._lags: deque[float] = deque(maxlen=window)
        self._services: Services | None = None
        self._services_lock = threading.Lock()
        self._closed = False
        self._stopping = threading.Event()
        self._main: asyncio.Task[Any] | None = None
        # Worker processes start now, from the caller's thread, while nothing waits on them.
        self.processes = start_processes(self.settings)
        self._loop = asyncio.new_event_loop()
        if debug is not None:  # None keeps asyncio's default (PYTHONASYNCIODEBUG, -X dev)
            self._loop.set_debug(debug)
        self._loop.slow_callback_duration = slow_callback
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(started,), name=THREAD_NAME, daemon=True
        )
        self._thread.start()
        started.wait()

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            # The heartbeat is the loop's main task: the thread ends when shutdown() stops it.
            self._loop.run_until_complete(self._beat_until_stopped(started))
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    async def _beat_until_stopped(self, started: threading.Event) -> None:
        """Measure the loop's scheduling lag every heartbeat until shutdown() sets _stopping."""
        self._main = asyncio.current_task()
        started.set()
        while not self._stopping.is_set():
            expected = time.perf_counter() + self._heartbeat
            await asyncio.sleep(self._heartbeat)
            self._lags.append(max(0.0, time.perf_counter() - expected))

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop (for identity checks; schedule work with submit)."""
        return self._loop

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive and accepting work."""
        return not self._closed and self._thread.is_alive()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop; safe from any thread except the loop's own."""
        if self._closed:
            coro.close()
            raise RuntimeError("The LoopRunner has been shut down.")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def services(self) -> Services:
        """Return the shared services, opening them on the loop the first time."""
        with self._services_lock:
            if self._services is None:
                opening = self.submit(Services.open(self.settings, self.processes))
                self._services = opening.result(timeout=self.settings.start_timeout)
            return self._services

    def lag(self) -> LoopLag:
        """Return p50/p99/max scheduling lag measured by the heartbeat task."""
        samples = sorted(self._lags)
        if not samples:
            return LoopLag()
        p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
        return LoopLag(
            p50_ms=statistics.median(samples) * 1000,
            p99_ms=p99 * 1000,
            max_ms=samples[-1] * 1000,
            samples=len(samples),
        )

    def reset_lag(self) -> None:
        """Forget the lag samples so the next lag() covers only what follows."""
        self._lags.clear()

    def shutdown(self, timeout: float | None = None) -> None:
        """Cancel running tasks, close shared resources on the loop, stop it and join the thread."""
        if self._closed:
            return
        self._closed = True
        wait = self.settings.shutdown_timeout if timeout is None else timeout
        if self._thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
            try:
                done.result(wait)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                pass
            self._stopping.set()
            self._thread.join(wait)
        self.processes.close()

    async def _close(self) -> None:
        """Cancel every task but the heartbeat and this one, then close the shared services."""
        keep = {asyncio.current_task(), self._main}
        tasks = [task for task in asyncio.all_tasks() if task not in keep]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._services is not None:
            await self._services.aclose()
