"""The History page in AppTest: list, filter, open, deep link, delete, compare, resume.

Also the Discover page's side of the history: a deep link to a saved run (not a job in
memory) and the message and link shown for an interrupted run.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import anyio
import openpyxl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from research.cli import outcome
from research.errors import ExportError, StoreError
from research.export import to_xlsx
from research.models import DiscoveryRequest, ProgressEvent, Report, StageName
from research.store import SQLiteStore
from research.ui.resources import SESSION_JOB, export_bytes, job_manager, wait_on_loop
from tests.dashboard import loop_held
from tests.fakes.site import SiteServer
from tests.sample_report import START, load_saved, sample_report, seed

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


def saved_ids(path: Path) -> set[str]:
    """Return the run ids in the history database."""

    async def ids() -> set[str]:
        store = await SQLiteStore.open(path)
        runs = await store.list_runs()
        await store.aclose()
        return {run.run_id for run in runs}

    return anyio.run(ids)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite3"


@pytest.fixture
def runs(db: Path) -> tuple[Report, Report, Report]:
    """Two runs of example.com a month apart (topics and gaps changed) and one of another site."""
    old = sample_report(
        topics=[("Garden irrigation", 0.9), ("Lawn care", 0.5)],
        gaps=["drip irrigation", "rain barrels"],
        status="failed",
    )
    new = sample_report(
        topics=[("Garden irrigation", 0.6), ("Mulching guide", 0.4)],
        gaps=["rain barrels", "soil testing"],
        started_at=START + timedelta(days=30),
    )
    other = sample_report("https://other.org/", started_at=START + timedelta(days=1))
    seed(db, old, new, other)
    return old, new, other


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, db: Path) -> Iterator[AppTest]:
    """The dashboard on the History page with a fresh LoopRunner and the test database."""
    monkeypatch.setenv("RESEARCH_ALLOW_PRIVATE_HOSTS", "1")
    monkeypatch.setenv("RESEARCH_DB", str(db))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/history.py")
    yield at
    st.cache_resource.clear()


def table_ids(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Run ID"])


def open_run(at: AppTest, run_id: str) -> None:
    box = next(s for s in at.selectbox if s.label == "Open run")
    box.set_value(run_id).run()


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


DOWNLOADS = ["Download Excel", "Download JSON", "Download Markdown"]


def downloads(at: AppTest) -> list[str]:
    return [d.label for d in at.get("download_button")]


def test_empty_history(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert app.title[0].value == "History"
    assert "No runs yet" in app.info[0].value


def test_lists_runs_newest_first_with_their_columns(
    app: AppTest, runs: tuple[Report, Report, Report]
) -> None:
    old, new, other = runs
    app.run()
    assert not app.exception
    table = app.dataframe[0].value
    assert list(table.columns) == [
        "Site", "Started (UTC)", "Status", "Engine", "Duration (s)", "Topics", "Run ID",
    ]  # fmt: skip
    assert list(table["Run ID"]) == [new.run_id, other.run_id, old.run_id]
    assert list(table["Status"]) == ["completed", "completed", "failed"]
    assert list(table["Topics"]) == [2, 2, 2]
    assert list(table["Duration (s)"]) == [42.5, 42.5, 42.5]


def test_filters_by_site_and_status(app: AppTest, runs: tuple[Report, Report, Report]) -> None:
    old, new, _ = runs
    app.run()
    next(s for s in app.selectbox if s.label == "Site").set_value("example.com").run()
    assert table_ids(app) == [new.run_id, old.run_id]
    next(s for s in app.selectbox if s.label == "Status").set_value("failed").run()
    assert table_ids(app) == [old.run_id]
    next(s for s in app.selectbox if s.label == "Site").set_value("other.org").run()
    assert not app.exception
    assert "No runs match" in app.info[0].value


def test_open_a_run_shows_result_tabs_and_resume_only_when_resumable(
    app: AppTest, runs: tuple[Report, Report, Report]
) -> None:
    old, new, _ = runs
    app.run()
    open_run(app, new.run_id)
    assert not app.exception
    assert app.query_params["run"] == new.run_id
    assert [t.label for t in app.tabs][:7] == [
        "Topics", "Keywords", "Content gaps", "Competitors", "Briefs", "Sources", "Run log",
    ]  # fmt: skip
    labels = [b.label for b in app.button]
    assert "Delete run" in labels and "Resume" not in labels
    assert downloads(app) == DOWNLOADS
    # the result tables carry the workbook's column names, sheet by sheet
    shown = {tuple(d.value.columns) for d in app.dataframe}
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(new)), read_only=True)
    for sheet in ("Topics", "Keywords", "Content Gaps", "Competitors", "Sources", "Run Log"):
        header = next(book[sheet].iter_rows(max_row=1, values_only=True))
        assert tuple(header) in shown, (sheet, header, shown)
    open_run(app, old.run_id)
    assert app.query_params["run"] == old.run_id
    assert "Resume" in [b.label for b in app.button]


def test_deep_link_opens_the_run(app: AppTest, runs: tuple[Report, Report, Report]) -> None:
    _, _, other = runs
    app.query_params["run"] = other.run_id
    app.run()
    assert not app.exception
    assert any("https://other.org/" in h.value for h in app.subheader)
    assert "Topics" in [t.label for t in app.tabs]
    box = next(s for s in app.selectbox if s.label == "Open run")
    assert box.value == other.run_id


def test_deep_link_to_a_missing_run_warns(app: AppTest) -> None:
    app.query_params["run"] = "deadbeef0000"
    app.run()
    assert not app.exception
    assert "deadbeef0000 was not found" in app.warning[0].value


def test_delete_asks_for_confirmation(
    app: AppTest, db: Path, runs: tuple[Report, Report, Report]
) -> None:
    old, new, other = runs
    app.query_params["run"] = other.run_id
    app.run()
    button(app, "Delete run").click().run()
    assert "for good?" in app.warning[0].value
    button(app, "Keep it").click().run()
    assert other.run_id in saved_ids(db)
    assert not app.warning
    button(app, "Delete run").click().run()
    button(app, "Yes, delete it").click().run()
    assert not app.exception
    assert saved_ids(db) == {old.run_id, new.run_id}
    assert "run" not in app.query_params
    assert other.run_id not in table_ids(app)


def test_compare_two_runs_of_a_site(app: AppTest, runs: tuple[Report, Report, Report]) -> None:
    old, new, other = runs
    app.query_params["run"] = new.run_id
    app.run()
    compare = next(s for s in app.selectbox if s.label == "Compare with")
    assert compare.options and all(other.run_id not in o for o in compare.options)
    compare.set_value(old.run_id).run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {
        "New topics": "1",
        "Gone topics": "1",
        "Score changed": "1",
        "New gaps": "1",
        "Gone gaps": "1",
    }
    tables = [d.value for d in app.dataframe]
    topics = {title for t in tables if "Topic" in t.columns for title in t["Topic"]}
    assert {"Mulching guide", "Lawn care", "Garden irrigation"} <= topics
    keywords = {k for t in tables if "Keyword" in t.columns for k in t["Keyword"]}
    assert {"soil testing", "drip irrigation"} <= keywords


def test_resume_continues_a_stopped_run_as_one_run_without_refetching(
    app: AppTest, db: Path, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    site.hold_paths(lambda path: path == "/pricing")
    jobs = job_manager()
    first = jobs.get(jobs.start(DiscoveryRequest(url=site.url, competitors=[rival.url])))
    assert first is not None

    def cancel_at_stage_three(event: ProgressEvent) -> None:
        if event.stage == StageName.KEYWORDS:
            first.cancel()

    first.tracker.listeners.append(cancel_at_stage_three)
    site.gate.set()
    assert first.wait(60)
    stopped = first.snapshot()
    assert stopped.status == "cancelled"
    statuses = [stopped.stages[stage].status for stage in StageName]
    assert statuses[:2] == ["done", "done"] and "done" not in statuses[2:]
    assert load_saved(db, stopped.run_id) == stopped  # saved as it was cancelled
    fetched = (list(site.requests), list(rival.requests))

    app.query_params["run"] = stopped.run_id
    app.run()
    button(app, "Resume").click().run()
    assert not app.exception
    assert app.title[0].value == "Discover Topics"
    assert app.session_state[SESSION_JOB] == stopped.run_id
    assert app.query_params["run"] == stopped.run_id  # a reload finds the resumed run
    job = jobs.get(stopped.run_id)
    assert job is not None and job is not first and job.wait(60)
    report = job.snapshot()
    assert report.status == "completed", report.errors
    assert all(state.status == "done" for state in report.stages.values())
    assert report.site == stopped.site and report.topics and report.briefs
    assert (list(site.requests), list(rival.requests)) == fetched  # stages 1-2 reused
    messages = [event.message for event in report.log]
    assert messages[: len(stopped.log)] == [event.message for event in stopped.log]
    assert "Resumed; continuing from Keywords & gaps" in messages[len(stopped.log) :]
    assert saved_ids(db) == {stopped.run_id}  # one run, not a second one
    app.run()
    assert not app.exception
    assert app.success and "completed" in app.success[0].value
    assert downloads(app) == DOWNLOADS


def test_discover_deep_link_opens_a_saved_run_after_a_restart(
    app: AppTest, runs: tuple[Report, Report, Report]
) -> None:
    _, new, _ = runs
    st.cache_resource.clear()  # a new server process: no job in memory, only the history
    page = AppTest.from_file(APP, default_timeout=30)
    page.query_params["run"] = new.run_id
    page.run()
    assert not page.exception
    assert page.title[0].value == "Discover Topics"
    assert any("https://example.com/" in h.value for h in page.subheader)
    assert "Topics" in [t.label for t in page.tabs]
    assert page.success and "completed" in page.success[0].value
    assert downloads(page) == DOWNLOADS
    assert page.query_params["run"] == new.run_id


def interrupted_run(db: Path) -> Report:
    """Save a run whose process died after stages 1 and 2."""
    report = sample_report(status="interrupted")
    for stage in (StageName.KEYWORDS, StageName.TOPICS, StageName.BRIEFS):
        report.stages[stage].status = "pending"
    report.stages[StageName.KEYWORDS].status = "cancelled"
    report.errors = ["An earlier problem that was not the interruption."]
    seed(db, report)
    return report


def test_an_interrupted_run_says_what_it_kept_on_both_pages_and_in_the_cli(
    app: AppTest, db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = interrupted_run(db)
    app.query_params["run"] = report.run_id
    app.run()
    assert not app.exception
    [error] = [e.value for e in app.error]
    assert error.startswith("Run interrupted: the process running it stopped")
    assert "Saved: Site analysis, Competitors (2 of 5 stages completed)" in error
    assert "continues from Keywords & gaps without redoing" in error
    assert "earlier problem" not in error
    assert "Resume" in [b.label for b in app.button]
    capsys.readouterr()
    assert outcome(load_saved(db, report.run_id)) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"error: {error}"

    page = AppTest.from_file(APP, default_timeout=30)
    page.query_params["run"] = report.run_id
    page.run()
    assert not page.exception
    assert [e.value for e in page.error] == [error]
    [link] = page.get("page_link")
    assert link.proto.page == "history" and link.proto.query_string == f"run={report.run_id}"
    assert downloads(page) == DOWNLOADS


def test_a_run_live_in_another_process_cannot_be_resumed_or_deleted(app: AppTest, db: Path) -> None:
    running = sample_report(status="running")  # saved by this live test process
    seed(db, running)
    app.query_params["run"] = running.run_id
    app.run()
    assert not app.exception
    assert "Resume" not in [b.label for b in app.button]
    assert button(app, "Delete run").disabled
    assert any("another process" in c.value for c in app.caption)


def test_a_history_that_cannot_be_read_is_one_sentence(app: AppTest, db: Path) -> None:
    seed(db, sample_report())
    with closing(sqlite3.connect(db)) as conn:  # written by a newer release
        conn.execute("PRAGMA user_version = 999")
    st.cache_resource.clear()  # the dashboard starts again on that history
    app.run()
    assert not app.exception
    [error] = [e.value for e in app.error]
    assert error.startswith(f"The run history at {db} ") and "newer" in error
    assert not app.dataframe


def test_an_export_slow_to_build_is_one_sentence(app: AppTest) -> None:
    with loop_held(), pytest.raises(ExportError) as slow:
        export_bytes(sample_report(), "xlsx", seconds=0.01)
    assert str(slow.value) == (
        "The xlsx export took longer than 0.01 s to build; try again in a moment."
    )


def test_a_loop_call_past_its_wait_is_cancelled_and_raises_the_given_sentence(
    app: AppTest,
) -> None:
    cancelled = threading.Event()

    async def never() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(StoreError, match=r"^Too slow\.$"):
        wait_on_loop(never(), 0.01, StoreError("Too slow."))
    assert cancelled.wait(30)


def test_a_saved_brief_shows_its_spec_sheet_and_marks_unverified_quotes(
    app: AppTest, runs: tuple[Report, Report, Report]
) -> None:
    _, new, _ = runs
    app.run()
    open_run(app, new.run_id)
    assert not app.exception
    markdown = [m.value for m in app.markdown]
    must = next(m for m in markdown if m.startswith("**Must cover**"))
    assert "- [ ] Garden irrigation costs — 1 competitor (rival.test), 2 pages" in must

    sheets = [m for m in markdown if m.startswith("**Spec sheet**")]
    assert len(sheets) == 2
    assert "- **Target length:** 800–1,200 words (4 competitor pages)" in sheets[0]
    assert "- **Intent:** commercial" in sheets[0] and "- **Action:** refresh /p0" in sheets[0]
    assert "- **Action:** write a new piece" in sheets[1]
    assert "**Differentiators**\n- tools — 1 competitor (rival.test), 1 pages" in markdown
    assert "**Questions to answer**\n- What is garden irrigation?" in markdown
    assert "**Links out**\n- https://example.com/p0" in markdown
    links = [d.value for d in app.dataframe if list(d.value.columns) == ["From", "Anchor"]]
    assert len(links) == 2  # one internal-links table per brief: from which page, which anchor
    assert list(links[0].itertuples(index=False, name=None)) == [
        ("https://example.com/", "garden irrigation")
    ]
    quotes = [m for m in markdown if m.startswith("> ")]
    assert len(quotes) == 6 and sum("unverified" in m for m in quotes) == 2
