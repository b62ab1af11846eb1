"""The Discover Topics page in AppTest: validation, a full run to results, the live panel."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from research.models import StageName
from research.ui.resources import SESSION_JOB, job_manager
from tests.dashboard import discover, finished_job, max_pages_bounds
from tests.fakes.site import SiteServer

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AppTest]:
    """The dashboard with a fresh LoopRunner, private hosts allowed and a temporary database."""
    monkeypatch.setenv("RESEARCH_ALLOW_PRIVATE_HOSTS", "1")
    monkeypatch.setenv("RESEARCH_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=30)
    yield at
    st.cache_resource.clear()  # shuts the LoopRunner down through on_release


def test_page_has_the_named_inputs(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert [t.label for t in app.text_input] == ["Website URL"]
    assert [t.label for t in app.text_area] == ["Competitor URLs"]
    assert [n.label for n in app.number_input] == ["Max pages per site"]
    assert "Discover Topics" in [b.label for b in app.button]
    # The page's bounds and default are the request model's.
    [pages] = app.number_input
    assert (pages.min, pages.max, pages.value) == max_pages_bounds()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "Enter a website URL"),
        ("ftp://example.com", "only http and https"),
        ("not a url", "spaces"),
    ],
)
def test_invalid_url_shows_one_line_error_and_starts_nothing(
    app: AppTest, url: str, fragment: str
) -> None:
    discover(app, url)
    assert not app.exception
    assert len(app.error) == 1
    assert fragment in app.error[0].value and "\n" not in app.error[0].value
    assert SESSION_JOB not in app.session_state
    assert not job_manager().running()


def test_full_run_reaches_results_tabs_and_downloads(
    app: AppTest, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    site.hold_paths(lambda path: path == "/pricing")
    discover(app, site.url, rival.url)
    assert not app.exception
    job_id = app.session_state[SESSION_JOB]
    assert app.query_params["run"] == job_id
    # while the run is held mid-crawl, the live panel shows every stage and a Cancel button
    assert site.held.wait(10)
    app.run()
    markdown = " ".join(m.value for m in app.markdown)
    for stage in StageName:
        assert stage.label in markdown
    assert "Cancel" in [b.label for b in app.button]
    site.gate.set()
    finished_job(app)
    app.run()
    assert not app.exception
    assert [t.label for t in app.tabs] == [
        "Topics",
        "Keywords",
        "Content gaps",
        "Competitors",
        "Briefs",
        "Sources",
        "Run log",
    ]
    assert app.success and "completed" in app.success[0].value
    # the Topics tab opens with the topical map: clusters, sized by score, coloured by action
    [chart] = app.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    points = spec["layer"][0]["encoding"]
    assert points["x"]["field"] == "cluster" and points["size"]["field"] == "score"
    assert points["color"]["field"] == "action" and points["shape"]["field"] == "intent"
    report = finished_job(app).snapshot()
    assert len(points["x"]["sort"]) >= 2  # topics fall into several clusters
    # the Briefs tab opens each brief with its spec sheet, above the outline
    markdown = [m.value for m in app.markdown]
    brief = next(b for b in report.briefs if b.coverage)
    assert any(m.startswith("**Must cover**") for m in markdown) == bool(brief.must_cover)
    assert any(m.startswith("**Spec sheet**") and "**Intent:**" in m for m in markdown)
    outline = next(i for i, m in enumerate(markdown) if m.startswith("**Outline**"))
    assert any(m.startswith(("**Must cover**", "**Differentiators**")) for m in markdown[:outline])
    labels = [d.label for d in app.get("download_button")]
    assert "Download Excel" in labels and "Download JSON" in labels


def test_reload_with_run_in_query_params_finds_the_run(
    app: AppTest, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _rival = sites
    discover(app, site.url)
    job_id = finished_job(app).id

    reloaded = AppTest.from_file(APP, default_timeout=30)
    reloaded.query_params["run"] = job_id
    reloaded.run()
    assert not reloaded.exception
    assert "Topics" in [t.label for t in reloaded.tabs]
    assert site.url in " ".join(s.value for s in reloaded.subheader)


def test_cancel_button_stops_the_run_and_keeps_partial_results(
    app: AppTest, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    site.hold_paths(lambda path: path.startswith("/blog/"))
    discover(app, site.url)
    assert site.held.wait(10)
    app.run()
    next(b for b in app.button if b.label == "Cancel").click()
    app.run()
    job = job_manager().get(app.session_state[SESSION_JOB])
    assert job is not None and job.wait(1.0)
    app.run()
    assert not app.exception
    assert app.warning and "cancelled" in app.warning[0].value
    assert job.snapshot().site is not None


def test_settings_page_shows_engine_limits_and_loop_health(app: AppTest) -> None:
    app.switch_page("pages/settings.py")
    app.run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Engine in use"] == "local"
    assert {"Lag p50", "Lag p99", "Lag max", "Runs in progress"} <= set(metrics)
    app.text_input(key="gemini-key-input").input("sk-test-secret")
    app.run()
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Engine in use"] == "gemini"
    page_text = " ".join(str(e.value) for e in app.markdown) + str(app.main)
    assert "sk-test-secret" not in page_text
    next(b for b in app.button if b.label == "Forget session key").click()
    app.run()
    assert {m.label: m.value for m in app.metric}["Engine in use"] == "local"


def test_two_browser_sessions_run_their_own_jobs_at_once(
    app: AppTest, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    site.hold_paths(lambda path: path == "/pricing")
    other = AppTest.from_file(APP, default_timeout=30)
    for session, url in ((app, site.url), (other, rival.url)):
        discover(session, url)
    first, second = app.session_state[SESSION_JOB], other.session_state[SESSION_JOB]
    assert first != second
    assert site.held.wait(10)
    running = {job.id for job in job_manager().running()}
    assert first in running, "the first session's run is still going"
    second_job = job_manager().get(second)
    assert second_job is not None and second_job.wait(60)
    assert second_job.snapshot().status == "completed"
    site.gate.set()
    first_job = job_manager().get(first)
    assert first_job is not None and first_job.wait(60)
    assert first_job.snapshot().request.url == site.url


def test_an_unreadable_saved_run_shows_the_stores_sentence(
    app: AppTest, sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, _ = sites
    discover(app, site.url)
    job_id = finished_job(app).id
    with sqlite3.connect(tmp_path / "runs.sqlite3") as db:
        db.execute("UPDATE runs SET report = '{broken' WHERE run_id = ?", (job_id,))
    st.cache_resource.clear()  # a restarted server: the run can only come from the store

    reloaded = AppTest.from_file(APP, default_timeout=30)
    reloaded.query_params["run"] = job_id
    reloaded.run()
    assert not reloaded.exception
    assert len(reloaded.error) == 1 and "\n" not in reloaded.error[0].value
    assert "not found" not in reloaded.error[0].value
