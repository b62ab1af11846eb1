"""URL normalisation, deduplication keys and same-site tests for the crawler."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

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


def normalize_url(url: str, base: str | None = None) -> str | None:
    """Return the canonical absolute form of an http(s) URL (resolved against `base`), or None."""
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or len(joined) > MAX_URL_LENGTH:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    if parts.username is not None or parts.password is not None:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        netloc = f"{userinfo}@{netloc}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in pairs if not _is_tracking(k)]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query), ""))


def site_of(url: str) -> str:
    """Return the site a URL belongs to: host (and non-default port) without 'www.'."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().removeprefix("www.")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme):
        return f"{host}:{port}"
    return host


def dedupe_key(url: str) -> str:
    """Return the key under which two URLs count as the same page (www, slash, query order)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/") or "/"
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    return f"{site_of(url)}{path}?{query}"


def trap_key(url: str) -> str:
    """Return the shape of a URL (digits folded, query dropped) used to bound crawl traps."""
    parts = urlsplit(url)
    return site_of(url) + _DIGITS.sub("N", parts.path.rstrip("/") or "/")


def looks_binary(url: str) -> bool:
    """Whether the URL's path ends in a suffix that is never an HTML page."""
    return urlsplit(url).path.lower().endswith(BINARY_SUFFIXES)
