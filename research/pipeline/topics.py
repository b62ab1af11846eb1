"""Stage 4: topic ideas, clustered and scored."""

from __future__ import annotations

from research.models import KeywordResearch, SiteAnalysis, StageName, Topic
from research.pipeline.context import PipelineRun


async def run_topic_stage(
    run: PipelineRun,
    site: SiteAnalysis,
    competitors: list[SiteAnalysis],
    research: KeywordResearch,
) -> list[Topic]:
    """Propose topics, best first."""
    stage = StageName.TOPICS
    run.tracker.stage_started(stage)
    topics = await run.engine.propose_topics(run.context(stage), site, competitors, research)
    run.tracker.set(topics=topics)
    run.tracker.stage_finished(stage, count=len(topics), detail=f"{len(topics)} topic ideas")
    return topics
