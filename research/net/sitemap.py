"""Sitemaps: page URLs from sitemap.xml, sitemap indexes and gzipped sitemaps (bounded)."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from lxml import etree

from research.errors import FetchError
from research.net.encoding import Inflater
from research.net.urls import normalize_url, origin_of, site_key
from research.processes import CpuWorkers, run_cpu

if TYPE_CHECKING:
    from research.net.fetch import Fetcher

MAX_SITEMAP_FILES = 8
MAX_LISTED_SITEMAPS = 100  # Sitemap lines of robots.txt looked at
MAX_SITEMAP_BYTES = 10 * 1024 * 1024


def _gunzip(body: bytes) -> bytes | None:
    """Decompress a gzip body up to the sitemap size cap; None when corrupt or too large."""
    try:
        data = Inflater("gzip").feed(body, MAX_SITEMAP_BYTES)
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


def _same_site(urls: list[str], site: str, limit: int) -> list[str]:
    """Return up to `limit` distinct normalised URLs of `site` among `urls`."""
    found: dict[str, None] = {}
    for url in urls:
        normal = normalize_url(url)
        if normal and site_key(normal) == site:
            found[normal] = None
            if len(found) >= limit:
                break
    return list(found)


def _site_links(body: bytes, site: str, limit: int) -> tuple[list[str], list[str]]:
    """Return a sitemap body's same-site page URLs (up to `limit`) and child sitemaps."""
    pages, children = parse_sitemap(body)
    return _same_site(pages, site, limit), _same_site(children, site, MAX_SITEMAP_FILES)


async def sitemap_urls(
    fetcher: Fetcher,
    site_url: str,
    listed: list[str],
    *,
    allow_private: bool,
    limit: int,
    cpu: CpuWorkers,
) -> list[str]:
    """Return up to `limit` same-site page URLs from the site's sitemaps (robots-listed first)."""
    site = site_key(site_url)
    origin = origin_of(site_url)
    queue = [
        url
        for url in (normalize_url(x, origin) for x in listed[:MAX_LISTED_SITEMAPS])
        if url and site_key(url) == site
    ]
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
        # A sitemap may list tens of thousands of URLs: filtering them is blocking work too.
        found, children = await run_cpu(cpu, _site_links, resource.body, site, limit)
        queue.extend(child for child in children if child not in seen)
        for page in found:
            pages[page] = None
            if len(pages) >= limit:
                break
    return list(pages)
