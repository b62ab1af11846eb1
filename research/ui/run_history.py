"""What the History page asks of the core: the run list (read once per rerun), delete, resume, compare."""

from __future__ import annotations

import pandas as pd

from research.compare import compare_runs
from research.models import ACTIVE_STATUSES, Report, RunComparison, RunSummary, Topic
from research.net.urls import site_key
from research.ui.queueing import enqueue_claimed, queue_enabled
from research.ui.resources import job_manager, loop_runner, on_loop, session_key

HISTORY_LIMIT = 1000


def list_history() -> list[RunSummary]:
    """Return the saved runs, newest first (raises a ResearchError fit to show)."""
    return on_loop(loop_runner().services().store.list_runs(limit=HISTORY_LIMIT))


def filter_runs(
    runs: list[RunSummary], domain: str | None = None, status: str | None = None
) -> list[RunSummary]:
    """Return the runs of one site (domain) and/or one status, in the order given."""
    return [
        run
        for run in runs
        if (domain is None or run.domain == domain) and (status is None or run.status == status)
    ]


def run_label(run: RunSummary) -> str:
    """One line naming a run in pickers."""
    return f"{run.domain} · {run.started_at:%Y-%m-%d %H:%M} · {run.status} · {run.run_id}"


def runs_table(runs: list[RunSummary]) -> pd.DataFrame:
    """The runs as the History table shows them."""
    return pd.DataFrame(
        [
            {
                "Site": run.site,
                "Started (UTC)": run.started_at.replace(tzinfo=None),
                "Status": run.status,
                "Engine": run.engine,
                "Duration (s)": None
                if run.duration_seconds is None
                else round(run.duration_seconds, 1),
                "Topics": run.topic_count,
                "Run ID": run.run_id,
            }
            for run in runs
        ]
    )


def run_activity(report: Report) -> tuple[bool, bool]:
    """Return (running in this dashboard, running anywhere) for a saved run."""
    job = job_manager().get(report.run_id)
    here = job is not None and not job.done
    # A run still `running` after the store's check belongs to a live process (maybe the CLI).
    return here, here or report.status in ACTIVE_STATUSES


def resume_run(run_id: str) -> str:
    """Resume a stopped run (here with the session's key, or on a worker); return its job id."""
    if queue_enabled():
        return enqueue_claimed(loop_runner().services().store.claim(run_id))
    return job_manager().resume(run_id, api_key=session_key())


def delete_run(run_id: str) -> None:
    """Delete a saved run (raises a ResearchError fit to show)."""
    on_loop(loop_runner().services().store.delete(run_id))


def other_runs(runs: list[RunSummary], report: Report) -> list[RunSummary]:
    """Return the other runs of the report's site, from a list already read."""
    domain = site_key(report.request.url)
    return [run for run in runs if run.run_id != report.run_id and run.domain == domain]


def compare(old: Report, new: Report) -> RunComparison:
    """Return what changed from one run of a site to another."""
    return compare_runs(old, new)


def topic_table(topics: list[Topic]) -> pd.DataFrame:
    """Topics as a small table."""
    return pd.DataFrame(
        [
            {"Topic": t.title, "Score": round(t.score, 3), "Keywords": ", ".join(t.keywords)}
            for t in topics
        ]
    )


def changes_table(result: RunComparison) -> pd.DataFrame:
    """Topics whose score changed, with their old and new scores."""
    return pd.DataFrame(
        [
            {
                "Topic": c.title,
                "Was called": c.old_title if c.old_title != c.title else "",
                "Old score": round(c.old_score, 3),
                "New score": round(c.new_score, 3),
                "Change": round(c.new_score - c.old_score, 3),
            }
            for c in result.changed_topics
        ]
    )


def gaps_tables(result: RunComparison) -> list[tuple[str, pd.DataFrame]]:
    """New and gone content gaps, each titled, leaving out an empty one."""
    return [
        (
            title,
            pd.DataFrame(
                [
                    {
                        "Keyword": g.keyword,
                        "Score": round(g.score, 3),
                        "Competitors": ", ".join(g.competitors),
                    }
                    for g in gaps
                ]
            ),
        )
        for title, gaps in (("New gaps", result.new_gaps), ("Gone gaps", result.gone_gaps))
        if gaps
    ]
