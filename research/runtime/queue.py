"""The job queue: runs as procrastinate jobs on PostgreSQL, executed by `python -m research worker`.

The dashboard and the CLI save a run `queued` (owned by nobody) and defer a job naming its run id,
locked on that id so that two jobs of one run never execute at once. A worker claims the run in
the store (atomic: a second claimant is refused), runs `run_pipeline` unchanged on its own loop,
publishes the live report into the store every half second, and stops on a cancel request (the
store's flag, or procrastinate's abort). On SIGTERM it stops taking jobs, stops its runs (each
saves what it has) and hands them back to the queue, so another worker resumes them from their
first unfinished stage. procrastinate leaves the job of a killed worker `doing` (upstream #1518);
workers reap such jobs once the run's lease has lapsed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from typing import Any

import anyio
import psycopg
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import ConnectorException
from procrastinate.jobs import Status
from procrastinate.worker import Worker
from pydantic import SecretStr

from research.errors import RunNotResumable, StoreError
from research.models import ACTIVE_STATUSES, ProgressEvent, Report
from research.pipeline.run import run_pipeline
from research.progress import RunTracker
from research.runtime.batch import watch_cancels
from research.services import Services
from research.store.postgres import PostgresStore, database_host

log = logging.getLogger("research.queue")

TASK = "research.run"
QUEUE_NAME = "runs"
# pg_advisory_xact_lock key for applying procrastinate's schema ("procrast" in ASCII).
SCHEMA_KEY = 0x70726F6372617374
PUBLISH_SECONDS = 0.5
WORKER_HEARTBEAT_SECONDS = 5.0
FINAL_SAVE_ATTEMPTS = 10
# A worker whose heartbeat is this old is gone: its jobs are reaped and their unstarted runs queued.
STALLED_SECONDS = 4 * WORKER_HEARTBEAT_SECONDS
# A run `queued` for the queue (owned by nobody) this long with no job waiting or running for it
# (its job failed before the run was claimed, or a hand-back's defer failed) gets a new job.
ORPHAN_SECONDS = 30.0
# A job whose store calls failed before its run was claimed is tried again (the run is still queued).
RETRY = RetryStrategy(max_attempts=5, wait=2, retry_exceptions={StoreError})


async def _run_job(context: JobContext, run_id: str) -> None:
    worker: QueueWorker = context.additional_context["research_worker"]
    await worker.run(run_id)


def queue_app(url: SecretStr, pool_size: int = 4) -> App:
    """Return the procrastinate app on the database at `url`, with the run task registered."""
    connector = PsycopgConnector(conninfo=url.get_secret_value(), min_size=1, max_size=pool_size)
    app = App(connector=connector)
    app.task(name=TASK, queue=QUEUE_NAME, pass_context=True, retry=RETRY)(_run_job)
    return app


async def apply_queue_schema(url: SecretStr, schema: str) -> None:
    """Apply procrastinate's schema once, under an advisory lock (replicas may start at once)."""
    async with await psycopg.AsyncConnection.connect(
        url.get_secret_value(), autocommit=True
    ) as conn:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_KEY,))
            cursor = await conn.execute("SELECT to_regclass('procrastinate_jobs')")
            row = await cursor.fetchone()
            if row is None or row[0] is None:
                await conn.execute(schema)  # type: ignore[arg-type]


class RunQueue:
    """The queue's side in dashboards, CLIs and workers: enqueue, abort, count workers."""

    def __init__(self, app: App, url: SecretStr) -> None:
        self.app = app
        self.url = url

    @classmethod
    async def open(cls, url: SecretStr, pool_size: int = 4) -> RunQueue:
        """Open the queue on `url` (applying its schema when missing); close with aclose()."""
        app = queue_app(url, pool_size)
        try:
            schema = await anyio.to_thread.run_sync(app.schema_manager.get_schema)
            await apply_queue_schema(url, schema)
            await app.open_async()
        except psycopg.Error as exc:
            host = database_host(url)
            raise StoreError(f"The job queue at {host} could not be opened.") from exc
        return cls(app, url)

    async def enqueue(self, store: PostgresStore, report: Report) -> int:
        """Save `report` queued (owned by nobody) and defer its job; return the job id."""
        queued = report.model_copy(update={"status": "queued", "finished_at": None})
        store.hand_off_queued = True
        await store.save(queued)
        return await self.defer(report.run_id)

    async def defer(self, run_id: str) -> int:
        """Defer a job for a run already saved `queued`; return the job id."""
        deferrer = self.app.configure_task(TASK, lock=run_id)
        return await deferrer.defer_async(run_id=run_id)

    async def abort(self, run_id: str) -> int:
        """Abort every waiting or running job of a run; return how many there were."""
        jobs = await self.app.job_manager.list_jobs_async(task=TASK, lock=run_id)
        aborted = 0
        for job in jobs:
            if job.id is not None and job.status in ("todo", "doing"):
                await self.app.job_manager.cancel_job_by_id_async(job.id, abort=True)
                aborted += 1
        return aborted

    async def workers_seen(self, seconds: float = 60.0) -> int:
        """Return how many workers sent a heartbeat in the last `seconds`."""
        row = await self.app.connector.execute_query_one_async(
            "SELECT count(*) AS n FROM procrastinate_workers"
            " WHERE last_heartbeat > now() - make_interval(secs => %(seconds)s)",
            seconds=seconds,
        )
        return int(row["n"])

    async def aclose(self) -> None:
        """Close the queue's connections."""
        with anyio.CancelScope(shield=True):
            await self.app.close_async()


def _handed_back(report: Report) -> Report:
    """Return a run stopped by its worker's shutdown, queued again for another worker."""
    event = ProgressEvent(message="Worker stopping; run handed back to the queue")
    return report.model_copy(
        update={"status": "queued", "finished_at": None, "log": [*report.log, event]}
    )


class QueueWorker:
    """A worker: runs queued runs on this process's loop, `concurrency` at a time."""

    def __init__(self, queue: RunQueue, services: Services, concurrency: int) -> None:
        store = services.store
        if not isinstance(store, PostgresStore):
            raise StoreError("A worker needs the PostgreSQL history (RESEARCH_DATABASE_URL).")
        store.hand_off_queued = True
        self.queue = queue
        self.services = services
        self.store = store
        self.concurrency = max(1, concurrency)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.draining = False
        self.scopes: dict[str, anyio.CancelScope] = {}
        self._stop = anyio.Event()
        self._loop = asyncio.get_running_loop()
        self.ready = threading.Event()  # set once registered with the queue and taking jobs

    @classmethod
    async def open(cls, services: Services, concurrency: int) -> QueueWorker:
        """Open the queue of the services' database and return a worker; call on the loop."""
        url = services.settings.database_url
        if url is None:
            raise StoreError("A worker needs the PostgreSQL history (RESEARCH_DATABASE_URL).")
        queue = await RunQueue.open(url, pool_size=concurrency + 3)
        # Jobs taken before the CPU workers are up would wait for them; a warm worker may take them.
        await services.processes.started()
        return cls(queue, services, concurrency)

    def request_stop(self) -> None:
        """Ask the worker to stop (safe from any thread, e.g. a signal handler)."""
        self._loop.call_soon_threadsafe(self._stop.set)

    async def run(self, run_id: str) -> None:
        """Run one queued run (a job's body); a run not queued any more is left alone."""
        if self.draining:
            await self.queue.defer(run_id)
            return
        try:
            if (await self.store.load(run_id)).status != "queued":
                log.info("run %s is not queued any more; job skipped", run_id)
                return
            report = await self.store.claim(run_id)
        except RunNotResumable as exc:
            log.info("run %s: %s", run_id, exc)
            return
        tracker = RunTracker(report)
        scope = self.scopes[run_id] = anyio.CancelScope()
        try:
            with scope:
                async with anyio.create_task_group() as group:
                    group.start_soon(self._publish, tracker)
                    await run_pipeline(tracker, self.services)
                    group.cancel_scope.cancel()
        finally:
            # Still listed: not stopped by a cancel request (those are removed), so by shutdown.
            handing_back = self.draining and self.scopes.pop(run_id, None) is not None
            with anyio.CancelScope(shield=True):
                await self._finish(tracker.snapshot(), handing_back)

    async def _finish(self, report: Report, handing_back: bool) -> None:
        if handing_back and report.status == "cancelled":
            await self._save_final(_handed_back(report))
            await self.queue.defer(report.run_id)  # should this fail, the reaper queues it again
        else:
            await self._save_final(report)

    async def _save_final(self, report: Report) -> None:
        """Save how a run ended, trying again for a while: a run left `running` is not resumable."""
        for attempt in range(FINAL_SAVE_ATTEMPTS):
            try:
                await self.store.save(report)
                return
            except StoreError as exc:
                if attempt == FINAL_SAVE_ATTEMPTS - 1:
                    raise
                log.warning("run %s: %s Trying again.", report.run_id, exc)
                await anyio.sleep(1.0)

    async def _publish(self, tracker: RunTracker) -> None:
        """Save the live report whenever it changed, every PUBLISH_SECONDS.

        A failed save is logged and tried again next time: the history being briefly
        unreachable must not stop the run.
        """
        last: tuple[object, ...] = ()
        while True:
            await anyio.sleep(PUBLISH_SECONDS)
            snapshot = tracker.snapshot()
            key = (len(snapshot.log), tuple(snapshot.stages.values()), snapshot.status)
            if key != last:
                try:
                    await self.store.save(snapshot)
                except StoreError as exc:
                    log.warning("run %s: progress not published: %s", snapshot.run_id, exc)
                    continue
                last = key

    async def reap(self) -> list[int]:
        """Finish the jobs no live worker runs any more (upstream #1518) and queue lost runs again.

        A `doing` job is reaped when its run's owner is gone: the run's lease lapsed (it is
        `interrupted`), or the job's worker stopped its heartbeat while the run is not running
        (killed between taking the job and claiming the run, or after saving how it ended).
        A run that ends normally keeps its job until its own worker finishes it. A reaped job
        whose run is still `queued`, and a queued run with no job at all, gets a new job.
        Returns the reaped job ids.
        """
        await self.store.mark_interrupted()
        manager = self.queue.app.job_manager
        doing = [j for j in await manager.list_jobs_async(task=TASK, status="doing") if j.lock]
        stalled = await manager.get_stalled_jobs(
            task_name=TASK, seconds_since_heartbeat=STALLED_SECONDS
        )
        stalled_ids = {job.id for job in stalled}
        statuses = await self.store.statuses([j.lock for j in doing if j.lock])
        reaped = []
        for job in doing:
            status = statuses.get(job.lock or "")
            lost = status == "interrupted" or (
                job.id in stalled_ids and status not in ACTIVE_STATUSES
            )
            if job.id is None or not lost or not await self._finish_job(job.id):
                continue
            reaped.append(job.id)
            if status == "queued" and job.lock:
                await self.queue.defer(job.lock)
        for run_id in await self.store.queued_without_job(TASK, ORPHAN_SECONDS):
            log.warning("run %s was queued with no job; queued again", run_id)
            await self.queue.defer(run_id)
        return reaped

    async def _finish_job(self, job_id: int) -> bool:
        """Mark a lost job failed; False when it had ended meanwhile (another worker reaped it)."""
        try:
            await self.queue.app.job_manager.finish_job_by_id_async(
                job_id, Status.FAILED, delete_job=False
            )
        except ConnectorException as exc:
            if not isinstance(exc.__cause__, psycopg.errors.RaiseException):
                raise
            log.info("job %s was not reaped: it is not running any more", job_id)
            return False
        return True

    async def _reap_forever(self) -> None:
        while True:
            try:
                if reaped := await self.reap():
                    log.warning("reaped stalled jobs %s", reaped)
            except (StoreError, psycopg.Error, ConnectorException) as exc:
                log.warning("reaping stalled jobs failed: %s", exc.__cause__ or exc)
            await anyio.sleep(self.store.lease_seconds / 2)

    async def serve(self) -> None:
        """Take jobs until asked to stop; then hand running runs back and return."""
        options: dict[str, Any] = {
            "queues": [QUEUE_NAME],
            "name": self.name,
            "concurrency": self.concurrency,
            "install_signal_handlers": False,
            "additional_context": {"research_worker": self},
            "abort_job_polling_interval": 1.0,
            "fetch_job_polling_interval": 2.0,
            "update_heartbeat_interval": WORKER_HEARTBEAT_SECONDS,
            "shutdown_graceful_timeout": 30.0,
        }
        worker = Worker(app=self.queue.app, **options)
        async with anyio.create_task_group() as side:
            side.start_soon(self._reap_forever)
            side.start_soon(watch_cancels, self.store, self.scopes)
            async with anyio.create_task_group() as main:
                main.start_soon(worker.run)
                while True:  # registration is the worker's first step; no event tells it
                    if worker.worker_id is not None:
                        break
                    await anyio.sleep(0.02)
                self.ready.set()
                await self._stop.wait()
                self.draining = True
                worker.stop()  # no new jobs; worker.run returns once running jobs have ended
                for scope in list(self.scopes.values()):
                    scope.cancel()
            side.cancel_scope.cancel()
        await self.queue.aclose()
