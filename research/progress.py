"""RunTracker: the live report of one run, written on the loop and read from any thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from research.models import DiscoveryRequest, ProgressEvent, Report, StageName, Usage, now

log = logging.getLogger("research.run")


class RunTracker:
    """Holds a run's report, copy-on-write: the loop publishes new versions, readers never wait.

    Every change replaces top-level fields of a shallow copy, so a published report and what it
    holds are never mutated again; a snapshot is just the current version, and the lock is held
    only for a pointer swap (the loop must never wait on a page thread that is copying).
    """

    def __init__(self, report: Report) -> None:
        self._report = report
        self._lock = threading.Lock()
        self.finished = threading.Event()
        self.listeners: list[Callable[[ProgressEvent], None]] = []

    @property
    def run_id(self) -> str:
        """The id of the tracked run."""
        return self._report.run_id

    @property
    def request(self) -> DiscoveryRequest:
        """The run's request (it never changes during the run)."""
        return self._report.request

    def snapshot(self) -> Report:
        """Return the current report; treat it (and everything in it) as read-only."""
        with self._lock:
            return self._report.model_copy()

    def set(self, **fields: Any) -> None:
        """Publish new values for top-level report fields; never mutate them afterwards."""
        with self._lock:
            self._report = self._report.model_copy(update=fields)

    def _change(self, change: Callable[[Report], dict[str, Any]]) -> None:
        with self._lock:
            self._report = self._report.model_copy(update=change(self._report))

    def _change_stage(self, stage: StageName, **fields: Any) -> None:
        def change(report: Report) -> dict[str, Any]:
            stages = dict(report.stages)
            stages[stage] = stages[stage].model_copy(update=fields)
            return {"stages": stages}

        self._change(change)

    def event(self, message: str, stage: StageName | None = None, level: str = "info") -> None:
        """Append a line to the run log (and to the process log)."""
        entry = ProgressEvent(stage=stage, level=level, message=message)  # type: ignore[arg-type]
        log.log(
            {"info": logging.INFO, "warning": logging.WARNING}.get(level, logging.ERROR),
            "[%s] %s",
            self.run_id,
            message,
        )

        def change(report: Report) -> dict[str, Any]:
            fields: dict[str, Any] = {"log": [*report.log, entry]}
            if level == "error":
                fields["errors"] = [*report.errors, message]
            return fields

        self._change(change)
        for listener in self.listeners:
            listener(entry)

    def stage_started(self, stage: StageName, detail: str = "") -> None:
        """Mark a stage running."""
        self._change_stage(stage, status="running", started_at=now(), detail=detail)
        self.event(f"{stage.label} started", stage)

    def stage_progress(self, stage: StageName, count: int, detail: str = "") -> None:
        """Update a running stage's count and detail."""
        self._change_stage(stage, count=count, **({"detail": detail} if detail else {}))

    def stage_finished(
        self, stage: StageName, status: str = "done", count: int | None = None, detail: str = ""
    ) -> None:
        """Mark a stage done, failed, skipped or cancelled."""
        fields: dict[str, Any] = {"status": status, "finished_at": now()}
        if count is not None:
            fields["count"] = count
        if detail:
            fields["detail"] = detail
        self._change_stage(stage, **fields)
        self.event(f"{stage.label} {status}" + (f": {detail}" if detail else ""), stage)

    def add_usage(
        self,
        stage: StageName,
        engine: str,
        input_tokens: int,
        output_tokens: int,
        cost_usd: float,
    ) -> None:
        """Add one model call's tokens and cost to the stage's usage."""

        def change(report: Report) -> dict[str, Any]:
            key = (stage, engine)
            old = next((u for u in report.usage if (u.stage, u.engine) == key), None)
            base = old or Usage(stage=stage, engine=engine)
            new = base.model_copy(
                update={
                    "calls": base.calls + 1,
                    "input_tokens": base.input_tokens + input_tokens,
                    "output_tokens": base.output_tokens + output_tokens,
                    "cost_usd": base.cost_usd + cost_usd,
                }
            )
            if old is None:
                return {"usage": [*report.usage, new]}
            return {"usage": [new if u is old else u for u in report.usage]}

        self._change(change)


class StageContext:
    """What an engine may tell the run while it works on one stage."""

    def __init__(self, tracker: RunTracker, stage: StageName) -> None:
        self.tracker = tracker
        self.stage = stage

    def info(self, message: str) -> None:
        """Log an informational line for this stage."""
        self.tracker.event(message, self.stage)

    def warn(self, message: str) -> None:
        """Log a warning for this stage (shown in the run log and on the page)."""
        self.tracker.event(message, self.stage, level="warning")

    def usage(self, engine: str, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        """Record one model call's usage for this stage."""
        self.tracker.add_usage(self.stage, engine, input_tokens, output_tokens, cost_usd)
