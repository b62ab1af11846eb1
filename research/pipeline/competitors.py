"""Stage 2: crawl the competitors the user named and find (or list) more."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio

from research.errors import ResearchError
from research.models import Competitor, Page, SiteAnalysis, StageName
from research.net.urls import site_key
from research.pipeline.context import PipelineRun
from research.pipeline.site import crawl_and_analyse
from research.pipeline.taskgroups import first_error
from research.processes import run_cpu
from research.text.ownsite import own_domains

# The engine is asked for this many more than wanted: the site's own hosts (docs., blog., its
# other domains) are often among its most-linked and are dropped after the engine returns.
OWN_HOSTS_SPARE = 4


def _analyser(run: PipelineRun) -> Callable[[Competitor], Coroutine[Any, Any, None]]:
    """Return a bounded crawl that fills in a competitor's analysis (a failure is a warning)."""
    stage = StageName.COMPETITORS
    limiter = anyio.CapacityLimiter(run.services.settings.competitor_crawls)
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

    return analyse


def _named(run: PipelineRun) -> list[Competitor]:
    """The user's competitors; one that is the site itself is dropped with a warning."""
    named: list[Competitor] = []
    for url in run.request.competitors:
        if site_key(url) == site_key(run.request.url):
            run.tracker.event(
                f"{url} is the site itself, so it is not analysed as a competitor.",
                StageName.COMPETITORS,
                level="warning",
            )
        else:
            named.append(Competitor(url=url, domain=site_key(url), source="user"))
    return named


async def _others(
    run: PipelineRun, site: SiteAnalysis, found: list[Competitor], named: list[Competitor]
) -> list[Competitor]:
    """The engine's finds that are neither named nor the site's own, up to competitors_found."""
    own = await run_cpu(run.services.processes, own_domains, site, [c.domain for c in found])
    if own:
        run.tracker.event(
            f"Left out the site's own hosts among those found: {', '.join(sorted(own))}.",
            StageName.COMPETITORS,
        )
    taken = own | {c.domain for c in named}
    others = [c for c in found if c.domain not in taken]
    return others[: run.services.settings.competitors_found]


def _detail(competitors: list[Competitor]) -> str:
    analysed = sum(1 for c in competitors if c.analysis is not None)
    listed = len(competitors) - analysed
    return f"{analysed} analysed" + (f", {listed} listed" if listed else "")


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
    request, settings = run.request, run.services.settings
    competitors = _named(run)
    analyse = _analyser(run)
    try:
        with first_error():
            async with anyio.create_task_group() as group:
                for competitor in competitors:
                    group.start_soon(analyse, competitor)
                await site_ready.wait()
                if run.site is not None:
                    known = [run.site.url, *request.competitors]
                    ctx = run.context(stage)
                    wanted = settings.competitors_found + OWN_HOSTS_SPARE
                    found = await run.engine.find_competitors(ctx, run.site, known, wanted)
                    found = await _others(run, run.site, found, competitors)
                    competitors.extend(found)
                    by_search = [c for c in found if c.source == "gemini"]
                    for competitor in by_search[: settings.found_competitors_crawled]:
                        group.start_soon(analyse, competitor)
    finally:
        # Whatever was analysed stays in the report, even when the stage is cancelled.
        run.tracker.set(competitors=list(competitors))

    run.tracker.stage_finished(stage, count=len(competitors), detail=_detail(competitors))
    return competitors


async def crawl_added_competitors(
    run: PipelineRun, competitors: list[Competitor]
) -> list[Competitor]:
    """Crawl the user's competitors not analysed yet (added at review); return the whole list."""
    stage = StageName.COMPETITORS
    # The saved report is published and read-only: the added ones are crawled into copies.
    fresh = {id(c): c.model_copy() for c in competitors if c.source == "user" and not c.analysis}
    if not fresh:
        return competitors
    updated = [fresh.get(id(c), c) for c in competitors]
    run.tracker.event(f"Analysing {len(fresh)} competitors added at review", stage)
    analyse = _analyser(run)
    try:
        with first_error():
            async with anyio.create_task_group() as group:
                for competitor in fresh.values():
                    group.start_soon(analyse, competitor)
    finally:
        run.tracker.set(competitors=list(updated))
    run.tracker.stage_progress(stage, len(updated), _detail(updated))
    return updated


def analysed_sites(competitors: list[Competitor]) -> list[SiteAnalysis]:
    """Return the analyses of the competitors that were crawled."""
    return [c.analysis for c in competitors if c.analysis is not None]
