"""Stage 5: research briefs with cited sources for the top topics."""

from __future__ import annotations

import anyio

from research.engines.gemini.citations import unverified_count
from research.errors import ResearchError
from research.models import Brief, SiteAnalysis, Source, StageName, Topic
from research.pipeline.context import PipelineRun
from research.pipeline.taskgroups import first_error


def cited_sources(briefs: list[Brief]) -> list[Source]:
    """Return every source the briefs cite, once each, in order of first citation."""
    seen: dict[str, Source] = {}
    for brief in briefs:
        for source in brief.sources:
            seen.setdefault(source.url, source)
    return list(seen.values())


async def run_brief_stage(
    run: PipelineRun,
    site: SiteAnalysis,
    competitors: list[SiteAnalysis],
    topics: list[Topic],
) -> list[Brief]:
    """Write briefs for the top topics, streaming drafts into the live report."""
    stage = StageName.BRIEFS
    chosen = topics[: run.request.top_topics]
    run.tracker.stage_started(stage, f"Writing {len(chosen)} briefs")
    slots: list[Brief | None] = [None] * len(chosen)
    limiter = anyio.CapacityLimiter(run.services.settings.brief_concurrency)
    done = 0

    def publish() -> None:
        briefs = [brief for brief in slots if brief is not None]
        run.tracker.set(briefs=briefs, sources=cited_sources(briefs))

    async def write(index: int, topic: Topic) -> None:
        nonlocal done

        def on_text(text: str) -> None:
            slots[index] = Brief(topic=topic.title, text=text)
            publish()

        async with limiter:
            try:
                brief = await run.engine.write_brief(
                    run.context(stage), topic, site, competitors, on_text
                )
            except ResearchError as exc:
                slots[index] = None
                run.tracker.event(f"No brief for {topic.title!r}: {exc}", stage, level="warning")
            else:
                slots[index] = brief
                done += 1
            publish()
            run.tracker.stage_progress(stage, done, f"{done} of {len(chosen)} briefs written")

    with first_error():
        async with anyio.create_task_group() as group:
            for index, topic in enumerate(chosen):
                group.start_soon(write, index, topic)

    briefs = [brief for brief in slots if brief is not None]
    missing, quotes = unverified_count(briefs)
    if missing:
        run.tracker.event(
            f"{missing} of {quotes} quotes could not be found on the cited pages; "
            "they are marked unverified.",
            stage,
            level="warning",
        )
    run.tracker.stage_finished(stage, count=len(briefs), detail=f"{len(briefs)} briefs")
    return briefs
