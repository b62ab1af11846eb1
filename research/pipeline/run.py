"""discover_topics(): the five stages of a run, their overlap, progress and partial results."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import anyio
from pydantic import SecretStr

from research.errors import ResearchError
from research.models import (
    Competitor,
    DiscoveryRequest,
    KeywordResearch,
    Report,
    ReviewPoint,
    SiteAnalysis,
    StageName,
    StageState,
    Topic,
    now,
)
from research.pipeline.briefing import run_brief_stage
from research.pipeline.competitors import (
    analysed_sites,
    crawl_added_competitors,
    run_competitor_stage,
)
from research.pipeline.context import PipelineRun
from research.pipeline.keywords import run_keyword_stage
from research.pipeline.site import run_site_stage
from research.pipeline.taskgroups import first_error
from research.pipeline.topics import run_topic_stage
from research.progress import RunTracker
from research.services import Services

log = logging.getLogger("research.pipeline")
P = ParamSpec("P")
T = TypeVar("T")


async def discover_topics(
    request: DiscoveryRequest,
    services: Services,
    *,
    tracker: RunTracker | None = None,
    api_key: SecretStr | None = None,
) -> Report:
    """Run the five stages for `request` and return the report, however the run ends."""
    tracker = tracker or RunTracker(Report(request=request))
    return await run_pipeline(tracker, services, api_key=api_key)


async def run_pipeline(
    tracker: RunTracker, services: Services, *, api_key: SecretStr | None = None
) -> Report:
    """Run (or resume) the tracked report's unfinished stages; save after each and at the end."""
    try:
        engine = await services.engine(tracker.request.engine, api_key)
        run = PipelineRun(tracker, services, engine)
        resumed = _begin(tracker, engine.name)
        if resumed:
            tracker.event(f"Resumed; continuing from {resumed.label}")
        await run.save()  # saved from the start, so a killed process leaves it `interrupted`
        paused = await _run_stages(run)
    except anyio.get_cancelled_exc_class():
        _end(tracker, "cancelled", "cancelled", "Run cancelled; partial results kept")
        await PipelineRun(tracker, services, services.local).save()
        tracker.finished.set()
        raise
    except ResearchError as exc:
        _end(tracker, "failed", "failed", str(exc), level="error")
    except Exception as exc:
        log.exception("run %s failed", tracker.run_id)
        message = f"Unexpected error ({type(exc).__name__}); partial results kept"
        _end(tracker, "failed", "failed", message, level="error")
    else:
        if paused is None:
            _end(tracker, "completed", "done", "Run completed")
        else:
            _pause(tracker, paused)
    try:
        await PipelineRun(tracker, services, services.local).save()
    finally:
        tracker.finished.set()
    return tracker.snapshot()


def _begin(tracker: RunTracker, engine: str) -> StageName | None:
    """Mark the run running; return the first stage to redo when this is a resume."""
    snapshot = tracker.snapshot()
    redo = snapshot.first_unfinished_stage
    resumed = redo if any(st.status == "done" for st in snapshot.stages.values()) else None
    stages = {
        name: state if state.status == "done" else StageState(name=name)
        for name, state in snapshot.stages.items()
    }
    tracker.set(status="running", engine=engine, finished_at=None, stages=stages)
    return resumed


def _end(
    tracker: RunTracker, status: str, stage_status: str, message: str, level: str = "info"
) -> None:
    """Record the run's final status; stages still running get `stage_status`, pending ones 'skipped'."""
    stages = {}
    for name, state in tracker.snapshot().stages.items():
        if state.status == "running":
            state = state.model_copy(update={"status": stage_status, "finished_at": now()})
        elif state.status == "pending":
            state = state.model_copy(update={"status": "skipped"})
        stages[name] = state
    tracker.set(status=status, finished_at=now(), stages=stages)
    tracker.event(message, level=level)


def _pause(tracker: RunTracker, point: ReviewPoint) -> None:
    """Record that the run waits for the user's review at `point`; no task holds it meanwhile."""
    tracker.set(status="awaiting_review", review_point=point, finished_at=None)
    tracker.event(f"Waiting for your review of the {point}; continue when ready")


def _review_due(run: PipelineRun, point: ReviewPoint) -> bool:
    """Whether the run pauses at `point`: review is on and that point was not reviewed yet."""
    return run.request.review and point not in run.tracker.snapshot().reviewed


async def _run_stages(run: PipelineRun) -> ReviewPoint | None:
    """Run each stage not already done, reusing saved results; return where it paused, if it did."""
    saved = run.tracker.snapshot()
    done = {stage for stage, state in saved.stages.items() if state.status == "done"}
    site: SiteAnalysis | None = saved.site if StageName.SITE in done else None
    competitors: list[Competitor] = saved.competitors if StageName.COMPETITORS in done else []
    run.site = site

    if StageName.SITE not in done or StageName.COMPETITORS not in done:
        site, competitors = await _site_and_competitors(run, done, site, competitors)
    assert site is not None
    if _review_due(run, "competitors"):
        return "competitors"
    if "competitors" in saved.reviewed and StageName.KEYWORDS not in done:
        competitors = await crawl_added_competitors(run, competitors)
        await run.save()
    rivals = analysed_sites(competitors)

    research = KeywordResearch(keywords=saved.keywords, gaps=saved.gaps)
    if StageName.KEYWORDS not in done:
        research = await _failing_stage(
            run, StageName.KEYWORDS, run_keyword_stage, run, site, rivals
        )
        await run.save()
    topics: list[Topic] = saved.topics
    if StageName.TOPICS not in done:
        topics = await _failing_stage(
            run, StageName.TOPICS, run_topic_stage, run, site, rivals, research
        )
        await run.save()
    if StageName.BRIEFS not in done:
        if _review_due(run, "topics"):
            return "topics"
        await _failing_stage(run, StageName.BRIEFS, run_brief_stage, run, site, rivals, topics)
        await run.save()
    return None


async def _site_and_competitors(
    run: PipelineRun,
    done: set[StageName],
    site: SiteAnalysis | None,
    competitors: list[Competitor],
) -> tuple[SiteAnalysis | None, list[Competitor]]:
    """Run stages 1 and 2 (those not done) overlapped; return the site and its competitors."""
    home_ready, site_ready = anyio.Event(), anyio.Event()
    if site is not None:
        home_ready.set()
        site_ready.set()

    async def stage_one() -> None:
        nonlocal site
        site = await run_site_stage(run, home_ready)
        site_ready.set()
        await run.save()

    async def stage_two() -> None:
        nonlocal competitors
        competitors = await run_competitor_stage(run, home_ready, site_ready)
        await run.save()

    with first_error():
        async with anyio.create_task_group() as group:
            if StageName.SITE not in done:
                group.start_soon(_failing_stage, run, StageName.SITE, stage_one)
            if StageName.COMPETITORS not in done:
                group.start_soon(_failing_stage, run, StageName.COMPETITORS, stage_two)
    return site, competitors


async def _failing_stage(
    run: PipelineRun,
    stage: StageName,
    func: Callable[P, Awaitable[T]],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """Await a stage; on a ResearchError mark that stage failed before passing it on."""
    try:
        return await func(*args, **kwargs)
    except ResearchError as exc:
        run.tracker.stage_finished(stage, "failed", detail=str(exc))
        raise
