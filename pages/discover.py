"""Discover Topics: inputs, live progress, results, export, cancel."""

import streamlit as st

from research.errors import InvalidRequest
from research.models import DEFAULT_MAX_PAGES, MAX_PAGES_LIMIT, RESUMABLE_STATUSES, DiscoveryRequest
from research.ui.queueing import enqueue_run, queue_enabled, render_remote_run, running_elsewhere
from research.ui.report_view import open_saved_run, render_results, render_stages
from research.ui.resources import SESSION_JOB, Job, job_manager, session_key
from research.ui.review_view import REVIEW_CHECKBOX, render_review

LIVE_REFRESH_SECONDS = 0.7

st.title("Discover Topics")
st.caption("Enter your website and, optionally, competitors. Research runs in the background.")

jobs = job_manager()
url = st.text_input("Website URL", placeholder="https://example.com")
competitors = st.text_area("Competitor URLs", placeholder="One URL per line (optional)")
max_pages = st.number_input(
    "Max pages per site", min_value=1, max_value=MAX_PAGES_LIMIT, value=DEFAULT_MAX_PAGES, step=5
)
review = st.checkbox(REVIEW_CHECKBOX)

if st.button("Discover Topics", type="primary"):
    try:
        request = DiscoveryRequest(
            url=url, competitors=competitors.splitlines(), max_pages=int(max_pages), review=review
        )
    except InvalidRequest as exc:
        st.error(str(exc))
    else:
        queued = queue_enabled()
        job_id = enqueue_run(request) if queued else jobs.start(request, api_key=session_key())
        st.session_state[SESSION_JOB] = job_id
        st.query_params["run"] = job_id

# The URL names the run (a deep link or a reload); else this session's latest run, put in the URL.
run_id = st.query_params.get("run") or st.session_state.get(SESSION_JOB)
if run_id and st.query_params.get("run") != run_id:
    st.query_params["run"] = run_id
job: Job | None = jobs.get(run_id) if run_id else None

if job is not None and not job.done:

    @st.fragment(run_every=LIVE_REFRESH_SECONDS)
    def live_progress(job: Job) -> None:
        """Re-render the stage panel from the job's snapshot until the run ends."""
        if job.done:
            st.rerun(scope="app")
        render_stages(job.snapshot())
        if st.button("Cancel", key="cancel-run"):
            job.cancel()
            st.caption("Cancelling…")

    st.subheader(f"Researching {job.snapshot().request.url}")
    live_progress(job)
elif run_id and running_elsewhere(run_id) is not None:
    st.subheader(f"Following run {run_id}")
    render_remote_run(run_id)
elif run_id and (report := open_saved_run(run_id)) is not None:
    st.subheader(f"Results for {report.request.url}")
    render_stages(report)
    if report.status in RESUMABLE_STATUSES:
        st.page_link(
            "pages/history.py",
            label="Resume or compare this run in History",
            icon=":material/history:",
            query_params={"run": report.run_id},
        )
    render_review(report, key="discover")
    render_results(report, key="discover")
