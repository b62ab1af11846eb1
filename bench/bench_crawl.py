"""Crawl speed: a 200-page site with 50 ms latency per page, against the per-host bound.

Run with `.venv/bin/python -m bench.bench_crawl`. The site is served by a separate process on
127.0.0.1 (so its threads do not compete with the crawler for the GIL). For each per-host limit
the table shows the crawl's wall time, the bound (pages / per-host limit x page latency, with the
latency measured in the same run), their ratio, and the peak open connections seen by the
client and by the server. The wall time includes robots.txt, the start page and the sitemap;
trafilatura's one-time set-up in a fresh process is done before the clock starts.
"""

from __future__ import annotations

import json
import multiprocessing
import statistics
import time
from multiprocessing.connection import Connection

import anyio

from research.config import Settings
from research.net.crawl import crawl_site
from research.net.extract import extract_page
from research.net.fetch import Fetcher
from tests.fakes.hostile import FixtureServer, Handler, Route, page

PAGES = 200
SECTIONS = 20
LATENCY = 0.05
LIMITS = (4, 8)
SERVER_LIFETIME = 300.0  # the server process stops by itself after this long


def site_routes() -> dict[str, Route]:
    """Home -> 20 sections -> 179 articles spread over them: 200 pages within depth 2."""
    sections = [f"/section-{s}/" for s in range(SECTIONS)]
    articles: dict[str, list[str]] = {section: [] for section in sections}
    for n in range(PAGES - 1 - SECTIONS):
        section = sections[n % SECTIONS]
        articles[section].append(f"{section}article-{n}")
    routes: dict[str, Route] = {"/": page("Home", "The benchmark garden site.", sections)}
    for s, section in enumerate(sections):
        routes[section] = page(f"Section {s}", f"Everything about topic {s}.", articles[section])
        for article in articles[section]:
            text = f"{article} explains one gardening topic of section {s} in detail. " * 8
            routes[article] = page(article, text, [section, "/"])
    return routes


def serve_site(pipe: Connection) -> None:
    """Child process: serve the site with latency, report the port, stop when told."""
    server = FixtureServer(site_routes(), latency=LATENCY)

    def stats(handler: Handler) -> None:
        body = json.dumps({"peak": server.peak_connections}).encode()
        handler.send(200, body, "application/json")

    def reset(handler: Handler) -> None:
        server.peak_connections = server.open_connections
        handler.send(200, b"ok", "text/plain")

    server.routes["/__stats"] = stats
    server.routes["/__reset"] = reset
    server.start()
    pipe.send(server.server_address[1])
    pipe.poll(SERVER_LIFETIME)
    server.stop()


async def measure(base: str, limit: int) -> dict[str, float]:
    """Crawl the site once with `limit` connections per host; return the row's numbers."""
    settings = Settings(allow_private_hosts=True, per_host_concurrency=limit, global_connections=64)
    fetcher = Fetcher(settings)
    try:
        # Page latency as seen by this client, measured now, one request at a time.
        samples = []
        for n in range(5):
            started = time.perf_counter()
            await fetcher.fetch(f"{base}/section-{n}/", allow_private=True)
            samples.append(time.perf_counter() - started)
        latency = statistics.median(samples)
        # trafilatura's one-time set-up (a few hundred ms) is not part of the crawl.
        await anyio.to_thread.run_sync(extract_page, "<html><body><p>warm</p></body></html>", base)
        await fetcher.fetch_resource(f"{base}/__reset", allow_private=True)
        fetcher.connections.peak = fetcher.connections.open
        started = time.perf_counter()
        pages = await crawl_site(
            fetcher,
            base + "/",
            max_pages=PAGES,
            max_depth=3,
            time_budget=120.0,
            allow_private=True,
            cpu=anyio.CapacityLimiter(settings.worker_threads),
        )
        wall = time.perf_counter() - started
        server_peak = json.loads(
            (await fetcher.fetch_resource(f"{base}/__stats", allow_private=True)).body
        )["peak"]
        bound = len(pages) / limit * latency
        return {
            "limit": limit,
            "pages": len(pages),
            "latency": latency,
            "wall": wall,
            "bound": bound,
            "ratio": wall / bound,
            "client_peak": fetcher.peak_connections,
            "server_peak": server_peak,
        }
    finally:
        await fetcher.aclose()


def main() -> None:
    """Run the benchmark and print the table."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve_site, args=(child,), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise SystemExit("the benchmark site did not start")
        base = f"http://127.0.0.1:{parent.recv()}"
        rows = [anyio.run(measure, base, limit) for limit in LIMITS]
    finally:
        parent.send("stop")
        process.join(timeout=10)
    print(f"crawl of a {PAGES}-page site, {LATENCY * 1000:.0f} ms latency per page")
    header = ("per-host", "pages", "latency ms", "wall s", "bound s", "ratio", "peak conn")
    print("  ".join(f"{h:>10}" for h in header))
    for row in rows:
        cells = (
            f"{row['limit']:.0f}",
            f"{row['pages']:.0f}",
            f"{row['latency'] * 1000:.1f}",
            f"{row['wall']:.2f}",
            f"{row['bound']:.2f}",
            f"{row['ratio']:.2f}",
            f"{row['client_peak']:.0f}/{row['server_peak']:.0f}",
        )
        print("  ".join(f"{c:>10}" for c in cells))
    print("peak conn = client/server; bound = pages / per-host limit x measured latency")


if __name__ == "__main__":
    main()
