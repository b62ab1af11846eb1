"""Runs executed elsewhere (by workers), followed from the store."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import anyio

from research.models import FINISHED_STATUSES, ProgressEvent, Report
from research.store import RunStore

FOLLOW_POLL_SECONDS = 0.25


async def follow_runs(
    store: RunStore,
    run_ids: Sequence[str],
    on_event: Callable[[Report, ProgressEvent], None] | None = None,
) -> list[Report]:
    """Wait until every run has finished, passing each new log line on; return the reports."""
    seen = dict.fromkeys(run_ids, 0)
    reports: dict[str, Report] = {}
    while True:
        for run_id in run_ids:
            if run_id in reports and reports[run_id].status in FINISHED_STATUSES:
                continue
            report = reports[run_id] = await store.load(run_id)
            for event in report.log[seen[run_id] :]:
                if on_event is not None:
                    on_event(report, event)
            seen[run_id] = len(report.log)
        if all(reports[r].status in FINISHED_STATUSES for r in run_ids):
            return [reports[r] for r in run_ids]
        await anyio.sleep(FOLLOW_POLL_SECONDS)
