"""The dashboard on Gemini: a key typed on Settings runs that session's Discover on the fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from research.ui.resources import SESSION_JOB, job_manager
from tests.fakes.gemini import FakeGemini, Grounding
from tests.fakes.site import SiteServer

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture
def fake(sites: tuple[SiteServer, SiteServer]) -> Iterator[FakeGemini]:
    _, rival = sites
    with FakeGemini() as server:
        server.values = {"url": [rival.url], "name": ["Metricly"]}
        server.grounding = [Grounding("Metricly", rival.url)]
        yield server


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fake: FakeGemini) -> Iterator[AppTest]:
    """The dashboard pointed at the fake Gemini server, with no key in the environment."""
    monkeypatch.setenv("RESEARCH_ALLOW_PRIVATE_HOSTS", "1")
    monkeypatch.setenv("RESEARCH_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.setenv("GEMINI_BASE_URL", fake.url)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=30)
    yield at
    st.cache_resource.clear()


def _texts(at: AppTest) -> str:
    """Every rendered text of the page except the key's own password field."""
    parts = [e.value for kind in ("markdown", "caption", "success", "warning", "error", "info")
             for e in at.get(kind)]  # fmt: skip
    parts += [str(m.value) for m in at.get("metric")]
    return " ".join(str(p) for p in parts)


def test_session_key_from_settings_runs_discover_on_gemini(
    app: AppTest, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    site, rival = sites
    app.run()
    app.switch_page("pages/settings.py")
    app.run()
    next(t for t in app.text_input if t.label.startswith("Gemini API key")).input(fake.api_key)
    app.run()
    assert not app.exception
    assert "gemini" in [str(m.value) for m in app.get("metric")]

    app.switch_page("pages/discover.py")
    app.run()
    app.text_input[0].input(site.url)
    next(b for b in app.button if b.label == "Discover Topics").click()
    app.run()
    job = job_manager().get(app.session_state[SESSION_JOB])
    assert job is not None and job.wait(60)
    app.run()
    assert not app.exception

    report = job.snapshot()
    assert report.status == "completed" and report.engine == "gemini"
    assert rival.url in [c.url for c in report.competitors if c.source == "gemini"]
    assert fake.log() and all(r.key_ok for r in fake.log())
    shown = _texts(app)
    assert "Model usage" in shown
    assert fake.api_key not in shown


def test_without_a_key_the_dashboard_runs_local_and_never_calls_gemini(
    app: AppTest, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    app.run()
    app.text_input[0].input(sites[0].url)
    next(b for b in app.button if b.label == "Discover Topics").click()
    app.run()
    job = job_manager().get(app.session_state[SESSION_JOB])
    assert job is not None and job.wait(60)
    assert job.snapshot().engine == "local" and fake.log() == []
