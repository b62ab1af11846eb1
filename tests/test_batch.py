"""Batches: the site list format, `python -m research batch`, `cancel` of a run or a batch."""

from __future__ import annotations

import socket
from pathlib import Path

import anyio
import openpyxl

from research.models import Report
from research.sitelist import parse_sites
from research.store import SQLiteStore
from tests.fakes.site import SiteServer
from tests.test_cli import cli


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_a_site_list_reads_lines_competitors_and_comments() -> None:
    text = (
        "# sites for the night\n"
        "\n"
        "https://a.example  https://rival.example other.example  # two rivals\n"
        "b.example\n"
        "ftp://bad.example\n"
        "https://c.example ftp://bad-rival.example\n"
    )
    sites = parse_sites(text, max_pages=7, engine="local")
    assert [r.url for r in sites.requests] == ["https://a.example/", "https://b.example/"]
    assert sites.requests[0].competitors == ["https://rival.example/", "https://other.example/"]
    assert {r.max_pages for r in sites.requests} == {7}
    assert len(sites.errors) == 2
    assert sites.errors[0].startswith("line 5: ") and "only http and https" in sites.errors[0]
    assert sites.errors[1].startswith("line 6: ")


def test_a_csv_site_list_splits_competitors_on_spaces_or_semicolons() -> None:
    text = (
        "site,competitors\n"
        "https://a.example,https://r1.example; https://r2.example\n"
        "b.example,r3.example r4.example\n"
        ",nobody\n"
        "c.example,\n"
    )
    sites = parse_sites(text, name="sites.csv")
    assert [r.url for r in sites.requests] == [
        "https://a.example/",
        "https://b.example/",
        "https://c.example/",
    ]
    assert sites.requests[0].competitors == ["https://r1.example/", "https://r2.example/"]
    assert sites.requests[1].competitors == ["https://r3.example/", "https://r4.example/"]
    assert [e.split(":")[0] for e in sites.errors] == ["line 4"]


def _runs(db: Path) -> list[Report]:
    async def load() -> list[Report]:
        store = await SQLiteStore.open(db)
        try:
            return [await store.load(r.run_id) for r in await store.list_runs()]
        finally:
            await store.aclose()

    return anyio.run(load)


def test_batch_runs_every_valid_line_and_writes_one_workbook(
    sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, rival = sites
    listing = tmp_path / "sites.txt"
    listing.write_text(f"{site.url} {rival.url}\n{rival.url}\nnot a url at all\n")
    out, db = tmp_path / "batch.xlsx", tmp_path / "runs.sqlite3"
    process = cli(
        "batch", str(listing), "--max-pages", "5", "--engine", "local", "--concurrency", "2",
        "--out", str(out), "--allow-private-hosts", db=db,
    )  # fmt: skip
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    batch_id = stdout.strip()
    assert batch_id.startswith("b-")
    assert "line 3: " in stderr
    runs = _runs(db)
    assert {r.status for r in runs} == {"completed"} and len(runs) == 2
    assert {r.batch_id for r in runs} == {batch_id}
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["Summary", "Topics"]
    summary = list(workbook["Summary"].iter_rows(values_only=True))
    assert summary[0][:5] == ("Site", "Status", "Pages", "Top topics", "Gaps")
    assert sorted(row[0] for row in summary[1:]) == sorted([site.url, rival.url])
    assert all(row[1] == "completed" and row[2] >= 1 and row[3] for row in summary[1:])
    topics = list(workbook["Topics"].iter_rows(values_only=True))
    assert len(topics) - 1 == sum(len(r.topics) for r in runs)
    assert {row[0] for row in topics[1:]} == {site.url, rival.url}


def test_batch_exit_codes_one_when_a_run_fails_two_when_no_line_is_valid(
    sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, _ = sites
    listing = tmp_path / "sites.txt"
    listing.write_text(f"{site.url}\n{_closed_port_url()}\n")
    args = ["--max-pages", "3", "--engine", "local", "--allow-private-hosts", "--quiet"]
    process = cli("batch", str(listing), *args, db=tmp_path / "runs.sqlite3")
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 1, stderr
    assert sorted(r.status for r in _runs(tmp_path / "runs.sqlite3")) == ["completed", "failed"]
    listing.write_text("# nothing\nftp://x.example\n\n")
    process = cli("batch", str(listing), *args, db=tmp_path / "other.sqlite3")
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert stdout == ""
    assert stderr.splitlines()[0].startswith("line 2: ")
    assert stderr.splitlines()[-1] == f"error: {listing} has no valid site line."


def test_cancel_of_a_batch_stops_its_running_run_and_its_queued_ones(
    sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, rival = sites
    site.hold_paths(lambda path: path != "/robots.txt")  # the first run hangs on its pages
    listing = tmp_path / "sites.txt"
    listing.write_text(f"{site.url}\n{rival.url}\n{rival.url}\n")
    db = tmp_path / "runs.sqlite3"
    batch = cli(
        "batch", str(listing), "--engine", "local", "--concurrency", "1",
        "--allow-private-hosts", "--quiet", db=db,
    )  # fmt: skip
    assert batch.stdout is not None
    batch_id = batch.stdout.readline().strip()
    assert site.held.wait(60), "the first run never fetched its site"
    cancel = cli("cancel", batch_id, db=db)
    _, cancel_err = cancel.communicate(timeout=60)
    _, batch_err = batch.communicate(timeout=60)
    site.gate.set()
    assert cancel.returncode == 0, cancel_err
    assert batch.returncode == 1, batch_err
    assert cancel_err.count(": cancelled") == 3
    runs = _runs(db)
    assert [r.status for r in runs] == ["cancelled"] * 3
    started = [r for r in runs if r.request.url == site.url]
    assert "Run cancelled; partial results kept" in started[0].log[-1].message
    assert {r.log[-1].message for r in runs if r not in started} == {
        "Run cancelled before it started"
    }


def test_cancel_of_an_unknown_id_exits_two(tmp_path: Path) -> None:
    process = cli("cancel", "nope", db=tmp_path / "runs.sqlite3")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert stderr.strip() == "error: No run or batch has the id 'nope'."
