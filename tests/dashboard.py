"""Driving the dashboard in AppTest: start a discovery, find and wait for the session's job."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from research.models import DiscoveryRequest
from research.runtime.jobs import Job
from research.ui.resources import SESSION_JOB, job_manager


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
