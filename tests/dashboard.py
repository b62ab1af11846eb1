"""Driving the dashboard in AppTest: start a discovery, find and wait for the session's job."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from streamlit.testing.v1 import AppTest

from research.models import DiscoveryRequest
from research.runtime.jobs import Job
from research.ui.resources import SESSION_JOB, job_manager, loop_runner


def discover(app: AppTest, url: str, competitors: str = "") -> None:
    """Fill in the Discover form and click Discover Topics."""
    app.run()
    app.text_input[0].input(url)
    if competitors:
        app.text_area[0].input(competitors)
    next(b for b in app.button if b.label == "Discover Topics").click()
    app.run()


def session_job(app: AppTest) -> Job:
    """Return the job this browser session started."""
    job = job_manager().get(app.session_state[SESSION_JOB])
    assert job is not None
    return job


def finished_job(app: AppTest) -> Job:
    """Wait for the session's run to end and return its job."""
    job = session_job(app)
    assert job.wait(60)
    return job


def max_pages_bounds() -> tuple[int, int, int]:
    """Return (min, max, default) of a request's max_pages, as the model declares them."""
    field = DiscoveryRequest.model_fields["max_pages"]
    limits = {
        name: getattr(m, name) for m in field.metadata for name in ("ge", "le") if hasattr(m, name)
    }
    return limits["ge"], limits["le"], field.default


@contextmanager
def loop_held() -> Iterator[None]:
    """Hold the dashboard's loop inside the block: nothing submitted meanwhile can finish.

    Blocks the loop on purpose, for as little as the block lasts (keep it short: the
    blocking check fails a step longer than SLOW_CALLBACK).
    """
    runner = loop_runner()
    runner.services()  # opened first: opening them needs the loop
    started, release = threading.Event(), threading.Event()

    async def hold() -> None:
        started.set()
        release.wait(30)

    runner.submit(hold())
    assert started.wait(30)
    try:
        yield
    finally:
        release.set()
