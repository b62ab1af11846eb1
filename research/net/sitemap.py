"""Sitemaps: page URLs from sitemap.xml, sitemap indexes and gzipped sitemaps (bounded)."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

import anyio
from lxml import etree

from research.errors import FetchError
from research.net.robots import origin_of
from research.net.urls import normalize_url, site_of

if TYPE_CHECKING:
    from research.net.fetch import Fetcher

MAX_SITEMAP_FILES = 8
MAX_SITEMAP_BYTES = 10 * 1024 * 1024


def _gunzip(body: bytes) -> bytes | None:
    """Decompress a gzip body up to the sitemap size cap; None when corrupt or too large."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_SITEMAP_BYTES + 1)
    except zlib.error:
        return None
    return None if len(data) > MAX_SITEMAP_BYTES else data


def parse_sitemap(body: bytes) -> tuple[list[str], list[str]]:
    """Return (page URLs, child sitemap URLs) listed in a sitemap or sitemap index body."""
    if body[:2] == b"\x1f\x8b":
        unpacked = _gunzip(body)
        if unpacked is None:
            return [], []
        body = unpacked
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, recover=True, load_dtd=False
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return [], []
    if root is None:
        return [], []
    kind = etree.QName(root).localname.lower()
    locs = [
        (element.text or "").strip()
        for element in root.iter()
        if isinstance(element.tag, str) and etree.QName(element).localname.lower() == "loc"
    ]
    locs = [loc for loc in locs if loc]
    if kind == "sitemapindex":
        return [], locs
    return locs, []


async def sitemap_urls(
    fetcher: Fetcher,
    site_url: str,
    listed: list[str],
    *,
    allow_private: bool,
    limit: int,
    limiter: anyio.CapacityLimiter,
) -> list[str]:
    """Return up to `limit` same-site page URLs from the site's sitemaps (robots-listed first)."""
    site = site_of(site_url)
    origin = origin_of(site_url)
    queue = [u for u in (normalize_url(x, origin) for x in listed) if u and site_of(u) == site]
    queue.append(origin + "/sitemap.xml")
    seen: set[str] = set()
    pages: dict[str, None] = {}
    files = 0
    while queue and files < MAX_SITEMAP_FILES and len(pages) < limit:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        files += 1
        try:
            resource = await fetcher.fetch_resource(url, allow_private=allow_private, attempts=1)
        except FetchError:
            continue
        found, children = await anyio.to_thread.run_sync(
            parse_sitemap, resource.body, limiter=limiter
        )
        for child in children:
            normal = normalize_url(child)
            if normal and site_of(normal) == site and normal not in seen:
                queue.append(normal)
        for page in found:
            normal = normalize_url(page)
            if normal and site_of(normal) == site:
                pages[normal] = None
                if len(pages) >= limit:
                    break
    return list(pages)
