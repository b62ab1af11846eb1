"""A whole discovery run on fixture sites with 50 ms per page, against its critical-path bound.

Run with `.venv/bin/python -m bench.bench_pipeline`. The sites are served from a child process
and crawled at once (named competitors do not wait for the site's home page). The bound is what
the run cannot beat, and what it includes is printed with it:
- the crawl of the slowest site at full concurrency: robots.txt, then the start page (no link is
  known before it), then the other pages per-host-concurrency at a time, each page one
  per-page latency measured in this run (one page fetched alone);
- or, when larger, extracting every crawled page with all worker processes busy (measured after
  the run on the same pages): the crawl cannot outrun its own parsing;
- plus stages 3-5 as long as they took in this run: they need every page, so they cannot start
  before the crawl ends.
It leaves out what the run cannot overlap but this bound does not measure: extracting the start
page (its links are needed before the walk), extracting the last pages, each site's analysis
after its last page and finding competitors from it, so 1.0x is out of reach. The sitemap and
the extraction of other pages overlap the walk (a fetch slot is free again while its page is
extracted). Prints wall time, bound, their ratio and the loop's lag.
"""

from __future__ import annotations

import math
import multiprocessing
import time
import urllib.request
from multiprocessing.connection import Connection

import anyio

from research.config import Settings
from research.models import DiscoveryRequest, StageName
from research.net.extract import extract_page
from research.processes import ProcessPool, worker_pid
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from tests.fakes.fixtures import ACME, RIVAL, build_pages
from tests.fakes.site import Article, SiteServer

LATENCY = 0.05
PAGES_PER_SITE = 40


def grown(articles: dict[str, Article], pages: int) -> dict[str, Article]:
    """Return the fixture site grown to `pages` pages by numbered variants of its articles."""
    out = dict(articles)
    base = [a for p, a in articles.items() if p != "/"]
    index = 0
    while len(out) < pages:
        article = base[index % len(base)]
        slug = "".join(chr(97 + int(digit)) for digit in str(index))
        out[f"/notes/{slug}"] = Article(f"{article.title} (part {index})", article.sections)
        index += 1
    return out


def serve_sites(pipe: Connection, pages: int = PAGES_PER_SITE, latency: float = LATENCY) -> None:
    """Serve the grown site and competitor in this (child) process until the pipe closes."""
    rival = SiteServer(build_pages(grown(RIVAL, pages), "Metricly", {}), latency=latency)
    rival.start()
    site_pages = build_pages(grown(ACME, pages), "Acme", {"rival": rival.url})
    site = SiteServer(site_pages, latency=latency).start()
    pipe.send((site.url, rival.url))
    try:
        pipe.recv()
    except EOFError:
        pass
    site.stop()
    rival.stop()


def start_sites_process(
    pages: int, latency: float
) -> tuple[multiprocessing.process.BaseProcess, Connection, tuple[str, str]]:
    """Serve the two grown sites from a child process; return it, its pipe and the two URLs.

    The sites run in their own process, so serving them does not compete for our GIL; send
    anything down the pipe to stop them.
    """
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=serve_sites, args=(child, pages, latency), daemon=True)
    server.start()
    return server, parent, parent.recv()


def measured_latency(url: str) -> float:
    """Seconds to fetch one page alone, measured now (median of five)."""
    times = []
    for _ in range(5):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=5) as answer:
            answer.read()
        times.append(time.perf_counter() - start)
    return sorted(times)[2]


async def extraction_time(pool: ProcessPool, pages: list[tuple[str, str]]) -> float:
    """Seconds the pool takes to extract every (url, markup) page with all its workers busy."""
    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for url, markup in pages:
            group.start_soon(pool.run, extract_page, markup, url)
    return time.perf_counter() - start


def fetch_markup(urls: list[str]) -> list[tuple[str, str]]:
    """Fetch each page's HTML again, one at a time (blocking; from the main thread)."""
    pages = []
    for url in urls:
        with urllib.request.urlopen(url, timeout=5) as answer:
            pages.append((url, answer.read().decode()))
    return pages


def main() -> None:
    """Run the benchmark and print its table."""
    server, parent, (site_url, rival_url) = start_sites_process(PAGES_PER_SITE, LATENCY)
    settings = Settings(allow_private_hosts=True, db_path="/tmp/bench-pipeline.sqlite3")
    runner = LoopRunner(settings)
    try:
        latency = measured_latency(site_url)
        jobs = JobManager(runner)
        request = DiscoveryRequest(
            url=site_url, competitors=[rival_url], max_pages=PAGES_PER_SITE, engine="local"
        )
        runner.services()
        # Wait for the warm pool, as a dashboard's is by the time someone has typed a URL.
        runner.submit(runner.processes.run(worker_pid)).result(timeout=60)
        runner.reset_lag()
        start = time.perf_counter()
        job = jobs.get(jobs.start(request))
        assert job is not None and job.wait(300)
        wall = time.perf_counter() - start
        lag = runner.lag()
        report = job.snapshot()
        assert report.status == "completed", report.errors
        per_host = settings.per_host_concurrency
        pages = [len(report.site.pages) if report.site else 0]
        pages += [len(c.analysis.pages) for c in report.competitors if c.analysis]
        crawl = max(2 + math.ceil(max(0, n - 1) / per_host) for n in pages) * latency
        later = [report.stages[name] for name in list(StageName)[2:]]
        assert later[0].started_at and later[-1].finished_at
        analysis = (later[-1].finished_at - later[0].started_at).total_seconds()
        crawled = [p.url for p in report.site.pages] if report.site else []
        crawled += [p.url for c in report.competitors if c.analysis for p in c.analysis.pages]
        markup = fetch_markup(crawled)
        extraction = runner.submit(extraction_time(runner.processes, markup)).result(timeout=300)
        bound = max(crawl, extraction) + analysis
        stages = {
            name.label: (state.finished_at - state.started_at).total_seconds()
            for name, state in report.stages.items()
            if state.started_at and state.finished_at
        }
        rows = [
            ("pages crawled (site + competitor)", " + ".join(map(str, pages))),
            ("per-page latency measured", f"{latency * 1000:.1f} ms"),
            ("per-host concurrency", str(per_host)),
            ("crawl of the slowest site at full concurrency", f"{crawl:.2f} s"),
            ("extracting every page, all workers busy", f"{extraction:.2f} s"),
            ("stages 3-5 as run (added to the larger)", f"{analysis:.2f} s"),
            ("critical-path bound", f"{bound:.2f} s"),
            ("wall time", f"{wall:.2f} s"),
            ("wall / bound", f"{wall / bound:.2f}x"),
            *((f"  stage: {label}", f"{seconds:.2f} s") for label, seconds in stages.items()),
            ("loop lag p99", f"{lag.p99_ms:.1f} ms"),
            ("loop lag max", f"{lag.max_ms:.1f} ms"),
        ]
        width = max(len(name) for name, _ in rows)
        print("pipeline: one local-engine run, 50 ms per page")
        for name, value in rows:
            print(f"  {name:<{width}}  {value}")
    finally:
        runner.shutdown()
        parent.send("stop")
        server.join(10)


if __name__ == "__main__":
    main()
