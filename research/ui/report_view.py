"""Rendering a report: live stage panel, result tabs and downloads (shared by the pages)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from urllib.parse import urlsplit

import altair as alt
import pandas as pd
import streamlit as st

from research.engines.local.plan import topic_clusters
from research.errors import ResearchError
from research.models import Brief, Report, StageName, SubtopicCoverage, Topic
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


def render_results(report: Report, key: str = "results") -> None:
    """Show the result tabs and the download buttons for a report."""
    render_status(report)
    tabs = st.tabs(RESULT_TABS)
    with tabs[0]:
        if report.topics:
            render_topical_map(report)
            st.dataframe(
                _frame(
                    [
                        {
                            "Topic": t.title,
                            "Score": round(t.score, 3),
                            "Keywords": ", ".join(t.keywords),
                            "Why": t.reason,
                            "Competitors": t.competitor_coverage,
                            "Intent": t.intent,
                            "Action": t.action,
                            "Overlapping page": t.overlaps[0].url if t.overlaps else "",
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
        topics = {topic.title: topic for topic in report.topics}
        for brief in report.briefs:
            with st.expander(brief.topic):
                render_brief(brief, topics.get(brief.topic))
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
    base = alt.Chart(_frame(rows)).encode(
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
            _frame([{"From": x.from_url, "Anchor": x.anchor} for x in brief.internal_links]),
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
