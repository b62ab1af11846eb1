"""The job queue end to end: workers (real processes) on a throwaway PostgreSQL, the CLI enqueuing.

Covers: a queued run executed by a worker and followed with --wait; a queued run without workers;
cancel of a run running on a worker; SIGTERM handing a run back; SIGKILL leaving it interrupted
(then resumable without refetching saved stages); one run enqueued twice run once.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import anyio
from pydantic import SecretStr

from research.models import Report, StageName
from research.store.postgres import PostgresStore
from tests.fakes.site import SiteServer
from tests.pg import Cluster
from tests.team import Workers, research

ROOT = Path(__file__).resolve().parents[1]


def load(pg_url: str, run_id: str) -> Report:
    async def read() -> Report:
        store = await PostgresStore.open(SecretStr(pg_url))
        try:
            return await store.load(run_id)
        finally:
            await store.aclose()

    return anyio.run(read)


def test_a_queued_run_runs_on_a_worker_and_is_followed_with_wait(
    team_env: dict[str, str], workers: Workers, sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, rival = sites
    workers.start()
    out = tmp_path / "report.json"
    process = research(
        team_env, "discover", site.url, "--competitor", rival.url, "--engine", "local",
        "--max-pages", "5", "--queue", "--wait", "--json", str(out),
    )  # fmt: skip
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    run_id = stdout.strip()
    assert "[Site analysis]" in stderr and "[Briefs]" in stderr  # the same lines as a local run
    data = json.loads(out.read_text())
    assert data["run_id"] == run_id and data["status"] == "completed" and data["topics"]
    exported = tmp_path / "exported.json"
    process = research(team_env, "export", run_id, "--out", str(exported))  # from PostgreSQL
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert json.loads(exported.read_text())["topics"] == data["topics"]


def enqueue(team_env: dict[str, str], *args: str) -> str:
    """Enqueue one discovery (no --wait) and return its run id."""
    process = research(
        team_env, "discover", *args, "--engine", "local", "--max-pages", "5", "--queue"
    )
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    return stdout.strip()


def until_saved(
    pg_url: str, run_id: str, done: Callable[[Report], bool], seconds: float = 60
) -> Report:
    """Read the run from the store (marking lapsed leases) until `done(report)` holds."""

    async def watch() -> Report:
        store = await PostgresStore.open(SecretStr(pg_url))
        try:
            with anyio.fail_after(seconds):
                while True:
                    await store.mark_interrupted()
                    report = await store.load(run_id)
                    if done(report):
                        return report
                    await anyio.sleep(0.1)
        finally:
            await store.aclose()

    return anyio.run(watch)


def until_status(pg_url: str, run_id: str, wanted: set[str], seconds: float = 60) -> Report:
    """Read the run from the store until its status is one of `wanted`."""
    return until_saved(pg_url, run_id, lambda report: report.status in wanted, seconds)


def until_stage_done(pg_url: str, run_id: str, stage: StageName) -> bool:
    """Read the run from the store until `stage` is done (the worker publishes it)."""
    until_saved(pg_url, run_id, lambda report: report.stages[stage].status == "done")
    return True


def test_without_workers_a_queued_run_waits_queued(
    team_env: dict[str, str], pg_url: str, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    run_id = enqueue(team_env, site.url)
    assert load(pg_url, run_id).status == "queued"
    process = research(team_env, "history")
    stdout, _ = process.communicate(timeout=60)
    assert run_id in stdout and "queued" in stdout
    process = research(team_env, "cancel", run_id)  # a queued run is cancelled at once
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert load(pg_url, run_id).status == "cancelled"


def test_cancel_stops_a_run_on_a_worker(
    team_env: dict[str, str], pg_url: str, workers: Workers, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    site.hold_paths(lambda path: path != "/robots.txt")
    workers.start()
    run_id = enqueue(team_env, site.url)
    assert site.held.wait(60)
    process = research(team_env, "cancel", run_id)
    _, stderr = process.communicate(timeout=60)
    site.gate.set()
    assert process.returncode == 0, stderr
    assert f"run {run_id} {site.url}: cancelled" in stderr
    report = load(pg_url, run_id)
    assert report.status == "cancelled"
    assert report.log[-1].message == "Run cancelled; partial results kept"


def test_sigterm_hands_a_run_back_and_another_worker_finishes_it(
    team_env: dict[str, str], pg_url: str, workers: Workers, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    rival.hold_paths(lambda path: path != "/robots.txt")  # stage 1 completes, stage 2 waits
    first = workers.start()
    run_id = enqueue(team_env, site.url, "--competitor", rival.url)
    assert rival.held.wait(60)
    until_site_done = until_stage_done(pg_url, run_id, StageName.SITE)
    assert until_site_done
    first.send_signal(signal.SIGTERM)
    first.wait(timeout=30)
    assert first.returncode == 0, workers.log()
    handed = load(pg_url, run_id)
    assert handed.status == "queued"
    assert handed.stages[StageName.SITE].status == "done"
    assert "handed back to the queue" in handed.log[-1].message
    home_fetches = site.fetched("/")
    rival.gate.set()
    workers.start()
    report = until_status(pg_url, run_id, {"completed", "failed"})
    assert report.status == "completed", report.errors
    assert site.fetched("/") == home_fetches  # the saved stage was not redone
    assert any("Resumed; continuing from Competitors" in e.message for e in report.log)


def test_sigkill_leaves_the_run_interrupted_and_resume_continues_it(
    team_env: dict[str, str], pg_url: str, workers: Workers, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    rival.hold_paths(lambda path: path != "/robots.txt")
    doomed = workers.start()
    run_id = enqueue(team_env, site.url, "--competitor", rival.url)
    assert rival.held.wait(60)
    assert until_stage_done(pg_url, run_id, StageName.SITE)
    doomed.kill()
    doomed.wait(timeout=30)
    report = until_status(pg_url, run_id, {"interrupted"})  # once the 2 s lease lapses
    assert report.stages[StageName.SITE].status == "done"
    home_fetches = site.fetched("/")
    rival.gate.set()
    workers.start()  # reaps the dead worker's `doing` job, which holds the run's lock
    process = research(team_env, "resume", run_id, "--wait")
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert stdout.strip() == run_id
    assert load(pg_url, run_id).status == "completed"
    assert site.fetched("/") == home_fetches


def test_a_run_enqueued_twice_runs_once(
    team_env: dict[str, str], pg_url: str, workers: Workers, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    from research.runtime.queue import RunQueue

    site.hold_paths(lambda path: path != "/robots.txt")
    run_id = enqueue(team_env, site.url)

    async def defer_again() -> None:
        queue = await RunQueue.open(SecretStr(pg_url))
        try:
            await queue.defer(run_id)
        finally:
            await queue.aclose()

    anyio.run(defer_again)
    workers.start()
    workers.start()
    assert site.held.wait(60)
    site.gate.set()
    report = until_status(pg_url, run_id, {"completed", "failed"})
    assert report.status == "completed"
    assert [e.message for e in report.log].count("Run completed") == 1
    assert not any("Resumed" in e.message for e in report.log)


def test_a_postgresql_restart_mid_run_never_leaves_it_running(
    team_env: dict[str, str],
    pg_url: str,
    pg_cluster: Cluster,
    workers: Workers,
    sites: tuple[SiteServer, SiteServer],
) -> None:
    site, rival = sites
    rival.hold_paths(lambda path: path != "/robots.txt")
    workers.start()
    run_id = enqueue(team_env, site.url, "--competitor", rival.url)
    assert rival.held.wait(60)
    assert until_stage_done(pg_url, run_id, StageName.SITE)
    pg_cluster.stop()
    pg_cluster.start()
    rival.gate.set()
    report = until_status(pg_url, run_id, {"completed", "interrupted", "failed", "cancelled"}, 90)
    assert report.status in ("completed", "interrupted"), report.log[-3:]


def test_a_run_whose_job_was_lost_is_queued_again_and_completes(
    team_env: dict[str, str], pg_url: str, workers: Workers, sites: tuple[SiteServer, SiteServer]
) -> None:
    import psycopg

    site, _ = sites
    taken = enqueue(team_env, site.url)  # its job taken by a worker that died before claiming
    orphan = enqueue(team_env, site.url)  # its job gone (failed before the run was claimed)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = NULL WHERE lock = %s",
            (taken,),
        )
        conn.execute("DELETE FROM procrastinate_jobs WHERE lock = %s", (orphan,))
        conn.execute(
            "UPDATE runs SET updated_at = now() - interval '1 hour' WHERE run_id = %s", (orphan,)
        )
    workers.start()
    for run_id in (taken, orphan):
        report = until_status(pg_url, run_id, {"completed", "failed", "interrupted"})
        assert report.status == "completed", workers.log()
    assert "queued with no job; queued again" in workers.log()


def test_the_reaper_leaves_a_live_workers_ended_run_alone_and_reaps_a_lost_one(
    team_env: dict[str, str], pg_url: str, workers: Workers, sites: tuple[SiteServer, SiteServer]
) -> None:
    import psycopg

    from research.runtime.queue import QUEUE_NAME, RunQueue

    site, _ = sites
    ended, lost = enqueue(team_env, site.url), enqueue(team_env, site.url)

    async def take_both() -> None:
        """A worker that stays alive takes both jobs; one run ends, the other's lease lapses."""
        queue = await RunQueue.open(SecretStr(pg_url))
        store = await PostgresStore.open(SecretStr(pg_url))
        try:
            alive = await queue.app.job_manager.register_worker()
            for run_id, status in ((ended, "completed"), (lost, "interrupted")):
                assert await queue.app.job_manager.fetch_job([QUEUE_NAME], alive) is not None
                await store.save((await store.load(run_id)).model_copy(update={"status": status}))
        finally:
            await store.aclose()
            await queue.aclose()

    anyio.run(take_both)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() + interval '1 hour'")
    workers.start()
    while "reaped stalled jobs" not in workers.log():  # one reaping pass has ended
        site.held.wait(0.1)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT lock, status FROM procrastinate_jobs").fetchall()
    assert dict(rows) == {ended: "doing", lost: "failed"}  # its own worker finishes the first


def test_the_queue_without_a_database_is_one_line_exit_two(team_env: dict[str, str]) -> None:
    # --queue asks for the queue here; RESEARCH_QUEUE=1 alone is a bad setting (test_config).
    unset = ("RESEARCH_DATABASE_URL", "RESEARCH_QUEUE")
    alone = {k: v for k, v in team_env.items() if k not in unset}
    process = research(alone, "discover", "http://127.0.0.1:9/", "--queue")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert stderr.strip() == "error: The queue needs RESEARCH_DATABASE_URL (PostgreSQL)."


def test_a_worker_runs_four_runs_at_once_by_default(team_env: dict[str, str]) -> None:
    process = research(team_env, "worker")
    try:
        assert process.stderr is not None
        while "taking runs" not in (line := process.stderr.readline()):
            assert line, "the worker ended before taking runs"
        assert line.rstrip().endswith("taking runs, 4 at a time")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    assert process.returncode == 0


def test_replicas_starting_at_once_apply_the_queue_schema_once(pg_url: str) -> None:
    from research.runtime.queue import RunQueue

    async def open_four() -> None:
        queues: list[RunQueue] = []

        async def open_one() -> None:
            queues.append(await RunQueue.open(SecretStr(pg_url)))

        try:
            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(open_one)
        finally:
            for queue in queues:
                await queue.aclose()
        assert len(queues) == 4

    anyio.run(open_four)


def test_a_worker_takes_runs_after_a_postgresql_restart(
    team_env: dict[str, str],
    pg_url: str,
    pg_cluster: Cluster,
    workers: Workers,
    sites: tuple[SiteServer, SiteServer],
) -> None:
    site, _ = sites
    import psycopg

    worker = workers.start()
    pg_cluster.stop()
    pg_cluster.start()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        restarted = conn.execute("SELECT now()").fetchone()
        beat = "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > %s"
        while conn.execute(beat, restarted).fetchone() != (1,):  # beats on a new connection
            assert worker.poll() is None and "Error" not in workers.log(), workers.log()
            site.held.wait(0.1)
    run_id = enqueue(team_env, site.url)
    report = until_status(pg_url, run_id, {"completed", "failed", "interrupted", "cancelled"}, 90)
    assert report.status == "completed", workers.log()
    assert worker.poll() is None, workers.log()
