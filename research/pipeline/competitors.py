"""Stage 2: crawl the competitors the user named and find (or list) more."""

from __future__ import annotations

import anyio

from research.errors import ResearchError
from research.models import Competitor, Page, SiteAnalysis, StageName, host_of
from research.pipeline.context import PipelineRun
from research.pipeline.site import crawl_and_analyse
from research.pipeline.taskgroups import first_error

# How many competitor sites are crawled at once, and how many found ones are crawled at all.
CRAWL_CONCURRENCY = 3
FOUND_TO_CRAWL = 3
FIND_LIMIT = 8


async def run_competitor_stage(
    run: PipelineRun, home_ready: anyio.Event, site_ready: anyio.Event
) -> list[Competitor]:
    """Crawl named competitors at once (alongside the site's crawl), then add the engine's finds.

    Without named competitors the stage starts once the home page is in, as finding them
    needs the site's analysis.
    """
    stage = StageName.COMPETITORS
    if not run.request.competitors:
        await home_ready.wait()
    run.tracker.stage_started(stage, "Analysing competitors")
    request = run.request
    competitors = [Competitor(url=u, domain=host_of(u), source="user") for u in request.competitors]
    limiter = anyio.CapacityLimiter(CRAWL_CONCURRENCY)
    pages_seen = 0

    def on_page(page: Page) -> None:
        nonlocal pages_seen
        pages_seen += 1
        run.tracker.stage_progress(stage, pages_seen, f"{pages_seen} competitor pages crawled")

    async def analyse(competitor: Competitor) -> None:
        async with limiter:
            try:
                competitor.analysis = await crawl_and_analyse(run, competitor.url, stage, on_page)
            except ResearchError as exc:
                run.tracker.event(
                    f"Competitor {competitor.domain} could not be analysed: {exc}",
                    stage,
                    level="warning",
                )

    try:
        with first_error():
            async with anyio.create_task_group() as group:
                for competitor in competitors:
                    group.start_soon(analyse, competitor)
                await site_ready.wait()
                if run.site is not None:
                    known = [run.site.url, *request.competitors]
                    ctx = run.context(stage)
                    found = await run.engine.find_competitors(ctx, run.site, known, FIND_LIMIT)
                    taken = {run.site.domain, *(c.domain for c in competitors)}
                    found = [c for c in found if c.domain not in taken]
                    competitors.extend(found)
                    for competitor in [c for c in found if c.source == "gemini"][:FOUND_TO_CRAWL]:
                        group.start_soon(analyse, competitor)
    finally:
        # Whatever was analysed stays in the report, even when the stage is cancelled.
        run.tracker.set(competitors=list(competitors))

    analysed = sum(1 for c in competitors if c.analysis is not None)
    listed = len(competitors) - analysed
    detail = f"{analysed} analysed" + (f", {listed} listed" if listed else "")
    run.tracker.stage_finished(stage, count=len(competitors), detail=detail)
    return competitors


def analysed_sites(competitors: list[Competitor]) -> list[SiteAnalysis]:
    """Return the analyses of the competitors that were crawled."""
    return [c.analysis for c in competitors if c.analysis is not None]
