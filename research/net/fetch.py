"""Fetcher: one shared HTTP client with deadlines, size caps, the address guard and retries."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import random
import ssl
import time
import zlib
from collections.abc import Iterable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import anyio
import httpcore
import httpx
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, stop_before_delay

from research.config import Settings
from research.errors import (
    FetchError,
    FetchTimeout,
    HostUnreachable,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
    UnsupportedContent,
)
from research.net.encoding import decode_html
from research.net.policy import AddressPolicy, check_url, resolve_allowed
from research.net.robots import RobotsCache
from research.net.urls import normalize_url, site_of

HTML_TYPES = ("text/html", "application/xhtml+xml")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_DECODE_IN_THREAD_BYTES = 256 * 1024
_DRAIN_BYTES = 64 * 1024

# The address policy of the request running in this task: it picks the connection pool.
_policy: contextvars.ContextVar[AddressPolicy] = contextvars.ContextVar(
    "research_address_policy",
    default=AddressPolicy(),  # noqa: B039 - a frozen dataclass
)


class FetchedPage(BaseModel):
    """An HTML page as fetched: requested and final URL, status, content type and decoded text."""

    url: str
    final_url: str
    status: int
    content_type: str
    text: str


class Resource(BaseModel):
    """Any fetched body (robots.txt, sitemaps): final URL, status, content type and raw bytes."""

    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes


class ConnectionCounter:
    """Counts open TCP connections (now and peak) across the whole process's client."""

    def __init__(self) -> None:
        self.open = 0
        self.peak = 0
        self.total = 0

    def opened(self) -> None:
        """Record a new connection."""
        self.open += 1
        self.total += 1
        self.peak = max(self.peak, self.open)

    def closed(self) -> None:
        """Record a closed connection."""
        self.open -= 1


# The async methods below implement httpcore's interface, which takes `timeout` arguments.
# ruff: noqa: ASYNC109


class _CountedStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream, counter: ConnectionCounter) -> None:
        self._inner = inner
        self._counter: ConnectionCounter | None = counter

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        if self._counter is not None:
            self._counter.closed()
            self._counter = None
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        inner = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        counter, self._counter = self._counter, None  # the TLS stream now owns the count
        assert counter is not None
        return _CountedStream(inner, counter)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Network backend that connects only to addresses it has itself resolved and checked.

    Checking here, at connect time, closes the gap a DNS answer could change in (rebinding).
    """

    def __init__(self, counter: ConnectionCounter, policy: AddressPolicy) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._counter = counter
        self._policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with anyio.fail_after(timeout):
            addresses = await resolve_allowed(host, port, self._policy)
        error: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            self._counter.opened()
            return _CountedStream(stream, self._counter)
        assert error is not None
        raise error

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("Unix sockets are not used.")

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """The TLS context (loading CA certificates takes a while, so once per process)."""
    return httpx.create_ssl_context()


# Build it at import, off the event loop.
_ssl_context()


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that uses the guarded backend."""

    def __init__(self, limits: httpx.Limits, backend: GuardedBackend) -> None:
        super().__init__(verify=_ssl_context(), limits=limits, retries=0)
        # httpx has no public hook for the network backend; swap the pool it built.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class _PolicyPools(httpx.AsyncBaseTransport):
    """A connection pool per address policy: a pool matches connections by host name alone, so
    a shared one would let a request reuse a connection only a more lenient policy allowed.

    A process normally runs under one policy; one that mixes them may hold idle connections
    in both pools (the in-flight limit stays global).
    """

    def __init__(
        self, limits: httpx.Limits, counter: ConnectionCounter, *policies: AddressPolicy
    ) -> None:
        self._pools = {
            policy: _GuardedTransport(limits, GuardedBackend(counter, policy))
            for policy in policies
        }
        self._strict = policies[0]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` over the pool of the policy it runs under (the strictest if none)."""
        pool = self._pools.get(_policy.get(), self._pools[self._strict])
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        """Close every pool."""
        for pool in self._pools.values():
            await pool.aclose()


class _HostGate:
    """Per-host concurrency limit and request spacing."""

    def __init__(self, concurrency: int) -> None:
        self.limiter = anyio.CapacityLimiter(concurrency)
        self.lock = anyio.Lock()
        self.next_at = 0.0

    def idle(self) -> bool:
        """Whether nobody uses or waits for this gate and no spacing is pending."""
        return (
            self.limiter.borrowed_tokens == 0
            and self.limiter.statistics().tasks_waiting == 0
            and not self.lock.locked()
            and self.next_at <= time.monotonic()
        )

    async def space(self, delay: float) -> None:
        """Wait until `delay` seconds have passed since the previous request to this host."""
        if delay <= 0:
            return
        async with self.lock:
            wait = self.next_at - time.monotonic()
            if wait > 0:
                await anyio.sleep(wait)
            self.next_at = time.monotonic() + delay


class _Deadline:
    """A page's total deadline, started by its first request (not by waiting for a slot)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at: float | None = None

    def remaining(self) -> float:
        """Seconds left; starts the clock on first use."""
        if self._at is None:
            self._at = anyio.current_time() + self.seconds
        return self._at - anyio.current_time()


class _Retry(Exception):
    """A failure worth another attempt; carries the error to raise when attempts run out."""

    def __init__(self, error: FetchError, retry_after: float | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _certificate_problem(exc: BaseException) -> str | None:
    """Why the server's TLS certificate was refused, when that is what failed the connection."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError):
            return cause.verify_message or "verification failed"
        cause = cause.__cause__ or cause.__context__
    return None


async def _drain(response: httpx.Response) -> None:
    """Read a small unwanted body (error page, redirect) so the connection can be reused."""
    declared = response.headers.get("content-length", "")
    if not declared.isdigit() or int(declared) > _DRAIN_BYTES:
        return  # unknown or large: closing the connection is cheaper
    async for _chunk in response.aiter_raw():
        pass


class _Inflater:
    """Decompresses a body incrementally, never producing more than the cap allows."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        if encoding in ("gzip", "x-gzip"):
            self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
            self._first = True
        else:
            self._z = None

    def feed(self, data: bytes, room: int) -> bytes:
        """Return up to `room` + 1 decompressed bytes of `data` (more than room means too big)."""
        if self._z is None:
            return data
        try:
            if self.encoding == "deflate" and self._first:
                self._first = False
                try:
                    return self._z.decompress(data, room + 1)  # type: ignore[no-any-return]
                except zlib.error:
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._z.decompress(data, room + 1)  # type: ignore[no-any-return]
        except zlib.error as exc:
            raise _Corrupt from exc


class _Corrupt(Exception):
    pass


class Fetcher:
    """Fetches pages for every run in the process over one shared, bounded HTTP client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connections = ConnectionCounter()
        limits = httpx.Limits(
            max_connections=settings.global_connections,
            max_keepalive_connections=settings.global_connections,
            keepalive_expiry=5.0,
        )
        self._policies = {
            flag: AddressPolicy.build(flag, settings.allowed_networks) for flag in (False, True)
        }
        self._client = httpx.AsyncClient(
            transport=_PolicyPools(limits, self.connections, *self._policies.values()),
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.page_timeout,
            ),
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                "Accept-Encoding": "gzip, deflate",
            },
            follow_redirects=False,
            trust_env=False,
        )
        self._gates: dict[str, _HostGate] = {}
        self._slots = anyio.CapacityLimiter(settings.global_connections)
        self.robots = RobotsCache(self.fetch_resource, settings.user_agent)

    @property
    def open_connections(self) -> int:
        """TCP connections open right now."""
        return self.connections.open

    @property
    def peak_connections(self) -> int:
        """The most TCP connections ever open at once."""
        return self.connections.peak

    @property
    def closed(self) -> bool:
        """Whether aclose() has closed the HTTP client."""
        return self._client.is_closed

    async def fetch(
        self,
        url: str,
        *,
        allow_private: bool = False,
        delay: float = 0.0,
        attempts: int | None = None,
    ) -> FetchedPage:
        """Fetch one HTML page (following checked redirects, with retries); raise FetchError."""
        resource = await self._fetch_with_retries(
            url, allow_private=allow_private, html_only=True, delay=delay, attempts=attempts
        )
        body = resource.body
        if len(body) > _DECODE_IN_THREAD_BYTES:
            text = await anyio.to_thread.run_sync(decode_html, body, resource.content_type)
        else:
            text = decode_html(body, resource.content_type)
        return FetchedPage(
            url=resource.url,
            final_url=resource.final_url,
            status=resource.status,
            content_type=resource.content_type,
            text=text,
        )

    async def fetch_resource(
        self,
        url: str,
        *,
        allow_private: bool = False,
        delay: float = 0.0,
        attempts: int | None = None,
    ) -> Resource:
        """Fetch any body (robots.txt, sitemaps) under the same rules; raise FetchError."""
        return await self._fetch_with_retries(
            url, allow_private=allow_private, html_only=False, delay=delay, attempts=attempts
        )

    async def aclose(self) -> None:
        """Close the HTTP client and every pooled connection."""
        await self._client.aclose()

    async def _fetch_with_retries(
        self, url: str, *, allow_private: bool, html_only: bool, delay: float, attempts: int | None
    ) -> Resource:
        settings = self.settings
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, attempts or settings.fetch_max_attempts))
            | stop_before_delay(settings.fetch_retry_budget),
            wait=self._wait,
            retry=retry_if_exception_type(_Retry),
            sleep=anyio.sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(
                        url, allow_private=allow_private, html_only=html_only, delay=delay
                    )
        except _Retry as exc:
            raise exc.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, state: Any) -> float:
        cap = self.settings.retry_after_cap
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            return min(exc.retry_after, cap)
        base = self.settings.fetch_backoff * (2 ** (state.attempt_number - 1))
        return float(min(cap, base + random.uniform(0, base)))

    def _gate(self, host: str) -> _HostGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = _HostGate(self.settings.per_host_concurrency)
        return gate

    async def _attempt(
        self, url: str, *, allow_private: bool, html_only: bool, delay: float
    ) -> Resource:
        """One attempt: follow up to max_redirects checked hops within the page deadline."""
        requested = normalize_url(url) or url
        policy = self._policies[bool(allow_private)]
        token = _policy.set(policy)
        deadline = _Deadline(self.settings.page_timeout)
        try:
            current = requested
            seen = {current}
            for _hop in range(self.settings.max_redirects + 1):
                location = await self._request(
                    current, requested, policy, deadline, html_only=html_only, delay=delay
                )
                if isinstance(location, Resource):
                    return location
                target = normalize_url(location, current)
                if target is None:
                    check_url(urljoin(current, location))  # raises with the reason
                    raise TooManyRedirects(f"{requested} redirects to an invalid address.", url)
                if target in seen:
                    raise TooManyRedirects(f"{requested} redirects in a loop.", url)
                seen.add(target)
                current = target
            raise TooManyRedirects(
                f"{requested} redirects more than {self.settings.max_redirects} times.", url
            )
        finally:
            _policy.reset(token)

    async def _request(
        self,
        current: str,
        requested: str,
        policy: AddressPolicy,
        deadline: _Deadline,
        *,
        html_only: bool,
        delay: float,
    ) -> Resource | str:
        """Send one checked request; return the Resource, or the Location of a redirect."""
        parts = check_url(current)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = site_of(current)
        gate = self._gate(host)
        try:
            # Waiting for a host or global slot is not the page's fault: the deadline starts after.
            async with gate.limiter, self._slots:
                await gate.space(max(delay, self.settings.politeness_delay))
                with self._errors(host, requested, deadline):
                    with anyio.fail_after(deadline.remaining()):
                        await resolve_allowed(parts.hostname or "", port, policy, current)
                        async with self._client.stream("GET", current) as response:
                            return await self._read(
                                response, current, requested, html_only=html_only
                            )
        finally:
            if gate.idle():
                self._gates.pop(host, None)

    @contextlib.contextmanager
    def _errors(self, host: str, requested: str, deadline: _Deadline) -> Iterator[None]:
        """Turn timeouts and httpx errors into FetchErrors (connection failures retryable)."""
        try:
            yield
        except TimeoutError:
            raise FetchTimeout(
                f"{requested} did not answer within {deadline.seconds:g} s.", requested
            ) from None
        except httpx.ConnectTimeout:
            raise FetchTimeout(
                f"{host} did not accept a connection within {self.settings.connect_timeout:g} s.",
                requested,
            ) from None
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
            raise FetchTimeout(
                f"{requested} did not answer within {self.settings.read_timeout:g} s.", requested
            ) from None
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if (problem := _certificate_problem(exc)) is not None:
                raise HostUnreachable(
                    f"{host} has an HTTPS certificate that is not valid ({problem}).", requested
                ) from exc
            error = HostUnreachable(
                f"{host} could not be reached (connection refused or closed).", requested
            )
            raise _Retry(error) from exc
        except httpx.HTTPError as exc:
            raise HostUnreachable(
                f"{requested} could not be fetched ({type(exc).__name__}).", requested
            ) from exc

    async def _read(
        self, response: httpx.Response, current: str, requested: str, *, html_only: bool
    ) -> Resource | str:
        status = response.status_code
        if status in REDIRECT_STATUSES and response.headers.get("location"):
            await _drain(response)
            return response.headers["location"]
        if status >= 400 or status < 200 or status in REDIRECT_STATUSES:
            await _drain(response)
            error = HTTPStatusError(
                f"{requested} answered with HTTP {status}"
                f"{' ' + response.reason_phrase if response.reason_phrase else ''}.",
                requested,
                status,
            )
            if status >= 500 or status == 429:
                raise _Retry(error, _retry_after(response.headers.get("retry-after")))
            raise error
        content_type = response.headers.get("content-type", "").strip()
        media = content_type.split(";", 1)[0].strip().lower()
        if html_only and media and media not in HTML_TYPES:
            raise UnsupportedContent(
                f"{requested} is not an HTML page ({media}); it was skipped.", requested
            )
        body = await self._read_body(response, requested)
        if html_only and not media and not body.lstrip()[:1] == b"<":
            raise UnsupportedContent(f"{requested} is not an HTML page; it was skipped.", requested)
        return Resource(
            url=requested,
            final_url=current,
            status=status,
            content_type=content_type,
            body=body,
        )

    async def _read_body(self, response: httpx.Response, requested: str) -> bytes:
        """Stream the body, decompressing it ourselves, and stop past the size cap."""
        cap = self.settings.max_body_bytes
        too_large = TooLarge(
            f"{requested} is larger than {round(cap / 1_048_576, 1):g} MB; it was skipped.",
            requested,
        )
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
            raise UnsupportedContent(
                f"{requested} uses an unsupported compression ({encoding}).", requested
            )
        declared = response.headers.get("content-length", "")
        if encoding in ("identity", "") and declared.isdigit() and int(declared) > cap:
            raise too_large
        inflater = _Inflater(encoding)
        chunks: list[bytes] = []
        size = 0
        try:
            async for raw in response.aiter_raw():
                data = inflater.feed(raw, cap - size)
                size += len(data)
                if size > cap:
                    raise too_large
                chunks.append(data)
        except _Corrupt:
            raise UnsupportedContent(
                f"{requested} sent a corrupt compressed body.", requested
            ) from None
        return b"".join(chunks)
