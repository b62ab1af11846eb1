"""URLs, hosts, origins and sites: the one place a URL is parsed, validated and normalised.

Pure functions (standard library, `idna` and research.errors only), so models.py and text/ may
use them without pulling in the network layer. The rules, pinned by tests/test_urls.py:

- A host is lower-cased, an internationalised name becomes its ASCII (punycode) form, a
  trailing dot is dropped, and an IPv6 literal keeps its brackets: `Bücher.DE.` -> `xn--bcher-kva.de`.
- The default port of the scheme (:80 on http, :443 on https) is dropped; any other is kept.
- `host_of(url)` is that host with its non-default port: `www.example.com`, `example.com:8443`.
- `origin_of(url)` is scheme://host[:port], what robots.txt belongs to: `www.example.com` and
  `example.com` are two origins, as the web has them.
- `site_key(url)` is the host without a leading `www.`: `www.example.com` and `example.com` are
  one site. The crawl's scope, the fetcher's per-host gates, the store's `domain` column (and
  its `site` filter), competitor domains and outbound domains all use it, so they agree.
- `check_url(url)` is the one validation: an absolute http(s) URL with a host, a valid port and
  no credentials, else InvalidURL. `normalize_start_url` (user input) and the fetcher use it.
- `normalize_url(url, base)` is the canonical form a crawled link is compared and fetched under:
  host and port as above, fragment and tracking parameters dropped, `/` for an empty path.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import idna

from research.errors import InvalidURL

DEFAULT_PORTS = {"http": 80, "https": 443}
TRACKING_PARAMS = frozenset(
    {"gclid", "dclid", "fbclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "_gl", "igshid"}
)
TRACKING_PREFIXES = ("utm_", "pk_", "hsa_")
BINARY_SUFFIXES = (
    ".pdf", ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".ico", ".bmp", ".tif", ".tiff",
    ".zip", ".gz", ".tgz", ".rar", ".7z", ".tar", ".exe", ".dmg", ".iso", ".bin", ".apk",
    ".mp3", ".mp4", ".m4a", ".wav", ".ogg", ".avi", ".mov", ".webm", ".mkv",
    ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".odt", ".csv", ".json", ".xml",
    ".css", ".js", ".woff", ".woff2", ".ttf", ".eot",
)  # fmt: skip
MAX_URL_LENGTH = 2000
_DIGITS = re.compile(r"\d+")


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _host(hostname: str) -> str | None:
    """The canonical form of a URL's host name (see the module docstring), or None if invalid."""
    host = hostname.lower().rstrip(".")
    if ":" in host:
        return f"[{host}]"
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            return None
    return host or None


def _netloc(parts: SplitResult) -> str | None:
    """host[:port] of split URL parts, the port only when not the scheme's default."""
    try:
        port = parts.port
    except ValueError:
        return None
    host = _host(parts.hostname or "")
    if host is None:
        return None
    if port is None or port == DEFAULT_PORTS.get(parts.scheme.lower()):
        return host
    return f"{host}:{port}"


def _parts(url: str) -> SplitResult:
    """Split a URL; a bare host ("example.com", "example.com:8443") is read as https."""
    text = url.strip()
    return urlsplit(text if "://" in text else f"https://{text}")


def host_of(url: str) -> str:
    """Return a URL's canonical host with its non-default port ('' when it has none)."""
    try:
        return _netloc(_parts(url)) or ""
    except ValueError:
        return ""


def site_key(url: str) -> str:
    """Return the site a URL (or bare host) belongs to: its host_of without a leading 'www.'."""
    return host_of(url).removeprefix("www.")


def origin_of(url: str) -> str:
    """Return scheme://host[:port] of a URL, canonical and without credentials."""
    parts = _parts(url)
    return f"{parts.scheme.lower()}://{host_of(url)}"


def endpoint_of(url: str) -> tuple[str, int]:
    """Return the (canonical host, port) a URL connects to; the port defaults by scheme."""
    parts = _parts(url)
    host = _host(parts.hostname or "") or ""
    return host, parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 443)


def check_url(url: str) -> SplitResult:
    """Return the parts of an absolute http(s) URL with a host and no credentials; else InvalidURL."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidURL(f"{url} is not a valid URL.") from exc
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise InvalidURL(f"{url} is not a web address: only http and https URLs are fetched.")
    if parts.username is not None or parts.password is not None:
        shown = urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))
        raise InvalidURL(f"{shown} carries a user name or password, which is not accepted.")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidURL(f"{url} has an invalid port.") from exc
    if not parts.hostname or _host(parts.hostname) is None:
        raise InvalidURL(f"{url} has no valid host name.")
    return parts


def normalize_start_url(value: str) -> str:
    """Return the canonical absolute http(s) URL for a site the user typed, or raise InvalidURL."""
    text = (value or "").strip()
    if not text:
        raise InvalidURL("Enter a website URL, for example https://example.com.")
    if any(ch.isspace() for ch in text):
        raise InvalidURL(f"{text!r} is not a valid URL: it contains spaces.")
    url = text if "://" in text else "https://" + text
    parts = check_url(url)
    name = parts.hostname or ""
    if "." not in name and ":" not in name and name != "localhost":
        raise InvalidURL(f"{text!r} is not a valid URL: it has no proper host name.")
    return urlunsplit((parts.scheme.lower(), host_of(url), parts.path or "/", parts.query, ""))


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Return the canonical absolute form of an http(s) URL (resolved against `base`), or None."""
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or len(joined) > MAX_URL_LENGTH:
        return None
    netloc = _netloc(parts)
    if netloc is None:
        return None
    if parts.username is not None or parts.password is not None:
        # Kept, so the fetcher refuses the link with its reason instead of fetching another URL.
        userinfo = parts.netloc.rsplit("@", 1)[0]
        netloc = f"{userinfo}@{netloc}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in pairs if not _is_tracking(k)]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def dedupe_key(url: str) -> str:
    """Return the key under which two URLs count as the same page (www, slash, query order)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") or "/"
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    return f"{site_key(url)}{path}?{query}"


def trap_key(url: str) -> str:
    """Return the shape of a URL (digits folded, query dropped) used to bound crawl traps."""
    parts = urlsplit(url)
    return site_key(url) + _DIGITS.sub("N", parts.path.rstrip("/") or "/")


def looks_binary(url: str) -> bool:
    """Whether the URL's path ends in a suffix that is never an HTML page."""
    return urlsplit(url).path.lower().endswith(BINARY_SUFFIXES)
