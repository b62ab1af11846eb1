"""The run history behind one protocol: SQLite embedded by default, PostgreSQL when configured."""

from __future__ import annotations

import importlib

import anyio

from research.config import Settings
from research.store.protocol import BUSY_SECONDS, WAIT_SECONDS, RunStore
from research.store.sqlite import SQLiteStore


async def open_store(settings: Settings) -> RunStore:
    """Open the run history the settings name: PostgreSQL when a database URL is set."""
    if settings.database_url is not None:
        # Imported only here, so a single-machine setup never loads psycopg; in a worker thread,
        # because importing it takes longer than a loop step may.
        module = await anyio.to_thread.run_sync(importlib.import_module, "research.store.postgres")
        return await module.PostgresStore.open(
            settings.database_url,
            lease_seconds=settings.lease_seconds,
            connect_timeout=settings.connect_timeout,
            hand_off_queued=settings.queue,
        )
    return await SQLiteStore.open(settings.db_path)


__all__ = ["BUSY_SECONDS", "WAIT_SECONDS", "RunStore", "SQLiteStore", "open_store"]
