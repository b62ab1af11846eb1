"""LoopRunner: the process's one event loop, running in one daemon thread."""

from __future__ import annotations

import asyncio
import concurrent.futures
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
        # Everything imported so far lives as long as the process: move it out of the cyclic
        # collector's view, so a full collection triggered on the loop stays short.
        gc.collect()
        gc.freeze()
        self._heartbeat = heartbeat
        self._lags: deque[float] = deque(maxlen=window)
        self._services: Services | None = None
        self._services_lock = threading.Lock()
        self._closed = False
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
        self._loop.call_soon(started.set)
        self._beat = self._loop.create_task(self._measure_lag(), name="loop-heartbeat")
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
            self._loop.close()

    async def _measure_lag(self) -> None:
        while True:
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
                self._services = self.submit(Services.open(self.settings, self.processes)).result(
                    timeout=30
                )
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

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel running tasks, close shared resources on the loop, stop it and join the thread."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            done = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
            try:
                done.result(timeout)
            except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        self.processes.close()

    async def _close(self) -> None:
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._services is not None:
            await self._services.aclose()
