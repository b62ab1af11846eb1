"""The run history: round trips, listing, deletion, schema versions, crash marking, concurrency."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import anyio
import pytest

from research.config import Settings
from research.errors import RunNotFound, RunNotResumable, StoreError
from research.models import Report, StageName
from research.store import sqlite as store_module
from research.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteStore, process_token
from tests.sample_report import sample_report, seed

pytestmark = pytest.mark.anyio


async def test_round_trip_save_load_list(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "sub" / "runs.sqlite3")
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
    await store.aclose()


async def test_save_replaces_and_list_filters(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "runs.sqlite3")
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


async def test_list_is_newest_first(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "runs.sqlite3")
    base = sample_report()
    older = sample_report(started_at=base.started_at.replace(day=1))
    newer = sample_report(started_at=base.started_at.replace(day=20))
    await store.save(older)
    await store.save(newer)
    assert [r.run_id for r in await store.list_runs()] == [newer.run_id, older.run_id]
    await store.aclose()


async def test_load_and_delete_unknown_run(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "runs.sqlite3")
    report = sample_report()
    await store.save(report)
    await store.delete(report.run_id)
    with pytest.raises(RunNotFound):
        await store.load(report.run_id)
    with pytest.raises(RunNotFound):
        await store.delete(report.run_id)
    assert await store.list_runs() == []
    await store.aclose()


async def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "runs.sqlite3")
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreError):
        await store.list_runs()


async def test_twenty_runs_saving_at_once_through_four_connections(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    stores = [await SQLiteStore.open(path) for _ in range(4)]
    reports = await anyio.to_thread.run_sync(
        lambda: [sample_report(f"https://site{n}.test/") for n in range(20)]
    )

    async def run(store: SQLiteStore, report: Report) -> None:
        for stage in StageName:  # a save after every stage, as the pipeline does
            report.stages[stage].count += 1
            await store.save(report)  # returns once the report is serialised and written

    async with anyio.create_task_group() as tg:
        for n, report in enumerate(reports):
            tg.start_soon(run, stores[n % len(stores)], report)
    assert len(await stores[0].list_runs()) == 20
    for report in reports:
        assert await stores[1].load(report.run_id) == report
    for store in stores:
        await store.aclose()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


async def test_runs_of_a_dead_process_are_marked_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    live = sample_report("https://live.test/", status="running")
    dead = sample_report("https://dead.test/", status="running")
    dead.finished_at = None
    dead.stages[StageName.TOPICS].status = "running"
    dead.stages[StageName.BRIEFS].status = "pending"
    await store.save(live)
    await store.save(dead)
    await store.aclose()
    # Hand the second run to a process that has exited, as a SIGKILLed CLI would leave it.
    with sqlite3.connect(path) as db:
        pid = _dead_pid()
        db.execute(
            "UPDATE runs SET owner_pid = ?, owner_token = ? WHERE run_id = ?",
            (pid, process_token(os.getpid()), dead.run_id),
        )

    store = await SQLiteStore.open(path)
    by_id = {r.run_id: r for r in await store.list_runs()}
    assert by_id[live.run_id].status == "running"  # this process is alive: not stolen
    assert by_id[dead.run_id].status == "interrupted"
    reloaded = await store.load(dead.run_id)
    assert reloaded.status == "interrupted"
    assert reloaded.finished_at is not None
    stages = {name: state.status for name, state in reloaded.stages.items()}
    assert stages[StageName.SITE] == stages[StageName.KEYWORDS] == "done"
    assert stages[StageName.TOPICS] == "cancelled"
    assert stages[StageName.BRIEFS] == "pending"
    assert "interrupted" in reloaded.log[-1].message
    await store.aclose()


async def test_listing_and_loading_show_a_dead_run_interrupted_without_writing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    report = sample_report(status="running")
    report.stages[StageName.TOPICS].status = "running"
    await store.save(report)
    with sqlite3.connect(path) as db:  # its process dies while this store is open
        db.execute("UPDATE runs SET owner_pid = ?", (_dead_pid(),))
    before = path.read_bytes()
    [summary] = await store.list_runs()
    assert summary.status == "interrupted"
    assert [r.run_id for r in await store.list_runs(status="interrupted")] == [report.run_id]
    assert await store.list_runs(status="running") == []
    loaded = await store.load(report.run_id)
    assert loaded.status == "interrupted" and loaded.stages[StageName.TOPICS].status == "cancelled"
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT status FROM runs").fetchone() == ("running",)
    assert path.read_bytes() == before
    assert await store.mark_interrupted() == [report.run_id]  # an explicit call writes it
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT status FROM runs").fetchone() == ("interrupted",)
    await store.aclose()


async def test_a_reused_pid_does_not_keep_a_run_alive(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    report = sample_report(status="running")
    await store.save(report)
    host, boot, _ = process_token().split("|")
    with sqlite3.connect(path) as db:  # our own pid, but started at another time
        db.execute("UPDATE runs SET owner_token = ?", (f"{host}|{boot}|1",))
    [summary] = await store.list_runs()
    assert summary.status == "interrupted"
    await store.aclose()


async def test_schema_version_and_newer_database_refused(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    await store.aclose()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer"):
        await SQLiteStore.open(path)


async def test_damaged_report_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    report = sample_report()
    await store.save(report)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET report = '{\"bad\": 1}'")
    with pytest.raises(StoreError, match="damaged"):
        await store.load(report.run_id)
    await store.aclose()


def test_no_secret_in_the_database(tmp_path: Path) -> None:
    schema = json.dumps(Report.model_json_schema()).lower()
    assert "api_key" not in schema and "secret" not in schema
    path = tmp_path / "runs.sqlite3"
    seed(path, sample_report())
    assert b"api_key" not in path.read_bytes()


async def test_damaged_running_report_is_still_marked(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    report = sample_report(status="running")
    await store.save(report)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET report = 'not json', owner_pid = ?", (_dead_pid(),))
    [summary] = await store.list_runs()
    assert summary.status == "interrupted"
    await store.aclose()


async def test_claim_takes_over_a_stopped_run_once(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
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
    other = await SQLiteStore.open(path)  # another process's store sees a live owner: refused
    with pytest.raises(RunNotResumable, match="still running"):
        await other.claim(stopped.run_id)
    await other.aclose()
    await store.aclose()


async def test_a_run_awaiting_review_outlives_its_process_and_can_be_claimed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    paused = sample_report(status="awaiting_review")
    paused.finished_at = None
    await store.save(paused)
    await store.aclose()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET owner_pid = ?", (_dead_pid(),))
    store = await SQLiteStore.open(path)
    assert await store.mark_interrupted() == []  # a pause is not an interrupted run
    assert (await store.load(paused.run_id)).status == "awaiting_review"
    assert await store.claim(paused.run_id) == paused
    await store.aclose()


async def test_claim_of_a_dead_process_run_marks_it_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    report = sample_report(status="running")
    report.stages[StageName.BRIEFS].status = "running"
    await store.save(report)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE runs SET owner_pid = ?", (_dead_pid(),))
    claimed = await store.claim(report.run_id)
    assert claimed.status == "interrupted"
    assert claimed.stages[StageName.BRIEFS].status == "cancelled"
    await store.aclose()


async def test_reopening_keeps_the_schema_and_the_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    report = sample_report()
    await store.save(report)
    await store.aclose()
    store = await SQLiteStore.open(path)  # no migration is due: the data stays as it was
    assert await store.load(report.run_id) == report
    await store.aclose()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_database_path_from_research_db_else_a_per_user_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    given = tmp_path / "elsewhere.sqlite3"
    assert Settings.from_env({"RESEARCH_DB": str(given)}, secrets_file=None).db_path == given
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    default = Settings.from_env({}, secrets_file=None).db_path
    assert default == tmp_path / "data" / "research-lab" / "runs.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    default = Settings.from_env({}, secrets_file=None).db_path
    assert default == tmp_path / "home" / ".local" / "share" / "research-lab" / "runs.sqlite3"
    seed(default, sample_report())  # the folders are created on first use
    assert default.is_file() and (default.parent.stat().st_mode & 0o777) == 0o700


async def test_an_older_database_is_migrated_forward_keeping_its_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "runs.sqlite3"
    store = await SQLiteStore.open(path)
    report = sample_report()
    await store.save(report)
    await store.aclose()

    def add_notes(db: sqlite3.Connection) -> None:  # what a next release's migration may do
        db.execute("ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT ''")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, add_notes])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    store = await SQLiteStore.open(path)
    assert await store.load(report.run_id) == report
    await store.save(sample_report("https://later.test/"))
    assert len(await store.list_runs()) == 2
    await store.aclose()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert db.execute("SELECT DISTINCT notes FROM runs").fetchall() == [("",)]
