"""The process pool: CPU work runs in other processes, cancels at once, closes with the runner."""

from __future__ import annotations

import concurrent.futures
import os
import time

import anyio
import pytest
from trafilatura import external

from research.config import Settings
from research.net.extract import extract_page
from research.processes import shared_result, worker_pid
from research.runtime.loop_runner import LoopRunner

MARKUP = (
    "<html lang='en'><head><title>Cold brew | Acme</title></head><body><h1>Cold brew</h1>"
    "<p>Steep coarse grounds in cold water for twelve hours.</p><a href='/beans'>Beans</a>"
    "</body></html>"
)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_work_runs_in_worker_processes_that_close_with_the_runner(settings: Settings) -> None:
    runner = LoopRunner(settings.model_copy(update={"worker_processes": 2}))
    try:
        pool = runner.services().processes
        assert pool is runner.processes and pool.size == 2
        pids = {
            runner.submit(pool.run(worker_pid)).result(timeout=60) for _ in range(pool.size * 3)
        }
        assert os.getpid() not in pids
        page = runner.submit(pool.run(extract_page, MARKUP, "https://acme.test/")).result(60)
        assert page == extract_page(MARKUP, "https://acme.test/")
        assert page.links == ["https://acme.test/beans"]
    finally:
        runner.shutdown()
    assert pids and not any(alive(pid) for pid in pids)


def word_lists_built() -> bool:
    """Whether this process built the word lists of trafilatura's last-resort extractor."""
    return external.JT_STOPLIST is not None


def test_workers_start_with_what_extraction_builds_on_first_use(settings: Settings) -> None:
    runner = LoopRunner(settings.model_copy(update={"worker_processes": 2}))
    try:
        pool = runner.processes
        # Fresh workers, forked from a server that only imports modules: built at their start.
        assert all(runner.submit(pool.run(word_lists_built)).result(60) for _ in range(4))
    finally:
        runner.shutdown()


def test_cancel_stops_waiting_for_a_worker_at_once_and_the_pool_goes_on(
    settings: Settings,
) -> None:
    runner = LoopRunner(settings.model_copy(update={"worker_processes": 1}))
    try:
        pool = runner.processes
        runner.submit(pool.run(worker_pid)).result(timeout=60)  # the worker is up
        busy = runner.submit(pool.run(time.sleep, 1.5))
        queued = runner.submit(pool.run(time.sleep, 60))
        queued.cancel()
        busy.cancel()
        with pytest.raises(concurrent.futures.CancelledError):
            busy.result(timeout=1.0)
        with pytest.raises(concurrent.futures.CancelledError):
            queued.result(timeout=1.0)
        # The call already running finishes in its worker and is discarded; the queued one
        # never ran, so the one worker is free again for the next call.
        assert runner.submit(pool.run(worker_pid)).result(timeout=30) != os.getpid()
    finally:
        runner.shutdown()


def test_workers_of_a_pool_share_a_result_computed_once(settings: Settings) -> None:
    runner = LoopRunner(settings.model_copy(update={"worker_processes": 2}))
    pool = runner.processes

    async def shared_beside_a_busy_worker() -> int:
        # One worker naps, so the shared call runs in the other (either, round by round).
        async with anyio.create_task_group() as group:
            group.start_soon(pool.run, time.sleep, 0.3)
            await anyio.sleep(0.05)
            return await pool.run(shared_result, "owner", worker_pid)

    try:
        runner.submit(pool.run(worker_pid)).result(timeout=60)
        owners = [runner.submit(shared_beside_a_busy_worker()).result(60) for _ in range(6)]
    finally:
        runner.shutdown()
    # Whichever worker ran it, the result is the one the first call computed.
    assert len(set(owners)) == 1 and os.getpid() not in owners
