"""The address policy (SSRF guard): which URLs and resolved addresses may be fetched."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult

import anyio

from research.errors import HostNotAllowed, HostUnreachable, InvalidURL
from research.net.urls import check_url, endpoint_of

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata endpoints: refused even when private hosts are allowed.
METADATA_NETWORKS = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)
# The well-known NAT64 prefix: its addresses reach the IPv4 address in their last 32 bits.
NAT64_NETWORK = ipaddress.ip_network("64:ff9b::/96")


def check_fetchable(url: str) -> SplitResult:
    """Return the parts of a URL the fetcher may request, or raise HostNotAllowed saying why."""
    try:
        return check_url(url)
    except InvalidURL as exc:
        raise HostNotAllowed(exc.message, url) from exc


def _plain(ip: IPAddress) -> IPAddress:
    """Return the IPv4 address an IPv6 address leads to (mapped, 6to4, NAT64), else `ip`."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in NAT64_NETWORK:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses one fetch may connect to: public ones, plus private ones when allowed."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(cls, allow_private: bool, networks: Iterable[str] = ()) -> AddressPolicy:
        """Make a policy; `networks` (CIDR strings) are allowed even when private hosts are not."""
        return cls(allow_private, tuple(ipaddress.ip_network(n, strict=False) for n in networks))


def refusal(ip: IPAddress, policy: AddressPolicy) -> str | None:
    """Return why connecting to `ip` is refused ("metadata" / "private"), or None when allowed."""
    ip = _plain(ip)
    if any(ip in net for net in METADATA_NETWORKS):
        return "metadata"
    if ip.is_multicast:
        return "private"
    if policy.allow_private or any(ip in net for net in policy.allowed_networks):
        return None
    if not ip.is_global or ip.is_unspecified or ip.is_reserved or ip.is_link_local:
        return "private"
    return None


def ensure_allowed(host: str, ip: IPAddress, policy: AddressPolicy, url: str = "") -> None:
    """Raise HostNotAllowed when `host`'s address `ip` may not be connected to."""
    why = refusal(ip, policy)
    if why == "metadata":
        raise HostNotAllowed(
            f"{host} points to a cloud metadata address ({ip}), which is never fetched.", url
        )
    if why == "private":
        raise HostNotAllowed(
            f"{host} resolves to a private or reserved address ({ip}); "
            "fetching it is allowed only with --allow-private-hosts or "
            "RESEARCH_ALLOW_PRIVATE_HOSTS=1.",
            url,
        )


def refuse_literal_host(url: str, policy: AddressPolicy) -> None:
    """Raise HostNotAllowed when `url`'s host is an IP address `policy` refuses (no DNS asked)."""
    check_url(url)
    host, _port = endpoint_of(url)
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return  # a name: what it resolves to is checked when it is fetched
    ensure_allowed(host, ip, policy, url)


async def resolve_allowed(host: str, port: int, policy: AddressPolicy, url: str = "") -> list[str]:
    """Resolve `host` and return its addresses, refusing the host if any address is not allowed."""
    bare = host.strip("[]")
    try:
        literal: IPAddress | None = ipaddress.ip_address(bare)
    except ValueError:
        literal = None
    if literal is not None:
        ensure_allowed(host, literal, policy, url)
        return [str(literal)]
    try:
        infos = await anyio.getaddrinfo(bare, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise HostUnreachable(f"{host} could not be found (the DNS lookup failed).", url) from exc
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        ensure_allowed(host, ip, policy, url)
        if str(ip) not in addresses:
            addresses.append(str(ip))
    if not addresses:
        raise HostUnreachable(f"{host} could not be found (the DNS lookup failed).", url)
    return addresses
