"""RunTracker: the live report of one run, written on the loop and read from any thread."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from research.models import DiscoveryRequest, ProgressEvent, Report, StageName, Usage, now

log = logging.getLogger("research.run")


class RunTracker:
    """Holds a run's report; every change and every snapshot goes through one lock."""

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
        """Return a deep copy of the report, safe to read in another thread."""
        with self._lock:
            return self._report.model_copy(deep=True)

    def update(self, change: Callable[[Report], None]) -> None:
        """Apply `change` to the report under the lock."""
        with self._lock:
            change(self._report)

    def event(self, message: str, stage: StageName | None = None, level: str = "info") -> None:
        """Append a line to the run log (and to the process log)."""
        entry = ProgressEvent(stage=stage, level=level, message=message)  # type: ignore[arg-type]
        log.log(
            {"info": logging.INFO, "warning": logging.WARNING}.get(level, logging.ERROR),
            "[%s] %s",
            self.run_id,
            message,
        )
        with self._lock:
            self._report.log.append(entry)
            if level == "error":
                self._report.errors.append(message)
        for listener in self.listeners:
            listener(entry)

    def stage_started(self, stage: StageName, detail: str = "") -> None:
        """Mark a stage running."""
        with self._lock:
            state = self._report.stages[stage]
            state.status, state.started_at, state.detail = "running", now(), detail
        self.event(f"{stage.label} started", stage)

    def stage_progress(self, stage: StageName, count: int, detail: str = "") -> None:
        """Update a running stage's count and detail."""
        with self._lock:
            state = self._report.stages[stage]
            state.count = count
            if detail:
                state.detail = detail

    def stage_finished(
        self, stage: StageName, status: str = "done", count: int | None = None, detail: str = ""
    ) -> None:
        """Mark a stage done, failed, skipped or cancelled."""
        with self._lock:
            state = self._report.stages[stage]
            state.status = status  # type: ignore[assignment]
            state.finished_at = now()
            if count is not None:
                state.count = count
            if detail:
                state.detail = detail
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
        with self._lock:
            for usage in self._report.usage:
                if usage.stage == stage and usage.engine == engine:
                    break
            else:
                usage = Usage(stage=stage, engine=engine)
                self._report.usage.append(usage)
            usage.calls += 1
            usage.input_tokens += input_tokens
            usage.output_tokens += output_tokens
            usage.cost_usd += cost_usd


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
