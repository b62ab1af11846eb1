"""The process pool: CPU work runs in other processes, cancels at once, closes with the runner."""

from __future__ import annotations

import concurrent.futures
import os
import time

import pytest

from research.config import Settings
from research.net.extract import extract_page
from research.processes import worker_pid
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
