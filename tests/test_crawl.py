"""crawl_site against the hostile fixture site: every case ends as expected, the rest is crawled."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from research.config import USER_AGENT, Settings
from research.errors import (
    BlockedByRobots,
    FetchTimeout,
    HostNotAllowed,
    HTTPStatusError,
    UnsupportedContent,
)
from research.models import DiscoveryRequest, Page, PageIssue, Report, StageName
from research.net.crawl import MAX_NOTES, crawl_site
from research.net.fetch import Fetcher
from research.net.robots import RobotsCache
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from tests.conftest import SLOW_CALLBACK
from tests.fakes.hostile import (
    LATIN1_TEXT,
    SJIS_TEXT,
    UTF8_TEXT,
    FixtureServer,
    Route,
    hang,
    page,
    serve,
    serve_hostile,
)

MAX_PAGES = 60
TRAP_LIMIT = MAX_PAGES // 5


def hostile_settings(**changes: object) -> Settings:
    """Short deadlines; 127.0.0.1 allowed as an intranet, other private addresses refused."""
    intranet = Settings.from_env({"RESEARCH_ALLOWED_NETWORKS": "127.0.0.1"}, secrets_file=None)
    values: dict[str, object] = {
        **intranet.model_dump(),
        "connect_timeout": 0.5,
        "read_timeout": 2.0,
        "page_timeout": 1.0,
        "max_body_bytes": 1_000_000,
        "fetch_backoff": 0.05,
        "retry_after_cap": 0.2,
        "fetch_retry_budget": 3.0,
        "per_host_concurrency": 4,
    }
    values.update(changes)
    return Settings.model_validate(values)


@pytest.fixture
def hostile() -> Iterator[FixtureServer]:
    with serve_hostile() as server:
        yield server


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    client = Fetcher(hostile_settings())
    yield client
    await client.aclose()


async def crawl(
    fetcher: Fetcher,
    url: str,
    *,
    max_pages: int = MAX_PAGES,
    max_depth: int = 10,
    time_budget: float = 30.0,
    allow_private: bool = False,
    robots: RobotsCache | None = None,
) -> tuple[list[Page], list[PageIssue], list[Page]]:
    """Crawl `url`; return the pages, the issues reported and the pages reported as they came."""
    issues: list[PageIssue] = []
    seen: list[Page] = []
    pages = await crawl_site(
        fetcher,
        url,
        max_pages=max_pages,
        max_depth=max_depth,
        time_budget=time_budget,
        allow_private=allow_private,
        cpu=anyio.CapacityLimiter(2),
        on_page=seen.append,
        on_issue=issues.append,
        robots=robots,
    )
    return pages, issues, seen


@pytest.mark.anyio
async def test_hostile_site_each_case_ends_as_expected(
    hostile: FixtureServer, fetcher: Fetcher
) -> None:
    pages, issues, seen = await crawl(fetcher, hostile.url("/"))
    base = hostile.base
    by_url = {issue.url.removeprefix(base): issue for issue in issues}
    expected = {
        "/slow": ("failed", f"{base}/slow did not answer within 1 s."),
        "/hang": ("failed", f"{base}/hang did not answer within 1 s."),
        "/big": ("skipped", f"{base}/big is larger than 1 MB; it was skipped."),
        "/big-chunked": ("skipped", f"{base}/big-chunked is larger than 1 MB; it was skipped."),
        "/bomb": ("skipped", f"{base}/bomb is larger than 1 MB; it was skipped."),
        "/loop-a": ("failed", f"{base}/loop-a redirects in a loop."),
        "/hop/1": ("failed", f"{base}/hop/1 redirects more than 5 times."),
        "/to-metadata": (
            "refused",
            "169.254.169.254 points to a cloud metadata address (169.254.169.254), "
            "which is never fetched.",
        ),
        "/to-private": (
            "refused",
            "127.0.0.2 resolves to a private or reserved address (127.0.0.2); "
            "fetching it is allowed only with --allow-private-hosts or "
            "RESEARCH_ALLOW_PRIVATE_HOSTS=1.",
        ),
        "/missing": ("failed", f"{base}/missing answered with HTTP 404 Not Found."),
        "/private/secret": (
            "refused",
            f"robots.txt of 127.0.0.1:{hostile.server_address[1]} does not allow fetching "
            f"{base}/private/secret.",
        ),
        "/report": (
            "skipped",
            f"{base}/report is not an HTML page (application/pdf); it was skipped.",
        ),
        "/doc.pdf": ("skipped", f"{base}/doc.pdf is not an HTML page; it was skipped."),
    }
    for path, (kind, reason) in expected.items():
        assert path in by_url, f"no issue for {path}: {[i.url for i in issues]}"
        assert (by_url[path].kind, by_url[path].reason) == (kind, reason), path
    # Nothing else went wrong: the only other issues are the two traps' (below).
    others = sorted(path for path in by_url if path not in expected)
    assert [path.split("/")[1][:4] for path in others] == ["cale", "list"], others

    urls = {p.url.removeprefix(base) for p in pages}
    regular = {"/", "/about", "/blog/", "/blog/post-1", "/blog/post-2", "/contact"}
    assert regular <= urls
    assert "/only-in-sitemap" in urls  # only the gzipped child of the sitemap index lists it
    assert {
        "/flaky",
        "/busy",
        "/latin1",
        "/sjis",
        "/utf8-wrong",
        "/script-only",
        "/malformed",
    } <= urls
    assert [p.url for p in seen] == [p.url for p in pages]
    assert seen[0].url == base + "/"

    # Retries: 500 then 200 and 429 (Retry-After 3600, capped) then 200; a 404 is not retried.
    assert hostile.hits["/flaky"] == 2
    assert hostile.hits["/busy"] == 2
    assert hostile.hits["/missing"] == 1
    # Timeouts, caps and refusals are final: each was requested once, and no redirect was
    # followed past a refusal, a loop or the fifth hop.
    once = ["/slow", "/hang", "/big", "/big-chunked", "/bomb", "/report", "/to-metadata"]
    once += ["/to-private", "/loop-a", "/loop-b", *(f"/hop/{n}" for n in range(1, 7))]
    assert {path: hostile.hits[path] for path in once} == dict.fromkeys(once, 1)
    assert hostile.hits["/hop/7"] == 0
    # Robots-disallowed and binary-looking links are never requested; robots.txt only once.
    assert hostile.hits["/private/secret"] == 0
    assert hostile.hits["/doc.pdf"] == 0
    assert hostile.hits["/robots.txt"] == 1

    # The calendar and the endless query-string listing are cut off and said so.
    for prefix in ("/calendar/", "/list?"):
        series = [u for u in urls if u.startswith(prefix)]
        assert 1 <= len(series) <= TRAP_LIMIT + 1, series
        [trap] = [i for i in issues if i.url.startswith(base + prefix)]
        assert trap.kind == "skipped"
        assert trap.reason == (
            f"{trap.url} looks like an endless series of similar pages; "
            "the crawl stopped following it."
        )
    assert hostile.user_agents == {USER_AGENT}

    text = {p.url.removeprefix(base): p for p in pages}
    assert LATIN1_TEXT in text["/latin1"].text
    assert SJIS_TEXT.rstrip("。") in text["/sjis"].text
    assert UTF8_TEXT in text["/utf8-wrong"].text
    assert text["/script-only"].text == ""
    assert "document.write" not in text["/script-only"].text
    assert "Broken heading" in text["/malformed"].headings
    assert "Still readable text" in text["/malformed"].text
    assert text["/about"].title == "About"


@pytest.mark.anyio
async def test_meta_refresh_start_page_is_followed(
    hostile: FixtureServer, fetcher: Fetcher
) -> None:
    pages, _issues, _seen = await crawl(fetcher, hostile.url("/refresh-start"), max_pages=3)
    assert pages[0].url == hostile.url("/about")
    assert pages[0].title == "About"


START_FAILURES = [
    ("/hang", FetchTimeout, "{base}/hang did not answer within 1 s."),
    (
        "/report",
        UnsupportedContent,
        "{base}/report is not an HTML page (application/pdf); it was skipped.",
    ),
    ("/missing", HTTPStatusError, "{base}/missing answered with HTTP 404 Not Found."),
    (
        "/private/secret",
        BlockedByRobots,
        "robots.txt of {host} does not allow fetching {base}/private/secret.",
    ),
    (
        "/to-metadata",
        HostNotAllowed,
        "169.254.169.254 points to a cloud metadata address (169.254.169.254), "
        "which is never fetched.",
    ),
]


@pytest.mark.parametrize(("path", "error", "message"), START_FAILURES)
@pytest.mark.anyio
async def test_failing_start_page_raises_its_error(
    hostile: FixtureServer, fetcher: Fetcher, path: str, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        await crawl(fetcher, hostile.url(path))
    host = f"127.0.0.1:{hostile.server_address[1]}"
    assert str(caught.value) == message.format(base=hostile.base, host=host)


@pytest.mark.anyio
async def test_private_start_refused_unless_allowed(hostile: FixtureServer) -> None:
    strict = Fetcher(hostile_settings(allowed_networks=[]))
    try:
        with pytest.raises(HostNotAllowed, match=r"private or reserved address \(127\.0\.0\.1\)"):
            await crawl(strict, hostile.url("/"))
        assert hostile.hits["/"] == 0
        assert hostile.hits["/robots.txt"] == 0
        pages, _issues, _seen = await crawl(
            strict, hostile.url("/about"), max_pages=1, max_depth=0, allow_private=True
        )
        assert [p.title for p in pages] == ["About"]
    finally:
        await strict.aclose()


@pytest.mark.anyio
async def test_crawl_bounded_by_pages_and_depth(hostile: FixtureServer, fetcher: Fetcher) -> None:
    pages, _issues, _seen = await crawl(fetcher, hostile.url("/blog/"), max_pages=2, max_depth=1)
    assert len(pages) == 2
    pages, _issues, _seen = await crawl(fetcher, hostile.url("/contact"), max_pages=10, max_depth=0)
    assert [p.url for p in pages] == [hostile.url("/contact")]


@pytest.fixture
def hanging_site() -> Iterator[FixtureServer]:
    routes: dict[str, Route] = {"/": page("Home", links=[f"/wait/{n}" for n in range(4)])}
    routes.update({f"/wait/{n}": hang for n in range(4)})
    with serve(routes) as server:
        yield server


@pytest.mark.anyio
async def test_cancelling_a_crawl_stops_in_flight_requests(hanging_site: FixtureServer) -> None:
    server = hanging_site
    client = Fetcher(hostile_settings(page_timeout=30.0, read_timeout=30.0))
    first = anyio.Event()
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(
                lambda: crawl_site(
                    client,
                    server.url("/"),
                    max_pages=10,
                    max_depth=2,
                    time_budget=60.0,
                    allow_private=False,
                    cpu=anyio.CapacityLimiter(1),
                    on_page=lambda _p: first.set(),
                )
            )
            with anyio.fail_after(5):
                await first.wait()
            waiting = await anyio.to_thread.run_sync(
                server.wait_until, lambda s: sum(s.hits[f"/wait/{n}"] for n in range(4)) == 4, 5.0
            )
            assert waiting, server.hits
            group.cancel_scope.cancel()
        # Every hanging request sees its client go away within a second of the cancel.
        gone = await anyio.to_thread.run_sync(
            server.wait_until, lambda s: len(s.disconnects) == 4, 1.0
        )
        assert gone, server.disconnects
    finally:
        await client.aclose()


def polite_routes(robots: bytes) -> dict[str, Route]:
    return {
        "/": page("Home", links=["/a", "/b", "/c"]),
        "/a": page("A"),
        "/b": page("B"),
        "/c": page("C"),
        "/robots.txt": lambda handler: handler.send(200, robots, "text/plain"),
    }


@pytest.mark.parametrize(
    ("robots", "politeness"),
    [(b"User-agent: *\nCrawl-delay: 0.2\n", 0.0), (b"User-agent: *\nDisallow:\n", 0.2)],
    ids=["robots-crawl-delay", "politeness-delay-setting"],
)
@pytest.mark.anyio
async def test_requests_to_a_host_are_spaced(robots: bytes, politeness: float) -> None:
    client = Fetcher(hostile_settings(politeness_delay=politeness))
    try:
        with serve(polite_routes(robots)) as server:
            pages, _issues, _seen = await crawl(client, server.url("/"), max_pages=4, max_depth=1)
    finally:
        await client.aclose()
    assert len(pages) == 4
    stamps = [
        at
        for path, at in zip(server.requests, server.times, strict=True)
        if path in ("/", "/a", "/b", "/c")
    ]
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert len(gaps) == 3 and min(gaps) >= 0.15, gaps


@pytest.mark.anyio
async def test_crawls_sharing_a_robots_cache_read_robots_txt_once(fetcher: Fetcher) -> None:
    robots = b"User-agent: *\nDisallow: /c\n"
    shared = RobotsCache(fetcher.fetch_resource, USER_AGENT)
    with serve(polite_routes(robots)) as server:
        for _ in range(2):
            pages, _issues, _seen = await crawl(
                fetcher, server.url("/"), max_pages=4, max_depth=1, robots=shared
            )
            assert sorted(p.url.rsplit("/", 1)[1] for p in pages) == ["", "a", "b"]
        assert server.hits["/robots.txt"] == 1  # the second crawl used the cached rules
        await crawl(fetcher, server.url("/"), max_pages=4, max_depth=1)
        assert server.hits["/robots.txt"] == 2  # without a cache, a crawl reads its own
        assert server.hits["/c"] == 0


@pytest.mark.anyio
async def test_time_budget_returns_what_the_crawl_has(hanging_site: FixtureServer) -> None:
    client = Fetcher(hostile_settings(page_timeout=30.0, read_timeout=30.0))
    try:
        pages, _issues, _seen = await crawl(
            client, hanging_site.url("/"), max_pages=10, max_depth=2, time_budget=0.5
        )
    finally:
        await client.aclose()
    assert [p.title for p in pages] == ["Home"]
    gone = await anyio.to_thread.run_sync(
        hanging_site.wait_until, lambda s: len(s.disconnects) == 4, 1.0
    )
    assert gone, hanging_site.disconnects


@pytest.fixture
def hostile_runner(tmp_path: Path) -> Iterator[LoopRunner]:
    """A debug-mode LoopRunner whose services use the hostile settings."""
    runner = LoopRunner(
        hostile_settings(db_path=tmp_path / "runs.sqlite3"), debug=True, slow_callback=SLOW_CALLBACK
    )
    yield runner
    runner.shutdown()


def run_to_end(runner: LoopRunner, url: str, **request: Any) -> Report:
    """Start a local-engine run through JobManager and return its final report."""
    jobs = JobManager(runner)
    job = jobs.get(jobs.start(DiscoveryRequest(url=url, engine="local", **request)))
    assert job is not None and job.wait(60)
    return job.snapshot()


PIPELINE_START_FAILURES = [
    ("/hang", "{base}/hang did not answer within 1 s."),
    ("/report", "{base}/report is not an HTML page (application/pdf); it was skipped."),
    (
        "/to-private",
        "127.0.0.2 resolves to a private or reserved address (127.0.0.2); "
        "fetching it is allowed only with --allow-private-hosts or RESEARCH_ALLOW_PRIVATE_HOSTS=1.",
    ),
]


@pytest.mark.parametrize(("path", "message"), PIPELINE_START_FAILURES)
def test_failing_start_url_fails_stage_one_with_its_sentence(
    hostile: FixtureServer, hostile_runner: LoopRunner, path: str, message: str
) -> None:
    report = run_to_end(hostile_runner, hostile.url(path))
    sentence = message.format(base=hostile.base)
    assert report.status == "failed"
    assert report.stages[StageName.SITE].status == "failed"
    assert report.stages[StageName.SITE].detail == sentence
    assert report.errors == [sentence]
    assert report.stages[StageName.BRIEFS].status == "skipped"


def test_failing_pages_are_warnings_and_the_run_completes(
    hostile: FixtureServer, hostile_runner: LoopRunner
) -> None:
    report = run_to_end(hostile_runner, hostile.url("/"), max_pages=MAX_PAGES, max_depth=10)
    assert report.status == "completed", report.errors
    assert report.errors == []
    warnings = {event.message for event in report.log if event.level == "warning"}
    base = hostile.base
    for sentence in (
        f"{base}/slow did not answer within 1 s.",
        f"{base}/bomb is larger than 1 MB; it was skipped.",
        f"{base}/loop-a redirects in a loop.",
        "169.254.169.254 points to a cloud metadata address (169.254.169.254), "
        "which is never fetched.",
        f"{base}/report is not an HTML page (application/pdf); it was skipped.",
        f"{base}/missing answered with HTTP 404 Not Found.",
    ):
        assert sentence in warnings, sorted(warnings)
    assert report.site is not None
    assert {i.reason for i in report.site.issues} <= warnings
    crawled = {p.url.removeprefix(base) for p in report.site.pages}
    assert {"/", "/about", "/blog/post-1", "/latin1", "/sjis", "/only-in-sitemap"} <= crawled
    assert report.topics and report.briefs


@pytest.fixture
def long_sitemap_site() -> Iterator[FixtureServer]:
    """A sitemap of 150,000 URLs on other sites around the two pages it lists for this one."""
    routes: dict[str, Route] = {
        "/": page("Home"),
        "/listed-1": page("Listed one"),
        "/listed-2": page("Listed two"),
    }
    with serve(routes) as server:
        locs = [server.url(f"/listed-{n}") for n in (1, 2)]
        locs += [f"https://elsewhere-{n % 97}.example/page/{n}" for n in range(150_000)]
        body = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
        sitemap = f"<urlset>{body}</urlset>".encode()
        routes["/sitemap.xml"] = lambda handler: handler.send(200, sitemap, "application/xml")
        yield server


@pytest.mark.anyio
async def test_a_long_sitemap_is_read_off_the_loop(long_sitemap_site: FixtureServer) -> None:
    client = Fetcher(hostile_settings(max_body_bytes=10_000_000, page_timeout=10.0))
    try:
        pages, _issues, _seen = await crawl(client, long_sitemap_site.url("/"), max_pages=5)
    finally:
        await client.aclose()
    assert sorted(p.title for p in pages) == ["Home", "Listed one", "Listed two"]


@pytest.fixture
def long_robots_site() -> Iterator[FixtureServer]:
    """12,000 robots.txt rules and a home page of 2,000 links they disallow (and one they allow)."""
    robots = "User-agent: *\n" + "".join(f"Disallow: /s{n}/*/x\n" for n in range(12_000))
    links = [f"/s{n}/a/x" for n in range(2_000)] + ["/s7/a/y"]
    routes: dict[str, Route] = {
        "/": page("Home", links=links),
        "/s7/a/y": page("Allowed"),
        "/robots.txt": lambda handler: handler.send(200, robots.encode(), "text/plain"),
    }
    with serve(routes) as server:
        yield server


@pytest.mark.anyio
async def test_a_long_robots_txt_keeps_link_checks_cheap(
    long_robots_site: FixtureServer, fetcher: Fetcher
) -> None:
    pages, issues, _seen = await crawl(fetcher, long_robots_site.url("/"), max_pages=5)
    assert [p.title for p in pages] == ["Home", "Allowed"]
    assert len(issues) == MAX_NOTES and {i.kind for i in issues} == {"refused"}
    assert sum(long_robots_site.hits.values()) == 4  # robots.txt, sitemap.xml, home, allowed
