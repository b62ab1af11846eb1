"""Stage 3: keywords for the site and the gaps competitors cover."""

from __future__ import annotations

from research.models import KeywordResearch, SiteAnalysis, StageName
from research.pipeline.context import PipelineRun


async def run_keyword_stage(
    run: PipelineRun, site: SiteAnalysis, competitors: list[SiteAnalysis]
) -> KeywordResearch:
    """Rank the site's keywords and find content gaps."""
    stage = StageName.KEYWORDS
    run.tracker.stage_started(stage)
    research = await run.engine.expand_keywords(run.context(stage), site, competitors)

    run.tracker.set(keywords=research.keywords, gaps=research.gaps)
    run.tracker.stage_finished(
        stage,
        count=len(research.keywords),
        detail=f"{len(research.keywords)} keywords, {len(research.gaps)} gaps",
    )
    return research
