"""A team setup end to end: two dashboard replicas (`streamlit run`) and two workers on one database.

A run started in replica A through the browser is followed live in replica B and finishes there;
cancel from B stops a run on a worker; a batch of 6 fixture sites is spread over both workers.
(A worker killed with SIGKILL is covered in tests/test_queue.py.)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.fakes.site import SiteServer
from tests.team import Workers, research
from tests.test_e2e_browser import CHROMIUM, CHROMIUM_ARGS, free_port, wait_healthy
from tests.test_queue import enqueue

ROOT = Path(__file__).resolve().parents[1]
# One xdist worker runs every browser test, so two Chromiums never compete for the two cores.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.fixture
def replicas(team_env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Two `streamlit run` replicas on free ports, sharing the test database and the queue."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent))
    assert streamlit
    processes, bases = [], []
    try:
        for _ in range(2):
            port = free_port()
            command = [streamlit, "run", "streamlit_app.py", "--server.port", str(port),
                       "--server.address", "127.0.0.1", "--server.headless", "true"]  # fmt: skip
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=team_env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            processes.append(process)
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, processes, strict=True):
            wait_healthy(f"{base}/_stcore/health", process)
        yield bases[0], bases[1]
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def test_two_replicas_and_two_workers_share_runs_batches_and_cancels(
    team_env: dict[str, str],
    pg_url: str,
    replicas: tuple[str, str],
    workers: Workers,
    sites: tuple[SiteServer, SiteServer],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    site, rival = sites
    first_replica, second_replica = replicas
    workers.start()
    workers.start()
    rival.hold_paths(lambda path: path != "/robots.txt")  # the run stays live until the gate opens
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            a = browser.new_page()
            a.goto(first_replica, wait_until="domcontentloaded")
            url_box = a.get_by_label("Website URL")
            expect(url_box).to_be_visible(timeout=30_000)
            url_box.fill(site.url)
            url_box.press("Enter")
            a.get_by_label("Competitor URLs").fill(rival.url)
            a.get_by_role("button", name="Discover Topics").click()
            expect(a.get_by_text("Following run").first).to_be_visible(timeout=30_000)
            a.wait_for_url("**run=*", timeout=30_000)
            run_id = parse_qs(urlsplit(a.url).query)["run"][0]
            b = browser.new_page()
            b.goto(f"{second_replica}/?run={run_id}", wait_until="domcontentloaded")
            expect(b.get_by_text(f"Following run {run_id}")).to_be_visible(timeout=30_000)
            expect(b.get_by_text("Site analysis done").first).to_be_visible(timeout=60_000)
            assert rival.held.is_set() and run_status(pg_url, run_id) == "running"  # B saw it live
            rival.gate.set()
            expect(b.get_by_role("tab", name="Topics")).to_be_visible(timeout=90_000)

            site.hold_paths(lambda path: path != "/robots.txt")
            held = enqueue(team_env, site.url)
            assert site.held.wait(60)
            b.goto(f"{second_replica}/?run={held}", wait_until="domcontentloaded")
            b.get_by_role("button", name="Cancel").click()
            deadline = time.monotonic() + 30
            while run_status(pg_url, held) != "cancelled":  # stopped on its worker
                assert time.monotonic() < deadline, run_status(pg_url, held)
                site.held.wait(0.1)
            site.gate.set()
        finally:
            browser.close()

    spread_batch(team_env, pg_url, site, tmp_path, workers)


def run_status(pg_url: str, run_id: str) -> str:
    """The status of a run, straight from the database."""
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,)).fetchone()
        assert row is not None
        return str(row[0])


def batch_statuses(pg_url: str, batch_id: str) -> list[tuple[str, str | None]]:
    """(status, owner) of each run of a batch, straight from the database."""
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT status, owner FROM runs WHERE batch_id = %s", (batch_id,))
        return [(row[0], row[1]) for row in rows.fetchall()]


def spread_batch(
    team: dict[str, str], pg_url: str, site: SiteServer, tmp_path: Path, workers: Workers
) -> None:
    """Enqueue a batch of 6 and check that both workers ran some of its runs."""
    site.hold_paths(lambda path: path != "/robots.txt")  # 2 runs hang on each worker
    listing = tmp_path / "sites.txt"
    listing.write_text(f"{site.url}\n" * 6)
    process = research(
        team, "batch", str(listing), "--engine", "local", "--max-pages", "3", "--queue"
    )
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    batch_id = stdout.strip()
    deadline = time.monotonic() + 60
    while sum(s == "running" for s, _ in batch_statuses(pg_url, batch_id)) < 4:
        assert time.monotonic() < deadline, (batch_statuses(pg_url, batch_id), workers.log())
        site.held.wait(0.1)
    site.gate.set()
    deadline = time.monotonic() + 120
    while any(s != "completed" for s, _ in batch_statuses(pg_url, batch_id)):
        assert time.monotonic() < deadline, (batch_statuses(pg_url, batch_id), workers.log())
        site.held.wait(0.1)
    owners = {owner.rsplit(":", 1)[0] for _, owner in batch_statuses(pg_url, batch_id) if owner}
    assert len(owners) == 2  # host:pid of each worker
