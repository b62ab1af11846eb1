"""The five-stage pipeline end to end on the loopback fixture sites, with the local engine."""

from __future__ import annotations

from research.config import Settings
from research.models import DiscoveryRequest, StageName
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from tests.fakes.fixtures import ACME, build_pages
from tests.fakes.site import Article, SiteServer

RIVAL_ONLY = ("server-side tracking", "cookie consent", "gdpr compliance", "attribution model")


def test_full_run_produces_relevant_output_in_every_stage(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    jobs = JobManager(runner)
    job = jobs.get(
        jobs.start(DiscoveryRequest(url=site.url, competitors=[rival.url], engine="local"))
    )
    assert job is not None and job.wait(60)
    report = job.snapshot()

    assert report.status == "completed", report.errors
    assert all(report.stages[stage].status == "done" for stage in StageName)
    # 1: the site was crawled through links and sitemap, with keyphrases from its own prose
    assert report.site is not None and len(report.site.pages) == 7
    assert any("bounce rate" in k.keyword for k in report.site.keyphrases)
    # 2: the named competitor was crawled and analysed
    [competitor] = [c for c in report.competitors if c.source == "user"]
    assert competitor.analysis is not None and len(competitor.analysis.pages) == 7
    # 3: gaps are phrases only the competitor covers, with its pages as evidence
    gap_words = " | ".join(g.keyword for g in report.gaps)
    assert any(phrase in gap_words for phrase in RIVAL_ONLY), gap_words
    assert "bounce rate" not in gap_words
    assert all(g.evidence and g.evidence[0].startswith(rival.url) for g in report.gaps)
    # 4: a topic is built from a phrase only the competitor covers
    topic_text = " | ".join((t.title + " " + " ".join(t.keywords)).lower() for t in report.topics)
    assert any(phrase in topic_text for phrase in RIVAL_ONLY), topic_text
    assert all(t.reason and t.score > 0 for t in report.topics)
    # 5: briefs for the top topics cite pages that were actually crawled
    crawled = {p.url for p in report.site.pages} | {p.url for p in competitor.analysis.pages}
    assert len(report.briefs) == min(5, len(report.topics))
    for brief in report.briefs:
        assert brief.outline
        assert len(brief.passages) >= 3
        assert {p.url for p in brief.passages} <= crawled
    assert report.sources and {s.url for s in report.sources} <= crawled
    # stage 2 started while stage 1 was still crawling
    site_done = report.stages[StageName.SITE].finished_at
    competitors_started = report.stages[StageName.COMPETITORS].started_at
    assert site_done and competitors_started and competitors_started < site_done


def test_outbound_links_are_listed_as_candidates_without_competitors(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    jobs = JobManager(runner)
    job = jobs.get(jobs.start(DiscoveryRequest(url=site.url, engine="local")))
    assert job is not None and job.wait(60)
    report = job.snapshot()
    assert report.status == "completed", report.errors
    candidates = [c for c in report.competitors if c.source == "outbound_link"]
    assert rival.url.removeprefix("http://").rstrip("/") in {c.domain for c in candidates}
    assert any("Gemini" in e.message for e in report.log)
    assert report.topics, "topics come from the site's own thinly covered subjects"
    assert all(t.competitor_coverage == 0 and "your site" in t.reason for t in report.topics)
    assert any("bounce rate" in " ".join(t.keywords).lower() for t in report.topics)


def test_the_site_itself_is_never_its_competitor(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    """Named as one (same site), or proposed as a host spelling its name (acme.test)."""
    _, rival = sites
    home = ACME["/"]
    own = ["https://acme.test/", "https://docs.acmeanalytics.test/"]
    linking = {**ACME, "/": Article(home.title, home.sections, [*home.links, *own])}
    acme = SiteServer(build_pages(linking, "Acme Analytics", {"rival": rival.url})).start()
    try:
        jobs = JobManager(runner)
        request = DiscoveryRequest(
            url=acme.url, competitors=[acme.url + "pricing", rival.url], engine="local"
        )
        job = jobs.get(jobs.start(request))
        assert job is not None and job.wait(60)
        report = job.snapshot()
    finally:
        acme.stop()
    assert report.status == "completed", report.errors
    domains = [c.domain for c in report.competitors]
    assert domains == [rival.url.removeprefix("http://").rstrip("/")]
    assert acme.fetched("/pricing") == 1  # by the site's own crawl only
    messages = {e.message: e.level for e in report.log}
    assert (
        messages[f"{acme.url}pricing is the site itself, so it is not analysed as a competitor."]
        == "warning"
    )
    assert (
        "Left out the site's own hosts among those found: acme.test, docs.acmeanalytics.test."
        in messages
    )


def test_the_site_s_own_hosts_do_not_use_up_the_competitors_found(
    settings: Settings, sites: tuple[SiteServer, SiteServer]
) -> None:
    """Its own hosts are its most linked: the rival it links less still fills the one place."""
    _, rival = sites
    own = ["https://acme.test/", "https://docs.acmeanalytics.test/"]
    linking = {
        path: Article(page.title, page.sections, [*page.links, *own])
        if path in ("/", "/pricing")
        else page
        for path, page in ACME.items()
    }
    acme = SiteServer(build_pages(linking, "Acme Analytics", {"rival": rival.url})).start()
    runner = LoopRunner(settings.model_copy(update={"competitors_found": 1}))
    try:
        jobs = JobManager(runner)
        job = jobs.get(jobs.start(DiscoveryRequest(url=acme.url, engine="local")))
        assert job is not None and job.wait(60)
        report = job.snapshot()
    finally:
        runner.shutdown()
        acme.stop()
    assert report.status == "completed", report.errors
    assert [c.domain for c in report.competitors] == [rival.url.removeprefix("http://").rstrip("/")]


def test_cancel_mid_crawl_ends_cancelled_within_a_second_and_keeps_partial_report(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    site.hold_paths(lambda path: path.startswith("/blog/"))
    jobs = JobManager(runner)
    job = jobs.get(
        jobs.start(DiscoveryRequest(url=site.url, competitors=[rival.url], engine="local"))
    )
    assert job is not None
    assert site.held.wait(10), "the crawl never reached the held pages"
    job.cancel()
    assert job.wait(1.0), "run did not end within 1 s of cancel"
    report = job.snapshot()
    assert report.status == "cancelled"
    assert report.stages[StageName.SITE].status == "cancelled"
    assert report.stages[StageName.TOPICS].status == "skipped"
    assert report.site is not None and report.site.pages, "pages crawled before cancel are kept"
    saved = runner.submit(runner.services().store.load(report.run_id)).result(timeout=5)
    assert saved.status == "cancelled"


def test_unreachable_start_url_fails_stage_one_with_a_sentence(runner: LoopRunner) -> None:
    jobs = JobManager(runner)
    job = jobs.get(jobs.start(DiscoveryRequest(url="http://127.0.0.1:9/", engine="local")))
    assert job is not None and job.wait(30)
    report = job.snapshot()
    assert report.status == "failed"
    assert report.stages[StageName.SITE].status == "failed"
    assert report.stages[StageName.BRIEFS].status == "skipped"
    assert report.errors and "127.0.0.1" in report.errors[-1]
    assert "\n" not in report.errors[-1]


def test_many_runs_at_once_share_the_one_loop(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    jobs = JobManager(runner)
    ids = [
        jobs.start(
            DiscoveryRequest(url=site.url, competitors=[rival.url], engine="local", max_pages=4)
        )
        for _ in range(6)
    ]
    reports = []
    for job_id in ids:
        job = jobs.get(job_id)
        assert job is not None and job.wait(90)
        reports.append(job.snapshot())
    assert len({r.run_id for r in reports}) == 6
    assert all(r.status == "completed" for r in reports), [r.errors for r in reports]


def test_job_manager_keeps_a_bounded_number_of_finished_jobs(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    jobs = JobManager(runner, retention=2)
    ids = []
    for _ in range(4):
        job_id = jobs.start(DiscoveryRequest(url=site.url, engine="local", max_pages=2))
        job = jobs.get(job_id)
        assert job is not None and job.wait(60)
        ids.append(job_id)
    jobs.start(DiscoveryRequest(url=site.url, engine="local", max_pages=2))
    kept = [job_id for job_id in ids if jobs.get(job_id) is not None]
    assert kept == ids[-2:]
