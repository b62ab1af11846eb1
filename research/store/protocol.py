"""RunStore: what every run-history backend offers, and the waits callers allow it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from research.models import Report, RunStatus, RunSummary

# How long a backend may wait for a lock held by another process before it gives up.
BUSY_SECONDS = 30.0
# How long a thread outside the loop waits for one store call: longer than the backend's own
# lock wait, so a busy history answers with the store's sentence, not the caller's timeout.
WAIT_SECONDS = BUSY_SECONDS + 30


class RunStore(Protocol):
    """The run history: save, load, list, delete, claim and cancel runs; every call off the loop."""

    async def save(self, report: Report) -> None:
        """Insert or replace a run's whole report; pass a snapshot nobody changes meanwhile."""
        ...

    async def load(self, run_id: str) -> Report:
        """Return the saved report of a run, or raise RunNotFound.

        Read-only: a run whose owner is gone is returned `interrupted` without being rewritten.
        """
        ...

    async def list_runs(
        self,
        *,
        site: str | None = None,
        status: str | None = None,
        batch_id: str | None = None,
        limit: int = 200,
    ) -> list[RunSummary]:
        """Return summaries of saved runs, newest first, optionally for one site, status or batch.

        Read-only: a run whose owner is gone is listed `interrupted` without being rewritten.
        """
        ...

    async def delete(self, run_id: str) -> None:
        """Delete a saved run, or raise RunNotFound."""
        ...

    async def claim(self, run_id: str) -> Report:
        """Take over a resumable (or `awaiting_review`) run for this process; return its report."""
        ...

    async def request_cancel(self, run_id: str) -> RunStatus:
        """Ask whoever runs `run_id` to stop it; return the run's status, or raise RunNotFound."""
        ...

    async def cancel_requested(self, run_ids: Sequence[str]) -> set[str]:
        """Return which of `run_ids` somebody asked to cancel."""
        ...

    async def mark_interrupted(self) -> list[str]:
        """Mark runs whose owner is gone as interrupted; return their ids (at open, or asked)."""
        ...

    async def aclose(self) -> None:
        """Release the backend's connections; later calls raise StoreError."""
        ...
