"""Batch: research many sites at once; a live table, cancel, one combined workbook."""

from functools import partial

import pandas as pd
import streamlit as st

from research.errors import ResearchError
from research.models import DEFAULT_MAX_PAGES, MAX_PAGES_LIMIT, RunSummary
from research.ui.batches import (
    SESSION_BATCH,
    any_active,
    batch_runs,
    batch_workbook,
    read_sites,
    seconds_so_far,
    start_batch,
)
from research.ui.queueing import cancel

LIVE_REFRESH_SECONDS = 1.0

st.title("Batch")
st.caption(
    "One site per line, competitor URLs after it separated by spaces (# starts a comment); "
    "or upload a CSV with columns site,competitors."
)
pasted = st.text_area("Sites", placeholder="https://example.com https://rival.example")
upload = st.file_uploader("Or upload a list", type=["csv", "txt"])
left, right = st.columns(2)
max_pages = left.number_input(
    "Max pages per site", min_value=1, max_value=MAX_PAGES_LIMIT, value=DEFAULT_MAX_PAGES, step=5
)
engine = right.selectbox("Engine", ["auto", "local", "gemini"])

if st.button("Start batch", type="primary"):
    text, name = pasted, ""
    if upload is not None:
        text, name = upload.getvalue().decode("utf-8-sig", "replace"), upload.name
    sites = read_sites(text, name, int(max_pages), engine)
    for error in sites.errors:
        st.warning(error)
    try:
        batch_id = start_batch(sites)
    except ResearchError as exc:
        st.error(str(exc))
    else:
        st.session_state[SESSION_BATCH] = batch_id
        st.query_params["batch"] = batch_id

batch_id = st.query_params.get("batch") or st.session_state.get(SESSION_BATCH)


def runs_table(runs: list[RunSummary]) -> pd.DataFrame:
    """The batch's runs as the live table shows them."""
    return pd.DataFrame(
        [
            {
                "Site": run.site,
                "Status": run.status,
                "Current stage": run.current_stage.label if run.current_stage else "",
                "Topics": run.topic_count,
                "Started (UTC)": run.started_at.replace(tzinfo=None),
                "Duration (s)": round(seconds_so_far(run), 1),
                "Run ID": run.run_id,
            }
            for run in runs
        ]
    )


def render_batch(batch_id: str, runs: list[RunSummary]) -> None:
    """The table, and per-run and whole-batch actions, of one batch."""
    done = sum(1 for run in runs if run.status == "completed")
    st.subheader(f"Batch {batch_id}: {done} of {len(runs)} completed")
    st.dataframe(runs_table(runs), hide_index=True)
    chosen = st.selectbox("Run", [run.run_id for run in runs], key="batch-run")
    open_col, cancel_col, all_col, _ = st.columns([1, 1, 1, 3])
    if open_col.button("Open run"):
        st.switch_page("pages/history.py", query_params={"run": chosen})
    active = any_active(runs)
    # Callbacks: the cancel is asked for before the table above is drawn again.
    cancel_col.button("Cancel run", disabled=not active, on_click=cancel, args=(chosen,))
    all_col.button("Cancel batch", disabled=not active, on_click=cancel, args=(batch_id,))
    st.download_button(
        "Download combined workbook",
        data=partial(batch_workbook, batch_id),
        file_name=f"research-batch-{batch_id}.xlsx",
        mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        on_click="ignore",
    )


def load_runs(batch_id: str) -> list[RunSummary] | None:
    """The batch's runs from the store, or None (with the reason shown) when there are none."""
    try:
        runs = batch_runs(batch_id)
    except ResearchError as exc:
        st.error(str(exc))
        return None
    if not runs:
        st.info(f"No runs belong to batch {batch_id}.")
        return None
    return runs


if batch_id and (first := load_runs(batch_id)) is not None:
    live = any_active(first)

    @st.fragment(run_every=LIVE_REFRESH_SECONDS if live else None)
    def live_batch(batch_id: str) -> None:
        """Re-render the batch from the store while any run is queued or running."""
        runs = load_runs(batch_id)
        if runs is None:
            return
        if live and not any_active(runs):
            st.rerun(scope="app")  # the last run ended: stop refreshing
        render_batch(batch_id, runs)

    live_batch(batch_id)
