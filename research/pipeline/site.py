"""Stage 1 (and the crawl half of stage 2): crawl a site and analyse its pages."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from research.models import Page, PageIssue, SiteAnalysis, StageName
from research.net.crawl import crawl_site
from research.net.urls import site_key
from research.pipeline.context import PipelineRun
from research.processes import run_cpu
from research.text.keyphrases import analyse_site


async def crawl_and_analyse(
    run: PipelineRun,
    url: str,
    stage: StageName,
    on_page: Callable[[Page], None] | None = None,
) -> SiteAnalysis:
    """Crawl `url` within the request's limits and return its analysis; issues go to `stage`."""
    request, settings = run.request, run.services.settings
    issues: list[PageIssue] = []

    def note_issue(issue: PageIssue) -> None:
        issues.append(issue)
        run.tracker.event(issue.reason, stage, level="warning")

    pages = await crawl_site(
        run.services.fetcher,
        url,
        max_pages=request.max_pages,
        max_depth=request.max_depth,
        time_budget=settings.crawl_time_budget,
        allow_private=run.allow_private,
        cpu=run.services.processes,
        on_page=on_page,
        on_issue=note_issue,
        robots=run.services.robots,
    )
    analysis = await run_cpu(run.services.processes, analyse_site, url, pages, issues)
    if analysis.thin:
        run.tracker.event(analysis.thin, stage, level="warning")
    return analysis


async def run_site_stage(run: PipelineRun, home_ready: anyio.Event) -> SiteAnalysis:
    """Crawl and analyse the user's site; set `home_ready` once its first page is in."""
    stage = StageName.SITE
    url = run.request.url
    run.tracker.stage_started(stage, f"Crawling {url}")
    crawled: list[Page] = []

    def on_page(page: Page) -> None:
        crawled.append(page)
        run.tracker.stage_progress(stage, len(crawled), f"{len(crawled)} pages crawled")
        home_ready.set()

    try:
        analysis = await crawl_and_analyse(run, url, stage, on_page)
    except anyio.get_cancelled_exc_class():
        partial = SiteAnalysis(url=url, domain=site_key(url), pages=crawled)
        run.tracker.set(site=partial)
        raise
    home_ready.set()
    run.site = analysis
    run.tracker.set(site=analysis)
    run.tracker.stage_finished(
        stage,
        count=len(analysis.pages),
        detail=f"{len(analysis.pages)} pages, {len(analysis.keyphrases)} keyphrases",
    )
    return analysis
