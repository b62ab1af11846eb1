"""PipelineRun: what every stage of one run shares (request, services, engine, tracker)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
    _saving: anyio.Lock = field(default_factory=anyio.Lock, init=False, repr=False)

    @property
    def request(self) -> DiscoveryRequest:
        """The run's request."""
        return self.tracker.request

    @property
    def allow_private(self) -> bool:
        """Whether private and loopback hosts may be fetched in this run."""
        return self.services.settings.allow_private(self.request.allow_private_hosts)

    def context(self, stage: StageName) -> StageContext:
        """Return the context an engine gets for `stage`."""
        return StageContext(self.tracker, stage)

    async def save(self) -> None:
        """Save the current report to the store, off the loop and safe from cancellation."""
        # One save at a time, each snapshotting when its turn comes: stages 1 and 2 save
        # concurrently, and an older snapshot written last would undo the newer one.
        with anyio.CancelScope(shield=True):
            async with self._saving:
                await self.services.store.save(self.tracker.snapshot())
