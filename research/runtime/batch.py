"""Batches in this process: many runs, a bounded number at a time, cancellable from anywhere.

Every run of a batch is saved `queued` first, so the Batch page and `cancel` in any process find
it in the store. A watcher polls the store for cancel requests of the runs this process is
running and stops them; a queued run cancelled meanwhile is skipped when its turn comes.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

import anyio
from pydantic import SecretStr

from research.errors import RunNotFound
from research.models import (
    ACTIVE_STATUSES,
    DEFAULT_CONCURRENCY,
    FINISHED_STATUSES,
    DiscoveryRequest,
    ProgressEvent,
    Report,
    RunSummary,
    now,
)
from research.net.urls import site_key
from research.pipeline.run import run_pipeline
from research.progress import RunTracker
from research.review import cancel_paused
from research.services import Services
from research.store import RunStore

# How often a process running runs asks the store whether someone cancelled one of them.
CANCEL_POLL_SECONDS = 0.5
# How long `cancel` waits for running runs to confirm that they stopped.
CANCEL_WAIT_SECONDS = 5.0


def new_batch_id() -> str:
    """Return a fresh batch id (told apart from a run id by its prefix)."""
    return f"b-{uuid.uuid4().hex[:10]}"


def queued_reports(requests: Sequence[DiscoveryRequest], batch_id: str) -> list[Report]:
    """Return a `queued` report of the batch for each request."""
    return [Report(request=r, status="queued", batch_id=batch_id) for r in requests]


def cancelled_before_start(report: Report) -> Report:
    """Return a queued report marked cancelled before any stage ran."""
    stages = {n: s.model_copy(update={"status": "skipped"}) for n, s in report.stages.items()}
    event = ProgressEvent(message="Run cancelled before it started")
    update = {"status": "cancelled", "finished_at": now(), "stages": stages}
    return report.model_copy(update={**update, "log": [*report.log, event]})


async def watch_cancels(store: RunStore, scopes: dict[str, anyio.CancelScope]) -> None:
    """Cancel the scope of each run somebody asked to cancel; runs until cancelled itself."""
    while True:
        await anyio.sleep(CANCEL_POLL_SECONDS)
        for run_id in await store.cancel_requested(list(scopes)):
            scopes.pop(run_id).cancel()


async def run_batch(
    reports: Sequence[Report],
    services: Services,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    api_key: SecretStr | None = None,
    on_start: Callable[[RunTracker], None] | None = None,
) -> list[Report]:
    """Save a batch's queued reports, run them `concurrency` at a time; return how they ended."""
    store = services.store
    for report in reports:
        await store.save(report)
    limiter = anyio.CapacityLimiter(max(1, concurrency))
    scopes: dict[str, anyio.CancelScope] = {}
    finals: dict[str, Report] = {}

    async def run_one(report: Report) -> None:
        async with limiter:
            if await store.cancel_requested([report.run_id]):
                finals[report.run_id] = await _saved_or_cancelled(store, report)
                return
            tracker = RunTracker(report)
            if on_start is not None:
                on_start(tracker)
            with scopes.setdefault(report.run_id, anyio.CancelScope()):
                await run_pipeline(tracker, services, api_key=api_key)
            scopes.pop(report.run_id, None)
            finals[report.run_id] = tracker.snapshot()

    async with anyio.create_task_group() as outer:
        outer.start_soon(watch_cancels, store, scopes)
        async with anyio.create_task_group() as runs:
            for report in reports:
                runs.start_soon(run_one, report)
        outer.cancel_scope.cancel()
    return [finals[report.run_id] for report in reports]


async def _saved_or_cancelled(store: RunStore, report: Report) -> Report:
    """Return the saved report of a run cancelled while queued (saving it cancelled if need be)."""
    saved = await store.load(report.run_id)
    if saved.status == "queued":
        saved = cancelled_before_start(saved)
        await store.save(saved)
    return saved


async def _targets(store: RunStore, target: str) -> tuple[list[str], str | None]:
    """Return (run ids, batch id) a `cancel` of `target` (a run id or a batch id) is about."""
    try:
        await store.load(target)
    except RunNotFound:
        runs = await store.list_runs(batch_id=target, limit=100_000)
        if not runs:
            raise RunNotFound(f"No run or batch has the id {target!r}.") from None
        return [run.run_id for run in runs], target
    return [target], None


async def _summaries(store: RunStore, ids: list[str], batch_id: str | None) -> list[RunSummary]:
    if batch_id is not None:
        return await store.list_runs(batch_id=batch_id, limit=100_000)
    report = await store.load(ids[0])
    fields = {k: getattr(report, k, None) for k in RunSummary.model_fields}
    site = report.request.url
    fields.update(site=site, domain=site_key(site), topic_count=len(report.topics))
    return [RunSummary.model_validate(fields)]


async def cancel_runs(
    store: RunStore,
    target: str,
    wait: float = CANCEL_WAIT_SECONDS,
    abort: Callable[[str], Awaitable[object]] | None = None,
) -> list[RunSummary]:
    """Cancel a run, or every unfinished run of a batch, wherever it runs; return how they are.

    `abort` also stops a run's queue job. Waits up to `wait` seconds for running runs to
    confirm that they stopped.
    """
    ids, batch_id = await _targets(store, target)
    for run in await _summaries(store, ids, batch_id):
        if run.status in FINISHED_STATUSES:
            continue
        if run.status == "awaiting_review":  # nothing runs it: cancelled here and now
            await cancel_paused(store, run.run_id)
            continue
        if abort is not None:
            await abort(run.run_id)
        if await store.request_cancel(run.run_id) == "queued":
            await _saved_or_cancelled(store, await store.load(run.run_id))
    with anyio.move_on_after(wait):
        while wait > 0:
            runs = await _summaries(store, ids, batch_id)
            if all(run.status not in ACTIVE_STATUSES for run in runs):
                return runs
            await anyio.sleep(CANCEL_POLL_SECONDS / 5)
    return await _summaries(store, ids, batch_id)
