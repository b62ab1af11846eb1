"""Transport: the guarded network backend, a connection pool per address policy, and the
connection count; what the Fetcher's httpx client sends its requests over."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

import anyio
import httpcore
import httpx

from research.net.policy import AddressPolicy, resolve_allowed

# The address policy of the request running in this task: it picks the connection pool.
_policy: contextvars.ContextVar[AddressPolicy] = contextvars.ContextVar(
    "research_address_policy",
    default=AddressPolicy(),  # noqa: B039 - a frozen dataclass
)


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


class PolicyPools(httpx.AsyncBaseTransport):
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


@contextlib.contextmanager
def policy_scope(policy: AddressPolicy) -> Iterator[None]:
    """Send this task's requests, while inside, over the pool of `policy`."""
    token = _policy.set(policy)
    try:
        yield
    finally:
        _policy.reset(token)
