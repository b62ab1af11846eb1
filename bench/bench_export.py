"""Excel export speed: our formatted workbook against pandas.DataFrame.to_excel, same rows.

Run with `.venv/bin/python -m bench.bench_export`. Prints the median CPU seconds of each (the
builds alternate, so both see the same machine; CPU time is not inflated by other processes)
and the ratio (ours / pandas) measured in the same run, plus the event loop's largest gap while
export_report() builds it.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import anyio
import pandas as pd

from research.export import export_report, to_xlsx, workbook_sheets
from research.models import Report
from tests.sample_report import large_report

ROWS = 10_000
REPEATS = 5


def _naive(value: object) -> object:
    """Excel has no time zones: pandas refuses aware datetimes, as openpyxl does."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def pandas_xlsx(report: Report) -> bytes:
    """Write the same sheets and rows with pandas (openpyxl engine, no formatting)."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for title, columns, rows in workbook_sheets(report):
            table = [[_naive(value) for value in row] for row in rows()]
            frame = pd.DataFrame(table, columns=[c.header for c in columns])
            frame.to_excel(writer, sheet_name=title, index=False)
    return buffer.getvalue()


def median_cpu_seconds(
    builds: dict[str, Callable[[Report], bytes]], report: Report
) -> dict[str, float]:
    """Return each build's median CPU seconds over REPEATS rounds, the builds alternating."""
    times: dict[str, list[float]] = {name: [] for name in builds}
    for _ in range(REPEATS):
        for name, build in builds.items():
            start = time.process_time()
            build(report)
            times[name].append(time.process_time() - start)
    return {name: statistics.median(values) for name, values in times.items()}


async def loop_gap_during_export(report: Report) -> float:
    """Return the largest gap (s) between heartbeats of a 1 ms ticker while exporting."""
    largest = 0.0
    done = anyio.Event()

    async def heartbeat() -> None:
        nonlocal largest
        last = time.perf_counter()
        while not done.is_set():
            await anyio.sleep(0.001)
            now = time.perf_counter()
            largest = max(largest, now - last)
            last = now

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        await export_report(report, "xlsx")
        done.set()
    return largest


def main() -> None:
    """Print the export benchmark table."""
    report = large_report(ROWS)
    cells = sum(len(cols) * len(rows()) for _, cols, rows in workbook_sheets(report))
    seconds = median_cpu_seconds({"ours": to_xlsx, "pandas": pandas_xlsx}, report)
    ours, baseline = seconds["ours"], seconds["pandas"]
    gap = anyio.run(loop_gap_during_export, report)
    print(f"export: {ROWS:,} keyword rows, {cells:,} cells, median CPU time of {REPEATS}")
    print(f"{'to_xlsx (formatted)':<32}{ours:8.3f} s")
    print(f"{'pandas.DataFrame.to_excel':<32}{baseline:8.3f} s")
    print(f"{'ratio ours / pandas':<32}{ours / baseline:8.2f}")
    print(f"{'loop max gap during export':<32}{gap * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
