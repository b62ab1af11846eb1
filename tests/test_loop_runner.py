"""LoopRunner: one loop in one thread, safe submission, cancellation, shutdown, lag."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading

import anyio
import pytest

from research.config import Settings
from research.runtime.loop_runner import THREAD_NAME, LoopRunner


async def whoami(value: int) -> tuple[int, str, int]:
    await anyio.sleep(0.01)
    return value, threading.current_thread().name, id(asyncio.get_running_loop())


def test_submit_from_twenty_threads_runs_everything_on_the_one_loop(runner: LoopRunner) -> None:
    barrier = threading.Barrier(20)

    def submit(value: int) -> tuple[int, str, int]:
        barrier.wait()
        return runner.submit(whoami(value)).result(timeout=10)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(submit, range(20)))
    assert [value for value, _, _ in results] == list(range(20))
    assert {name for _, name, _ in results} == {THREAD_NAME}
    assert {loop for _, _, loop in results} == {id(runner.loop)}


def test_cancel_propagates_cancelled_error_into_the_coroutine(runner: LoopRunner) -> None:
    started, saw_cancel = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            saw_cancel.set()
            raise

    future = runner.submit(forever())
    assert started.wait(5)
    future.cancel()
    assert saw_cancel.wait(5)
    assert future.cancelled()


def test_loop_survives_a_failing_coroutine(runner: LoopRunner) -> None:
    async def boom() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        runner.submit(boom()).result(timeout=5)
    assert runner.submit(whoami(7)).result(timeout=5)[0] == 7


def test_shutdown_cancels_tasks_closes_resources_and_leaves_no_thread(settings: Settings) -> None:
    runner = LoopRunner(settings)
    services = runner.services()
    started, cancelled = threading.Event(), threading.Event()

    async def long_task() -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    runner.submit(long_task())
    assert started.wait(5)
    runner.shutdown()
    assert cancelled.is_set()
    assert services.fetcher.closed
    assert not any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate())
    assert runner.loop.is_closed()
    with pytest.raises(RuntimeError):
        runner.submit(whoami(1))


@pytest.mark.blocks_loop
def test_lag_and_debug_mode_report_a_blocked_loop(settings: Settings) -> None:
    runner = LoopRunner(settings, heartbeat=0.01)
    try:
        runner.submit(anyio.sleep(0.2)).result(timeout=5)
        calm = runner.lag()
        assert calm.samples > 5

        async def block() -> None:
            threading.Event().wait(0.6)  # deliberately blocks the loop

        runner.submit(block()).result(timeout=5)
        runner.submit(anyio.sleep(0.05)).result(timeout=5)
        assert runner.lag().max_ms >= 550
    finally:
        runner.shutdown()


def test_the_heap_is_frozen_once_per_process_not_per_runner(settings: Settings) -> None:
    LoopRunner(settings).shutdown()
    frozen = gc.get_freeze_count()
    garbage = [object() for _ in range(1000)]  # new objects a second freeze would take in
    second = LoopRunner(settings)
    second.shutdown()
    assert gc.get_freeze_count() == frozen and garbage


def test_shutdown_stops_the_heartbeat_instead_of_cancelling_it(settings: Settings) -> None:
    runner = LoopRunner(settings, heartbeat=0.01)
    runner.submit(anyio.sleep(0.05)).result(timeout=5)
    beating = runner.lag().samples
    runner.shutdown()
    assert beating > 0 and not runner.running
    heartbeat = runner._main  # the loop's main task: it returned, nobody cancelled it
    assert heartbeat is not None and heartbeat.done() and not heartbeat.cancelled()
