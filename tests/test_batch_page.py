"""The Batch page in AppTest: start a batch from a pasted list, follow it, cancel, open, export."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from research.errors import ExportError
from research.ui.batches import batch_workbook
from tests.dashboard import loop_held, max_pages_bounds
from tests.fakes.site import SiteServer

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")
COLUMNS = ["Site", "Status", "Current stage", "Topics", "Started (UTC)", "Duration (s)", "Run ID"]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AppTest]:
    """The dashboard on the Batch page with a fresh LoopRunner and an empty history."""
    monkeypatch.setenv("RESEARCH_ALLOW_PRIVATE_HOSTS", "1")
    monkeypatch.setenv("RESEARCH_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/batch.py")
    at.run()
    yield at
    st.cache_resource.clear()


def start(at: AppTest, listing: str, max_pages: int = 5) -> None:
    at.text_area[0].input(listing)
    at.number_input[0].set_value(max_pages)
    next(b for b in at.button if b.label == "Start batch").click()
    at.run()


def statuses(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Status"]) if at.dataframe else []


def until(at: AppTest, done: Callable[[], bool], seconds: float = 120) -> None:
    """Re-run the page (as the fragment's timer would) until `done()` holds."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"page never got there: {statuses(at)}"
        at.run()


def test_the_page_lays_out_its_form(app: AppTest) -> None:
    assert not app.exception
    assert app.title[0].value == "Batch"
    assert [s.label for s in app.selectbox] == ["Engine"]
    assert app.selectbox[0].options == ["auto", "local", "gemini"]
    assert app.get("file_uploader")
    # The page's bounds and default are the request model's, as on Discover.
    [pages] = app.number_input
    assert (pages.min, pages.max, pages.value) == max_pages_bounds()


def test_a_list_with_no_valid_line_starts_nothing(app: AppTest) -> None:
    start(app, "# nothing here\nftp://bad.example\n")
    assert not app.exception
    assert app.warning[0].value.startswith("line 2: ")
    assert app.error[0].value == "The list has no valid site line."
    assert "batch" not in app.query_params


def test_a_batch_runs_live_and_exports_one_workbook(
    app: AppTest, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    start(app, f"{site.url} {rival.url}\nnot a url\n{rival.url}\n")
    assert not app.exception
    assert app.warning[0].value.startswith("line 2: ")
    batch_id = app.query_params["batch"]
    table = app.dataframe[0].value
    assert list(table.columns) == COLUMNS
    assert list(table["Site"]) == [site.url, rival.url]
    until(app, lambda: statuses(app) == ["completed", "completed"])
    assert not app.exception
    assert app.subheader[0].value == f"Batch {batch_id}: 2 of 2 completed"
    assert all(n > 0 for n in app.dataframe[0].value["Topics"])
    assert [d.label for d in app.get("download_button")] == ["Download combined workbook"]
    workbook = openpyxl.load_workbook(io.BytesIO(batch_workbook(batch_id)))
    rows = list(workbook["Summary"].iter_rows(values_only=True))
    assert [row[:2] for row in rows[1:]] == [(site.url, "completed"), (rival.url, "completed")]
    first = app.dataframe[0].value["Run ID"][0]
    next(b for b in app.button if b.label == "Open run").click()
    app.run()
    assert not app.exception
    assert app.title[0].value == "History"
    assert app.query_params["run"] == first


def test_a_workbook_slow_to_build_is_one_sentence(app: AppTest) -> None:
    with loop_held(), pytest.raises(ExportError) as slow:
        batch_workbook("no-such-batch", seconds=0.01)
    assert str(slow.value) == (
        "The batch workbook took longer than 0.01 s to build; try again in a moment, "
        "or export its runs one by one."
    )


def test_cancel_batch_stops_every_run(app: AppTest, sites: tuple[SiteServer, SiteServer]) -> None:
    site, _ = sites
    site.hold_paths(lambda path: path != "/robots.txt")
    start(app, f"{site.url}\n{site.url}\n")
    assert site.held.wait(60)
    assert any(s in ("running", "queued") for s in statuses(app))
    next(b for b in app.button if b.label == "Cancel batch").click()
    app.run()
    until(app, lambda: statuses(app) == ["cancelled", "cancelled"], seconds=30)
    site.gate.set()
    assert not app.exception
    assert next(b for b in app.button if b.label == "Cancel batch").disabled
