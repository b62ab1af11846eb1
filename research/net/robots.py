"""robots.txt: fetched once per host, obeyed for our user agent (rules, Crawl-delay, Sitemap)."""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import anyio

from research.errors import FetchError, HostNotAllowed
from research.models import Resource
from research.net.urls import origin_of

ROBOTS_TTL = 3600.0
ROBOTS_CACHE_SIZE = 512
MAX_ROBOTS_BYTES = 512 * 1024
_PARSE_IN_THREAD_CHARS = 8192


@dataclass
class _Group:
    """One user-agent group: its agents, (allow, pattern) rules and crawl delay."""

    agents: list[str] = field(default_factory=list)
    rules: list[tuple[bool, str]] = field(default_factory=list)
    delay: float | None = None


def _parse(text: str) -> tuple[list[_Group], list[str]]:
    """Split robots.txt into user-agent groups and Sitemap lines (RFC 9309)."""
    groups: list[_Group] = []
    sitemaps: list[str] = []
    current: _Group | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        name, value = (part.strip() for part in line.split(":", 1))
        name = name.lower()
        if name == "sitemap":
            if value:
                sitemaps.append(value)
        elif name == "user-agent":
            if current is None or current.rules or current.delay is not None:
                current = _Group()
                groups.append(current)
            current.agents.append(value.split("/", 1)[0].strip().lower())
        elif current is None:
            continue
        elif name in ("allow", "disallow"):
            if value:
                current.rules.append((name == "allow", value))
        elif name == "crawl-delay":
            try:
                current.delay = max(0.0, float(value))
            except ValueError:
                continue
    return groups, sitemaps


def _prefix(rule: str) -> str:
    """The literal start every path a rule matches begins with."""
    body = rule[:-1] if rule.endswith("$") else rule
    return unquote(body.split("*", 1)[0])


def _pattern(rule: str) -> re.Pattern[str]:
    """Compile a path rule: '*' matches anything, a final '$' anchors the end."""
    anchored = rule.endswith("$")
    body = rule[:-1] if anchored else rule
    regex = ".*".join(re.escape(unquote(part)) for part in body.split("*"))
    return re.compile(regex + ("$" if anchored else ""))


class Robots:
    """The robots.txt rules of one origin for one user agent (RFC 9309, with * and $)."""

    def __init__(self, text: str | None, user_agent: str) -> None:
        self.user_agent = user_agent
        groups, self.sitemaps = _parse(text or "")
        product = user_agent.split("/", 1)[0].strip().lower()
        mine = [g for g in groups if product in g.agents]
        chosen = mine or [g for g in groups if "*" in g.agents]
        # Rules by their literal prefix: a path is matched only against the rules whose prefix
        # it starts with, so a robots.txt of thousands of rules stays cheap per link.
        self._rules: dict[str, list[tuple[int, bool, re.Pattern[str]]]] = {}
        for group in chosen:
            for allow, rule in group.rules:
                entry = (len(rule), allow, _pattern(rule))
                self._rules.setdefault(_prefix(rule), []).append(entry)
        self._longest = max(map(len, self._rules), default=0)
        delays = [g.delay for g in chosen if g.delay is not None]
        self.crawl_delay = max(delays) if delays else 0.0

    def allowed(self, url: str) -> bool:
        """Whether our user agent may fetch `url` (the longest matching rule wins; Allow on ties)."""
        parts = urlsplit(url)
        path = unquote(parts.path or "/") + (f"?{unquote(parts.query)}" if parts.query else "")
        if path == "/robots.txt":
            return True
        best: tuple[int, bool] | None = None
        for end in range(min(len(path), self._longest) + 1):
            for length, allow, pattern in self._rules.get(path[:end], ()):
                if pattern.match(path) and (best is None or (length, allow) > best):
                    best = (length, allow)
        return best is None or best[1]


FetchResource = Callable[..., Awaitable[Resource]]


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
                text = await self._load(origin, allow_private)
                if text is not None and len(text) > _PARSE_IN_THREAD_CHARS:
                    robots = await anyio.to_thread.run_sync(Robots, text, self._user_agent)
                else:
                    robots = Robots(text, self._user_agent)
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
