"""Rendering a report: live stage panel, result tabs and downloads (shared by the pages)."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from research.errors import ResearchError
from research.models import Report, StageName
from research.text.keyphrases import why_few_gaps
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
RESULT_TABS = ["Topics", "Keywords", "Content gaps", "Competitors", "Briefs", "Sources", "Run log"]
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


def interrupted_message(report: Report) -> str:
    """Say that a run's process died, what it kept, and where a resume continues."""
    done = [stage.label for stage in StageName if report.stages[stage].status == "done"]
    redo = next((stage for stage in StageName if report.stages[stage].status != "done"), None)
    message = "Run interrupted: the process running it stopped before the run finished."
    if not done:
        return f"{message} No stage had completed; resuming starts it again."
    kept = f"Saved: {', '.join(done)} ({len(done)} of {len(StageName)} stages completed)"
    if redo is None:
        return f"{message} {kept}."
    return f"{message} {kept}; resuming continues from {redo.label} without redoing them."


def render_status(report: Report) -> None:
    """Show the run's outcome in one line."""
    duration = report.duration_seconds
    took = f" in {duration:.1f} s" if duration is not None else ""
    where = report.request.url
    if report.status == "completed":
        st.success(f"Research for {where} completed{took} ({report.engine} engine).")
    elif report.status == "cancelled":
        st.warning(f"Run cancelled{took}; the partial results below are saved.")
    elif report.status == "interrupted":
        st.error(interrupted_message(report))
    elif report.status == "failed":
        reason = report.errors[-1] if report.errors else "an unexpected error stopped it."
        st.error(f"Run failed: {reason} Partial results are kept.")
    warnings = [e.message for e in report.log if e.level == "warning"]
    if warnings:
        noun = "warning" if len(warnings) == 1 else "warnings"
        st.caption(f"{len(warnings)} {noun}; see the Run log tab.")


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


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
            _frame(rows), x="competitor coverage", y="score", color="topic", height=260
        )
    else:  # every point would sit at coverage 0: rank the topics by score instead
        st.bar_chart(_frame(rows), x="topic", y="score", horizontal=True, sort="-score")


def render_results(report: Report, key: str = "results") -> None:
    """Show the result tabs and the download buttons for a report."""
    render_status(report)
    tabs = st.tabs(RESULT_TABS)
    reasons = few_gaps_reasons(report)
    with tabs[0]:
        if reasons and not report.gaps:
            lead = "No competitor gaps to work from" + (
                ", so these topics come from subjects your site mentions in passing or treats "
                "on only one or two pages."
                if report.topics
                else "."
            )
            st.info(" ".join([lead, *reasons]))
        if report.topics:
            render_topic_chart(report)
            st.dataframe(
                _frame(
                    [
                        {
                            "Topic": t.title,
                            "Score": round(t.score, 3),
                            "Keywords": ", ".join(t.keywords),
                            "Why": t.reason,
                            "Competitors": t.competitor_coverage,
                        }
                        for t in report.topics
                    ]
                ),
                hide_index=True,
            )
        else:
            st.info("No topics yet.")
    with tabs[1]:
        st.dataframe(_frame([k.model_dump() for k in report.keywords]), hide_index=True)
    with tabs[2]:
        for reason in reasons:
            st.info(reason)
        st.dataframe(
            _frame(
                [
                    {
                        "Keyword": g.keyword,
                        "Score": round(g.score, 3),
                        "Competitors": ", ".join(g.competitors),
                        "Competitor pages": g.competitor_pages,
                        "Evidence": " ".join(g.evidence[:3]),
                    }
                    for g in report.gaps
                ]
            ),
            hide_index=True,
        )
    with tabs[3]:
        st.dataframe(
            _frame(
                [
                    {
                        "Domain": c.domain,
                        "URL": c.url,
                        "Found by": c.source,
                        "Pages analysed": len(c.analysis.pages) if c.analysis else 0,
                        "Why": c.reason,
                    }
                    for c in report.competitors
                ]
            ),
            hide_index=True,
        )
    with tabs[4]:
        if not report.briefs:
            st.info("No briefs yet.")
        for brief in report.briefs:
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
    with tabs[5]:
        st.dataframe(
            _frame([s.model_dump() for s in report.sources]),
            hide_index=True,
            column_config={"url": st.column_config.LinkColumn("URL")},
        )
    with tabs[6]:
        st.dataframe(
            _frame(
                [
                    {
                        "Time": f"{e.at:%H:%M:%S}",
                        "Stage": e.stage.label if e.stage else "",
                        "Level": e.level,
                        "Message": e.message,
                    }
                    for e in report.log
                ]
            ),
            hide_index=True,
        )
    if report.usage:
        tokens = sum(u.input_tokens + u.output_tokens for u in report.usage)
        cost = sum(u.cost_usd for u in report.usage)
        st.caption(f"Model usage: {tokens:,} tokens, about ${cost:.4f}.")
        with st.expander("Model usage by stage"):
            st.dataframe(
                _frame(
                    [
                        {
                            "Stage": u.stage.label,
                            "Engine": u.engine,
                            "Calls": u.calls,
                            "Input tokens": u.input_tokens,
                            "Output tokens": u.output_tokens,
                            "Cost (USD)": round(u.cost_usd, 4),
                        }
                        for u in report.usage
                    ]
                ),
                hide_index=True,
            )
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
