"""One contract for every RunStore backend: the same tests against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from pydantic import SecretStr

from research.config import Settings
from research.errors import RunNotFound, RunNotResumable, StoreError
from research.models import Report, StageName
from research.store import RunStore, open_store
from tests.sample_report import sample_report

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings naming one backend's fresh, empty history."""
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
        return settings.model_copy(update={"database_url": SecretStr(url)})
    return settings


async def test_round_trip_save_load_list(backend: Settings) -> None:
    store = await open_store(backend)
    report = sample_report()
    await store.save(report)
    loaded = await store.load(report.run_id)
    assert loaded == report
    [summary] = await store.list_runs()
    assert summary.run_id == report.run_id
    assert summary.site == "https://example.com/"
    assert summary.domain == "example.com"
    assert summary.status == "completed"
    assert summary.engine == "local"
    assert summary.topic_count == 2
    assert summary.duration_seconds == pytest.approx(42.5)
    assert summary.started_at == report.started_at
    assert (summary.batch_id, summary.current_stage) == (None, None)
    await store.aclose()


async def test_save_replaces_and_list_filters(backend: Settings) -> None:
    store = await open_store(backend)
    first = sample_report("https://example.com/", status="failed")
    second = sample_report("https://other.org/")
    await store.save(first)
    await store.save(second)
    first.status = "completed"
    first.topics = first.topics[:1]
    await store.save(first)
    assert len(await store.list_runs()) == 2
    [only] = await store.list_runs(site="example.com")
    assert (only.run_id, only.status, only.topic_count) == (first.run_id, "completed", 1)
    assert [r.run_id for r in await store.list_runs(site="https://other.org/")] == [second.run_id]
    assert await store.list_runs(status="failed") == []
    assert len(await store.list_runs(limit=1)) == 1
    await store.aclose()


async def test_list_is_newest_first(backend: Settings) -> None:
    store = await open_store(backend)
    base = sample_report()
    older = sample_report(started_at=base.started_at.replace(day=1))
    newer = sample_report(started_at=base.started_at.replace(day=20))
    await store.save(older)
    await store.save(newer)
    assert [r.run_id for r in await store.list_runs()] == [newer.run_id, older.run_id]
    await store.aclose()


async def test_runs_of_a_batch_are_listed_with_their_stage(backend: Settings) -> None:
    store = await open_store(backend)
    running = sample_report("https://a.test/", status="running")
    running.batch_id = "b1"
    running.stages[StageName.TOPICS].status = "running"
    queued = sample_report("https://b.test/", status="queued")
    queued.batch_id = "b1"
    alone = sample_report("https://c.test/")
    for report in (running, queued, alone):
        await store.save(report)
    batch = {r.run_id: r for r in await store.list_runs(batch_id="b1")}
    assert set(batch) == {running.run_id, queued.run_id}
    assert batch[running.run_id].current_stage == StageName.TOPICS
    assert batch[queued.run_id].status == "queued"
    assert (await store.load(queued.run_id)).batch_id == "b1"
    await store.aclose()


async def test_load_and_delete_unknown_run(backend: Settings) -> None:
    store = await open_store(backend)
    report = sample_report()
    await store.save(report)
    await store.delete(report.run_id)
    with pytest.raises(RunNotFound):
        await store.load(report.run_id)
    with pytest.raises(RunNotFound):
        await store.delete(report.run_id)
    assert await store.list_runs() == []
    await store.aclose()


async def test_closed_store_raises_store_error(backend: Settings) -> None:
    store = await open_store(backend)
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreError):
        await store.list_runs()


async def test_twenty_runs_saving_at_once_through_four_stores(backend: Settings) -> None:
    stores = [await open_store(backend) for _ in range(4)]
    reports = await anyio.to_thread.run_sync(
        lambda: [sample_report(f"https://site{n}.test/") for n in range(20)]
    )

    async def run(store: RunStore, report: Report) -> None:
        for stage in StageName:  # a save after every stage, as the pipeline does
            report.stages[stage].count += 1
            await store.save(report)

    async with anyio.create_task_group() as tg:
        for n, report in enumerate(reports):
            tg.start_soon(run, stores[n % len(stores)], report)
    assert len(await stores[0].list_runs()) == 20
    for report in reports:
        assert await stores[1].load(report.run_id) == report
    for store in stores:
        await store.aclose()


async def test_claim_takes_over_a_stopped_run_once(backend: Settings) -> None:
    store = await open_store(backend)
    done = sample_report("https://done.test/")
    stopped = sample_report("https://stopped.test/", status="failed")
    await store.save(done)
    await store.save(stopped)
    with pytest.raises(RunNotResumable, match="completed"):
        await store.claim(done.run_id)
    with pytest.raises(RunNotFound):
        await store.claim("nope")
    claimed = await store.claim(stopped.run_id)
    assert claimed == stopped
    [summary] = await store.list_runs(site="stopped.test")
    assert summary.status == "running"
    other = await open_store(backend)  # another store sees a live owner: refused
    with pytest.raises(RunNotResumable, match="still running"):
        await other.claim(stopped.run_id)
    await other.aclose()
    await store.aclose()


async def test_cancel_requests_reach_the_owner(backend: Settings) -> None:
    store = await open_store(backend)
    running = sample_report("https://a.test/", status="running")
    idle = sample_report("https://b.test/", status="running")
    await store.save(running)
    await store.save(idle)
    other = await open_store(backend)
    assert await other.request_cancel(running.run_id) == "running"
    with pytest.raises(RunNotFound):
        await other.request_cancel("nope")
    assert await store.cancel_requested([running.run_id, idle.run_id]) == {running.run_id}
    assert await store.cancel_requested([]) == set()
    await store.save(running)  # later saves by the owner keep the request
    assert await store.cancel_requested([running.run_id]) == {running.run_id}
    await other.aclose()
    await store.aclose()


SAVE_AND_DIE = """
import os, sys
import anyio
from research.config import Settings
from research.models import StageName
from research.store import open_store
from tests.sample_report import sample_report

async def main():
    store = await open_store(Settings.from_env(secrets_file=None))
    report = sample_report("https://dead.test/", status="running")
    report.finished_at = None
    report.stages[StageName.TOPICS].status = "running"
    report.stages[StageName.BRIEFS].status = "pending"
    await store.save(report)
    print(report.run_id, flush=True)
    os._exit(9)  # killed: no cleanup, no lease renewal

anyio.run(main)
"""


def _save_and_die(backend: Settings) -> str:
    """Save a running report from a process that then dies at once; return its run id."""
    env = {**os.environ, "RESEARCH_DB": str(backend.db_path), "RESEARCH_LEASE_SECONDS": "0.3"}
    if backend.database_url is not None:
        env["RESEARCH_DATABASE_URL"] = backend.database_url.get_secret_value()
    done = subprocess.run(
        [sys.executable, "-c", SAVE_AND_DIE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 9, done.stderr
    return done.stdout.strip()


async def test_runs_of_a_dead_owner_are_marked_interrupted(backend: Settings) -> None:
    store = await open_store(backend)
    live = sample_report("https://live.test/", status="running")
    await store.save(live)
    dead_id = await anyio.to_thread.run_sync(_save_and_die, backend)
    with anyio.fail_after(20):  # a lease lapses in its own time: ask until it has
        while True:
            if dead_id in await store.mark_interrupted():
                break
            await anyio.sleep(0.1)
    by_id = {r.run_id: r for r in await store.list_runs()}
    assert by_id[live.run_id].status == "running"  # this store is alive: not stolen
    assert by_id[dead_id].status == "interrupted"
    reloaded = await store.load(dead_id)
    assert reloaded.status == "interrupted"
    assert reloaded.finished_at is not None
    stages = {name: state.status for name, state in reloaded.stages.items()}
    assert stages[StageName.SITE] == stages[StageName.KEYWORDS] == "done"
    assert stages[StageName.TOPICS] == "cancelled"
    assert stages[StageName.BRIEFS] == "pending"
    assert "interrupted" in reloaded.log[-1].message
    claimed = await store.claim(dead_id)  # and it can be resumed
    assert claimed.status == "interrupted"
    await store.aclose()
