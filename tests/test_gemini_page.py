"""The dashboard on Gemini: a key typed on Settings runs that session's Discover on the fake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from research.runtime.jobs import Job
from research.ui.resources import loop_runner
from tests.dashboard import discover, finished_job, session_job
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
    """Every rendered text of the page."""
    parts = [e.value for kind in ("markdown", "caption", "success", "warning", "error", "info")
             for e in at.get(kind)]  # fmt: skip
    parts += [str(m.value) for m in at.get("metric")]
    return " ".join(str(p) for p in parts)


def _everything(at: AppTest) -> str:
    """Every element the page sent (protos, so tables' data too), except text inputs."""
    parts: list[str] = []

    def walk(node: object) -> None:
        if getattr(node, "type", "") == "text_input":
            return
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at.main)
    walk(at.sidebar)
    parts += [df.value.to_csv() for df in at.dataframe]
    return "\n".join(parts)


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
    discover(app, site.url)
    job = finished_job(app)
    app.run()
    assert not app.exception

    report = job.snapshot()
    assert report.status == "completed" and report.engine == "gemini"
    assert rival.url in [c.url for c in report.competitors if c.source == "gemini"]
    assert fake.log() and all(r.key_ok for r in fake.log())
    tokens = sum(u.input_tokens + u.output_tokens for u in report.usage)
    cost = sum(u.cost_usd for u in report.usage)
    assert tokens > 0 and cost > 0
    shown = _texts(app)
    assert f"Model usage: {tokens:,} tokens, about ${cost:.4f}." in shown
    [usage_table] = [
        frame.value for frame in app.dataframe if "Input tokens" in frame.value.columns
    ]
    assert set(usage_table["Stage"]) == {u.stage.label for u in report.usage}
    assert usage_table["Input tokens"].sum() + usage_table["Output tokens"].sum() == tokens
    everything = _everything(app)
    assert report.keywords[0].keyword in everything and report.log[-1].message in everything
    assert fake.api_key not in everything
    app.switch_page("pages/settings.py")
    app.run()
    assert fake.api_key not in _everything(app)


def test_without_a_key_the_dashboard_runs_local_and_never_calls_gemini(
    app: AppTest, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    # Another browser session's key is that session's only.
    other = AppTest.from_file(APP, default_timeout=30)
    other.switch_page("pages/settings.py")
    other.run()
    other.text_input(key="gemini-key-input").input(fake.api_key)
    other.run()
    assert {m.label: m.value for m in other.metric}["Engine in use"] == "gemini"

    discover(app, sites[0].url)
    job = finished_job(app)
    assert job.snapshot().engine == "local" and fake.log() == []


def _start_run(app: AppTest, url: str, key: str) -> Job:
    """Type the session key on Settings, start a run on Discover and return its job."""
    app.run()
    app.switch_page("pages/settings.py")
    app.run()
    app.text_input(key="gemini-key-input").input(key)
    app.run()
    app.switch_page("pages/discover.py")
    discover(app, url)
    return session_job(app)


def test_breaker_shows_in_the_run_log_on_discover_and_on_settings(
    app: AppTest, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    app.run()
    settings = loop_runner().settings
    settings.gemini_breaker_threshold = 2
    settings.gemini_max_attempts = 2
    settings.gemini_backoff_initial = settings.gemini_backoff_max = 0.01
    app.switch_page("pages/settings.py")
    app.run()
    assert not app.warning  # no Gemini client yet, so no breaker to report
    fake.fault = "503"
    job = _start_run(app, sites[0].url, fake.api_key)
    assert job.wait(60)
    app.run()
    assert not app.exception

    assert job.snapshot().status == "completed" and len(fake.log()) == 2
    log = next(df.value for df in app.dataframe if "Message" in df.value.columns)
    paused = [m for m in log["Message"] if "paused" in m and "local engine" in m]
    assert len(paused) >= 2  # every later Gemini task said it ran on local
    assert any("warnings; see the Run log tab" in c.value for c in app.caption)

    app.switch_page("pages/settings.py")
    app.run()
    assert not app.exception
    [warning] = app.warning
    assert "Gemini failed repeatedly" in warning.value and "local engine" in warning.value


def test_streamed_brief_text_shows_live_on_discover(
    app: AppTest, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    fake.fail_next("stream_hang", when=lambda request: request.stream)
    job = _start_run(app, sites[0].url, fake.api_key)
    assert fake.hanging.acquire(timeout=60), "no brief stream reached the fake"

    drafts: list[tuple[str, str]] = []
    deadline = time.monotonic() + 30
    while not drafts and time.monotonic() < deadline:
        app.run()  # the live fragment renders the job's snapshot inline
        drafts = [  # the held stream's draft; the other briefs may be whole drafts a moment
            (e.label, " ".join(m.value for m in e.markdown))
            for e in app.expander
            if e.label.startswith("Writing: ")
            and "## Passages" not in " ".join(m.value for m in e.markdown)
        ]
    assert not job.done, "the held stream must keep the run going"
    assert drafts, "the partial brief never appeared on the page"
    label, text = drafts[0]
    assert text.startswith("## Summary")  # a first piece only

    fake.release()
    assert job.wait(60)
    app.run()
    assert not app.exception
    topic = label.removeprefix("Writing: ")
    [brief] = [b for b in job.snapshot().briefs if b.topic == topic]
    assert brief.outline and brief.text.startswith(text)
    assert not [e for e in app.expander if e.label.startswith("Writing: ")]
    assert topic in [e.label for e in app.expander]
