"""The dashboard's long-lived objects: one LoopRunner and one JobManager per server process."""

from __future__ import annotations

import concurrent.futures

import streamlit as st
from pydantic import SecretStr

from research.config import Settings
from research.errors import RunNotFound, StoreError
from research.export import export_report
from research.models import Report
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from research.store import WAIT_SECONDS

SESSION_JOB = "discover_job_id"
SESSION_GEMINI_KEY = "gemini_api_key"
EXPORT_TIMEOUT = 120.0


@st.cache_resource(on_release=LoopRunner.shutdown, show_spinner=False)
def loop_runner() -> LoopRunner:
    """Return the process's LoopRunner (created once, shut down when the cache is cleared)."""
    return LoopRunner(Settings.from_env())


@st.cache_resource(show_spinner=False)
def job_manager() -> JobManager:
    """Return the process's JobManager, bound to the LoopRunner."""
    return JobManager(loop_runner())


def session_key() -> SecretStr | None:
    """Return the Gemini key typed on the Settings page for this browser session, if any."""
    value = st.session_state.get(SESSION_GEMINI_KEY)
    return value if isinstance(value, SecretStr) else None


def load_report(run_id: str) -> Report | None:
    """Return the report of `run_id` from a live job or the run history; None if there is none.

    Raises a ResearchError (fit to show) when the history cannot be read.
    """
    job = job_manager().get(run_id)
    if job is not None:
        return job.snapshot()
    runner = loop_runner()
    future = runner.submit(runner.services().store.load(run_id))
    try:
        return future.result(timeout=WAIT_SECONDS)
    except RunNotFound:
        return None
    except concurrent.futures.TimeoutError as exc:
        future.cancel()
        raise StoreError(f"The run history did not answer within {WAIT_SECONDS:.0f} s.") from exc


def export_bytes(report: Report, fmt: str) -> bytes:
    """Build an export of `report` ("xlsx", "json" or "md") off the loop and return its bytes."""
    runner = loop_runner()
    cpu = runner.services().processes
    return runner.submit(export_report(report, fmt, cpu)).result(timeout=EXPORT_TIMEOUT)
