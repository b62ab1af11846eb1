"""The run history behind one protocol: SQLite embedded by default."""

from __future__ import annotations

from research.config import Settings
from research.store.protocol import BUSY_SECONDS, WAIT_SECONDS, RunStore
from research.store.sqlite import SQLiteStore


async def open_store(settings: Settings) -> RunStore:
    """Open the run history the settings name."""
    return await SQLiteStore.open(settings.db_path)


__all__ = ["BUSY_SECONDS", "WAIT_SECONDS", "RunStore", "SQLiteStore", "open_store"]
