"""Rendering a report: live stage panel, result tabs and downloads (shared by the pages)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pandas as pd
import streamlit as st

from research.errors import ResearchError
from research.export import USAGE_COLUMNS, sheet_table, usage_rows
from research.models import Report, StageName
from research.outcome import outcome_message
from research.text.keyphrases import why_few_gaps
from research.ui.grade_view import render_grade
from research.ui.resources import export_bytes, load_report

STATUS_ICONS = {
    "pending": ":material/schedule:",
    "running": ":material/progress_activity:",
    "done": ":material/check_circle:",
    "failed": ":material/error:",
    "skipped": ":material/skip_next:",
    "cancelled": ":material/cancel:",
}
RECENT_EVENTS = 4
EXPORTS = [
    ("Download Excel", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ("Download JSON", "json", "application/json"),
    ("Download Markdown", "md", "text/markdown"),
]


def open_saved_run(run_id: str) -> Report | None:
    """Return the run's report, or show in one line why it cannot be opened and return None."""
    try:
        report = load_report(run_id)
    except ResearchError as exc:
        st.error(str(exc))
        return None
    if report is None:
        st.warning(f"Run {run_id} was not found; it may have been deleted.")
    return report


def render_stages(report: Report) -> None:
    """Show the five stages with their state, counts and detail, and the latest log lines."""
    finished = sum(1 for state in report.stages.values() if state.status in ("done", "skipped"))
    current = report.current_stage
    if not report.finished:
        label = f"{current.label}…" if current else "Starting…"
        if report.status == "awaiting_review":
            label = f"Waiting for your review of the {report.review_point}"
        st.progress(finished / len(StageName), text=label)
    columns = st.columns(len(StageName))
    for column, stage in zip(columns, StageName, strict=True):
        state = report.stages[stage]
        with column.container(border=True):
            st.markdown(f"{STATUS_ICONS.get(state.status, '')} **{stage.label}**")
            st.caption(state.status + (f" · {state.detail}" if state.detail else ""))
    no_gaps = [] if report.gaps else few_gaps_reasons(report)
    for sentence in dict.fromkeys([*thin_sites(report), *no_gaps]):
        st.warning(sentence, icon=":material/warning:")
    drafts = [brief for brief in report.briefs if brief.text and not brief.outline]
    for brief in drafts:
        with st.expander(f"Writing: {brief.topic}", expanded=True):
            st.markdown(brief.text)
    for event in report.log[-RECENT_EVENTS:]:
        mark = {"warning": ":material/warning: ", "error": ":material/error: "}.get(event.level, "")
        st.caption(f"{event.at:%H:%M:%S} {mark}{event.message}")


def render_status(report: Report) -> None:
    """Show the run's outcome in one line."""
    message = outcome_message(report)
    if report.status == "completed":
        st.success(message)
    elif report.status == "cancelled":
        st.warning(message)
    elif report.status in ("interrupted", "failed"):
        st.error(message)
    warnings = [e.message for e in report.log if e.level == "warning"]
    if warnings:
        noun = "warning" if len(warnings) == 1 else "warnings"
        st.caption(f"{len(warnings)} {noun}; see the Run log tab.")


def show_sheet(report: Report, title: str) -> None:
    """Show one workbook sheet as a table, with the workbook's column names and URLs as links."""
    columns, rows = sheet_table(report, title)
    frame = pd.DataFrame([list(row) for row in rows], columns=[c.header for c in columns])
    links = {c.header: st.column_config.LinkColumn(c.header) for c in columns if c.kind == "url"}
    st.dataframe(frame, hide_index=True, column_config=links)


def render_topics(report: Report, key: str) -> None:
    """The Topics tab: why it is thin (if it is), a chart of the topics, then the Topics sheet."""
    reasons = few_gaps_reasons(report)
    if reasons and not report.gaps:
        lead = "No competitor gaps to work from" + (
            ", so these topics come from subjects your site mentions in passing or treats "
            "on only one or two pages."
            if report.topics
            else "."
        )
        st.info(" ".join([lead, *reasons]))
    if not report.topics:
        st.info("No topics yet.")
        return
    render_topic_chart(report)
    show_sheet(report, "Topics")


def render_gaps(report: Report, key: str) -> None:
    """The Content gaps tab: why there are few (if so), then the Content Gaps sheet."""
    for reason in few_gaps_reasons(report):
        st.info(reason)
    show_sheet(report, "Content Gaps")


def render_briefs(report: Report, key: str) -> None:
    """The Briefs tab: per brief its summary, outline, questions, evidence and a draft grader."""
    if not report.briefs:
        st.info("No briefs yet.")
    for number, brief in enumerate(report.briefs, start=1):
        with st.expander(brief.topic):
            if brief.summary:
                st.write(brief.summary)
            if brief.outline:
                st.markdown("**Outline**\n" + "\n".join(f"1. {h}" for h in brief.outline))
            if brief.questions:
                st.markdown("**Questions**\n" + "\n".join(f"- {q}" for q in brief.questions))
            for passage in brief.passages:
                st.markdown(
                    f"> {passage.text}\n\n— [{passage.title or passage.url}]({passage.url})"
                )
            if brief.text and not brief.outline:
                st.markdown(brief.text)
            render_grade(report, number, key)


def render_usage(report: Report) -> None:
    """Model usage in total and by stage, when a model was used."""
    if not report.usage:
        return
    totals = report.usage_totals
    st.caption(f"Model usage: {totals.tokens:,} tokens, about ${totals.cost_usd:.4f}.")
    with st.expander("Model usage by stage"):
        headers = [c.header for c in USAGE_COLUMNS]
        st.dataframe(pd.DataFrame(usage_rows(report), columns=headers), hide_index=True)


def thin_sites(report: Report) -> list[str]:
    """The sentences of the run's sites that yielded little readable text."""
    analyses = [report.site, *(c.analysis for c in report.competitors)]
    return [a.thin for a in analyses if a is not None and a.thin]


def few_gaps_reasons(report: Report) -> list[str]:
    """Why a finished run has few or no content gaps (none while it runs or when it has enough)."""
    if not report.finished or report.stages[StageName.KEYWORDS].status != "done":
        return []
    analysed = [c.analysis for c in report.competitors if c.analysis is not None]
    missing = [c.domain for c in report.competitors if c.source == "user" and c.analysis is None]
    return why_few_gaps(report.site, analysed, len(report.gaps), missing)


def render_topic_chart(report: Report) -> None:
    """Chart the topics: score against competitor coverage, or score alone without coverage."""
    rows = [
        {"topic": t.title, "score": t.score, "competitor coverage": t.competitor_coverage}
        for t in report.topics
    ]
    if any(t.competitor_coverage for t in report.topics):
        st.scatter_chart(
            pd.DataFrame(rows), x="competitor coverage", y="score", color="topic", height=260
        )
    else:  # every point would sit at coverage 0: rank the topics by score instead
        st.bar_chart(pd.DataFrame(rows), x="topic", y="score", horizontal=True, sort="-score")


# Each result tab and what fills it: a workbook sheet by title, or a renderer of its own.
RESULT_TABS: dict[str, str | Callable[[Report, str], None]] = {
    "Topics": render_topics,
    "Keywords": "Keywords",
    "Content gaps": render_gaps,
    "Competitors": "Competitors",
    "Briefs": render_briefs,
    "Sources": "Sources",
    "Run log": "Run Log",
}


def render_results(report: Report, key: str = "results") -> None:
    """Show the result tabs and the download buttons for a report."""
    render_status(report)
    for tab, content in zip(st.tabs(list(RESULT_TABS)), RESULT_TABS.values(), strict=True):
        with tab:
            if isinstance(content, str):
                show_sheet(report, content)
            else:
                content(report, key)
    render_usage(report)
    render_downloads(report, key)


def render_downloads(report: Report, key: str) -> None:
    """Show Excel, JSON and Markdown download buttons (built on click, off the loop)."""
    stem = f"research-{report.site.domain if report.site else 'run'}-{report.run_id}".replace(
        ":", "_"
    )
    columns = st.columns(len(EXPORTS))
    for column, (label, fmt, mime) in zip(columns, EXPORTS, strict=True):
        with column:
            st.download_button(
                label,
                data=partial(export_bytes, report, fmt),
                file_name=f"{stem}.{fmt}",
                mime=mime,
                key=f"{key}-{fmt}",
                on_click="ignore",
            )
