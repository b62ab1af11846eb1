"""Soak: 40 runs through one LoopRunner, 4 at a time, against two 60-page fixture sites.

Run with `.venv/bin/python -m bench.bench_soak`. The sites (pages with nav and footer, as the
fixture sites render them) are served from a child process; each run crawls the site and its
named competitor on the local engine. Prints the loop's lag p50/p99/max over every batch after
the first, and the process's resident memory after each batch, with its growth per run after
the first batch (the JobManager's retention bounds what is kept in memory). Memory is read as
the process leaves it, without a forced collection: a full collection here would stop the loop
for tens of milliseconds and count as the app's lag.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.bench_pipeline import start_sites_process
from research.config import Settings
from research.models import DiscoveryRequest
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner

RUNS = 40
AT_ONCE = 4
PAGES_PER_SITE = 60
RETENTION = 8


def rss_mb() -> float:
    """This process's resident memory in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    """Run the soak and print its table."""
    server, pipe, (site_url, rival_url) = start_sites_process(PAGES_PER_SITE, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            allow_private_hosts=True, db_path=Path(tmp) / "soak.sqlite3", job_retention=RETENTION
        )
        # The heartbeat window holds every sample of the soak, not only its last minute.
        runner = LoopRunner(settings, debug=False, window=100_000)
        try:
            jobs = JobManager(runner)
            request = DiscoveryRequest(
                url=site_url, competitors=[rival_url], max_pages=PAGES_PER_SITE, engine="local"
            )
            runner.services()
            memory: list[float] = []
            start = time.perf_counter()
            for batch in range(RUNS // AT_ONCE):
                started = [jobs.get(jobs.start(request)) for _ in range(AT_ONCE)]
                for job in started:
                    assert job is not None and job.wait(600), "a run did not finish"
                    assert job.snapshot().status == "completed", job.snapshot().errors
                memory.append(rss_mb())
                if batch == 0:
                    runner.reset_lag()  # the first batch warms caches and imports
            wall = time.perf_counter() - start
            lag = runner.lag()
        finally:
            runner.shutdown()
            pipe.send("stop")
            server.join(10)
    growth = (memory[-1] - memory[0]) / (RUNS - AT_ONCE)
    print(f"soak: {RUNS} runs, {AT_ONCE} at a time, two {PAGES_PER_SITE}-page sites each")
    print(f"  wall time                       {wall:.1f} s ({wall / RUNS:.2f} s per run)")
    print(
        f"  loop lag after the first batch  p50 {lag.p50_ms:.1f} ms, p99 {lag.p99_ms:.1f} ms, "
        f"max {lag.max_ms:.1f} ms ({lag.samples} samples; goal p99 <= 5, max <= 20)"
    )
    print(f"  RSS after each batch (MB)       {' '.join(f'{m:.0f}' for m in memory)}")
    print(f"  RSS growth per run after batch 1 {growth:.2f} MB (goal <= 1 MB)")


if __name__ == "__main__":
    main()
