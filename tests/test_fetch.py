"""Fetcher, address policy, URL rules and charsets, against real servers on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import anyio
import httpcore
import pytest

from research.config import Settings
from research.errors import HostNotAllowed, HostUnreachable, HTTPStatusError
from research.models import Page
from research.net.crawl import crawl_site
from research.net.fetch import ConnectionCounter, Fetcher, GuardedBackend
from research.net.policy import AddressPolicy
from tests.fakes.hostile import FixtureServer, Handler, Route, page, serve, statuses

SITE_PAGES = 3


def fast_settings(**changes: object) -> Settings:
    values: dict[str, object] = {
        "allow_private_hosts": True,
        "connect_timeout": 0.5,
        "read_timeout": 2.0,
        "page_timeout": 2.0,
        "fetch_backoff": 0.05,
        "retry_after_cap": 0.2,
        "fetch_retry_budget": 5.0,
    }
    values.update(changes)
    return Settings.model_validate(values)


def retry_routes() -> dict[str, Route]:
    def retry_after_date(handler: Handler) -> None:
        handler.send(503, b"down", headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})

    return {
        "/always-503": statuses(*[503] * 20),
        "/always-429": statuses(*[429] * 20, headers={"Retry-After": "3600"}),
        "/date-503": retry_after_date,
        "/forbidden": statuses(403),
        "/ok": page("OK"),
    }


@pytest.fixture
def retry_site() -> Iterator[FixtureServer]:
    with serve(retry_routes()) as server:
        yield server


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    client = Fetcher(fast_settings())
    yield client
    await client.aclose()


@pytest.mark.anyio
async def test_5xx_and_429_are_retried_a_bounded_number_of_times(
    retry_site: FixtureServer, fetcher: Fetcher
) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        await fetcher.fetch(retry_site.url("/always-503"), allow_private=True)
    assert (
        str(caught.value)
        == f"{retry_site.base}/always-503 answered with HTTP 503 Service Unavailable."
    )
    assert caught.value.status == 503
    assert retry_site.hits["/always-503"] == 3
    with pytest.raises(HTTPStatusError, match="HTTP 429 Too Many Requests"):
        await fetcher.fetch(retry_site.url("/always-429"), allow_private=True)
    assert retry_site.hits["/always-429"] == 3
    with pytest.raises(HTTPStatusError, match="HTTP 503"):
        await fetcher.fetch(retry_site.url("/date-503"), allow_private=True)
    assert retry_site.hits["/date-503"] == 3


@pytest.mark.anyio
async def test_other_4xx_are_not_retried(retry_site: FixtureServer, fetcher: Fetcher) -> None:
    with pytest.raises(HTTPStatusError, match="HTTP 403 Forbidden") as caught:
        await fetcher.fetch(retry_site.url("/forbidden"), allow_private=True)
    assert caught.value.status == 403
    assert retry_site.hits["/forbidden"] == 1


@pytest.mark.anyio
async def test_retry_budget_bounds_attempts(retry_site: FixtureServer) -> None:
    client = Fetcher(
        fast_settings(fetch_max_attempts=50, fetch_backoff=0.1, fetch_retry_budget=0.5)
    )
    try:
        with pytest.raises(HTTPStatusError):
            await client.fetch(retry_site.url("/always-503"), allow_private=True)
    finally:
        await client.aclose()
    assert 2 <= retry_site.hits["/always-503"] <= 4


@pytest.mark.anyio
async def test_refused_connection_is_unreachable(fetcher: Fetcher) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HostUnreachable) as caught:
        await fetcher.fetch(f"http://127.0.0.1:{port}/", allow_private=True)
    assert str(caught.value) == (
        f"127.0.0.1:{port} could not be reached (connection refused or closed)."
    )


@pytest.mark.anyio
async def test_unsafe_urls_are_refused_before_any_request(
    retry_site: FixtureServer, fetcher: Fetcher
) -> None:
    port = retry_site.server_address[1]
    cases = {
        f"ftp://127.0.0.1:{port}/ok": "is not a web address: only http and https URLs are fetched.",
        f"http://user:secret@127.0.0.1:{port}/ok": "carries a user name or password",
        f"http://127.0.0.1:{port}/ok": "private or reserved address (127.0.0.1)",
        f"http://[::ffff:127.0.0.1]:{port}/ok": "private or reserved address (::ffff:7f00:1)",
        "http://169.254.169.254/latest/meta-data/": "cloud metadata address (169.254.169.254)",
        "http://[fd00:ec2::254]/": "cloud metadata address (fd00:ec2::254)",
        "http://0.0.0.0/": "private or reserved address (0.0.0.0)",
    }
    for url, reason in cases.items():
        with pytest.raises(HostNotAllowed) as caught:
            await fetcher.fetch(url, allow_private=False)
        assert reason in str(caught.value), url
    with pytest.raises(HostNotAllowed, match="cloud metadata"):
        await fetcher.fetch("http://169.254.169.254/", allow_private=True)
    assert retry_site.hits["/ok"] == 0
    assert fetcher.connections.total == 0


@pytest.mark.anyio
async def test_connect_time_check_refuses_what_the_policy_refuses(
    retry_site: FixtureServer,
) -> None:
    """The backend re-resolves and re-checks at connect time, whatever a caller checked before."""
    port = retry_site.server_address[1]
    counter = ConnectionCounter()
    strict = GuardedBackend(counter, policy=AddressPolicy)
    for host in ("127.0.0.1", "localhost"):
        with pytest.raises(HostNotAllowed, match="private or reserved address"):
            await strict.connect_tcp(host, port, timeout=1.0)
    assert counter.total == 0
    lenient = GuardedBackend(counter, policy=lambda: AddressPolicy(allow_private=True))
    stream = await lenient.connect_tcp("localhost", port, timeout=1.0)
    assert (counter.open, counter.total) == (1, 1)
    await stream.aclose()
    assert counter.open == 0
    assert isinstance(stream, httpcore.AsyncNetworkStream)


def many_pages_site() -> dict[str, Route]:
    links = [f"/p/{n}" for n in range(1, SITE_PAGES)]
    routes: dict[str, Route] = {"/": page("Home", links=links)}
    for n in range(1, SITE_PAGES):
        routes[f"/p/{n}"] = page(f"Page {n}", links=["/", f"/p/{(n % (SITE_PAGES - 1)) + 1}"])
    return routes


@pytest.fixture
def busy_site() -> Iterator[FixtureServer]:
    with serve(many_pages_site(), latency=0.02) as server:
        yield server


@pytest.mark.anyio
async def test_twenty_crawls_share_the_global_connection_limit(busy_site: FixtureServer) -> None:
    limit = 6
    client = Fetcher(fast_settings(global_connections=limit, per_host_concurrency=16))
    results: list[list[Page]] = []
    threads = anyio.CapacityLimiter(2)  # one worker pool for every run, as Services has

    async def one_run() -> None:
        results.append(
            await crawl_site(
                client,
                busy_site.url("/"),
                max_pages=SITE_PAGES,
                max_depth=3,
                time_budget=60.0,
                allow_private=True,
                limiter=threads,
            )
        )

    try:
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one_run)
    finally:
        await client.aclose()
    assert [len(pages) for pages in results] == [SITE_PAGES] * 20
    assert 2 <= busy_site.peak_connections <= limit
    assert client.peak_connections <= limit
    assert busy_site.hits["/robots.txt"] == 1  # fetched once for every run on the host
