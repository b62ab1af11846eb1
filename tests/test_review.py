"""Review points: a run pauses after Competitors and after Topics, is edited, and continues.

Through the JobManager (the dashboard's entry) and the CLI on the loopback fixture sites: the
edits are exactly what the next stages use; a paused run holds no task, survives a new
LoopRunner, can be cancelled, and refuses bad edits without losing its pause.
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest

from research.cli import main
from research.errors import InvalidRequest, RunNotResumable
from research.models import DiscoveryRequest, Report, ReviewEdits, StageName
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from tests.fakes.site import SiteServer
from tests.sample_report import load_saved

RIVAL_ONLY = ("server-side tracking", "cookie consent", "gdpr compliance", "attribution model")


def paused(jobs: JobManager, job_id: str) -> Report:
    """Wait for the run to stop at a review point; return its report."""
    job = jobs.get(job_id)
    assert job is not None
    report = job.future.result(timeout=60)  # the task has ended: nothing holds a slot
    assert report.status == "awaiting_review", report.errors
    assert job.done and not jobs.running()
    return report


def paused_start(jobs: JobManager, url: str) -> Report:
    """Start a run of `url` with review on; return it paused at its competitors."""
    return paused(jobs, jobs.start(DiscoveryRequest(url=url, engine="local", review=True)))


def statuses(report: Report) -> list[str]:
    return [report.stages[stage].status for stage in StageName]


def test_pause_at_both_points_and_the_next_stages_use_exactly_the_edits(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    jobs = JobManager(runner)
    request = DiscoveryRequest(url=site.url, competitors=[rival.url], engine="local", review=True)
    first = paused(jobs, jobs.start(request))
    assert first.review_point == "competitors"
    assert statuses(first) == ["done", "done", "pending", "pending", "pending"]
    assert load_saved(runner.settings.db_path, first.run_id) == first
    assert rival.url in [c.url for c in first.competitors]

    second = paused(
        jobs, jobs.continue_review(first.run_id, ReviewEdits(drop_competitors=[rival.url]))
    )
    assert second.review_point == "topics" and second.reviewed == ["competitors"]
    assert statuses(second) == ["done"] * 4 + ["pending"]
    assert rival.url not in [c.url for c in second.competitors]
    assert second.gaps == [], "no competitor is left, so stage 3 finds no gaps"
    assert all(t.competitor_coverage == 0 for t in second.topics)
    assert len(second.topics) >= 3

    edits = ReviewEdits(
        drop_topics=[2],
        rename_topics={1: "Bounce rate, plainly"},
        topic_keywords={3: ["reading time", "page views"]},
    )
    job_id = jobs.continue_review(second.run_id, edits)
    job = jobs.get(job_id)
    assert job is not None and job.wait(60)
    final = job.snapshot()
    assert final.status == "completed", final.errors
    expected = [second.topics[0].title, *[t.title for t in second.topics[2:]]]
    expected[0] = "Bounce rate, plainly"
    assert [t.title for t in final.topics] == expected
    assert final.topics[1].keywords == ["reading time", "page views"]
    assert [b.topic for b in final.briefs] == expected[: request.top_topics]
    assert final.reviewed == ["competitors", "topics"] and final.review_point is None
    messages = [e.message for e in final.log]
    assert "Review of the competitors: 1 competitors dropped, 0 added" in messages
    assert "Review of the topics: 1 topics dropped, 1 renamed" in messages
    assert load_saved(runner.settings.db_path, final.run_id) == final


def test_an_added_competitor_is_crawled_when_the_run_continues(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    jobs = JobManager(runner)
    first = paused_start(jobs, site.url)
    assert rival.requests == [], "nothing of the rival is fetched before the review"
    assert all(c.analysis is None for c in first.competitors)

    second = paused(
        jobs, jobs.continue_review(first.run_id, ReviewEdits(add_competitors=[rival.url]))
    )
    [added] = [c for c in second.competitors if c.source == "user"]
    assert added.url == rival.url and added.analysis is not None and added.analysis.pages
    assert rival.requests, "the added competitor was crawled"
    gap_words = " | ".join(g.keyword for g in second.gaps)
    assert any(phrase in gap_words for phrase in RIVAL_ONLY), gap_words
    assert second.stages[StageName.COMPETITORS].status == "done"

    # Continuing with no edits (the dashboard's `Skip review`) keeps the topics as they are.
    job = jobs.get(jobs.continue_review(second.run_id))
    assert job is not None and job.wait(60)
    final = job.snapshot()
    assert final.status == "completed", final.errors
    assert final.topics == second.topics
    assert [b.topic for b in final.briefs] == [t.title for t in second.topics][:5]


def test_a_paused_run_survives_a_restart_and_continues(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    jobs = JobManager(runner)
    first = paused_start(jobs, site.url)
    fetched = list(site.requests)
    runner.shutdown()

    restarted = LoopRunner(runner.settings, debug=True, slow_callback=0.5)
    try:
        later = JobManager(restarted)
        second = paused(later, later.continue_review(first.run_id))
        assert second.review_point == "topics" and second.site == first.site
        assert list(site.requests) == fetched, "the saved stages are not fetched again"
    finally:
        restarted.shutdown()


def test_cancel_while_paused_then_resume_returns_to_the_review(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    jobs = JobManager(runner)
    first = paused_start(jobs, site.url)
    cancelled = jobs.cancel_review(first.run_id)
    assert cancelled.status == "cancelled" and cancelled.review_point is None
    assert load_saved(runner.settings.db_path, first.run_id) == cancelled
    assert cancelled.site == first.site, "partial results are kept"
    with pytest.raises(RunNotResumable, match="not waiting for a review"):
        jobs.continue_review(first.run_id)
    with pytest.raises(RunNotResumable, match="not waiting for a review"):
        jobs.cancel_review(first.run_id)

    again = paused(jobs, jobs.resume(first.run_id))
    assert again.review_point == "competitors", "a resumed run still asks for its review"


def test_bad_edits_are_refused_and_the_run_stays_paused(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    jobs = JobManager(runner)
    first = paused_start(jobs, site.url)
    with pytest.raises(InvalidRequest, match="topic edits apply at the topics review"):
        jobs.continue_review(first.run_id, ReviewEdits(drop_topics=[1]))
    with pytest.raises(InvalidRequest, match="is not a competitor of run"):
        jobs.continue_review(first.run_id, ReviewEdits(drop_competitors=["https://nope.test/"]))
    assert load_saved(runner.settings.db_path, first.run_id).status == "awaiting_review"
    second = paused(jobs, jobs.continue_review(first.run_id))
    with pytest.raises(InvalidRequest, match="there is no topic 99"):
        jobs.continue_review(second.run_id, ReviewEdits(rename_topics={99: "x"}))
    with pytest.raises(InvalidRequest, match="Keep at least one topic"):
        jobs.continue_review(
            second.run_id, ReviewEdits(drop_topics=list(range(1, len(second.topics) + 1)))
        )
    saved = load_saved(runner.settings.db_path, second.run_id)
    assert saved.status == "awaiting_review" and saved.review_point == "topics"


def test_the_cli_pauses_reviews_and_continues(
    sites: tuple[SiteServer, SiteServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site, rival = sites
    monkeypatch.setenv("RESEARCH_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    paused_json = tmp_path / "paused.json"
    code = main(
        ["discover", site.url, "--competitor", rival.url, "--engine", "local", "--review",
         "--allow-private-hosts", "--quiet", "--json", str(paused_json)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    report = Report.model_validate(json.loads(paused_json.read_text()))
    assert report.status == "awaiting_review" and report.review_point == "competitors"
    assert f"python -m research review {report.run_id}" in out and report.run_id in out

    assert main(["history"]) == 0
    [listed] = capsys.readouterr().out.splitlines()[1:]
    assert listed.split()[0] == report.run_id and listed.split()[3:5] == [
        "awaiting_review",
        "local",
    ]

    assert main(["review", report.run_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "waits for a review of its competitors" in lines[0]
    assert lines[1].split()[0] == "1." and rival.url in lines[1]
    assert len(lines) == len(report.competitors) + 2
    assert "--drop-competitor URL" in lines[-1]

    topics_json = tmp_path / "topics.json"
    code = main(
        ["continue", report.run_id, "--drop-competitor", rival.url, "--quiet",
         "--json", str(topics_json)]
    )  # fmt: skip
    assert code == 0
    assert f"python -m research review {report.run_id}" in capsys.readouterr().out
    at_topics = Report.model_validate(json.loads(topics_json.read_text()))
    assert at_topics.review_point == "topics"
    assert rival.url not in [c.url for c in at_topics.competitors] and at_topics.gaps == []
    assert main(["review", report.run_id]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:-1]] == [
        f"{n}." for n in range(1, len(at_topics.topics) + 1)
    ]
    assert at_topics.topics[0].title in lines[1]

    assert main(["continue", report.run_id, "--rename-topic", "x", "New"]) == 2
    assert "takes a topic number" in capsys.readouterr().err
    final_json, workbook = tmp_path / "final.json", tmp_path / "final.xlsx"
    code = main(
        ["continue", report.run_id, "--drop-topic", "1", "--rename-topic", "2", "Renamed",
         "--quiet", "--json", str(final_json), "--out", str(workbook)]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    final = Report.model_validate(json.loads(final_json.read_text()))
    assert final.status == "completed"
    topics_sheet = openpyxl.load_workbook(workbook)["Topics"]
    assert [row[1] for row in topics_sheet.iter_rows(min_row=2, values_only=True)] == [
        t.title for t in final.topics
    ]
    assert final.topics[0].title == "Renamed"
    assert [t.title for t in final.topics[1:]] == [t.title for t in at_topics.topics[2:]]
    assert main(["review", report.run_id]) == 2
    assert "not waiting for a review (it is completed)" in capsys.readouterr().err
    assert (
        main(["cancel", report.run_id]) == 0
    )  # a finished run: nothing to cancel, its status said
    assert "completed" in capsys.readouterr().err
    assert main(["review", "nope"]) == 2
