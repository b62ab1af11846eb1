"""Local engine on 500 pages: seconds per 100 pages, and the loop's lag while it works.

Run with `.venv/bin/python -m bench.bench_local`. The pages are built from the sections of the
English evaluation sites (tests/data/eval), shuffled into new pages with a fixed seed: a site of
250 pages (from two thirds of the sections) and two competitors of 125. The whole local analysis (site analysis of each site,
keywords and gaps, topics, five briefs) runs on a LoopRunner's loop with every CPU step in a
worker thread, as the pipeline does; the loop's heartbeat lag shows whether the loop stayed free.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import anyio

from bench.eval import EVAL_DIR, load_pages
from research.config import Settings
from research.engines.keyphrases import analyse_site
from research.engines.local import LocalEngine
from research.models import DiscoveryRequest, Page, Report, SiteAnalysis, StageName
from research.progress import RunTracker, StageContext
from research.runtime.loop_runner import LoopRunner

SITE_PAGES = 250
COMPETITOR_PAGES = 125
SECTIONS_PER_PAGE = 10
SEED = 7


def section_pool() -> list[tuple[str, str]]:
    """(heading, paragraph) pairs from the English evaluation sites."""
    pool: list[tuple[str, str]] = []
    for folder in sorted(EVAL_DIR.glob("*/*.example")):
        for page in load_pages(folder):
            if page.language != "en":
                continue
            heading = ""
            for line in page.text.splitlines():
                if line in page.headings:
                    heading = line
                elif heading:
                    pool.append((heading, line))
    return pool


def synthetic_site(
    domain: str, pages: int, pool: list[tuple[str, str]], rng: random.Random
) -> list[Page]:
    """A site of `pages` pages, each made of sections drawn from the pool."""
    out = []
    for index in range(pages):
        picked = rng.sample(pool, SECTIONS_PER_PAGE)
        title = picked[0][0]
        text = "\n".join(f"{heading}\n{paragraph}" for heading, paragraph in picked)
        links = [f"https://{domain}/p{rng.randrange(pages)}" for _ in range(5)]
        out.append(
            Page(
                url=f"https://{domain}/p{index}" if index else f"https://{domain}/",
                title=f"{title} | {domain}",
                headings=[title, *(h for h, _ in picked[1:])],
                text=text + "\nFollow us for weekly notes. All rights reserved.",
                language="en",
                links=links,
                depth=0 if index == 0 else 1,
            )
        )
    return out


async def analyse_all(
    sites: list[tuple[str, list[Page]]], threads: anyio.CapacityLimiter
) -> dict[str, float]:
    """Run the local analysis as the pipeline does; return seconds per phase."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    analyses: list[SiteAnalysis] = []
    for domain, pages in sites:
        analyses.append(
            await anyio.to_thread.run_sync(
                analyse_site, f"https://{domain}/", pages, [], limiter=threads
            )
        )
    timings["site analysis"] = time.perf_counter() - start
    site, competitors = analyses[0], analyses[1:]
    engine = LocalEngine(threads)
    tracker = RunTracker(Report(request=DiscoveryRequest(url=site.url)))

    mark = time.perf_counter()
    research = await engine.expand_keywords(
        StageContext(tracker, StageName.KEYWORDS), site, competitors
    )
    timings["keywords & gaps"] = time.perf_counter() - mark
    mark = time.perf_counter()
    topics = await engine.propose_topics(
        StageContext(tracker, StageName.TOPICS), site, competitors, research
    )
    timings["topics"] = time.perf_counter() - mark
    mark = time.perf_counter()
    for topic in topics[:5]:
        await engine.write_brief(StageContext(tracker, StageName.BRIEFS), topic, site, competitors)
    timings["5 briefs"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - start
    return timings


def main() -> None:
    """Run the benchmark and print its table."""
    rng = random.Random(SEED)
    pool = section_pool()
    # The site draws on two thirds of the sections, so competitors have something it lacks.
    sites = [
        ("site.example", synthetic_site("site.example", SITE_PAGES, pool[::3] + pool[1::3], rng)),
        ("rival-a.example", synthetic_site("rival-a.example", COMPETITOR_PAGES, pool, rng)),
        ("rival-b.example", synthetic_site("rival-b.example", COMPETITOR_PAGES, pool, rng)),
    ]
    pages = sum(len(p) for _, p in sites)
    with tempfile.TemporaryDirectory() as tmp:
        runner = LoopRunner(Settings(db_path=Path(tmp) / "bench.sqlite3"), debug=False)
        try:
            threads = anyio.CapacityLimiter(2)
            runner.submit(anyio.sleep(0.5)).result()
            idle = runner.lag()
            runner.reset_lag()
            timings = runner.submit(analyse_all(sites, threads)).result()
            busy = runner.lag()
        finally:
            runner.shutdown()
    print(f"local engine on {pages} pages ({len(pool)} distinct sections)")
    print(f"{'phase':<18} {'seconds':>8}")
    for phase, seconds in timings.items():
        print(f"{phase:<18} {seconds:>8.2f}")
    print(f"{'s per 100 pages':<18} {timings['total'] / pages * 100:>8.2f}")
    print(f"\n{'loop lag (ms)':<18} {'p50':>7} {'p99':>7} {'max':>7} {'samples':>8}")
    for label, lag in (("idle", idle), ("during analysis", busy)):
        print(
            f"{label:<18} {lag.p50_ms:>7.1f} {lag.p99_ms:>7.1f} {lag.max_ms:>7.1f} {lag.samples:>8}"
        )


if __name__ == "__main__":
    main()
