"""The review form of a paused run (competitors, then topics), and History's links to it."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from research.errors import ResearchError
from research.models import Report, ReviewEdits, RunSummary
from research.review import continue_paused
from research.ui.queueing import enqueue_claimed, queue_enabled
from research.ui.resources import SESSION_JOB, job_manager, loop_runner, session_key

REVIEW_CHECKBOX = "Review competitors and topics before briefs"
KEEP, TITLE, KEYWORDS, SCORE = "Keep", "Title", "Keywords", "Score"


def competitor_edits(report: Report, kept: dict[str, bool], added: str) -> ReviewEdits:
    """The edits of the competitors form: unticked ones dropped, one added URL a line."""
    return ReviewEdits(
        drop_competitors=[url for url, keep in kept.items() if not keep],
        add_competitors=[line.strip() for line in added.splitlines() if line.strip()],
    )


def topics_table(report: Report) -> pd.DataFrame:
    """The paused run's topics as the editable table shows them."""
    return pd.DataFrame(
        [
            {KEEP: True, TITLE: t.title, KEYWORDS: ", ".join(t.keywords), SCORE: round(t.score, 3)}
            for t in report.topics
        ]
    )


def topic_edits(report: Report, table: pd.DataFrame) -> ReviewEdits:
    """The edits of the topics table, row N being topic N: unkept dropped, changes kept."""
    edits = ReviewEdits()
    for number, (topic, row) in enumerate(
        zip(report.topics, table.to_dict("records"), strict=True), 1
    ):
        if not row[KEEP]:
            edits.drop_topics.append(number)
        if str(row[TITLE] or "").strip() != topic.title:
            edits.rename_topics[number] = str(row[TITLE] or "")
        words = [w.strip() for w in str(row[KEYWORDS] or "").split(",") if w.strip()]
        if words != topic.keywords:
            edits.topic_keywords[number] = words
    return edits


def _continue(report: Report, edits: ReviewEdits | None) -> None:
    """Continue the paused run with `edits` and follow it on Discover Topics."""
    try:
        if queue_enabled():  # the workers run the rest
            store = loop_runner().services().store
            job_id = enqueue_claimed(continue_paused(store, report.run_id, edits))
        else:
            job_id = job_manager().continue_review(report.run_id, edits, api_key=session_key())
    except ResearchError as exc:
        st.error(str(exc))
        return
    st.session_state[SESSION_JOB] = job_id
    st.switch_page("pages/discover.py", query_params={"run": job_id})


def _competitors_form(report: Report, key: str) -> ReviewEdits:
    st.markdown("Untick the competitors that are not yours; add the ones the crawl missed.")
    kept = {}
    for competitor in report.competitors:
        pages = len(competitor.analysis.pages) if competitor.analysis else 0
        label = f"{competitor.domain} · found by {competitor.source} · {pages} pages analysed"
        kept[competitor.url] = st.checkbox(label, value=True, key=f"{key}-keep-{competitor.url}")
    added = st.text_area(
        "Add competitor URLs", placeholder="One URL per line", key=f"{key}-add-competitors"
    )
    return competitor_edits(report, kept, added)


def _topics_form(report: Report, key: str) -> ReviewEdits:
    st.markdown(
        "Untick topics to drop them, rename them and edit their keywords (comma-separated)."
    )
    table = st.data_editor(
        topics_table(report),
        key=f"{key}-topics-table",
        hide_index=True,
        num_rows="fixed",
        disabled=[SCORE],
        column_config={KEEP: st.column_config.CheckboxColumn(KEEP)},
    )
    return topic_edits(report, table)


def render_review(report: Report, key: str) -> None:
    """Show the review form of a run waiting for review (nothing for any other run)."""
    if report.status != "awaiting_review" or report.review_point is None:
        return
    key = f"{key}-review-{report.run_id}-{report.review_point}"
    with st.container(border=True):
        st.subheader(f"Review the {report.review_point}")
        try:
            if report.review_point == "competitors":
                edits = _competitors_form(report, key)
            else:
                edits = _topics_form(report, key)
        except ResearchError as exc:
            st.error(str(exc))
            edits = None
        go, skip, stop, _ = st.columns([1, 1, 1, 3])
        if go.button("Continue", type="primary", key=f"{key}-continue", disabled=edits is None):
            _continue(report, edits)
        if skip.button("Skip review", key=f"{key}-skip", help="Continue with no changes"):
            _continue(report, None)
        if stop.button("Cancel run", key=f"{key}-cancel"):
            try:
                job_manager().cancel_review(report.run_id)
            except ResearchError as exc:
                st.error(str(exc))
            else:
                st.rerun()


def render_paused_links(runs: list[RunSummary]) -> None:
    """List the runs waiting for review, each linking straight to its review form."""
    paused = [run for run in runs if run.status == "awaiting_review"]
    if not paused:
        return
    st.markdown(f"**Waiting for your review ({len(paused)})**")
    for run in paused:
        st.page_link(
            "pages/discover.py",
            label=f"Review {run.domain} · {run.started_at:%Y-%m-%d %H:%M} · {run.run_id}",
            icon=":material/rate_review:",
            query_params={"run": run.run_id},
        )
