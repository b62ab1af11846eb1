"""20 concurrent Gemini-engine runs against the fake Gemini server (300 ms per call) vs one run.

Run with `.venv/bin/python -m bench.bench_gemini`. Every run crawls the fixture sites, asks the
fake for competitors (grounded, with redirect links resolved), keywords, topics and five
streamed briefs. Prints the wall time of one run, of twenty at once, their ratio, the peak of
Gemini calls in flight against the concurrency limit, and the loop lag p99/max during the twenty.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from research.config import Settings
from research.models import DiscoveryRequest, Report
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from tests.fakes.fixtures import start_sites
from tests.fakes.gemini import FakeGemini, Grounding

LATENCY = 0.3
RUNS = 20
CONCURRENCY = 8
RPM = 2000  # high enough not to bind here; the tests check the RPM limit itself


def run_many(runner: LoopRunner, request: DiscoveryRequest, key: SecretStr, count: int) -> float:
    """Start `count` runs at once; return the wall time until all have finished."""
    jobs = JobManager(runner, retention=count * 2)
    start = time.perf_counter()
    started = [jobs.get(jobs.start(request, api_key=key)) for _ in range(count)]
    reports: list[Report] = []
    for job in started:
        assert job is not None and job.wait(600), "a run did not finish"
        reports.append(job.snapshot())
    wall = time.perf_counter() - start
    bad = [r for r in reports if r.status != "completed" or r.engine != "gemini"]
    warned = [
        e.message for r in reports for e in r.log if e.level == "warning" and "Gemini" in e.message
    ]
    assert not bad and not warned, (bad[:1], warned[:3])
    return wall


def main() -> None:
    """Run the benchmark and print its table."""
    site, rival = start_sites()
    fake = FakeGemini(latency=LATENCY).start()
    fake.values = {
        "url": [rival.url],
        "name": ["Metricly"],
        "keyword": ["server-side tracking", "cookie consent", "bounce rate", "attribution model"],
    }
    fake.grounding = [Grounding("Metricly", rival.url), Grounding("metricly.example", rival.url)]
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            allow_private_hosts=True,
            db_path=Path(folder) / "bench-gemini.sqlite3",
            gemini_base_url=fake.url,
            gemini_concurrency=CONCURRENCY,
            gemini_rpm=RPM,
        )
        runner = LoopRunner(settings)
        key = SecretStr(fake.api_key)
        request = DiscoveryRequest(url=site.url, allow_private_hosts=True, max_pages=10)
        try:
            run_many(runner, request, key, 1)  # warm-up: client, imports, connections
            calls_before = len(fake.log())
            runner.reset_lag()
            one = run_many(runner, request, key, 1)
            lag_one = runner.lag()
            calls_per_run = len(fake.log()) - calls_before
            fake.max_in_flight = 0
            runner.reset_lag()
            many = run_many(runner, request, key, RUNS)
            lag = runner.lag()
        finally:
            runner.shutdown()
            fake.stop()
            site.stop()
            rival.stop()
    rows = [
        ("fake Gemini latency per call", f"{LATENCY * 1000:.0f} ms"),
        ("Gemini calls per run", str(calls_per_run)),
        ("concurrency limit / peak in flight", f"{CONCURRENCY} / {fake.max_in_flight}"),
        ("wall, 1 run", f"{one:.2f} s"),
        (f"wall, {RUNS} runs at once", f"{many:.2f} s"),
        (f"wall {RUNS} / wall 1", f"{many / one:.2f}x"),
        (
            f"bound: {RUNS} runs' calls / limit x latency",
            f"{RUNS * calls_per_run / CONCURRENCY * LATENCY:.2f} s",
        ),
        ("loop lag p99 / max, 1 run", f"{lag_one.p99_ms:.1f} / {lag_one.max_ms:.1f} ms"),
        (f"loop lag p99 / max, {RUNS} runs", f"{lag.p99_ms:.1f} / {lag.max_ms:.1f} ms"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"gemini: {RUNS} concurrent Gemini-engine runs against the fake server")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
