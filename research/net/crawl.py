"""Site crawl: same-site breadth-first walk from the sitemap, bounded by pages, depth and time."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from functools import partial
from typing import Literal

import anyio

from research.errors import (
    BlockedByRobots,
    FetchError,
    FetchTimeout,
    HostNotAllowed,
    TooLarge,
    UnreadablePage,
    UnsupportedContent,
)
from research.models import FetchedPage, Page, PageIssue
from research.net.extract import extract_page, refresh_target_of
from research.net.fetch import Fetcher
from research.net.policy import check_fetchable
from research.net.robots import Robots, RobotsCache
from research.net.sitemap import sitemap_urls
from research.net.urls import dedupe_key, looks_binary, normalize_url, site_key, trap_key
from research.processes import CpuWorkers, run_cpu

IssueKind = Literal["skipped", "refused", "failed"]
MAX_META_REFRESHES = 3
_SHORT_PAGE_CHARS = 400
MAX_NOTES = 20  # links left out for the same reason (robots, binary) reported per crawl
# Visits at once (fetching, or fetched and waiting for extraction) per fetch slot: fetching goes
# on while the workers catch up, and the pages waiting in memory stay bounded.
VISITS_PER_FETCH = 4
MAX_REMEMBERED_LINKS = 50_000  # links a crawl remembers having considered (see _Crawl.linked)


def issue_kind(error: FetchError) -> IssueKind:
    """Classify a fetch error as a skipped, refused or failed page."""
    if isinstance(error, UnsupportedContent | TooLarge):
        return "skipped"
    if isinstance(error, HostNotAllowed | BlockedByRobots):
        return "refused"
    return "failed"


class _Crawl:
    """The state of one site crawl."""

    def __init__(
        self,
        fetcher: Fetcher,
        robots: RobotsCache,
        *,
        max_pages: int,
        max_depth: int,
        allow_private: bool,
        cpu: CpuWorkers,
        on_page: Callable[[Page], None] | None,
        on_issue: Callable[[PageIssue], None] | None,
    ) -> None:
        self.fetcher = fetcher
        self.robots_cache = robots
        self.max_pages = max_pages
        self.max_depth = max_depth
        self.allow_private = allow_private
        self.cpu = cpu
        self.on_page = on_page
        self.on_issue = on_issue
        self.concurrency = max(1, fetcher.settings.per_host_concurrency)
        self.max_attempts = max_pages * 3 + 10
        self.trap_limit = max(5, max_pages // 5)
        self.pages: list[Page] = []
        self.sites: set[str] = set()
        self.robots = Robots(None, fetcher.settings.user_agent)
        self.queue: deque[tuple[str, int]] = deque()
        self.seen: set[str] = set()
        # Links, as pages write them, already considered: nav and footer links repeat on
        # every page, and parsing them again each time kept the loop busy.
        self.linked: set[str] = set()
        self.shapes: dict[str, int] = {}
        self.noted: Counter[str] = Counter()
        self.attempts = 0
        self.in_flight = 0  # visits not finished (fetching or extracting)
        self.fetching = 0  # visits waiting on the network: at most `concurrency`
        self.seeding = 0
        self.changed = anyio.Event()

    @property
    def wants_more(self) -> bool:
        """Whether the page and attempt budgets leave room for more pages."""
        return len(self.pages) < self.max_pages and self.attempts < self.max_attempts

    @property
    def delay(self) -> float:
        return self.robots.crawl_delay

    def issue(self, url: str, kind: IssueKind, reason: str) -> None:
        if self.on_issue is not None:
            self.on_issue(PageIssue(url=url, kind=kind, reason=reason))

    def note(self, category: str, url: str, kind: IssueKind, reason: str) -> None:
        """Report a link left out before fetching; only the first few of each category."""
        self.noted[category] += 1
        if self.noted[category] <= MAX_NOTES:
            self.issue(url, kind, reason)

    def add_page(self, page: Page) -> None:
        self.pages.append(page)
        if self.on_page is not None:
            self.on_page(page)

    async def extract(self, fetched: FetchedPage, depth: int) -> Page:
        return await run_cpu(
            self.cpu,
            partial(extract_page, depth=depth, status=fetched.status),
            fetched.text,
            fetched.final_url,
        )

    async def start(self, start_url: str) -> Page:
        """Fetch robots.txt and the start page (following meta refreshes); raise on failure."""
        self.sites.add(site_key(start_url))
        self.robots = await self.robots_cache.get(start_url, allow_private=self.allow_private)
        url = start_url
        for _ in range(MAX_META_REFRESHES + 1):
            if not self.robots.allowed(url):
                raise BlockedByRobots(
                    f"robots.txt of {site_key(url)} does not allow fetching {url}.", url
                )
            self.seen.add(dedupe_key(url))
            fetched = await self.fetcher.fetch(
                url, allow_private=self.allow_private, delay=self.delay
            )
            final_site = site_key(fetched.final_url)
            if final_site not in self.sites:
                self.sites.add(final_site)
                self.robots = await self.robots_cache.get(
                    fetched.final_url, allow_private=self.allow_private
                )
            self.seen.add(dedupe_key(fetched.final_url))
            page = await self.extract(fetched, 0)
            refresh = await self.refresh_of(page, fetched.text)
            if refresh is None:
                return page
            url = refresh
        return page

    async def refresh_of(self, page: Page, text: str) -> str | None:
        """The same-site target of a meta refresh on a near-empty page, if any."""
        if "refresh" not in text.lower() or len(page.text) > _SHORT_PAGE_CHARS:
            return None
        target = await run_cpu(self.cpu, refresh_target_of, text, page.url)
        if target is None or site_key(target) not in self.sites:
            return None
        if dedupe_key(target) in self.seen:
            return None
        return target

    def enqueue(self, link: str, depth: int, parent: str = "") -> None:
        """Queue a same-site link unless seen, too deep, binary, a trap or disallowed."""
        if depth > self.max_depth or len(self.queue) >= self.max_pages * 4:
            return  # too deep, or more candidates than the page budget can ever use
        if link in self.linked:
            return
        if len(self.linked) < MAX_REMEMBERED_LINKS:
            self.linked.add(link)  # the sites are known by now: its answer below never changes
        url = normalize_url(link)
        if url is None or site_key(url) not in self.sites:
            return
        key = dedupe_key(url)
        if key in self.seen:
            return
        self.seen.add(key)
        if looks_binary(url):
            self.note("binary", url, "skipped", f"{url} is not an HTML page; it was skipped.")
            return
        # A trap is a series that generates itself: calendar months, endless ?page=N.
        shape = trap_key(url)
        count = self.shapes.get(shape, 0) + (1 if parent and trap_key(parent) == shape else 0)
        self.shapes[shape] = count
        if count > self.trap_limit:
            if count == self.trap_limit + 1:
                self.issue(
                    url,
                    "skipped",
                    f"{url} looks like an endless series of similar pages; "
                    "the crawl stopped following it.",
                )
            return
        if not self.robots.allowed(url):
            reason = f"robots.txt of {site_key(url)} does not allow fetching {url}."
            self.note("robots", url, "refused", reason)
            return
        self.queue.append((url, depth))

    async def visit(self, url: str, depth: int) -> None:
        try:
            try:
                fetched = await self.fetcher.fetch(
                    url, allow_private=self.allow_private, delay=self.delay
                )
            except FetchError as exc:
                self.issue(url, issue_kind(exc), exc.message)
                return
            finally:
                # The next fetch starts while this page is extracted in a worker.
                self.fetching -= 1
                self.changed.set()
            if site_key(fetched.final_url) not in self.sites:
                self.issue(
                    url, "skipped", f"{url} redirects off the site (to {fetched.final_url})."
                )
                return
            final_key = dedupe_key(fetched.final_url)
            if final_key != dedupe_key(url):
                if final_key in self.seen:
                    return
                self.seen.add(final_key)
            if len(self.pages) >= self.max_pages:
                return
            try:
                page = await self.extract(fetched, depth)
            except UnreadablePage as exc:
                self.issue(url, "failed", exc.message)
                return
            self.add_page(page)
            for link in page.links:
                self.enqueue(link, depth + 1, page.url)
        finally:
            self.in_flight -= 1
            self.changed.set()

    async def seed_from_sitemaps(self, site_url: str) -> None:
        """Queue the same-site pages the sitemaps list (while the walk already runs)."""
        try:
            seeds = await sitemap_urls(
                self.fetcher,
                site_url,
                self.robots.sitemaps,
                allow_private=self.allow_private,
                limit=self.max_pages * 4,
                cpu=self.cpu,
            )
            for link in seeds:
                self.enqueue(link, 1)
        finally:
            self.seeding -= 1
            self.changed.set()

    async def walk(self, sitemap_of: str | None) -> None:
        """Visit queued pages breadth-first with bounded concurrency until done or out of budget."""
        async with anyio.create_task_group() as group:
            if sitemap_of is not None:
                self.seeding += 1
                group.start_soon(self.seed_from_sitemaps, sitemap_of)
            while True:
                while (
                    self.queue
                    and self.fetching < self.concurrency
                    and self.in_flight < VISITS_PER_FETCH * self.concurrency
                    and len(self.pages) + self.in_flight < self.max_pages
                    and self.attempts < self.max_attempts
                ):
                    url, depth = self.queue.popleft()
                    self.in_flight += 1
                    self.fetching += 1
                    self.attempts += 1
                    group.start_soon(self.visit, url, depth)
                if self.in_flight == 0 and (self.seeding == 0 or not self.wants_more):
                    group.cancel_scope.cancel()  # nothing left worth waiting for
                    return
                self.changed = anyio.Event()
                await self.changed.wait()


async def crawl_site(
    fetcher: Fetcher,
    start_url: str,
    *,
    max_pages: int,
    max_depth: int,
    time_budget: float,
    allow_private: bool,
    cpu: CpuWorkers,
    on_page: Callable[[Page], None] | None = None,
    on_issue: Callable[[PageIssue], None] | None = None,
    robots: RobotsCache | None = None,
) -> list[Page]:
    """Crawl one site from `start_url`; raise the start page's FetchError, report the rest.

    `robots` is the process's robots.txt cache; without one the crawl reads robots.txt anew.
    """
    start = normalize_url(start_url)
    if start is None:
        check_fetchable(start_url)
        raise HostNotAllowed(f"{start_url} is not a web address that can be crawled.", start_url)
    crawl = _Crawl(
        fetcher,
        robots or RobotsCache(fetcher.fetch_resource, fetcher.settings.user_agent),
        max_pages=max_pages,
        max_depth=max_depth,
        allow_private=allow_private,
        cpu=cpu,
        on_page=on_page,
        on_issue=on_issue,
    )
    with anyio.move_on_after(time_budget) as scope:
        home = await crawl.start(start)
        crawl.add_page(home)
        for link in home.links:
            crawl.enqueue(link, 1)
        await crawl.walk(home.url if max_depth > 0 and max_pages > 1 else None)
    if scope.cancelled_caught and not crawl.pages:
        raise FetchTimeout(
            f"{start} did not answer within the crawl time budget ({time_budget:g} s).", start
        )
    return crawl.pages
