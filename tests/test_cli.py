"""`python -m research discover`: outputs, exit codes, private hosts and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import openpyxl

from research.models import Report
from tests.fakes.site import SiteServer

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, db: Path, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "RESEARCH_DB": str(db)}
    env.pop("GEMINI_API_KEY", None)
    env.pop("RESEARCH_ALLOW_PRIVATE_HOSTS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "research", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )


def test_discover_writes_json_and_excel_and_exits_zero(
    sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, rival = sites
    out, js = tmp_path / "report.xlsx", tmp_path / "report.json"
    process = cli(
        "discover", site.url, "--competitor", rival.url, "--max-pages", "10",
        "--engine", "local", "--out", str(out), "--json", str(js), "--allow-private-hosts",
        db=tmp_path / "runs.sqlite3",
    )  # fmt: skip
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert "Site analysis" in stderr and "Briefs" in stderr  # progress on stderr
    data = json.loads(js.read_text())
    report = Report.model_validate(data)
    assert data["status"] == "completed"
    assert data["site"]["url"] == site.url
    assert data["competitors"][0]["url"] == rival.url
    assert data["keywords"] and all("keyword" in k for k in data["keywords"])
    assert data["gaps"] and data["errors"] == []
    for topic in data["topics"]:
        assert {"title", "keywords", "score", "reason"} <= set(topic)
    for brief in data["briefs"]:
        assert brief["topic"] and brief["outline"]
        assert brief["sources"] and all(s["url"] for s in brief["sources"])
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == [
        "Summary", "Topics", "Keywords", "Content Gaps", "Competitors", "Briefs", "Brief Plan",
        "Sources", "Run Log",
    ]  # fmt: skip
    assert workbook["Topics"].max_row == len(report.topics) + 1


def test_invalid_url_exits_two_with_one_line(tmp_path: Path) -> None:
    process = cli("discover", "ftp://example.com", db=tmp_path / "runs.sqlite3")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert stderr.strip().count("\n") == 0 and "only http and https" in stderr


def test_refused_addresses_exit_two_before_a_run_with_one_line_and_nothing_saved(
    sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, _ = sites
    db = tmp_path / "runs.sqlite3"
    refused = {
        site.url: "private or reserved address (127.0.0.1)",  # a literal IP, no opt-in
        "http://169.254.169.254/latest/meta-data/": "cloud metadata address",
    }
    for url, says in refused.items():
        process = cli("discover", url, "--engine", "local", db=db)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 2, stderr
        assert stderr.startswith("error: ") and stderr.count("\n") == 1 and says in stderr
    # Even with the opt-in, a metadata address is never fetched.
    process = cli(
        "discover", site.url, "--competitor", "http://169.254.169.254/", "--engine", "local",
        "--allow-private-hosts", db=db,
    )  # fmt: skip
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2 and stderr.count("\n") == 1 and "metadata" in stderr
    assert site.requests == [], "nothing may be fetched from a refused host"
    history = cli("history", db=db)
    _, stderr = history.communicate(timeout=60)
    assert history.returncode == 0 and stderr.strip() == "No saved runs."


def test_a_failed_run_prints_progress_then_one_error_line(tmp_path: Path) -> None:
    process = cli(
        "discover", "http://127.0.0.1:9/", "--engine", "local", "--allow-private-hosts",
        db=tmp_path / "runs.sqlite3",
    )  # fmt: skip
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if "could not be reached" in line]
    assert errors == [lines[-1]] and lines[-1].startswith("error: Run failed: 127.0.0.1:9 ")
    assert sum("error" in line for line in lines) == 1, stderr
    assert any(line.endswith("[Site analysis] Site analysis failed") for line in lines)


def test_ctrl_c_writes_partial_results_and_exits_130(
    sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    site, rival = sites
    site.hold_paths(lambda path: path.startswith("/blog/"))
    js = tmp_path / "partial.json"
    process = cli(
        "discover", site.url, "--competitor", rival.url, "--engine", "local",
        "--json", str(js), "--allow-private-hosts",
        db=tmp_path / "runs.sqlite3",
    )  # fmt: skip
    try:
        assert site.held.wait(60), "the crawl never reached the held pages"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        site.gate.set()
        process.kill()
    assert process.returncode == 130, stderr
    data = json.loads(js.read_text())
    assert data["status"] == "cancelled"
    assert data["site"]["pages"], "pages crawled before Ctrl-C are kept"
