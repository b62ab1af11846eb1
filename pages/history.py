"""History: past runs from the store; open, resume, delete and compare them."""

from typing import get_args

import streamlit as st

from research.errors import ResearchError
from research.models import RESUMABLE_STATUSES, Report, RunComparison, RunStatus, RunSummary
from research.ui.report_view import open_saved_run, render_results, render_stages
from research.ui.resources import SESSION_JOB
from research.ui.review_view import render_paused_links, render_review
from research.ui.run_history import (
    changes_table,
    compare,
    delete_run,
    filter_runs,
    gaps_tables,
    list_history,
    other_runs,
    resume_run,
    run_activity,
    run_label,
    runs_table,
    topic_table,
)

STATUSES = get_args(RunStatus)
ALL_SITES, ALL_STATUSES = "All sites", "All statuses"
CONFIRM_DELETE = "history_confirm_delete"


def open_run(run_id: str | None) -> None:
    """Make `run_id` the open run (kept in the URL so a reload finds it)."""
    if run_id:
        st.query_params["run"] = run_id
    else:
        st.query_params.pop("run", None)
    st.session_state.pop(CONFIRM_DELETE, None)


def render_actions(report: Report) -> None:
    """Resume and delete (with confirmation) for the open run."""
    here, live = run_activity(report)
    resume_col, delete_col, _ = st.columns([1, 1, 4])
    if report.status in RESUMABLE_STATUSES and not live:
        if resume_col.button(
            "Resume", type="primary", help="Continue from the first unfinished stage"
        ):
            try:
                job_id = resume_run(report.run_id)
            except ResearchError as exc:
                st.error(str(exc))
            else:
                st.session_state[SESSION_JOB] = job_id
                st.switch_page("pages/discover.py", query_params={"run": job_id})
    if here:
        resume_col.caption("Running now: follow it on Discover Topics.")
    elif live:
        resume_col.caption("Running in another process; reload to see its progress.")
    if delete_col.button("Delete run", disabled=live):
        st.session_state[CONFIRM_DELETE] = report.run_id
    if st.session_state.get(CONFIRM_DELETE) == report.run_id:
        st.warning(f"Delete the run of {report.request.url} ({report.run_id}) for good?")
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button("Yes, delete it", type="primary"):
            try:
                delete_run(report.run_id)
            except ResearchError as exc:
                st.error(str(exc))
            else:
                open_run(None)
                st.toast(f"Run {report.run_id} deleted.")
                st.rerun()
        if no.button("Keep it"):
            st.session_state.pop(CONFIRM_DELETE, None)
            st.rerun()


def render_comparison(result: RunComparison) -> None:
    """Show what changed between two runs: topics new, gone, rescored; gaps new and gone."""
    counts = st.columns(5)
    counts[0].metric("New topics", len(result.new_topics))
    counts[1].metric("Gone topics", len(result.gone_topics))
    counts[2].metric("Score changed", len(result.changed_topics))
    counts[3].metric("New gaps", len(result.new_gaps))
    counts[4].metric("Gone gaps", len(result.gone_gaps))
    st.caption(
        f"From run {result.old_run_id} to run {result.new_run_id}; "
        f"{result.unchanged_topics} topics unchanged."
    )
    if result.new_topics:
        st.markdown("**New topics**")
        st.dataframe(topic_table(result.new_topics), hide_index=True)
    if result.gone_topics:
        st.markdown("**Gone topics**")
        st.dataframe(topic_table(result.gone_topics), hide_index=True)
    if result.changed_topics:
        st.markdown("**Score changed**")
        st.dataframe(changes_table(result), hide_index=True)
    for title, table in gaps_tables(result):
        st.markdown(f"**{title}**")
        st.dataframe(table, hide_index=True)


def render_compare(report: Report, runs: list[RunSummary]) -> None:
    """Pick another run of the same site and show the differences."""
    others = other_runs(runs, report)
    st.subheader("Compare with another run")
    if not others:
        st.caption("This is the only run of this site; run it again later to compare.")
        return
    by_id = {r.run_id: r for r in others}
    other_id = st.selectbox(
        "Compare with",
        list(by_id),
        index=None,
        format_func=lambda run_id: run_label(by_id[run_id]),
        placeholder="Choose another run of this site",
        key=f"compare-{report.run_id}",
    )
    if other_id and (other := open_saved_run(other_id)) is not None:
        render_comparison(compare(report, other))


st.title("History")
st.caption("Every run is saved as it goes. Open one to see its results, resume it, or compare it.")

try:
    everything = list_history()
except ResearchError as exc:
    st.error(str(exc))
    st.stop()
site_col, status_col = st.columns(2)
site = site_col.selectbox("Site", [ALL_SITES, *sorted({r.domain for r in everything})])
status = status_col.selectbox("Status", [ALL_STATUSES, *STATUSES])
runs = filter_runs(
    everything,
    domain=None if site == ALL_SITES else site,
    status=None if status == ALL_STATUSES else status,
)

if not everything:
    st.info("No runs yet. Start one on Discover Topics.")
elif not runs:
    st.info("No runs match these filters.")
else:
    st.dataframe(runs_table(runs), hide_index=True)
render_paused_links(everything)

requested = st.query_params.get("run")
known = {r.run_id: r for r in everything}
choices = [r.run_id for r in runs]
if requested and requested not in choices:
    choices.insert(0, requested)  # a deep link opens its run whatever the filters say
if choices:
    st.selectbox(
        "Open run",
        choices,
        index=choices.index(requested) if requested in choices else None,
        format_func=lambda run_id: run_label(known[run_id]) if run_id in known else run_id,
        placeholder="Choose a run to open",
        key=f"open-run-{requested}",
        on_change=lambda: open_run(st.session_state.get(f"open-run-{requested}")),
    )

if requested and (report := open_saved_run(requested)) is not None:
    st.divider()
    st.subheader(f"{report.request.url} · {report.started_at:%Y-%m-%d %H:%M} UTC")
    render_actions(report)
    render_stages(report)
    render_review(report, key="history")
    render_results(report, key=f"history-{report.run_id}")
    render_compare(report, everything)
