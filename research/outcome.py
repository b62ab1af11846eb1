"""How a run ended, in one sentence: the same words on the pages and in the CLI."""

from __future__ import annotations

from research.models import Report, StageName


def interrupted_message(report: Report) -> str:
    """Say that a run's process died, what it kept, and where a resume continues."""
    done = [stage.label for stage in StageName if report.stages[stage].status == "done"]
    redo = report.first_unfinished_stage
    message = "Run interrupted: the process running it stopped before the run finished."
    if not done:
        return f"{message} No stage had completed; resuming starts it again."
    kept = f"Saved: {', '.join(done)} ({len(done)} of {len(StageName)} stages completed)"
    if redo is None:
        return f"{message} {kept}."
    return f"{message} {kept}; resuming continues from {redo.label} without redoing them."


def outcome_message(report: Report) -> str:
    """Return one sentence saying how a finished run ended (or that it has not ended)."""
    duration = report.duration_seconds
    took = f" in {duration:.1f} s" if duration is not None else ""
    if report.status == "completed":
        return f"Research for {report.request.url} completed{took} ({report.engine} engine)."
    if report.status == "cancelled":
        return f"Run cancelled{took}; the partial results are saved."
    if report.status == "interrupted":
        return interrupted_message(report)
    if report.status == "failed":
        reason = report.errors[-1] if report.errors else "an unexpected error stopped it."
        return f"Run failed: {reason} Partial results are kept."
    return f"Run {report.status}."
