"""The job queue end to end: workers (real processes) on a throwaway PostgreSQL, the CLI enqueuing.

Covers: a queued run executed by a worker and followed with --wait; a queued run without workers;
cancel of a run running on a worker; SIGTERM handing a run back; SIGKILL leaving it interrupted
(then resumable without refetching saved stages); one run enqueued twice run once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import SecretStr

from research.models import Report, StageName
from research.store.postgres import PostgresStore
from tests.fakes.site import SiteServer

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(pg_url: str) -> dict[str, str]:
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
        line = process.stderr.readline()  # the worker says so once it takes runs
        assert "taking runs" in line, line + process.stderr.read()
        self.processes.append(process)
        return process

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
def workers(env: dict[str, str]) -> Iterator[Workers]:
    pool = Workers(env)
    yield pool
    pool.stop_all()


def load(pg_url: str, run_id: str) -> Report:
    async def read() -> Report:
        store = await PostgresStore.open(SecretStr(pg_url))
        try:
            return await store.load(run_id)
        finally:
            await store.aclose()

    return anyio.run(read)


def test_a_queued_run_runs_on_a_worker_and_is_followed_with_wait(
    env: dict[str, str], workers: Workers, sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, rival = sites
    workers.start()
    out = tmp_path / "report.json"
    process = research(
        env, "discover", site.url, "--competitor", rival.url, "--engine", "local",
        "--max-pages", "5", "--queue", "--wait", "--json", str(out),
    )  # fmt: skip
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    run_id = stdout.strip()
    assert "[Site analysis]" in stderr and "[Briefs]" in stderr  # the same lines as a local run
    data = json.loads(out.read_text())
    assert data["run_id"] == run_id and data["status"] == "completed" and data["topics"]
