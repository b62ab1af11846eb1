"""JobManager and Job: discovery runs on the LoopRunner, observed from any thread."""

from __future__ import annotations

import concurrent.futures
import threading
from collections import OrderedDict

from pydantic import SecretStr

from research.models import DiscoveryRequest, Report, ReviewEdits, now
from research.pipeline.run import run_pipeline
from research.progress import RunTracker
from research.review import cancel_paused, continue_paused
from research.runtime.loop_runner import LoopRunner
from research.store import WAIT_SECONDS


class Job:
    """One run in progress or finished: a live report and the future running it."""

    def __init__(self, tracker: RunTracker, future: concurrent.futures.Future[Report]) -> None:
        self.tracker = tracker
        self.future = future

    @property
    def id(self) -> str:
        """The job id, which is also the run id."""
        return self.tracker.run_id

    @property
    def done(self) -> bool:
        """Whether the run has ended and its final report is saved."""
        return self.tracker.finished.is_set()

    def snapshot(self) -> Report:
        """Return a consistent copy of the run's report (status, stages, results, log)."""
        return self.tracker.snapshot()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends; return whether it did within `timeout` seconds."""
        return self.tracker.finished.wait(timeout)

    def cancel(self) -> None:
        """Ask the run to stop; it ends 'cancelled' with its partial report saved."""
        self.future.cancel()


def _finish_on_crash(tracker: RunTracker, future: concurrent.futures.Future[Report]) -> None:
    """Make a run that crashed outside the pipeline's own handling end as 'failed'."""
    if future.cancelled() or future.exception() is None or tracker.finished.is_set():
        return
    message = f"The run could not start ({type(future.exception()).__name__})."
    tracker.set(status="failed", finished_at=now())
    tracker.event(message, level="error")
    tracker.finished.set()


class JobManager:
    """Starts runs on the loop and keeps the recent ones for the pages to observe."""

    def __init__(self, runner: LoopRunner, retention: int | None = None) -> None:
        self.runner = runner
        self.retention = retention or runner.settings.job_retention
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, request: DiscoveryRequest, api_key: SecretStr | None = None) -> str:
        """Start a discovery run and return its job id."""
        return self._launch(RunTracker(Report(request=request)), api_key)

    def resume(self, run_id: str, api_key: SecretStr | None = None) -> str:
        """Continue a saved run from its first unfinished stage; return its job id."""
        existing = self.get(run_id)
        if existing is not None and not existing.done:
            return run_id
        services = self.runner.services()
        report = self.runner.submit(services.store.claim(run_id)).result(timeout=WAIT_SECONDS)
        return self._launch(RunTracker(report), api_key)

    def continue_review(
        self, run_id: str, edits: ReviewEdits | None = None, api_key: SecretStr | None = None
    ) -> str:
        """Apply review edits to a paused run and continue it from the next stage; its job id."""
        store = self.runner.services().store
        future = self.runner.submit(continue_paused(store, run_id, edits))
        return self._launch(RunTracker(future.result(timeout=WAIT_SECONDS)), api_key)

    def cancel_review(self, run_id: str) -> Report:
        """Cancel a run waiting for review (no task runs it); return its saved report."""
        store = self.runner.services().store
        report = self.runner.submit(cancel_paused(store, run_id)).result(timeout=WAIT_SECONDS)
        with self._lock:
            self._jobs.pop(run_id, None)  # its paused snapshot is stale now
        return report

    def _launch(self, tracker: RunTracker, api_key: SecretStr | None) -> str:
        services = self.runner.services()
        future = self.runner.submit(run_pipeline(tracker, services, api_key=api_key))
        future.add_done_callback(lambda done: _finish_on_crash(tracker, done))
        job = Job(tracker, future)
        with self._lock:
            self._jobs[job.id] = job
            self._jobs.move_to_end(job.id)
            self._evict()
        return job.id

    def _evict(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.done]
        for job_id in finished[: max(0, len(finished) - self.retention)]:
            del self._jobs[job_id]

    def get(self, job_id: str) -> Job | None:
        """Return the job with this id, if this process still holds it."""
        with self._lock:
            return self._jobs.get(job_id)

    def running(self) -> list[Job]:
        """Return the jobs that have not finished."""
        with self._lock:
            return [job for job in self._jobs.values() if not job.done]
