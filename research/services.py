"""Services: the long-lived resources one process shares across runs, created on the loop."""

from __future__ import annotations

from collections import OrderedDict

import anyio
from pydantic import SecretStr

from research.config import Settings
from research.engines.base import Engine
from research.engines.gemini import GeminiEngine
from research.engines.gemini.client import key_fingerprint
from research.engines.local import LocalEngine
from research.net.extract import prepare_extraction
from research.net.fetch import Fetcher
from research.net.robots import RobotsCache
from research.processes import ProcessPool
from research.store import RunStore, open_store

# What worker processes run, imported when each starts rather than during a run's first stage.
WORKER_MODULES = (
    "research.net.extract",
    "research.text.keyphrases",
    "research.engines.local",
    "research.export",
)


def start_processes(settings: Settings) -> ProcessPool:
    """Return a process pool for CPU work, its workers already starting (off the loop)."""
    pool = ProcessPool(settings.worker_processes, WORKER_MODULES, (prepare_extraction,))
    pool.warm()
    return pool


class Services:
    """Fetcher, robots.txt cache, store, engines, worker processes and thread limiter; open on
    the loop, close with aclose()."""

    def __init__(
        self,
        settings: Settings,
        fetcher: Fetcher,
        store: RunStore,
        processes: ProcessPool | None = None,
    ) -> None:
        self.settings = settings
        self.fetcher = fetcher
        self.robots = RobotsCache(fetcher.fetch_resource, settings.user_agent)
        self.store = store
        self.threads = anyio.CapacityLimiter(settings.worker_threads)
        # A pool handed in belongs to its giver (the LoopRunner); one started here is closed here.
        self._owns_processes = processes is None
        self.processes = processes or start_processes(settings)
        self.local = LocalEngine(self.processes)
        self.gemini_calls = anyio.CapacityLimiter(max(1, settings.gemini_concurrency))
        self._gemini: OrderedDict[str, GeminiEngine] = OrderedDict()

    @classmethod
    async def open(cls, settings: Settings, processes: ProcessPool | None = None) -> Services:
        """Create the shared resources; call on the event loop that will use them."""
        fetcher = Fetcher(settings)
        store = await open_store(settings)
        return cls(settings, fetcher, store, processes)

    async def engine(self, name: str, api_key: SecretStr | None = None) -> Engine:
        """Return the engine for 'local', 'gemini' or 'auto'; a session's own key wins."""
        key = self.settings.gemini_key(api_key)
        if self.settings.resolve_engine(name, api_key) == "local":
            return self.local
        fingerprint = key_fingerprint(key) if key is not None else ""
        gemini = self._gemini.get(fingerprint)
        if gemini is None:
            # Raises GeminiAuthError (a one-line message) when there is no key at all.
            gemini = self._gemini[fingerprint] = GeminiEngine(
                self.settings, self.fetcher, self.local, key, self.gemini_calls
            )
        self._gemini.move_to_end(fingerprint, last=False)
        # One engine per key (client, limits, breaker), most recently used first: browser
        # sessions may each type their own key, so older ones are let go.
        while len(self._gemini) > self.settings.gemini_engines_kept:
            # Runs still holding the evicted engine keep working; its client closes when idle.
            _, evicted = self._gemini.popitem()
            await evicted.retire()
        return gemini

    async def open_breakers(self) -> tuple[int, int]:
        """Return (Gemini clients in use, how many of them have their circuit breaker open)."""
        clients = [engine.client for engine in self._gemini.values()]
        return len(clients), sum(1 for client in clients if client.breaker.is_open)

    async def aclose(self) -> None:
        """Close everything this process opened (HTTP client, Gemini client, store, workers)."""
        with anyio.CancelScope(shield=True):
            for gemini in self._gemini.values():
                await gemini.aclose()
            await self.fetcher.aclose()
            await self.store.aclose()
            if self._owns_processes:
                await anyio.to_thread.run_sync(self.processes.close)
