"""The dashboard's long-lived objects: one LoopRunner and one JobManager per server process."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

import streamlit as st
from pydantic import SecretStr

from research.config import EXPORT_WAIT_SECONDS, Settings
from research.errors import ConfigError, ExportError, ResearchError, RunNotFound, StoreError
from research.export import export_report
from research.models import Report
from research.runtime.jobs import Job as Job  # re-exported: pages name a job's type
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from research.store import WAIT_SECONDS

T = TypeVar("T")

SESSION_JOB = "discover_job_id"
SESSION_GEMINI_KEY = "gemini_api_key"


@st.cache_resource(on_release=LoopRunner.shutdown, show_spinner=False)
def _shared_loop_runner() -> LoopRunner:
    return LoopRunner(Settings.from_env())


def loop_runner() -> LoopRunner:
    """Return the process's LoopRunner (created once, shut down when the cache is cleared).

    With an invalid setting there is none: the page shows the one-line error and stops.
    """
    try:
        return _shared_loop_runner()
    except ConfigError as exc:  # not cached: fixing the variable and reloading recovers
        st.error(str(exc))
        st.stop()


@st.cache_resource(show_spinner=False)
def job_manager() -> JobManager:
    """Return the process's JobManager, bound to the LoopRunner."""
    return JobManager(loop_runner())


def wait_on_loop(coro: Coroutine[Any, Any, T], seconds: float, slow: ResearchError) -> T:
    """Run `coro` on the loop and wait for it; past `seconds` it is cancelled and `slow` raised."""
    future = loop_runner().submit(coro)
    try:
        return future.result(timeout=seconds)
    except concurrent.futures.TimeoutError as exc:
        future.cancel()
        raise slow from exc


def on_loop(
    coro: Coroutine[Any, Any, T], seconds: float = WAIT_SECONDS, who: str = "The run history"
) -> T:
    """Run a core call on the loop and wait for it; one that takes too long raises StoreError."""
    return wait_on_loop(coro, seconds, StoreError(f"{who} did not answer within {seconds:.0f} s."))


def session_key() -> SecretStr | None:
    """Return the Gemini key typed on the Settings page for this browser session, if any."""
    value = st.session_state.get(SESSION_GEMINI_KEY)
    return value if isinstance(value, SecretStr) else None


def load_report(run_id: str) -> Report | None:
    """Return the report of `run_id` from a live job or the run history; None if there is none.

    Raises a ResearchError (fit to show) when the history cannot be read.
    """
    job = job_manager().get(run_id)
    # A paused run may be continued or cancelled from another process: the store has it then.
    if job is not None and not (job.done and job.snapshot().status == "awaiting_review"):
        return job.snapshot()
    try:
        return on_loop(loop_runner().services().store.load(run_id))
    except RunNotFound:
        return None


def export_bytes(report: Report, fmt: str, seconds: float = EXPORT_WAIT_SECONDS) -> bytes:
    """Build an export of `report` ("xlsx", "json" or "md") off the loop and return its bytes."""
    cpu = loop_runner().services().processes
    slow = ExportError(
        f"The {fmt} export took longer than {seconds:g} s to build; try again in a moment."
    )
    return wait_on_loop(export_report(report, fmt, cpu), seconds, slow)
