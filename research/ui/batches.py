"""The Batch page's calls into the core: start a batch on the loop, follow, cancel, export it."""

from __future__ import annotations

import concurrent.futures
import logging

from research.config import EXPORT_WAIT_SECONDS
from research.errors import ExportError, InvalidRequest
from research.export import export_batch
from research.models import (
    DEFAULT_CONCURRENCY,
    LIVE_STATUSES,
    EngineName,
    Report,
    RunSummary,
    SiteList,
    now,
)
from research.runtime.batch import new_batch_id, queued_reports, run_batch
from research.sitelist import parse_sites
from research.ui.queueing import enqueue, queue_enabled
from research.ui.resources import loop_runner, on_loop, session_key, wait_on_loop

SESSION_BATCH = "batch_id"
log = logging.getLogger("research.ui")


def read_sites(text: str, name: str, max_pages: int, engine: EngineName) -> SiteList:
    """Read a pasted or uploaded list of sites into requests and `line N: ...` errors."""
    return parse_sites(text, name=name, max_pages=max_pages, engine=engine)


def start_batch(sites: SiteList) -> str:
    """Start a batch of the valid sites on the dashboard's loop; return its batch id."""
    if not sites.requests:
        raise InvalidRequest("The list has no valid site line.")
    runner = loop_runner()
    services = runner.services()
    batch_id = new_batch_id()
    reports = queued_reports(sites.requests, batch_id)
    if queue_enabled():
        enqueue(reports)
        return batch_id
    for report in reports:  # queued in the store before the page shows the table
        on_loop(services.store.save(report))
    # The batch runs on the loop, bounded, for as long as the server lives; progress is read
    # back from the store, so the page (and any other replica) follows it without the future.
    runner.submit(
        run_batch(reports, services, concurrency=DEFAULT_CONCURRENCY, api_key=session_key())
    ).add_done_callback(_log_crash)
    return batch_id


def _log_crash(future: concurrent.futures.Future[list[Report]]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("a batch stopped: %s", future.exception())


def batch_runs(batch_id: str) -> list[RunSummary]:
    """Return the runs of a batch as the store has them, in the order of the list."""
    runs = on_loop(loop_runner().services().store.list_runs(batch_id=batch_id, limit=10_000))
    return sorted(runs, key=lambda run: (run.started_at, run.run_id))


def any_active(runs: list[RunSummary]) -> bool:
    """Whether any run of a batch is still queued or running."""
    return any(run.status in LIVE_STATUSES for run in runs)


def seconds_so_far(run: RunSummary) -> float:
    """Seconds a run took, or has taken so far."""
    if run.duration_seconds is not None:
        return run.duration_seconds
    return (now() - run.started_at).total_seconds()


def batch_workbook(batch_id: str, seconds: float = EXPORT_WAIT_SECONDS) -> bytes:
    """Build the combined workbook of a batch's runs, off the loop."""
    services = loop_runner().services()

    async def build() -> bytes:
        runs = await services.store.list_runs(batch_id=batch_id, limit=10_000)
        ordered = sorted(runs, key=lambda run: (run.started_at, run.run_id))
        reports = [await services.store.load(run.run_id) for run in ordered]
        return await export_batch(reports, services.processes)

    slow = ExportError(
        f"The batch workbook took longer than {seconds:g} s to build; try again in a moment, "
        "or export its runs one by one."
    )
    return wait_on_loop(build(), seconds, slow)
