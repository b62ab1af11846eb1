"""Fetcher, address policy, URL rules and charsets, against real servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from research.config import Settings
from research.errors import HostNotAllowed, HostUnreachable, HTTPStatusError, TooManyRedirects
from research.models import DiscoveryRequest
from research.net.fetch import Fetcher
from research.net.policy import AddressPolicy
from research.net.transport import ConnectionCounter, GuardedBackend
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from tests.conftest import SLOW_CALLBACK
from tests.fakes.hostile import FixtureServer, Handler, Route, page, serve, statuses

SITE_PAGES = 5


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

    def drop(handler: Handler) -> None:
        handler.close_connection = True  # hang up without an answer

    return {
        "/drop": drop,
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
async def test_dropped_connections_are_retried(retry_site: FixtureServer, fetcher: Fetcher) -> None:
    with pytest.raises(HostUnreachable) as caught:
        await fetcher.fetch(retry_site.url("/drop"), allow_private=True)
    assert str(caught.value) == (
        f"127.0.0.1:{retry_site.server_address[1]} could not be reached "
        "(connection refused or closed)."
    )
    assert retry_site.hits["/drop"] == 3
    # After the retries, the last attempt's httpx error is still the cause (for the log).
    assert isinstance(caught.value.__cause__, httpx.TransportError)


@pytest.fixture
def self_signed_site(tmp_path: Path) -> Iterator[FixtureServer]:
    """An HTTPS site on 127.0.0.1 whose certificate nobody signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "site.pem"
    pem.write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem)
    server = FixtureServer({"/": page("Secure")})
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.anyio
async def test_an_invalid_certificate_is_named_and_not_retried(
    self_signed_site: FixtureServer, fetcher: Fetcher
) -> None:
    port = self_signed_site.server_address[1]
    with pytest.raises(HostUnreachable) as caught:
        await fetcher.fetch(f"https://127.0.0.1:{port}/", allow_private=True)
    assert str(caught.value) == (
        f"127.0.0.1:{port} has an HTTPS certificate that is not valid (self-signed certificate)."
    )
    assert fetcher.connections.total == 1  # one attempt
    assert self_signed_site.hits["/"] == 0


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
    strict = GuardedBackend(counter, AddressPolicy())
    for host in ("127.0.0.1", "localhost"):
        with pytest.raises(HostNotAllowed, match="private or reserved address"):
            await strict.connect_tcp(host, port, timeout=1.0)
    assert counter.total == 0
    lenient = GuardedBackend(counter, AddressPolicy(allow_private=True))
    stream = await lenient.connect_tcp("localhost", port, timeout=1.0)
    assert (counter.open, counter.total) == (1, 1)
    await stream.aclose()
    assert counter.open == 0
    assert isinstance(stream, httpcore.AsyncNetworkStream)


def five_hops_routes() -> dict[str, Route]:
    def hop(handler: Handler) -> None:
        number = int(handler.path.rsplit("/", 1)[-1])
        handler.redirect(f"/r/{number + 1}", 301 if number % 2 else 307)

    routes: dict[str, Route] = {f"/r/{n}": hop for n in range(6)}
    routes["/r/6"] = page("Arrived")
    return routes


@pytest.mark.anyio
async def test_five_redirects_are_followed_a_sixth_is_not(fetcher: Fetcher) -> None:
    with serve(five_hops_routes()) as server:
        fetched = await fetcher.fetch(server.url("/r/1"), allow_private=True)
        assert (fetched.url, fetched.final_url) == (server.url("/r/1"), server.url("/r/6"))
        assert "Arrived" in fetched.text
        with pytest.raises(TooManyRedirects) as caught:
            await fetcher.fetch(server.url("/r/0"), allow_private=True)
        assert str(caught.value) == f"{server.base}/r/0 redirects more than 5 times."
        assert server.hits["/r/6"] == 1  # the sixth hop of /r/0 was never requested


@pytest.mark.anyio
async def test_retry_after_is_waited_for(fetcher: Fetcher) -> None:
    client = Fetcher(fast_settings(fetch_backoff=0.01, retry_after_cap=10.0))
    routes = {"/busy": statuses(429, headers={"Retry-After": "1"})}
    try:
        with serve(routes) as server:
            fetched = await client.fetch(server.url("/busy"), allow_private=True)
    finally:
        await client.aclose()
    assert "Recovered" in fetched.text
    first, second = server.times
    assert second - first >= 0.9  # Retry-After, not the 10 ms backoff


def rebinding_resolver(answers: list[str]) -> Callable[..., Awaitable[list[Any]]]:
    """A DNS that gives `answers` in turn (the last one from then on), like a rebinding attacker."""
    calls = iter(answers)
    last = answers[-1]

    async def getaddrinfo(host: str, port: int, **_kwargs: Any) -> list[Any]:
        assert host == "rebind.test", host
        address = next(calls, last)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return getaddrinfo


@pytest.mark.anyio
async def test_the_address_connected_to_is_the_one_checked(
    retry_site: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The host is checked before the request and again, by the connection itself, at connect
    time: a DNS answer that turns private in between is refused, not connected to."""
    port = retry_site.server_address[1]
    client = Fetcher(fast_settings(allow_private_hosts=False, allowed_networks=["127.0.0.1/32"]))
    try:
        monkeypatch.setattr(anyio, "getaddrinfo", rebinding_resolver(["93.184.216.34", "10.0.0.1"]))
        with pytest.raises(HostNotAllowed) as caught:
            await client.fetch(f"http://rebind.test:{port}/ok")
        assert str(caught.value) == (
            "rebind.test resolves to a private or reserved address (10.0.0.1); "
            "fetching it is allowed only with --allow-private-hosts or "
            "RESEARCH_ALLOW_PRIVATE_HOSTS=1."
        )
        assert client.connections.total == 0
        # The connection goes to the checked address itself (the name is known only to our DNS).
        monkeypatch.setattr(anyio, "getaddrinfo", rebinding_resolver(["127.0.0.1"]))
        fetched = await client.fetch(f"http://rebind.test:{port}/ok")
        assert "OK" in fetched.text
        assert client.connections.total == 1
    finally:
        await client.aclose()
    assert retry_site.hits["/ok"] == 1


@pytest.mark.anyio
async def test_a_connection_allowed_for_private_hosts_is_not_reused_without_them(
    retry_site: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that allows private hosts leaves a kept-alive connection to rebind.test (then
    127.0.0.1); a strict request for the same name, now public by DNS, does not get it."""
    port = retry_site.server_address[1]
    url = f"http://rebind.test:{port}/ok"
    client = Fetcher(fast_settings(allow_private_hosts=False))
    answers = ["127.0.0.1", "127.0.0.1", "93.184.216.34", "127.0.0.1"]
    monkeypatch.setattr(anyio, "getaddrinfo", rebinding_resolver(answers))
    try:
        assert "OK" in (await client.fetch(url, allow_private=True)).text
        assert client.open_connections == 1  # kept alive
        with pytest.raises(HostNotAllowed, match=r"private or reserved address \(127\.0\.0\.1\)"):
            await client.fetch(url, allow_private=False)
    finally:
        await client.aclose()
    assert retry_site.hits["/ok"] == 1


def many_pages_site(topic: str) -> dict[str, Route]:
    paragraph = (
        f"Our {topic} guide covers {topic} planning, {topic} tools and {topic} mistakes. "
        f"Good {topic} planning saves time; the right {topic} tools make the work lighter. "
    )
    links = [f"/p/{n}" for n in range(1, SITE_PAGES)]
    routes: dict[str, Route] = {"/": page(f"{topic.title()} home", paragraph * 3, links)}
    for n in range(1, SITE_PAGES):
        routes[f"/p/{n}"] = page(f"{topic.title()} part {n}", paragraph * 4, ["/", *links])
    return routes


TOPICS = ("garden", "kitchen", "bicycle", "camera")


@pytest.fixture
def busy_sites() -> Iterator[list[FixtureServer]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(serve(many_pages_site(t), latency=0.05)) for t in TOPICS]


def test_twenty_runs_share_the_global_connection_limit(
    busy_sites: list[FixtureServer], tmp_path: Path
) -> None:
    """20 runs at once on 4 hosts: 4 per host could open 16 sockets; the global limit is 6."""
    limit, per_host = 6, 4
    settings = fast_settings(
        global_connections=limit, per_host_concurrency=per_host, db_path=tmp_path / "runs.db"
    )
    runner = LoopRunner(settings, debug=True, slow_callback=SLOW_CALLBACK)
    try:
        jobs = JobManager(runner, retention=20)
        ids = [
            jobs.start(
                DiscoveryRequest(
                    url=busy_sites[n % len(busy_sites)].url("/"),
                    engine="local",
                    max_pages=SITE_PAGES,
                    allow_private_hosts=True,
                )
            )
            for n in range(20)
        ]
        reports = []
        for job_id in ids:
            job = jobs.get(job_id)
            assert job is not None and job.wait(120)
            reports.append(job.snapshot())
        fetcher = runner.services().fetcher
        client_peak, client_total = fetcher.peak_connections, fetcher.connections.total
    finally:
        runner.shutdown()
    assert [r.status for r in reports] == ["completed"] * 20, [r.errors for r in reports]
    assert all(r.site is not None and len(r.site.pages) == SITE_PAGES for r in reports)
    assert client_peak == limit, client_peak  # reached, and never passed
    assert client_total >= len(busy_sites)
    for server in busy_sites:
        assert server.peak_connections <= per_host, server.peak_connections
        assert server.hits["/robots.txt"] == 1  # fetched once for all five runs on the host
