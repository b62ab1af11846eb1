"""PostgresStore: the run history in PostgreSQL, shared by dashboard replicas, CLIs and workers.

Calls go through a psycopg 3 async connection pool on the loop. Migrations are forward-only and
applied under an advisory lock, so replicas and workers starting at once apply each one once.

A run is owned by the store that saved it last while it is queued, pending or running; the owner
renews the run's lease (`lease_until`, in the database's clock) every quarter of the lease. A
run whose lease lapsed has lost its owner (a killed worker, a crashed replica) and is marked
`interrupted`, keeping every stage it completed. The URL's password is never put in a message.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from research.errors import RunNotFound, RunNotResumable, StoreError
from research.models import ACTIVE_STATUSES, LIVE_STATUSES, Report, RunStatus, RunSummary, now
from research.net.urls import site_key
from research.store.protocol import BUSY_SECONDS
from research.store.records import (
    interrupt,
    interrupted_payload,
    parse_report,
    summary_query,
    visible_summaries,
)

T = TypeVar("T")
log = logging.getLogger("research.store")

# Runs a live owner holds (its lease says so); queued runs of a queue have no owner.
OWNED_STATUSES: list[RunStatus] = list(LIVE_STATUSES)  # a list: psycopg sends it as an array
# Whether a row's owner has gone silent past its lease (a run it held counts as interrupted).
_LAPSED = "(owner IS NOT NULL AND lease_until < now()) AS lapsed"
# pg_advisory_xact_lock key for migrations: "research" in ASCII, as a number.
ADVISORY_KEY = 0x7265736561726368
POOL_SIZE = 8

MIGRATIONS: list[list[str]] = [
    [
        """
        CREATE TABLE runs (
            run_id text PRIMARY KEY,
            site text NOT NULL,
            domain text NOT NULL,
            started_at timestamptz NOT NULL,
            finished_at timestamptz,
            status text NOT NULL,
            engine text NOT NULL,
            duration_seconds double precision,
            topic_count integer NOT NULL DEFAULT 0,
            batch_id text,
            stage text,
            updated_at timestamptz NOT NULL DEFAULT now(),
            owner text,
            lease_until timestamptz,
            cancel_requested boolean NOT NULL DEFAULT false,
            report text NOT NULL
        )
        """,
        "CREATE INDEX runs_started ON runs (started_at DESC)",
        "CREATE INDEX runs_domain ON runs (domain, started_at DESC)",
        "CREATE INDEX runs_status ON runs (status)",
        "CREATE INDEX runs_batch ON runs (batch_id)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


def database_host(url: SecretStr) -> str:
    """Return `host:port/db` of a database URL, for messages (never the password)."""
    try:
        parts = conninfo_to_dict(url.get_secret_value())
    except psycopg.ProgrammingError:
        return "the configured address"
    host = str(parts.get("host") or "localhost")
    port = parts.get("port")
    return f"{host}:{port}" if port else host


def _reason(exc: BaseException) -> str:
    """Return the server's own short message of a failure (no connection details)."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None)
    return str(primary).rstrip(".") if primary else type(exc).__name__


async def _upgrade(conn: AsyncConnection[Any], host: str) -> None:
    """Apply the forward migrations the database has not had yet, one process at a time."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_KEY,))
        await conn.execute("CREATE TABLE IF NOT EXISTS research_schema (version integer NOT NULL)")
        row = await (await conn.execute("SELECT max(version) FROM research_schema")).fetchone()
        version = (row[0] if row else None) or 0
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The run history at {host} is from a newer Research Lab; upgrade to open it."
            )
        for index in range(version, SCHEMA_VERSION):
            for statement in MIGRATIONS[index]:
                await conn.execute(statement)  # type: ignore[arg-type]
        if version != SCHEMA_VERSION:
            await conn.execute("DELETE FROM research_schema")
            await conn.execute("INSERT INTO research_schema VALUES (%s)", (SCHEMA_VERSION,))


class PostgresStore:
    """The run history in PostgreSQL: save, load, list, delete, claim and cancel runs."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        host: str,
        lease_seconds: float,
        hand_off_queued: bool = False,
    ) -> None:
        self.host = host
        # With a queue, a queued run belongs to no process until a worker claims it.
        self.hand_off_queued = hand_off_queued
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool: AsyncConnectionPool[Any] | None = pool
        self.lease_seconds = lease_seconds
        self._beat: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        url: SecretStr,
        *,
        lease_seconds: float = 60.0,
        connect_timeout: float = 10.0,
        hand_off_queued: bool = False,
    ) -> PostgresStore:
        """Connect, apply migrations, and start renewing the leases of this store's runs."""
        host = database_host(url)
        unreachable = f"The run history database at {host} could not be reached."
        try:
            with anyio.fail_after(connect_timeout):
                conn = await psycopg.AsyncConnection.connect(
                    url.get_secret_value(), autocommit=True
                )
                async with conn:
                    await _upgrade(conn, host)
                pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                    url.get_secret_value(),
                    min_size=1,
                    max_size=POOL_SIZE,
                    open=False,
                    kwargs={"autocommit": True},
                    check=AsyncConnectionPool.check_connection,
                    timeout=BUSY_SECONDS,
                    name="research-history",
                )
                await pool.open(wait=True, timeout=connect_timeout)
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise StoreError(unreachable) from exc
        except psycopg.Error as exc:
            raise StoreError(
                f"The run history at {host} could not be opened: {_reason(exc)}."
            ) from exc
        store = cls(pool, host, lease_seconds, hand_off_queued)
        store._beat = asyncio.get_running_loop().create_task(store._keep_leases())
        await store.mark_interrupted()
        return store

    async def _run(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run `work` with a pooled connection, within the store's deadline."""
        if self._pool is None:
            raise StoreError("The run history is closed.")
        try:
            with anyio.fail_after(BUSY_SECONDS):
                async with self._pool.connection() as conn:
                    return await work(conn)
        except TimeoutError as exc:
            raise StoreError(
                f"The run history at {self.host} did not answer within {BUSY_SECONDS:.0f} s."
            ) from exc
        except psycopg.Error as exc:
            raise StoreError(f"The run history at {self.host} failed: {_reason(exc)}.") from exc

    async def _keep_leases(self) -> None:
        """Renew the leases of this store's live runs until the store closes."""
        while True:
            await anyio.sleep(self.lease_seconds / 4)
            try:
                await self.renew_leases()
            except StoreError as exc:  # the next beat tries again; the pool reconnects
                log.warning("%s", exc)

    async def renew_leases(self) -> None:
        """Extend the lease of every live run this store owns."""
        owner, lease = self.owner, self.lease_seconds

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "UPDATE runs SET lease_until = now() + make_interval(secs => %s)"
                " WHERE owner = %s AND status = ANY(%s)",
                (lease, owner, OWNED_STATUSES),
            )

        await self._run(work)

    async def save(self, report: Report) -> None:
        """Insert or replace a run's whole report, owned by this store; pass a snapshot."""
        payload = await anyio.to_thread.run_sync(report.model_dump_json)
        owned = report.status in OWNED_STATUSES
        if report.status == "queued" and self.hand_off_queued:
            owned = False
        row = {
            "run_id": report.run_id,
            "site": report.request.url,
            "domain": site_key(report.request.url),
            "started_at": report.started_at,
            "finished_at": report.finished_at,
            "status": report.status,
            "engine": report.engine,
            "duration_seconds": report.duration_seconds,
            "topic_count": len(report.topics),
            "batch_id": report.batch_id,
            "stage": report.current_stage,
            "owner": self.owner if owned or report.status != "queued" else None,
            "lease": self.lease_seconds if owned else None,
            "report": payload,
        }

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO runs (run_id, site, domain, started_at, finished_at, status, engine,"
                " duration_seconds, topic_count, batch_id, stage, updated_at, owner, lease_until,"
                " report) VALUES (%(run_id)s, %(site)s, %(domain)s, %(started_at)s,"
                " %(finished_at)s, %(status)s, %(engine)s, %(duration_seconds)s,"
                " %(topic_count)s, %(batch_id)s, %(stage)s, now(), %(owner)s,"
                " now() + make_interval(secs => %(lease)s), %(report)s)"
                " ON CONFLICT (run_id) DO UPDATE SET site = EXCLUDED.site,"
                " domain = EXCLUDED.domain, started_at = EXCLUDED.started_at,"
                " finished_at = EXCLUDED.finished_at, status = EXCLUDED.status,"
                " engine = EXCLUDED.engine, duration_seconds = EXCLUDED.duration_seconds,"
                " topic_count = EXCLUDED.topic_count, batch_id = EXCLUDED.batch_id,"
                " stage = EXCLUDED.stage, updated_at = now(), owner = EXCLUDED.owner,"
                " lease_until = EXCLUDED.lease_until, report = EXCLUDED.report",
                row,
            )

        # A cancelled or failing run is saved from its cleanup path: the save must finish.
        with anyio.CancelScope(shield=True):
            await self._run(work)

    async def _select_one(self, query: str, params: Sequence[object]) -> tuple[Any, ...] | None:
        async def work(conn: AsyncConnection[Any]) -> tuple[Any, ...] | None:
            return await (await conn.execute(query, params)).fetchone()  # type: ignore[arg-type]

        return await self._run(work)

    async def load(self, run_id: str) -> Report:
        """Return the saved report of a run, or raise RunNotFound."""
        row = await self._select_one(
            f"SELECT report, {_LAPSED} FROM runs WHERE run_id = %s", (run_id,)
        )
        if row is None:
            raise RunNotFound(f"No saved run has the id {run_id!r}.")
        report = await anyio.to_thread.run_sync(parse_report, run_id, row[0])
        if row[1] and report.status in OWNED_STATUSES:
            report = interrupt(report, now())  # shown as it is; written by mark_interrupted
        return report

    async def list_runs(
        self,
        *,
        site: str | None = None,
        status: str | None = None,
        batch_id: str | None = None,
        limit: int = 200,
    ) -> list[RunSummary]:
        """Return summaries of saved runs, newest first, optionally for one site, status or batch.

        Read-only: a run whose owner's lease lapsed is listed `interrupted` without being
        rewritten (workers' reapers and claims write it).
        """
        query, params = summary_query(site, status, batch_id, None, "%s", owner=_LAPSED)

        async def work(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            return await (await conn.execute(query, params)).fetchall()  # type: ignore[arg-type]

        rows = [(tuple(row), bool(lapsed)) for *row, lapsed in await self._run(work)]
        return visible_summaries(rows, OWNED_STATUSES, status, limit)

    async def delete(self, run_id: str) -> None:
        """Delete a saved run, or raise RunNotFound."""
        row = await self._select_one("DELETE FROM runs WHERE run_id = %s RETURNING 1", (run_id,))
        if row is None:
            raise RunNotFound(f"No saved run has the id {run_id!r}.")

    async def claim(self, run_id: str) -> Report:
        """Take over a stopped run (or one whose owner's lease lapsed) to resume it; return it."""
        owner, lease = self.owner, self.lease_seconds

        async def work(conn: AsyncConnection[Any]) -> Report | None:
            async with conn.transaction():
                row = await (
                    await conn.execute(
                        "SELECT status, owner IS NOT NULL AND lease_until > now(), report"
                        " FROM runs WHERE run_id = %s FOR UPDATE",
                        (run_id,),
                    )
                ).fetchone()
                if row is None:
                    return None
                status, live, payload = row
                if status == "completed":
                    raise RunNotResumable(
                        f"Run {run_id} has completed; there is nothing to resume."
                    )
                if status in OWNED_STATUSES and live:
                    raise RunNotResumable(f"Run {run_id} is still running; it cannot be resumed.")
                report = parse_report(run_id, payload)
                if report.status in ACTIVE_STATUSES:
                    report = interrupt(report, now())
                await conn.execute(
                    "UPDATE runs SET status = 'running', owner = %s, cancel_requested = false,"
                    " lease_until = now() + make_interval(secs => %s), updated_at = now()"
                    " WHERE run_id = %s",
                    (owner, lease, run_id),
                )
            return report

        with anyio.CancelScope(shield=True):
            report = await self._run(work)
        if report is None:
            raise RunNotFound(f"No saved run has the id {run_id!r}.")
        return report

    async def request_cancel(self, run_id: str) -> RunStatus:
        """Ask whoever runs `run_id` to stop it; return the run's status, or raise RunNotFound."""
        row = await self._select_one(
            "UPDATE runs SET cancel_requested = true WHERE run_id = %s RETURNING status", (run_id,)
        )
        if row is None:
            raise RunNotFound(f"No saved run has the id {run_id!r}.")
        status: RunStatus = row[0]
        return status

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        """Return which of `run_ids` somebody asked to cancel."""
        ids = list(run_ids)

        async def work(conn: AsyncConnection[Any]) -> set[str]:
            cursor = await conn.execute(
                "SELECT run_id FROM runs WHERE cancel_requested AND run_id = ANY(%s)", (ids,)
            )
            return {row[0] for row in await cursor.fetchall()}

        return await self._run(work) if ids else set()

    async def statuses(self, run_ids: Sequence[str]) -> dict[str, RunStatus]:
        """Return the status of each of `run_ids` that exists."""
        ids = list(run_ids)

        async def work(conn: AsyncConnection[Any]) -> dict[str, RunStatus]:
            cursor = await conn.execute(
                "SELECT run_id, status FROM runs WHERE run_id = ANY(%s)", (ids,)
            )
            return {row[0]: row[1] for row in await cursor.fetchall()}

        return await self._run(work) if ids else {}

    async def queued_without_job(self, task: str, older_than: float) -> list[str]:
        """Return runs queued for workers over `older_than` s with no waiting or running `task` job.

        Reads the job queue's table (procrastinate's `procrastinate_jobs`, whose jobs are
        locked on their run id); call it only where the queue's schema is applied.
        """

        async def work(conn: AsyncConnection[Any]) -> list[str]:
            cursor = await conn.execute(
                "SELECT r.run_id FROM runs r WHERE r.status = 'queued' AND r.owner IS NULL"
                " AND r.updated_at < now() - make_interval(secs => %s)"
                " AND NOT EXISTS (SELECT 1 FROM procrastinate_jobs j WHERE j.lock = r.run_id"
                " AND j.task_name = %s AND j.status IN ('todo', 'doing'))",
                (older_than, task),
            )
            return [row[0] for row in await cursor.fetchall()]

        return await self._run(work)

    async def mark_interrupted(self) -> list[str]:
        """Mark runs whose owner's lease lapsed as interrupted; return their ids."""

        async def work(conn: AsyncConnection[Any]) -> list[str]:
            async with conn.transaction():
                cursor = await conn.execute(
                    "SELECT run_id, report FROM runs WHERE status = ANY(%s) AND owner IS NOT NULL"
                    " AND lease_until < now() FOR UPDATE SKIP LOCKED",
                    (OWNED_STATUSES,),
                )
                for run_id, payload in (rows := await cursor.fetchall()):
                    report, payload = await anyio.to_thread.run_sync(
                        interrupted_payload, run_id, payload
                    )
                    finished = report.finished_at if report else None
                    await conn.execute(
                        "UPDATE runs SET status = 'interrupted', stage = NULL,"
                        " finished_at = COALESCE(%s, finished_at, now()),"
                        " duration_seconds = COALESCE(%s, duration_seconds), updated_at = now(),"
                        " owner = NULL, lease_until = NULL, report = %s WHERE run_id = %s",
                        (finished, report.duration_seconds if report else None, payload, run_id),
                    )
            return [row[0] for row in rows]

        with anyio.CancelScope(shield=True):
            marked = await self._run(work)
        return marked

    async def aclose(self) -> None:
        """Stop renewing leases and close the pool; later calls raise StoreError."""
        with anyio.CancelScope(shield=True):
            if self._beat is not None:
                self._beat.cancel()
                await asyncio.gather(self._beat, return_exceptions=True)
                self._beat = None
            if self._pool is not None:
                pool, self._pool = self._pool, None
                await pool.close()
