"""What every backend writes the same way: report payloads, interrupted runs, site filters."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from pydantic import ValidationError

from research.errors import StoreError
from research.models import ACTIVE_STATUSES, ProgressEvent, Report, RunSummary, now
from research.net.urls import site_key

# The columns of a summary row, in RunSummary's field order.
SUMMARY_COLUMNS = (
    "run_id, site, domain, started_at, finished_at, status, engine, duration_seconds,"
    " topic_count, batch_id, stage"
)


def summary_of(row: tuple[object, ...]) -> RunSummary:
    """Return the RunSummary of a row selected with SUMMARY_COLUMNS."""
    return RunSummary.model_validate(dict(zip(RunSummary.model_fields, row, strict=True)))


def visible_summaries(
    rows: Iterable[tuple[tuple[object, ...], bool]],
    active: Collection[str],
    status: str | None,
    limit: int,
) -> list[RunSummary]:
    """Return the summaries of (row, owner gone) pairs as a reader sees them: an active run
    whose owner is gone is `interrupted` (not rewritten); then filtered by status and limited."""
    runs = []
    for row, gone in rows:
        summary = summary_of(row)
        if gone and summary.status in active:
            summary.status = "interrupted"
        if status is None or summary.status == status:
            runs.append(summary)
    return runs[: max(0, limit)]


def site_filter(site: str) -> tuple[str, str]:
    """Return (site, domain) to match runs of a site given as a URL or a domain."""
    return site.strip(), site_key(site)


def interrupt(report: Report, at: datetime) -> Report:
    """Return the report of a run whose process died, marked interrupted."""
    report.status = "interrupted"
    report.finished_at = report.finished_at or at
    for state in report.stages.values():
        if state.status == "running":
            state.status = "cancelled"
            state.finished_at = at
            state.detail = "Interrupted: the process running it stopped."
    report.log.append(
        ProgressEvent(
            at=at,
            level="warning",
            message="Run interrupted: the process running it stopped; it can be resumed.",
        )
    )
    return report


def parse_report(run_id: str, payload: str) -> Report:
    """Return the report saved as `payload`, or raise StoreError when it is damaged."""
    try:
        return Report.model_validate_json(payload)
    except ValidationError as exc:
        raise StoreError(f"The saved run {run_id!r} could not be read: it is damaged.") from exc


def interrupted_payload(run_id: str, payload: str) -> tuple[Report | None, str]:
    """Return (report, payload) of a run marked interrupted; a damaged one keeps its payload."""
    try:
        report = interrupt(parse_report(run_id, payload), now())
    except StoreError:  # a damaged report still gets its status corrected
        return None, payload
    return report, report.model_dump_json()


def summary_query(
    site: str | None,
    status: str | None,
    batch_id: str | None,
    limit: int | None,
    mark: str,
    *,
    owner: str = "",
) -> tuple[str, list[object]]:
    """Return the summaries query (newest first) and its parameters; `mark` is "?" or "%s".

    With `owner` (the owner columns to select after the summary's), active runs are selected
    whatever `status` asks, as the caller may find them interrupted and filters them itself.
    """
    clauses: list[str] = []
    params: list[object] = []
    if site:
        clauses.append(f"(site = {mark} OR domain = {mark})")
        params += site_filter(site)
    if status and owner:
        clauses.append(
            f"(status = {mark} OR status IN ({', '.join([mark] * len(ACTIVE_STATUSES))}))"
        )
        params += [status, *ACTIVE_STATUSES]
    elif status:
        clauses.append(f"status = {mark}")
        params.append(status)
    if batch_id:
        clauses.append(f"batch_id = {mark}")
        params.append(batch_id)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    columns = f"{SUMMARY_COLUMNS}, {owner}" if owner else SUMMARY_COLUMNS
    query = f"SELECT {columns} FROM runs {where} ORDER BY started_at DESC, run_id"
    if limit is not None:
        query += f" LIMIT {mark}"
        params.append(max(0, limit))
    return query, params
