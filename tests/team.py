"""A team setup for tests: the environment of the queue on PostgreSQL, worker processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def team_env(pg_url: str) -> dict[str, str]:
    """The environment of a team setup: PostgreSQL history, the queue on, short leases.

    A response a test holds (`SiteServer.hold_paths`) waits for its gate, not for a fetch
    deadline: with the default 15 s read timeout a held page failed under load, and the run
    went on without it and finished before the test had looked at it live.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RESEARCH_", "GEMINI_"))}
    base.pop("PYTHONASYNCIODEBUG", None)  # worker logs would mix debug warnings into stderr
    return {
        **base,
        "RESEARCH_DATABASE_URL": pg_url,
        "RESEARCH_QUEUE": "1",
        "RESEARCH_ALLOW_PRIVATE_HOSTS": "1",
        "RESEARCH_LEASE_SECONDS": "2",
        "RESEARCH_READ_TIMEOUT": "600",
        "RESEARCH_PAGE_TIMEOUT": "600",
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
    """Worker processes started by a test, stopped at its end; their stderr goes to files."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, concurrency: int = 2) -> subprocess.Popen[str]:
        """Start a worker and return once it says that it takes runs."""
        path = self.logs / f"worker-{len(self.processes)}.log"
        with path.open("w") as stderr:  # a file: a pipe nobody reads would block a chatty worker
            process = subprocess.Popen(
                [sys.executable, "-m", "research", "worker", "--concurrency", str(concurrency)],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                text=True,
            )
        self.processes.append(process)
        deadline = time.monotonic() + 60
        while "taking runs" not in path.read_text():  # warnings may come first
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the worker did not start: {path.read_text()}")
            time.sleep(0.05)
        return process

    def log(self) -> str:
        """Everything the workers wrote to stderr so far, for a failing assertion's message."""
        return "".join(
            f"--- {path.name}\n{path.read_text()}" for path in sorted(self.logs.glob("worker-*"))
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def workers(team_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    """Start workers with `workers.start()`; they are stopped (SIGTERM) at the test's end."""
    pool = Workers(team_env, tmp_path)
    yield pool
    pool.stop_all()
