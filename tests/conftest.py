"""Shared fixtures: loopback fixture sites, test settings, a debug-mode LoopRunner."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from research.config import Settings
from research.runtime.loop_runner import LoopRunner
from tests.fakes.fixtures import start_sites
from tests.fakes.site import SiteServer
from tests.pg import pg_cluster, pg_url  # noqa: F401  (fixtures for the PostgreSQL tests)
from tests.team import team_env, workers  # noqa: F401  (fixtures for the queue tests)

# Every event loop the tests create (LoopRunner, anyio's test loops, the CLI and dashboard
# subprocesses) runs in asyncio debug mode, which reports callbacks that block the loop.
os.environ["PYTHONASYNCIODEBUG"] = "1"
# Seconds a loop step may take before the test fails as "blocking". Wall time also counts waiting
# for the GIL while worker threads parse pages on 2 cores, hence not lower.
SLOW_CALLBACK = 0.5


class SlowCallbacks(logging.Handler):
    """Collects asyncio's debug-mode warnings about callbacks that blocked the loop."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # Loops we do not configure (anyio's test loops) warn from 0.1 s; judge by our threshold.
        took = re.search(r"^Executing .* took ([0-9.]+) seconds$", record.getMessage(), re.S)
        if took and float(took.group(1)) >= SLOW_CALLBACK:
            self.records.append(record.getMessage())


@pytest.fixture(autouse=True)
def main_module_restored() -> Iterator[None]:
    """Put pytest's __main__ back after each test.

    AppTest leaves its script installed as __main__ (as Streamlit does), and every worker
    process a later test's pool starts re-runs __main__ from its path: an AppTest.from_function
    script is not guarded the way streamlit_app.py is, and breaks those workers.
    """
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(autouse=True)
def no_blocking_on_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail any test during which a callback held an asyncio loop longer than SLOW_CALLBACK."""
    if request.node.get_closest_marker("browser"):
        # Playwright's own loop runs in this process; our loop runs in the dashboard subprocess.
        yield
        return
    handler = SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    if request.node.get_closest_marker("blocks_loop"):
        assert handler.records, "a test that blocks the loop on purpose was not detected"
    else:
        assert not handler.records, f"blocking call on the event loop: {handler.records}"


@pytest.fixture
def anyio_backend() -> str:
    """anyio's pytest plugin runs async tests on asyncio, the backend the dashboard uses."""
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for tests: private hosts allowed, a temporary database, short deadlines."""
    return Settings(
        allow_private_hosts=True,
        db_path=tmp_path / "runs.sqlite3",
        connect_timeout=2.0,
        read_timeout=3.0,
        page_timeout=5.0,
        crawl_time_budget=30.0,
    )


@pytest.fixture
def runner(settings: Settings) -> Iterator[LoopRunner]:
    """A LoopRunner in asyncio debug mode with a slow-callback threshold."""
    loop_runner = LoopRunner(settings, debug=True, slow_callback=SLOW_CALLBACK)
    yield loop_runner
    loop_runner.shutdown()


@pytest.fixture
def sites() -> Iterator[tuple[SiteServer, SiteServer]]:
    """The Acme fixture site and its Metricly competitor on 127.0.0.1."""
    site, rival = start_sites()
    yield site, rival
    site.stop()
    rival.stop()
