"""The job queue: a batch of 24 fixture sites on 1 worker vs 2, and enqueue-to-first-progress latency.

Run with `.venv/bin/python -m bench.bench_queue` (needs Debian's PostgreSQL server binaries; a
throwaway cluster is started and removed). Every site answers each page after 100 ms. Each
worker runs 2 runs at once; the ratio of the batch's wall time on 1 worker to that on 2 workers
has the goal >= 1.7x. The latency is from deferring a job (one idle worker, LISTEN/NOTIFY) to the
run being claimed `running` in the store: p50 over 10 runs, goal <= 100 ms.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import anyio
from pydantic import SecretStr

from research.models import FINISHED_STATUSES, DiscoveryRequest, Report
from research.runtime.queue import RunQueue
from research.store.postgres import PostgresStore
from tests.fakes.fixtures import ACME, build_pages
from tests.fakes.site import SiteServer
from tests.pg import start_cluster

SITES = 24
LATENCY = 0.1
MAX_PAGES = 6
PER_WORKER = 2
ROOT = Path(__file__).resolve().parents[1]


def start_workers(url: str, count: int) -> list[subprocess.Popen[str]]:
    """Start `count` worker processes on the database and wait until each takes jobs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESEARCH_")}
    env.update(RESEARCH_DATABASE_URL=url, RESEARCH_QUEUE="1", RESEARCH_ALLOW_PRIVATE_HOSTS="1")
    command = [sys.executable, "-m", "research", "worker", "--concurrency", str(PER_WORKER)]
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    for worker in workers:
        assert worker.stderr is not None
        assert "taking runs" in worker.stderr.readline()
    return workers


def stop_workers(workers: list[subprocess.Popen[str]]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.communicate(timeout=60)


async def run_batch(url: str, sites: list[str]) -> float:
    """Enqueue one run per site and return the seconds until every run has finished."""
    store = await PostgresStore.open(SecretStr(url), hand_off_queued=True)
    queue = await RunQueue.open(SecretStr(url))
    try:
        reports = [
            Report(request=DiscoveryRequest(url=s, engine="local", max_pages=MAX_PAGES))
            for s in sites
        ]
        start = time.perf_counter()
        for report in reports:
            await queue.enqueue(store, report)
        ids = [r.run_id for r in reports]
        while True:
            statuses = await store.statuses(ids)
            if all(s in FINISHED_STATUSES for s in statuses.values()):
                failed = [i for i, s in statuses.items() if s != "completed"]
                assert not failed, f"runs did not complete: {failed}"
                return time.perf_counter() - start
            await anyio.sleep(0.05)
    finally:
        await queue.aclose()
        await store.aclose()


async def wait_while(store: PostgresStore, run_id: str, status: str, poll: float) -> None:
    """Return once the run's status is no longer `status`."""
    while True:
        if (await store.statuses([run_id]))[run_id] != status:
            return
        await anyio.sleep(poll)


async def apply_schema(url: str) -> None:
    """Create the history and queue schemas before any worker starts."""
    store = await PostgresStore.open(SecretStr(url))
    await store.aclose()
    queue = await RunQueue.open(SecretStr(url))
    await queue.aclose()


async def pickup_latencies(url: str, site: str, runs: int = 10) -> list[float]:
    """Seconds from deferring each run's job to the run being claimed, one run at a time."""
    store = await PostgresStore.open(SecretStr(url), hand_off_queued=True)
    queue = await RunQueue.open(SecretStr(url))
    latencies = []
    try:
        for _ in range(runs):
            report = Report(request=DiscoveryRequest(url=site, engine="local", max_pages=1))
            await store.save(report.model_copy(update={"status": "queued"}))
            start = time.perf_counter()
            await queue.defer(report.run_id)
            await wait_while(store, report.run_id, "queued", 0.002)
            latencies.append(time.perf_counter() - start)
            await wait_while(store, report.run_id, "running", 0.02)
    finally:
        await queue.aclose()
        await store.aclose()
    return latencies


def main() -> None:
    """Print the 1-vs-2-worker ratio and the pickup latency p50."""
    cluster = start_cluster()
    servers = [
        SiteServer(build_pages(ACME, f"Site {n}", {"rival": ""}), latency=LATENCY).start()
        for n in range(SITES)
    ]
    try:
        times = {}
        for count in (1, 2):
            url = cluster.database()
            anyio.run(apply_schema, url)
            workers = start_workers(url, count)
            try:
                times[count] = anyio.run(run_batch, url, [s.url for s in servers])
            finally:
                stop_workers(workers)
            print(f"{SITES} sites on {count} worker(s) x {PER_WORKER}: {times[count]:.1f} s")
        ratio = times[1] / times[2]
        print(f"speed-up 1 -> 2 workers: {ratio:.2f}x (goal >= 1.7x)")
        url = cluster.database()
        anyio.run(apply_schema, url)
        workers = start_workers(url, 1)
        try:
            latencies = anyio.run(pickup_latencies, url, servers[0].url)
        finally:
            stop_workers(workers)
        p50 = statistics.median(latencies) * 1000
        print(f"enqueue to first progress p50: {p50:.0f} ms (goal <= 100 ms)")
    finally:
        for server in servers:
            server.stop()
        cluster.remove()


if __name__ == "__main__":
    main()
