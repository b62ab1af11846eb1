"""Local engine on 500 pages: seconds per 100 pages, and the loop's lag while it works.

Run with `.venv/bin/python -m bench.bench_local`. The pages are built from the sections of the
English evaluation sites (tests/data/eval) and paragraphs of the installed packages'
descriptions, shuffled into new pages with a fixed seed: a site of 250 pages (from two thirds
of the sections) and two competitors of 125. The whole local analysis (site analysis of each site,
keywords and gaps, topics, five briefs) runs on a LoopRunner's loop with every CPU step in a
worker thread, as the pipeline does; the loop's heartbeat lag shows whether the loop stayed free.
"""

from __future__ import annotations

import gc
import glob
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio

from bench.eval import EVAL_DIR, load_pages
from research.config import Settings
from research.engines.local import LocalEngine
from research.models import DiscoveryRequest, Page, Report, SiteAnalysis, StageName
from research.progress import RunTracker, StageContext
from research.runtime.loop_runner import LoopLag, LoopRunner
from research.text.keyphrases import analyse_site

SITE_PAGES = 250
COMPETITOR_PAGES = 125
SECTIONS_PER_PAGE = 10
SEED = 7
ROUNDS = 5


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


def package_prose() -> list[tuple[str, str]]:
    """(heading, paragraph) pairs from the long descriptions of the installed packages.

    They add vocabulary the evaluation sites lack, so phrase tables grow as on real sites.
    """
    pool: list[tuple[str, str]] = []
    pattern = str(
        Path(sys.prefix) / "lib" / "python3*" / "site-packages" / "*.dist-info" / "METADATA"
    )
    for path in sorted(glob.glob(pattern)):
        body = Path(path).read_text("utf-8", "replace").partition("\n\n")[2]
        for block in re.split(r"\n\s*\n", body):
            words = block.split()
            prose = sum(c.isalpha() or c.isspace() for c in block) / max(1, len(block))
            if len(words) >= 25 and prose >= 0.9 and not block.lstrip().startswith(("|", "..")):
                pool.append((" ".join(words[:6]).rstrip(".,:;"), " ".join(words)))
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


def make_sites(
    pool: list[tuple[str, str]], rng: random.Random, round_: int
) -> list[tuple[str, list[Page]]]:
    """One site and two competitors; new domains each round, so nothing is reused from cache."""
    names = [f"site{round_}.example", f"rival-a{round_}.example", f"rival-b{round_}.example"]
    # The site draws on two thirds of the sections, so competitors have something it lacks.
    return [
        (names[0], synthetic_site(names[0], SITE_PAGES, pool[::3] + pool[1::3], rng)),
        (names[1], synthetic_site(names[1], COMPETITOR_PAGES, pool, rng)),
        (names[2], synthetic_site(names[2], COMPETITOR_PAGES, pool, rng)),
    ]


def run_rounds(
    runner: LoopRunner, rounds: list[list[tuple[str, list[Page]]]]
) -> tuple[list[dict[str, float]], LoopLag]:
    """Analyse each round's sites on the runner's loop; return timings and the loop's lag."""
    threads = anyio.CapacityLimiter(2)
    runner.reset_lag()
    timings = [runner.submit(analyse_all(sites, threads)).result() for sites in rounds]
    return timings, runner.lag()


def main() -> None:
    """Run the benchmark and print its table."""
    rng = random.Random(SEED)
    pool = section_pool() + package_prose()
    rounds = [make_sites(pool, rng, n) for n in range(2 * ROUNDS)]
    pages = sum(len(p) for _, p in rounds[0])
    with tempfile.TemporaryDirectory() as tmp:
        runner = LoopRunner(Settings(db_path=Path(tmp) / "bench.sqlite3"), debug=False)
        try:
            runner.submit(anyio.sleep(1.0)).result()
            idle = runner.lag()
            timings, busy = run_rounds(runner, rounds[:ROUNDS])
            # Full collections walk every object the imports made (~100 ms here) while the
            # loop waits for the GIL; gc.freeze() after start-up takes those out of the walk.
            gc.collect()
            gc.freeze()
            try:
                _, frozen = run_rounds(runner, rounds[ROUNDS:])
            finally:
                gc.unfreeze()
        finally:
            runner.shutdown()
    words = sum(len(p.text.split()) for _, site in rounds[0] for p in site) // pages
    print(f"local engine on {pages} pages (~{words} words each), {ROUNDS} rounds, median shown")
    print(f"{'phase':<18} {'seconds':>8}")
    for phase in timings[0]:
        print(f"{phase:<18} {statistics.median(t[phase] for t in timings):>8.2f}")
    per_100 = statistics.median(t["total"] for t in timings) / pages * 100
    print(f"{'s per 100 pages':<18} {per_100:>8.2f}")
    print(f"\n{'loop lag (ms)':<28} {'p50':>7} {'p99':>7} {'max':>7} {'samples':>8}")
    rows = (("idle", idle), ("during analysis", busy), ("same, after gc.freeze()", frozen))
    for label, lag in rows:
        print(
            f"{label:<28} {lag.p50_ms:>7.1f} {lag.p99_ms:>7.1f} {lag.max_ms:>7.1f} {lag.samples:>8}"
        )


if __name__ == "__main__":
    main()
