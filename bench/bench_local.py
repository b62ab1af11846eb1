"""Local engine on 500 pages: seconds per 100 pages, and the loop's lag while it works.

Run with `.venv/bin/python -m bench.bench_local`. The pages are built from the sections of the
English evaluation sites (tests/data/eval) and paragraphs of the installed packages'
descriptions, shuffled into new pages with a fixed seed: a site of 250 pages (from two thirds
of the sections) and two competitors of 125. The whole local analysis (site analysis of each
site, keywords and gaps with the topics computed alongside, five briefs) runs on a LoopRunner's
loop with every CPU step in its worker processes and as much at once as the pipeline does (the
three site analyses together, three briefs at a time); the loop's heartbeat lag shows whether
the loop stayed free. It runs on a runner with one worker process and one with two, taking
turns round by round (so both see the same load from elsewhere), and prints the speed-up.
"""

from __future__ import annotations

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
from research.models import DiscoveryRequest, Page, Report, SiteAnalysis, StageName, Topic
from research.processes import CpuWorkers, run_cpu, worker_pid
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


async def analyse_all(sites: list[tuple[str, list[Page]]], cpu: CpuWorkers) -> dict[str, float]:
    """Run the local analysis as the pipeline does; return seconds per phase."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    analyses: dict[str, SiteAnalysis] = {}

    async def analyse(domain: str, pages: list[Page]) -> None:
        analyses[domain] = await run_cpu(cpu, analyse_site, f"https://{domain}/", pages, [])

    async with anyio.create_task_group() as group:
        for domain, pages in sites:
            group.start_soon(analyse, domain, pages)
    timings["site analysis"] = time.perf_counter() - start
    site, *competitors = (analyses[domain] for domain, _ in sites)
    engine = LocalEngine(cpu)
    tracker = RunTracker(Report(request=DiscoveryRequest(url=site.url)))

    mark = time.perf_counter()
    research = await engine.expand_keywords(
        StageContext(tracker, StageName.KEYWORDS), site, competitors
    )
    # One phase: the engine computes the topics alongside the keywords, in another worker.
    topics = await engine.propose_topics(
        StageContext(tracker, StageName.TOPICS), site, competitors, research
    )
    timings["keywords & topics"] = time.perf_counter() - mark
    mark = time.perf_counter()
    briefs = anyio.CapacityLimiter(Settings().brief_concurrency)

    async def brief(topic: Topic) -> None:
        async with briefs:
            await engine.write_brief(
                StageContext(tracker, StageName.BRIEFS), topic, site, competitors
            )

    async with anyio.create_task_group() as group:
        for topic in topics[:5]:
            group.start_soon(brief, topic)
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


def idle_lag(runner: LoopRunner) -> LoopLag:
    """Warm the runner's workers, as a dashboard's are before a run; return its idle lag."""
    runner.submit(runner.processes.run(worker_pid)).result()
    runner.reset_lag()
    runner.submit(anyio.sleep(1.0)).result()
    return runner.lag()


def worst(lags: list[LoopLag]) -> LoopLag:
    """The worst p50, p99 and max of several measurements, with all their samples."""
    return LoopLag(
        p50_ms=max(lag.p50_ms for lag in lags),
        p99_ms=max(lag.p99_ms for lag in lags),
        max_ms=max(lag.max_ms for lag in lags),
        samples=sum(lag.samples for lag in lags),
    )


def run_rounds(
    counts: tuple[int, ...], rounds: list[list[tuple[str, list[Page]]]], db: Path
) -> dict[int, tuple[LoopLag, list[dict[str, float]], LoopLag]]:
    """Analyse each round's sites on a runner per worker count, the counts taking turns.

    Taking turns round by round, the counts share whatever else the machine does meanwhile.
    Returns, per count, the loop's lag while idle, each round's timings, and the worst lag of
    a round.
    """
    runners = {n: LoopRunner(Settings(db_path=db, worker_processes=n), debug=False) for n in counts}
    try:
        idle = {n: idle_lag(runner) for n, runner in runners.items()}
        timings: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
        busy: dict[int, list[LoopLag]] = {n: [] for n in counts}
        for sites in rounds:
            for n, runner in runners.items():
                runner.reset_lag()
                timings[n].append(runner.submit(analyse_all(sites, runner.processes)).result())
                busy[n].append(runner.lag())
        return {n: (idle[n], timings[n], worst(busy[n])) for n in counts}
    finally:
        for runner in runners.values():
            runner.shutdown()


def main() -> None:
    """Run the benchmark and print its table."""
    rng = random.Random(SEED)
    pool = section_pool() + package_prose()
    rounds = [make_sites(pool, rng, n) for n in range(ROUNDS)]
    pages = sum(len(p) for _, p in rounds[0])
    with tempfile.TemporaryDirectory() as tmp:
        results = run_rounds((1, 2), rounds, Path(tmp) / "bench.sqlite3")
    words = sum(len(p.text.split()) for _, site in rounds[0] for p in site) // pages
    print(f"local engine on {pages} pages (~{words} words each), {ROUNDS} rounds, median shown")
    print(f"{'phase':<18} {'1 process':>10} {'2 processes':>12}")
    one, two = results[1][1], results[2][1]
    for phase in one[0]:
        first = statistics.median(t[phase] for t in one)
        second = statistics.median(t[phase] for t in two)
        print(f"{phase:<18} {first:>9.2f}s {second:>11.2f}s")
    totals = [statistics.median(t["total"] for t in runs) for runs in (one, two)]
    print(
        f"{'s per 100 pages':<18} {totals[0] / pages * 100:>9.2f}s {totals[1] / pages * 100:>11.2f}s"
    )
    print(f"speed-up with 2 processes: {totals[0] / totals[1]:.2f}x (goal >= 1.6x)")
    print(f"\n{'loop lag (ms)':<28} {'p50':>7} {'p99':>7} {'max':>7} {'samples':>8}")
    for processes, (idle, _, busy) in results.items():
        for label, lag in (
            (f"idle, {processes} process(es)", idle),
            (f"during analysis, {processes}", busy),
        ):
            print(
                f"{label:<28} {lag.p50_ms:>7.1f} {lag.p99_ms:>7.1f} {lag.max_ms:>7.1f} {lag.samples:>8}"
            )
    print("goal during analysis: p99 <= 5 ms, max <= 20 ms (the worst round shown)")


if __name__ == "__main__":
    main()
