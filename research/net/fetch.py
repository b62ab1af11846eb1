"""Fetcher: one shared HTTP client with deadlines, size caps, per-host gates and retries."""

from __future__ import annotations

import contextlib
import ssl
import time
import zlib
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

import anyio
import httpx

from research.config import Settings
from research.errors import (
    FetchTimeout,
    HostUnreachable,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
    UnsupportedContent,
)
from research.models import FetchedPage, Resource
from research.net.encoding import CONTENT_ENCODINGS, Inflater, decode_html
from research.net.policy import AddressPolicy, check_fetchable, resolve_allowed
from research.net.retry import Retryable, RetryPolicy, with_retries
from research.net.transport import ConnectionCounter, PolicyPools, policy_scope
from research.net.urls import endpoint_of, normalize_url, site_key

HTML_TYPES = ("text/html", "application/xhtml+xml")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_DECODE_IN_THREAD_BYTES = 256 * 1024
_DRAIN_BYTES = 64 * 1024


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
            transport=PolicyPools(limits, self.connections, *self._policies.values()),
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
        policy = RetryPolicy(
            attempts=attempts or settings.fetch_max_attempts,
            budget=settings.fetch_retry_budget,
            initial=settings.fetch_backoff,
            maximum=settings.retry_after_cap,
            server_cap=settings.retry_after_cap,
        )

        async def attempt() -> Resource:
            return await self._attempt(
                url, allow_private=allow_private, html_only=html_only, delay=delay
            )

        return await with_retries(attempt, policy)

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
        deadline = _Deadline(self.settings.page_timeout)
        with policy_scope(policy):
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
                    check_fetchable(urljoin(current, location))  # raises with the reason
                    raise TooManyRedirects(f"{requested} redirects to an invalid address.", url)
                if target in seen:
                    raise TooManyRedirects(f"{requested} redirects in a loop.", url)
                seen.add(target)
                current = target
            raise TooManyRedirects(
                f"{requested} redirects more than {self.settings.max_redirects} times.", url
            )

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
        check_fetchable(current)
        hostname, port = endpoint_of(current)
        host = site_key(current)
        gate = self._gate(host)
        try:
            # Waiting for a host or global slot is not the page's fault: the deadline starts after.
            async with gate.limiter, self._slots:
                await gate.space(max(delay, self.settings.politeness_delay))
                with self._errors(host, requested, deadline):
                    with anyio.fail_after(deadline.remaining()):
                        await resolve_allowed(hostname, port, policy, current)
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
            ) from None  # our own deadline: no library error to keep
        except httpx.ConnectTimeout as exc:
            raise FetchTimeout(
                f"{host} did not accept a connection within {self.settings.connect_timeout:g} s.",
                requested,
            ) from exc
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout) as exc:
            raise FetchTimeout(
                f"{requested} did not answer within {self.settings.read_timeout:g} s.", requested
            ) from exc
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if (problem := _certificate_problem(exc)) is not None:
                raise HostUnreachable(
                    f"{host} has an HTTPS certificate that is not valid ({problem}).", requested
                ) from exc
            error = HostUnreachable(
                f"{host} could not be reached (connection refused or closed).", requested
            )
            raise Retryable(error) from exc
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
                raise Retryable(error, delay=_retry_after(response.headers.get("retry-after")))
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
        if encoding not in CONTENT_ENCODINGS:
            raise UnsupportedContent(
                f"{requested} uses an unsupported compression ({encoding}).", requested
            )
        declared = response.headers.get("content-length", "")
        if encoding in ("identity", "") and declared.isdigit() and int(declared) > cap:
            raise too_large
        inflater = Inflater(encoding)
        chunks: list[bytes] = []
        size = 0
        try:
            async for raw in response.aiter_raw():
                data = inflater.feed(raw, cap - size)
                size += len(data)
                if size > cap:
                    raise too_large
                chunks.append(data)
        except zlib.error as exc:
            raise UnsupportedContent(
                f"{requested} sent a corrupt compressed body.", requested
            ) from exc
        return b"".join(chunks)
