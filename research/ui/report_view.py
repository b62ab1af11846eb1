"""Rendering a report: live stage panel, result tabs and downloads (shared by the pages)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from urllib.parse import urlsplit

import altair as alt
import pandas as pd
import streamlit as st

from research.engines.local.plan import topic_clusters
from research.errors import ResearchError
from research.export import USAGE_COLUMNS, sheet_table, usage_rows
from research.models import Brief, Report, StageName, SubtopicCoverage, Topic
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


# How each ended run's outcome line is shown (a run still going, or paused, has none).
OUTCOME_STYLES = {
    "completed": st.success,
    "cancelled": st.warning,
    "interrupted": st.error,
    "failed": st.error,
}


def render_status(report: Report) -> None:
    """Show the run's outcome in one line."""
    show = OUTCOME_STYLES.get(report.status)
    if show is not None:
        show(outcome_message(report))
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
    render_topical_map(report)
    show_sheet(report, "Topics")


def render_gaps(report: Report, key: str) -> None:
    """The Content gaps tab: why there are few (if so), then the Content Gaps sheet."""
    for reason in few_gaps_reasons(report):
        st.info(reason)
    show_sheet(report, "Content Gaps")


def render_briefs(report: Report, key: str) -> None:
    """The Briefs tab: per brief its spec sheet, outline, evidence and a draft grader."""
    if not report.briefs:
        st.info("No briefs yet.")
    topics = {topic.title: topic for topic in report.topics}
    for number, brief in enumerate(report.briefs, start=1):
        with st.expander(brief.topic):
            render_brief(brief, topics.get(brief.topic))
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


MAP_COLOURS = {"new": "#2e7d32", "refresh": "#ef6c00"}
MAP_SHAPES = {
    "informational": "circle",
    "commercial": "diamond",
    "transactional": "square",
    "navigational": "triangle-up",
}


def topical_map(topics: Sequence[Topic], language: str) -> alt.LayerChart:
    """Return the topical map: topics in clusters (columns), sized by score, coloured by
    action and shaped by intent."""
    clusters = topic_clusters(topics, language)
    rows: list[dict[str, object]] = []
    placed: dict[str, int] = {}
    for topic, cluster in zip(topics, clusters, strict=True):
        placed[cluster] = placed.get(cluster, 0) + 1
        rows.append(
            {
                "cluster": cluster,
                "place": placed[cluster],
                "topic": topic.title,
                "label": topic.title if len(topic.title) <= 38 else topic.title[:36] + "…",
                "score": topic.score,
                "action": topic.action,
                "intent": topic.intent,
                "overlapping page": topic.overlaps[0].url if topic.overlaps else "",
            }
        )
    base = alt.Chart(pd.DataFrame(rows)).encode(
        x=alt.X("cluster:N", title="cluster", sort=list(dict.fromkeys(clusters))),
        y=alt.Y("place:O", title=None, axis=None),
    )
    marks = base.mark_point(filled=True, opacity=0.85).encode(
        size=alt.Size("score:Q", title="score", scale=alt.Scale(range=[150, 2200])),
        color=alt.Color(
            "action:N",
            title="action",
            scale=alt.Scale(domain=list(MAP_COLOURS), range=list(MAP_COLOURS.values())),
        ),
        shape=alt.Shape(
            "intent:N",
            title="intent",
            scale=alt.Scale(domain=list(MAP_SHAPES), range=list(MAP_SHAPES.values())),
        ),
        tooltip=["topic", "cluster", "score", "intent", "action", "overlapping page"],
    )
    labels = base.mark_text(dy=22, fontSize=11).encode(text="label:N")
    return (marks + labels).properties(height=max(220, 90 * max(placed.values())))


def render_topical_map(report: Report) -> None:
    """Show the topical map of the report's topics."""
    language = (report.site.language if report.site else None) or "en"
    st.altair_chart(topical_map(report.topics, language), width="stretch")
    st.caption(
        "Topics grouped by the words their phrases share; size is the score, colour says "
        "whether to write a new piece or refresh one of your pages, shape is the search intent."
    )


def render_spec_sheet(brief: Brief, topic: Topic | None) -> None:
    """Show a brief's spec sheet: length, must-cover checklist, differentiators, questions,
    internal links, links out, intent and action."""
    facts = []
    if brief.target_words is not None:
        words = brief.target_words
        facts.append(f"- **Target length:** {words.min:,}–{words.max:,} words ({words.basis})")
    if topic is not None:
        facts.append(f"- **Intent:** {topic.intent} — {topic.intent_reason}")
        refresh = topic.action == "refresh" and topic.overlaps
        action = f"refresh {_path(topic.overlaps[0].url)}" if refresh else "write a new piece"
        facts.append(f"- **Action:** {action}")
        if topic.competes_with:
            facts.append("- **Competes with:** " + "; ".join(topic.competes_with))
    if facts:
        st.markdown("**Spec sheet**\n" + "\n".join(facts))
    if brief.must_cover:
        st.markdown("**Must cover**\n" + "\n".join(
            f"- [ ] {item.subtopic} — {_covered_by(item)}" for item in brief.must_cover
        ))  # fmt: skip
    if brief.differentiators:
        st.markdown("**Differentiators**\n" + "\n".join(
            f"- {item.subtopic} — {_covered_by(item)}" for item in brief.differentiators
        ))  # fmt: skip
    if brief.questions:
        st.markdown("**Questions to answer**\n" + "\n".join(f"- {q}" for q in brief.questions))
    if brief.internal_links:
        st.markdown("**Internal links** (add a link to this piece)")
        st.dataframe(
            pd.DataFrame([{"From": x.from_url, "Anchor": x.anchor} for x in brief.internal_links]),
            hide_index=True,
            column_config={"From": st.column_config.LinkColumn("From")},
        )
    if brief.link_to:
        st.markdown("**Links out**\n" + "\n".join(f"- {url}" for url in brief.link_to))


def _path(url: str) -> str:
    return urlsplit(url).path or url


def _covered_by(item: SubtopicCoverage) -> str:
    n = len(item.competitors)
    return f"{n} competitor{'s' * (n != 1)} ({', '.join(item.competitors)}), {item.pages} pages"


def render_brief(brief: Brief, topic: Topic | None) -> None:
    """Show a brief: its spec sheet, then summary, outline and passages (unverified marked)."""
    render_spec_sheet(brief, topic)
    if brief.summary:
        st.write(brief.summary)
    if brief.outline:
        st.markdown("**Outline**\n" + "\n".join(f"1. {h}" for h in brief.outline))
    for passage in brief.passages:
        source = f"[{passage.title or passage.url}]({passage.url})"
        mark = "" if passage.verified else UNVERIFIED_NOTE
        st.markdown(f"> {passage.text}\n\n— {source}{mark}")
    if brief.text and not brief.outline:
        st.markdown(brief.text)


UNVERIFIED_NOTE = " · :orange[:material/warning: unverified: not found on the cited page]"


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
