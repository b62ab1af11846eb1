"""robots.txt: fetched once per host, obeyed for our user agent (rules, Crawl-delay, Sitemap)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

import anyio

from research.errors import FetchError, HostNotAllowed

if TYPE_CHECKING:
    from research.net.fetch import Resource

ROBOTS_TTL = 3600.0
ROBOTS_CACHE_SIZE = 512
MAX_ROBOTS_BYTES = 512 * 1024


class Robots:
    """The robots.txt rules of one origin for one user agent."""

    def __init__(self, text: str | None, user_agent: str) -> None:
        self.user_agent = user_agent
        self._parser: RobotFileParser | None = None
        self._delays: dict[str, float] = {}
        if text:
            self._parser = RobotFileParser()
            self._parser.parse(text.splitlines())
            self._delays = _crawl_delays(text)

    def allowed(self, url: str) -> bool:
        """Whether our user agent may fetch `url`."""
        return self._parser is None or self._parser.can_fetch(self.user_agent, url)

    @property
    def crawl_delay(self) -> float:
        """Seconds to wait between requests, as robots.txt asks (0 when it does not)."""
        product = self.user_agent.split("/", 1)[0].lower()
        for agent, delay in self._delays.items():
            if agent != "*" and agent in product:
                return delay
        return self._delays.get("*", 0.0)

    @property
    def sitemaps(self) -> list[str]:
        """Sitemap URLs listed in robots.txt."""
        if self._parser is None:
            return []
        return list(self._parser.site_maps() or [])


def _crawl_delays(text: str) -> dict[str, float]:
    """Crawl-delay per user agent (the standard library's parser drops fractional values)."""
    delays: dict[str, float] = {}
    agents: list[str] = []
    in_rules = False
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        field, value = (part.strip() for part in line.split(":", 1))
        field = field.lower()
        if field == "user-agent":
            if in_rules:
                agents, in_rules = [], False
            agents.append(value.split("/", 1)[0].lower())
            continue
        in_rules = True
        if field == "crawl-delay":
            try:
                delay = max(0.0, float(value))
            except ValueError:
                continue
            for agent in agents:
                delays[agent] = delay
    return delays


FetchResource = Callable[..., Awaitable["Resource"]]


def origin_of(url: str) -> str:
    """Return scheme://host[:port] of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


class RobotsCache:
    """robots.txt per origin, fetched once and kept for an hour (bounded in size)."""

    def __init__(self, fetch_resource: FetchResource, user_agent: str) -> None:
        self._fetch = fetch_resource
        self._user_agent = user_agent
        self._entries: OrderedDict[str, tuple[float, Robots]] = OrderedDict()
        self._locks: dict[str, anyio.Lock] = {}

    async def get(self, url: str, *, allow_private: bool) -> Robots:
        """Return the robots rules for `url`'s origin; a missing or broken robots.txt allows all."""
        origin = origin_of(url)
        lock = self._locks.setdefault(origin, anyio.Lock())
        try:
            async with lock:
                cached = self._entries.get(origin)
                if cached is not None and time.monotonic() - cached[0] < ROBOTS_TTL:
                    self._entries.move_to_end(origin)
                    return cached[1]
                robots = Robots(await self._load(origin, allow_private), self._user_agent)
                self._entries[origin] = (time.monotonic(), robots)
                while len(self._entries) > ROBOTS_CACHE_SIZE:
                    self._entries.popitem(last=False)
                return robots
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(origin, None)

    async def _load(self, origin: str, allow_private: bool) -> str | None:
        try:
            resource = await self._fetch(
                origin + "/robots.txt", allow_private=allow_private, attempts=1
            )
        except HostNotAllowed:
            raise
        except FetchError:
            return None
        body = resource.body[:MAX_ROBOTS_BYTES]
        if "html" in resource.content_type.lower():
            return None  # a soft 404 page, not robots rules
        return body.decode("utf-8", errors="replace")
