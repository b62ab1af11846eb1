"""The dashboard's side of the job queue and of runs executed elsewhere, read from the store."""

from __future__ import annotations

import importlib
from collections.abc import Coroutine
from typing import Any

import streamlit as st

from research.errors import ResearchError
from research.models import LIVE_STATUSES, DiscoveryRequest, Report, now
from research.runtime.batch import cancel_runs
from research.ui.report_view import render_stages
from research.ui.resources import load_report, loop_runner, on_loop

REMOTE_REFRESH_SECONDS = 0.7
QUEUE = "The job queue"
WORKER_KEY_NOTE = (
    "Runs go to the queue's workers, which use their own GEMINI_API_KEY: a key entered here "
    "stays in this browser session and is never sent to them (secrets never travel through "
    "the shared history)."
)


def queue_enabled() -> bool:
    """Whether runs started here are enqueued for workers (RESEARCH_QUEUE with PostgreSQL)."""
    return loop_runner().settings.queue  # Settings refuse a queue without its database


@st.cache_resource(show_spinner=False)
def run_queue() -> Any:
    """Return the process's RunQueue (opened on the loop once); only in queue mode."""
    # Imported here, in the script thread: procrastinate loads only when the queue is used.
    module = importlib.import_module("research.runtime.queue")
    url = loop_runner().settings.database_url
    return on_loop(module.RunQueue.open(url), who=QUEUE)


def enqueue(reports: list[Report]) -> None:
    """Save runs `queued` and defer their jobs for the workers."""
    store = loop_runner().services().store
    queue = run_queue()

    async def put() -> None:
        for report in reports:
            await queue.enqueue(store, report)

    on_loop(put(), who=QUEUE)


def enqueue_claimed(claim: Coroutine[Any, Any, Report]) -> str:
    """Enqueue a saved run that `claim` takes over (to resume or continue it); its run id.

    The workers run it with their own GEMINI_API_KEY: a key entered on Settings stays in this
    browser session and never travels through the history.
    """
    store = loop_runner().services().store
    queue = run_queue()

    async def put() -> str:
        report = await claim
        await queue.enqueue(store, report)
        return report.run_id

    return on_loop(put(), who=QUEUE)


def enqueue_run(request: DiscoveryRequest) -> str:
    """Enqueue one discovery for the workers and return its run id."""
    report = Report(request=request)
    enqueue([report])
    return report.run_id


def cancel(target: str) -> None:
    """Ask a run, or every unfinished run of a batch, to stop wherever it runs."""
    store = loop_runner().services().store
    abort = run_queue().abort if queue_enabled() else None
    on_loop(cancel_runs(store, target, wait=0, abort=abort), who=QUEUE)


def waiting_message(report: Report) -> str:
    """Say that no worker has picked a queued run up yet, and for how long it has waited."""
    waited = (now() - report.started_at).total_seconds()
    return f"Queued: no worker has picked this run up yet (waiting {waited:.0f} s)."


def running_elsewhere(run_id: str) -> Report | None:
    """Return the saved report of a run still queued or running elsewhere, else None."""
    try:
        report = load_report(run_id)
    except ResearchError:  # shown by the caller's regular path, which opens the run again
        return None
    return report if report is not None and report.status in LIVE_STATUSES else None


def render_remote_run(run_id: str) -> None:
    """Follow a run executed elsewhere (a worker, another replica) live from the store."""

    @st.fragment(run_every=REMOTE_REFRESH_SECONDS)
    def live(run_id: str) -> None:
        report = running_elsewhere(run_id)
        if report is None:
            st.rerun(scope="app")
            return
        if report.status == "queued":
            st.info(waiting_message(report))
        render_stages(report)
        if st.button("Cancel", key="cancel-remote-run"):
            cancel(run_id)
            st.caption("Cancelling…")

    live(run_id)


def backend_lines() -> list[tuple[str, str]]:
    """Return (label, value) rows describing the history backend, the queue and its workers."""
    settings = loop_runner().settings
    if settings.database_url is None:
        return [("History", f"SQLite at {settings.db_path}"), ("Queue", "off (runs here)")]
    store = loop_runner().services().store
    rows = [("History", f"PostgreSQL at {getattr(store, 'host', 'the configured database')}")]
    if not queue_enabled():
        return [*rows, ("Queue", "off (runs here)")]
    seen = on_loop(run_queue().workers_seen(60), who=QUEUE)
    return [*rows, ("Queue", "on (procrastinate)"), ("Workers seen in the last minute", str(seen))]


def history_problem() -> str | None:
    """Return the one sentence saying why the run history cannot be opened, or None."""
    try:
        loop_runner().services()
    except ResearchError as exc:
        return str(exc)
    return None
