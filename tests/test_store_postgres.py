"""The PostgreSQL history beyond the shared contract: migrations at once, leases, secrets, outages."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import anyio
import psycopg
import pytest
from pydantic import SecretStr

from research.config import Settings
from research.errors import StoreError
from research.store import open_store
from research.store.postgres import SCHEMA_VERSION, PostgresStore
from tests.sample_report import sample_report

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "hunter2-not-for-logs"


def _with_password(url: str) -> str:
    """The same URL with a password in it (the test cluster trusts loopback, so any works)."""
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_stores_opening_at_once_apply_the_schema_once(pg_url: str) -> None:
    url = SecretStr(pg_url)
    stores: list[PostgresStore] = []

    async def open_one() -> None:
        stores.append(await PostgresStore.open(url))

    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(open_one)
    await stores[0].save(sample_report())
    assert len(await stores[5].list_runs()) == 1
    for store in stores:
        await store.aclose()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM research_schema").fetchall() == [(SCHEMA_VERSION,)]


async def test_a_newer_schema_is_refused(pg_url: str) -> None:
    store = await PostgresStore.open(SecretStr(pg_url))
    await store.aclose()
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE research_schema SET version = version + 1")
    with pytest.raises(StoreError, match="newer"):
        await PostgresStore.open(SecretStr(pg_url))


async def test_an_unreachable_database_is_one_sentence_naming_the_host() -> None:
    port = _closed_port()
    url = SecretStr(f"postgresql://someone:{PASSWORD}@127.0.0.1:{port}/runs")
    with pytest.raises(StoreError) as caught:
        await PostgresStore.open(url, connect_timeout=5)
    message = str(caught.value)
    assert message == f"The run history database at 127.0.0.1:{port} could not be reached."
    assert PASSWORD not in message


def test_the_cli_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    port = _closed_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"},
        "RESEARCH_DATABASE_URL": f"postgresql://someone:{PASSWORD}@127.0.0.1:{port}/runs",
    }
    done = subprocess.run(
        [sys.executable, "-m", "research", "history"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: The run history database at 127.0.0.1:{port} could not be reached."
    ]
    assert PASSWORD not in done.stdout + done.stderr


async def test_the_password_never_reaches_the_history(pg_url: str, settings: Settings) -> None:
    configured = settings.model_copy(update={"database_url": SecretStr(_with_password(pg_url))})
    assert PASSWORD not in repr(configured) and PASSWORD not in configured.model_dump_json()
    store = await open_store(configured)
    await store.save(sample_report())
    await store.aclose()
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT runs::text FROM runs").fetchall()
    assert rows and not any(PASSWORD in row[0] for row in rows)


async def test_a_live_owner_renews_its_lease(pg_url: str) -> None:
    owner = await PostgresStore.open(SecretStr(pg_url), lease_seconds=0.4)
    other = await PostgresStore.open(SecretStr(pg_url))
    report = sample_report(status="running")
    await owner.save(report)

    def lease() -> object:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT lease_until FROM runs").fetchone()
        return row[0] if row else None

    first = await anyio.to_thread.run_sync(lease)
    with anyio.fail_after(20):  # wait for two renewals, each a quarter lease apart
        seen = {first}
        while len(seen) < 3:
            await anyio.sleep(0.05)
            seen.add(await anyio.to_thread.run_sync(lease))
    assert await other.mark_interrupted() == []
    [summary] = await other.list_runs()
    assert summary.status == "running"
    await owner.aclose()
    await other.aclose()
