"""What the Settings page shows: the engine in use, the Gemini breaker, limits and loop health."""

from __future__ import annotations

from research.config import UI_WAIT_SECONDS
from research.errors import ResearchError
from research.models import DEFAULT_MAX_PAGES
from research.runtime.loop_runner import LoopLag
from research.ui.resources import job_manager, loop_runner, on_loop, session_key


def engine_in_use() -> str:
    """Return the engine a run started now with `auto` gets ("local" or "gemini")."""
    return loop_runner().settings.resolve_engine("auto", session_key())


def breaker_warning() -> tuple[str | None, str | None]:
    """Return (warning, caption) about the Gemini circuit breakers, each None if nothing to say."""
    runner = loop_runner()
    try:
        clients, open_breakers = on_loop(
            runner.services().open_breakers(), UI_WAIT_SECONDS, "The event loop"
        )
    except ResearchError as exc:
        return str(exc), None
    if not clients:
        return None, None
    if open_breakers:
        cooldown = runner.settings.gemini_breaker_cooldown
        return (
            f"Gemini failed repeatedly; calls pause for {cooldown:.0f} s "
            "and runs finish on the local engine meanwhile.",
            None,
        )
    return None, f"Gemini circuit breaker closed ({clients} key(s) in use)."


def limits() -> dict[str, str]:
    """Return the limits in force, by the label the Settings page shows."""
    settings = loop_runner().settings
    values: dict[str, object] = {
        "Pages per site (default)": DEFAULT_MAX_PAGES,
        "Requests per host at once": settings.per_host_concurrency,
        "Connections across all runs": settings.global_connections,
        "Page deadline (s)": settings.page_timeout,
        "Crawl time budget (s)": settings.crawl_time_budget,
        "Largest page (MB)": settings.max_body_bytes / 1_000_000,
        "Competitor sites crawled at once": settings.competitor_crawls,
        "Briefs written at once": settings.brief_concurrency,
        "Worker threads": settings.worker_threads,
        "Gemini call deadline (s)": settings.gemini_timeout,
        "Gemini calls at once": settings.gemini_concurrency,
        "Gemini requests per minute": settings.gemini_rpm,
    }
    return {label: str(value) for label, value in values.items()}


def loop_health() -> tuple[LoopLag, int, bool]:
    """Return the loop's lag, the runs in progress and whether the loop thread is alive."""
    runner = loop_runner()
    return runner.lag(), len(job_manager().running()), runner.running


def gemini_model() -> str:
    """Return the configured Gemini model name."""
    return loop_runner().settings.gemini_model
