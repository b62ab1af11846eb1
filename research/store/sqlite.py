"""SQLiteStore: the embedded run history (WAL, versioned schema), used from the loop, worked off it.

Every SQLite call runs in a worker thread behind the store's own one-slot limiter, so calls
from many concurrent runs are serialised in this process; WAL plus a busy timeout and
`BEGIN IMMEDIATE` writes let several processes (dashboard, CLI) share one file.

Each saved run records the process that owns it (pid and a token naming that process
instance). When a store opens (and when a run is claimed), runs still `pending`/`running` whose
owner is gone are marked `interrupted`, keeping every stage they had completed; listing and
loading never write, they show such a run as interrupted.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import anyio

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

BUSY_TIMEOUT_MS = int(BUSY_SECONDS * 1000)


def _migrate_1(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE runs (
            run_id TEXT PRIMARY KEY,
            site TEXT NOT NULL,
            domain TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            engine TEXT NOT NULL,
            duration_seconds REAL,
            topic_count INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL,
            owner_pid INTEGER NOT NULL,
            owner_token TEXT NOT NULL,
            report TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX runs_started ON runs (started_at DESC)")
    db.execute("CREATE INDEX runs_domain ON runs (domain, started_at DESC)")
    db.execute("CREATE INDEX runs_status ON runs (status)")


def _migrate_2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE runs ADD COLUMN batch_id TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN stage TEXT")
    db.execute("ALTER TABLE runs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX runs_batch ON runs (batch_id)")


# Forward migrations: MIGRATIONS[i] brings a database from version i to i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migrate_1, _migrate_2]
# Runs a live process holds: a batch's queued runs wait in the process that will run them.
OWNED_STATUSES = LIVE_STATUSES
SCHEMA_VERSION = len(MIGRATIONS)


def _process_start_ticks(pid: int) -> str | None:
    """Return the start time of a process (Linux clock ticks since boot), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it are plain.
    return stat.rsplit(")", 1)[-1].split()[19]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_token(pid: int | None = None) -> str:
    """Return a token naming one process instance: host, boot and start time."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}|{_boot_id()}|{_process_start_ticks(pid) or ''}"


def _owner_alive(pid: int, token: str) -> bool:
    """Whether the process that saved a run (pid + token) is still running."""
    host, boot, ticks = [*token.split("|"), "", "", ""][:3]
    if host != socket.gethostname():
        return True  # another machine's process: we cannot tell, so never steal its runs
    if boot and boot != _boot_id():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    current = _process_start_ticks(pid)
    return not (ticks and current is not None and current != ticks)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _interrupted_row(run_id: str, payload: str) -> tuple[object, ...]:
    """Return (finished_at, duration, updated_at, report, run_id) for marking a run interrupted."""
    report, payload = interrupted_payload(run_id, payload)
    if report is None:
        return (None, None, _iso(now()), payload, run_id)
    return (_iso(report.finished_at), report.duration_seconds, _iso(now()), payload, run_id)


class SQLiteStore:
    """The run history: save, load, list and delete reports; every call off the loop."""

    def __init__(self, path: Path, db: sqlite3.Connection, token: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = db
        self._limiter = anyio.CapacityLimiter(1)
        self._pid = os.getpid()
        self._token = token

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        """Open (creating if needed) the history at `path` and mark dead processes' runs."""
        db, token = await anyio.to_thread.run_sync(lambda: (cls._connect(path), process_token()))
        store = cls(path, db, token)
        await store.mark_interrupted()
        return store

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            db = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"The run history at {path} could not be opened: {exc}.") from exc
        try:
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            _upgrade(db, path)
        except sqlite3.Error as exc:
            db.close()
            raise StoreError(f"The run history at {path} could not be opened: {exc}.") from exc
        except StoreError:
            db.close()
            raise
        return db

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` with the connection in a worker thread, one call at a time."""

        def call() -> T:
            if self._db is None:
                raise StoreError("The run history is closed.")
            try:
                return work(self._db)
            except sqlite3.Error as exc:
                raise StoreError(f"The run history at {self.path} failed: {exc}.") from exc

        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    async def save(self, report: Report) -> None:
        """Insert or replace a run's whole report; pass a snapshot nobody changes meanwhile."""
        pid, token = self._pid, self._token

        def work(db: sqlite3.Connection) -> None:
            payload = report.model_dump_json()
            site = report.request.url
            row = (
                report.run_id,
                site,
                site_key(site),
                _iso(report.started_at),
                _iso(report.finished_at),
                report.status,
                report.engine,
                report.duration_seconds,
                len(report.topics),
                _iso(now()),
                pid,
                token,
                payload,
                report.batch_id,
                report.current_stage,
                report.run_id,
            )
            with _transaction(db):
                db.execute(
                    "INSERT OR REPLACE INTO runs (run_id, site, domain, started_at, finished_at,"
                    " status, engine, duration_seconds, topic_count, updated_at, owner_pid,"
                    " owner_token, report, batch_id, stage, cancel_requested)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                    " COALESCE((SELECT cancel_requested FROM runs WHERE run_id = ?), 0))",
                    row,
                )

        # A cancelled or failing run is saved from its cleanup path: the save must finish.
        with anyio.CancelScope(shield=True):
            await self._run(work)

    async def load(self, run_id: str) -> Report:
        """Return the saved report of a run, or raise RunNotFound."""

        def work(db: sqlite3.Connection) -> tuple[str, int | None, str | None] | None:
            return db.execute(
                "SELECT report, owner_pid, owner_token FROM runs WHERE run_id = ?", (run_id,)
            ).fetchone()

        row = await self._run(work)
        if row is None:
            raise RunNotFound(f"No saved run has the id {run_id!r}.")
        payload, pid, token = row
        report = await anyio.to_thread.run_sync(parse_report, run_id, payload)
        if report.status in ACTIVE_STATUSES and not _owner_alive(pid, token):  # type: ignore[arg-type]
            report = interrupt(report, now())  # shown as it is; written when a store opens
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

        Read-only: a run whose process died is listed `interrupted` without being rewritten.
        """
        query, params = summary_query(
            site, status, batch_id, None, "?", owner="owner_pid, owner_token"
        )

        def work(db: sqlite3.Connection) -> list[tuple[object, ...]]:
            return db.execute(query, params).fetchall()

        rows = [
            (tuple(row), not _owner_alive(pid, token))  # type: ignore[arg-type]
            for *row, pid, token in await self._run(work)
        ]
        return visible_summaries(rows, ACTIVE_STATUSES, status, limit)

    async def delete(self, run_id: str) -> None:
        """Delete a saved run, or raise RunNotFound."""

        def work(db: sqlite3.Connection) -> int:
            with _transaction(db):
                deleted = db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,)).rowcount
            return deleted

        if await self._run(work) == 0:
            raise RunNotFound(f"No saved run has the id {run_id!r}.")

    async def claim(self, run_id: str) -> Report:
        """Take over an interrupted, failed, cancelled or paused run to resume it; return it.

        The claim is atomic across processes: the run is marked `running` and owned by this
        process, so a second resume elsewhere raises RunNotResumable.
        """
        pid, token = self._pid, self._token

        def work(db: sqlite3.Connection) -> Report | None:
            with _transaction(db):
                row = db.execute(
                    "SELECT status, owner_pid, owner_token, report FROM runs WHERE run_id = ?",
                    (run_id,),
                ).fetchone()
                if row is None:
                    return None
                status, owner_pid, owner_token, payload = row
                if status == "completed":
                    raise RunNotResumable(
                        f"Run {run_id} has completed; there is nothing to resume."
                    )
                if status in OWNED_STATUSES and _owner_alive(owner_pid, owner_token):
                    raise RunNotResumable(f"Run {run_id} is still running; it cannot be resumed.")
                report = parse_report(run_id, payload)
                if report.status in ACTIVE_STATUSES:
                    report = interrupt(report, now())
                db.execute(
                    "UPDATE runs SET status = 'running', owner_pid = ?, owner_token = ?,"
                    " cancel_requested = 0, updated_at = ? WHERE run_id = ?",
                    (pid, token, _iso(now()), run_id),
                )
            return report

        with anyio.CancelScope(shield=True):
            report = await self._run(work)
        if report is None:
            raise RunNotFound(f"No saved run has the id {run_id!r}.")
        return report

    async def request_cancel(self, run_id: str) -> RunStatus:
        """Ask whoever runs `run_id` to stop it; return the run's status, or raise RunNotFound."""

        def work(db: sqlite3.Connection) -> RunStatus | None:
            with _transaction(db):
                db.execute("UPDATE runs SET cancel_requested = 1 WHERE run_id = ?", (run_id,))
                row = db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            return None if row is None else row[0]

        status = await self._run(work)
        if status is None:
            raise RunNotFound(f"No saved run has the id {run_id!r}.")
        return status

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        """Return which of `run_ids` somebody asked to cancel."""
        ids = list(run_ids)

        def work(db: sqlite3.Connection) -> set[str]:
            marks = ", ".join("?" for _ in ids)
            query = f"SELECT run_id FROM runs WHERE cancel_requested = 1 AND run_id IN ({marks})"
            return {row[0] for row in db.execute(query, ids)}

        return await self._run(work) if ids else set()

    async def mark_interrupted(self) -> list[str]:
        """Mark runs left pending/running by processes that no longer exist; return their ids."""

        def work(db: sqlite3.Connection) -> list[str]:
            rows = db.execute(
                "SELECT run_id, owner_pid, owner_token FROM runs WHERE status IN (?, ?, ?)",
                OWNED_STATUSES,
            ).fetchall()
            dead = [run_id for run_id, pid, token in rows if not _owner_alive(pid, token)]
            marked: list[str] = []
            for run_id in dead:
                with _transaction(db):
                    row = db.execute(
                        "SELECT report FROM runs WHERE run_id = ? AND status IN (?, ?, ?)",
                        (run_id, *OWNED_STATUSES),
                    ).fetchone()
                    if row is None:
                        continue
                    db.execute(
                        "UPDATE runs SET status = 'interrupted',"
                        " finished_at = COALESCE(?, finished_at),"
                        " duration_seconds = COALESCE(?, duration_seconds),"
                        " updated_at = ?, report = ? WHERE run_id = ?",
                        _interrupted_row(run_id, row[0]),
                    )
                marked.append(run_id)
            return marked

        with anyio.CancelScope(shield=True):
            marked = await self._run(work)
        return marked

    async def aclose(self) -> None:
        """Close the database connection; later calls raise StoreError."""

        def work(db: sqlite3.Connection) -> None:
            db.close()

        with anyio.CancelScope(shield=True):
            if self._db is not None:
                await self._run(work)
                self._db = None


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... COMMIT, or ROLLBACK on error (the connection is autocommit)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _upgrade(db: sqlite3.Connection, path: Path) -> None:
    """Apply the forward migrations the database has not had yet."""
    with _transaction(db):
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The run history at {path} is from a newer Research Lab; upgrade to open it."
            )
        for index in range(version, SCHEMA_VERSION):
            MIGRATIONS[index](db)
        if version != SCHEMA_VERSION:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
