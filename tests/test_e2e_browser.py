"""The dashboard in Debian's Chromium: run a discovery, watch it, open the Excel download."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from tests.fakes.site import SiteServer
from tests.sample_report import load_saved

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# One xdist worker runs every browser test, so two Chromiums never compete for the two cores.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    """Poll the health endpoint until it answers (bounded by attempts, not by sleeping)."""
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError("streamlit exited before it became healthy")
        try:
            with urllib.request.urlopen(url, timeout=0.2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            # a refused connection returns at once; wait on the process instead of sleeping
            try:
                process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
    raise RuntimeError("streamlit did not become healthy")


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[str]:
    """`streamlit run` on a free loopback port, private hosts allowed, a temporary database."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed")
    port = free_port()
    env = {
        **os.environ,
        "RESEARCH_ALLOW_PRIVATE_HOSTS": "1",
        "RESEARCH_DB": str(tmp_path / "runs.sqlite3"),
    }
    env.pop("GEMINI_API_KEY", None)
    streamlit = shutil.which("streamlit", path=str(Path(sys.executable).parent))
    assert streamlit
    process = subprocess.Popen(
        [
            streamlit,
            "run",
            "streamlit_app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/_stcore/health", process)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def fill_discover(page: Any, dashboard: str, url: str, competitor: str) -> None:
    """Open Discover Topics and fill in the website and one competitor."""
    from playwright.sync_api import expect

    page.goto(dashboard, wait_until="domcontentloaded")
    url_box = page.get_by_label("Website URL")
    expect(url_box).to_be_visible(timeout=30_000)
    url_box.fill(url)
    url_box.press("Enter")
    page.get_by_label("Competitor URLs").fill(competitor)


def test_discover_in_the_browser_and_download_excel(
    dashboard: str, sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    site, rival = sites
    site.latency = 0.05
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(accept_downloads=True)
            fill_discover(page, dashboard, site.url, rival.url)
            page.get_by_role("button", name="Discover Topics").click()
            expect(page.get_by_text("Site analysis").first).to_be_visible(timeout=30_000)
            expect(page.get_by_role("tab", name="Topics")).to_be_visible(timeout=90_000)
            assert "run=" in page.url
            with page.expect_download(timeout=60_000) as download_info:
                page.get_by_role("button", name="Download Excel").click()
            target = tmp_path / "report.xlsx"
            download_info.value.save_as(target)
            page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
        finally:
            browser.close()
    workbook = openpyxl.load_workbook(target)
    assert {"Summary", "Topics", "Keywords", "Content Gaps", "Sources"} <= set(workbook.sheetnames)
    topics = workbook["Topics"]
    assert topics.max_row > 1


def test_one_full_review_in_the_browser(
    dashboard: str, sites: tuple[SiteServer, SiteServer], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    site, rival = sites
    rival_domain = rival.url.split("/")[2]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            fill_discover(page, dashboard, site.url, rival.url)
            page.get_by_text("Review competitors and topics before briefs").click()
            page.get_by_role("button", name="Discover Topics").click()
            expect(page.get_by_text("Review the competitors")).to_be_visible(timeout=90_000)
            rival_box = page.get_by_text(f"{rival_domain} · found by user")
            expect(rival_box).to_be_visible()
            rival_box.click()  # untick: the rival is dropped
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_text("Review the topics")).to_be_visible(timeout=90_000)
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_text("completed").first).to_be_visible(timeout=90_000)
            run_id = page.url.split("run=")[1].split("&")[0]
            page.screenshot(path=str(tmp_path / "reviewed.png"), full_page=True)
        finally:
            browser.close()
    report = load_saved(tmp_path / "runs.sqlite3", run_id)
    assert report.status == "completed" and report.reviewed == ["competitors", "topics"]
    assert rival.url not in [c.url for c in report.competitors]
    assert report.briefs and rival.requests  # crawled before the review dropped it
