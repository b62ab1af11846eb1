"""The review forms in AppTest: Discover pauses, both forms edit and continue; History's links.

Also `Grade a draft` on the Briefs tab of the finished run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from research.grade import grade_draft, parse_draft
from research.models import Report, StageName
from research.ui.resources import SESSION_JOB, job_manager
from research.ui.review_view import REVIEW_CHECKBOX
from tests.fakes.site import SiteServer
from tests.sample_report import load_saved, sample_report, seed

APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite3"


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, db: Path) -> Iterator[AppTest]:
    """The dashboard with a fresh LoopRunner, private hosts allowed and a temporary database."""
    monkeypatch.setenv("RESEARCH_ALLOW_PRIVATE_HOSTS", "1")
    monkeypatch.setenv("RESEARCH_DB", str(db))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=30)
    yield at
    st.cache_resource.clear()


def button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(b for b in at.button if b.label == label)


def paused_report(at: AppTest) -> Report:
    """Wait for the session's run to stop (at a pause or the end); rerun the page; its report."""
    job = job_manager().get(at.session_state[SESSION_JOB])
    assert job is not None
    report = job.future.result(timeout=60)
    at.run()
    assert not at.exception
    return report


def test_discover_pauses_twice_and_both_forms_edit_the_run(
    app: AppTest, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    app.run()
    app.text_input[0].input(site.url)
    app.text_area[0].input(rival.url)
    next(c for c in app.checkbox if c.label == REVIEW_CHECKBOX).check()
    button(app, "Discover Topics").click().run()
    first = paused_report(app)
    assert first.status == "awaiting_review" and first.review_point == "competitors"
    assert "Review the competitors" in [s.value for s in app.subheader]
    assert {"Continue", "Skip review", "Cancel run"} <= {b.label for b in app.button}
    boxes = [c for c in app.checkbox if c.label != REVIEW_CHECKBOX]
    assert len(boxes) == len(first.competitors) and all(c.value for c in boxes)
    next(c for c in boxes if c.label.startswith(first.competitors[0].domain)).uncheck()
    button(app, "Continue").click().run()
    assert not app.exception

    second = paused_report(app)
    assert second.review_point == "topics" and second.run_id == first.run_id
    assert first.competitors[0].url not in [c.url for c in second.competitors]
    assert "Review the topics" in [s.value for s in app.subheader]
    [editor] = app.data_editor
    assert list(editor.value.columns) == ["Keep", "Title", "Keywords", "Score"]
    assert list(editor.value["Title"]) == [t.title for t in second.topics]
    app.session_state[editor.key] = {
        "edited_rows": {0: {"Keep": False}, 1: {"Title": "Renamed by the reviewer"},
                        2: {"Keywords": "alpha, beta"}},
        "added_rows": [],
        "deleted_rows": [],
    }  # fmt: skip
    button(app, "Continue").click().run()
    assert not app.exception

    final = paused_report(app)
    assert final.status == "completed", final.errors
    assert final.topics[0].title == "Renamed by the reviewer"
    assert final.topics[1].keywords == ["alpha", "beta"]
    assert [t.title for t in final.topics[2:]] == [t.title for t in second.topics[3:]]
    assert final.briefs[0].topic == "Renamed by the reviewer"
    assert app.success and "completed" in app.success[0].value

    # Grade a draft on the Briefs tab: the brief's own outline as a draft, pasted.
    brief = final.briefs[0]
    draft = "\n\n".join(f"## {heading}\n\nAbout {heading.lower()}." for heading in brief.outline)
    app.text_area(key=f"discover-grade-{final.run_id}-1-text").input(draft)
    next(b for b in app.button if b.key == f"discover-grade-{final.run_id}-1-go").click().run()
    assert not app.exception
    [score] = [m for m in app.metric if m.label == "Draft score"]
    assert score.value.endswith("/100")
    parts = next(d.value for d in app.dataframe if "Part" in d.value.columns)
    assert list(parts["Part"]) == ["coverage", "keyphrases", "questions", "length", "headings"]
    assert "covers everything" in " ".join(c.value for c in app.caption)
    # an unrelated draft: the checklist of what it misses, in the brief's order
    unrelated = "## Tomatoes\n\nTomatoes need full sun and steady watering."
    app.text_area(key=f"discover-grade-{final.run_id}-1-text").input(unrelated)
    next(b for b in app.button if b.key == f"discover-grade-{final.run_id}-1-go").click().run()
    expected = grade_draft(final, 1, parse_draft(unrelated, "markdown")).missing
    [checklist] = [m.value for m in app.markdown if m.value.startswith("**Still missing**")]
    assert expected and [line.split(": ", 1)[1] for line in checklist.splitlines()[1:]] == [
        item.text for item in expected
    ]


def paused_saved(db: Path) -> Report:
    """A saved run of example.com paused for its competitors review, with review on."""
    report = sample_report(status="awaiting_review")
    report.request.review = True
    report.review_point = "competitors"
    report.topics, report.briefs, report.keywords, report.gaps = [], [], [], []
    report.finished_at = None
    for stage in (StageName.KEYWORDS, StageName.TOPICS, StageName.BRIEFS):
        report.stages[stage].status = "pending"
    seed(db, report)
    return report


def test_history_links_to_the_review_and_skip_and_cancel_work(app: AppTest, db: Path) -> None:
    report = paused_saved(db)
    app.run()
    app.switch_page("pages/history.py").run()
    assert not app.exception
    [link] = [p for p in app.get("page_link") if "Review example.com" in p.proto.label]
    assert link.proto.page == "discover" and link.proto.query_string == f"run={report.run_id}"

    app.query_params["run"] = report.run_id
    app.run()
    assert "Review the competitors" in [s.value for s in app.subheader]
    assert "Resume" not in [b.label for b in app.button]
    button(app, "Skip review").click().run()
    assert not app.exception
    assert app.title[0].value == "Discover Topics"
    at_topics = paused_report(app)
    assert at_topics.review_point == "topics" and at_topics.reviewed == ["competitors"]
    assert at_topics.competitors == report.competitors  # skipped: nothing changed

    button(app, "Cancel run").click().run()
    assert not app.exception
    saved = load_saved(db, report.run_id)
    assert saved.status == "cancelled" and saved.review_point is None
    assert "Review the topics" not in [s.value for s in app.subheader]
    assert any("cancelled" in w.value for w in app.warning), [w.value for w in app.warning]


def test_the_competitors_form_adds_urls_and_refuses_a_bad_one(
    app: AppTest, db: Path, sites: tuple[SiteServer, SiteServer]
) -> None:
    _, rival = sites
    report = paused_saved(db)
    app.query_params["run"] = report.run_id
    app.run()
    [added] = [t for t in app.text_area if t.label == "Add competitor URLs"]
    added.input("ftp://not-a-site.example")
    button(app, "Continue").click().run()
    assert not app.exception
    assert [e.value for e in app.error] == [
        "ftp://not-a-site.example is not a web address: only http and https URLs are fetched."
    ]
    assert load_saved(db, report.run_id).review_point == "competitors", "still paused"

    [added] = [t for t in app.text_area if t.label == "Add competitor URLs"]
    added.input(f"\n{rival.url}\n")
    button(app, "Continue").click().run()
    at_topics = paused_report(app)
    assert at_topics.review_point == "topics"
    [user] = [c for c in at_topics.competitors if c.source == "user" and c.url == rival.url]
    assert user.analysis is not None and user.analysis.pages and rival.requests


def test_grade_a_draft_refuses_a_hostile_url_and_empty_input_in_one_line(
    app: AppTest, db: Path
) -> None:
    report = sample_report()
    seed(db, report)
    app.query_params["run"] = report.run_id
    app.run()
    key = f"discover-grade-{report.run_id}-1"
    assert [b.label for b in app.button if b.key and b.key.startswith("discover-grade-")] == [
        "Grade a draft"
    ] * len(report.briefs)
    go = next(b for b in app.button if b.key == f"{key}-go")
    go.click().run()
    assert [e.value for e in app.error] == ["Paste a draft or enter its URL to grade it."]
    app.text_input(key=f"{key}-url").input("http://169.254.169.254/latest/meta-data/")
    next(b for b in app.button if b.key == f"{key}-go").click().run()
    assert not app.exception
    [error] = [e.value for e in app.error]
    assert "cloud metadata" in error and "\n" not in error
    assert not [m for m in app.metric if m.label == "Draft score"]
