"""PipelineRun: what every stage of one run shares (request, services, engine, tracker)."""

from __future__ import annotations

from dataclasses import dataclass

import anyio

from research.engines.base import Engine
from research.models import DiscoveryRequest, SiteAnalysis, StageName
from research.progress import RunTracker, StageContext
from research.services import Services


@dataclass
class PipelineRun:
    """The request, services, engine and tracker of one run."""

    tracker: RunTracker
    services: Services
    engine: Engine
    site: SiteAnalysis | None = None

    @property
    def request(self) -> DiscoveryRequest:
        """The run's request."""
        return self.tracker.request

    @property
    def allow_private(self) -> bool:
        """Whether private and loopback hosts may be fetched in this run."""
        return self.request.allow_private_hosts or self.services.settings.allow_private_hosts

    def context(self, stage: StageName) -> StageContext:
        """Return the context an engine gets for `stage`."""
        return StageContext(self.tracker, stage)

    async def save(self) -> None:
        """Save the current report to the store, off the loop and safe from cancellation."""
        with anyio.CancelScope(shield=True):
            report = await anyio.to_thread.run_sync(
                self.tracker.snapshot, limiter=self.services.threads
            )
            await self.services.store.save(report)
