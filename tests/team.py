"""A team setup for tests: the environment of the queue on PostgreSQL, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def team_env(pg_url: str) -> dict[str, str]:
    """The environment of a team setup: PostgreSQL history, the queue on, short leases."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RESEARCH_", "GEMINI_"))}
    base.pop("PYTHONASYNCIODEBUG", None)  # worker logs would mix debug warnings into stderr
    return {
        **base,
        "RESEARCH_DATABASE_URL": pg_url,
        "RESEARCH_QUEUE": "1",
        "RESEARCH_ALLOW_PRIVATE_HOSTS": "1",
        "RESEARCH_LEASE_SECONDS": "2",
    }


def research(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "research", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class Workers:
    """Worker processes started by a test, stopped at its end."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, concurrency: int = 2) -> subprocess.Popen[str]:
        process = research(self.env, "worker", "--concurrency", str(concurrency))
        assert process.stderr is not None
        self.processes.append(process)
        seen = []
        for (
            line
        ) in process.stderr:  # the worker says so once it takes runs (warnings may come first)
            if "taking runs" in line:
                return process
            seen.append(line)
        raise AssertionError(f"the worker exited before taking runs: {''.join(seen)}")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


@pytest.fixture
def workers(team_env: dict[str, str]) -> Iterator[Workers]:
    """Start workers with `workers.start()`; they are stopped (SIGTERM) at the test's end."""
    pool = Workers(team_env)
    yield pool
    pool.stop_all()
