"""The dashboard in queue mode (AppTest): Discover enqueues and follows the run from the store,
Settings shows the backend, the queue and its workers, the Batch page enqueues its runs."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.fakes.site import SiteServer
from tests.team import Workers

SECRET = "pw-never-shown"
APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, team_env: dict[str, str]) -> Iterator[AppTest]:
    """The dashboard with the queue on, on the Discover page."""
    for name in ("RESEARCH_DATABASE_URL", "RESEARCH_QUEUE", "RESEARCH_ALLOW_PRIVATE_HOSTS"):
        monkeypatch.setenv(name, team_env[name])
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    st.cache_resource.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    yield at
    st.cache_resource.clear()


def until(at: AppTest, done: Callable[[], bool], seconds: float = 120) -> None:
    """Re-run the page (as the fragment's timer would) until `done()` holds."""
    deadline = time.monotonic() + seconds
    while not done():
        page = [e.value for e in [*at.subheader, *at.error, *at.info]]
        assert time.monotonic() < deadline, f"the page never got there: {page}"
        at.run()


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def discover(app: AppTest, url: str) -> str:
    """Start a 5-page discovery of `url` on the Discover page; return the run id it shows."""
    app.text_input[0].input(url)
    app.number_input[0].set_value(5)
    next(b for b in app.button if b.label == "Discover Topics").click()
    app.run()
    assert not app.exception
    return str(app.query_params["run"])


def test_discover_enqueues_and_a_second_replica_follows_the_run(
    app: AppTest, workers: Workers, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, _ = sites
    run_id = discover(app, site.url)
    assert app.subheader[0].value == f"Following run {run_id}"
    assert app.info[0].value.startswith("Queued: no worker has picked this run up yet (waiting ")
    other = AppTest.from_file(APP, default_timeout=60)  # another browser, from a link
    other.query_params["run"] = run_id
    other.run()
    assert other.subheader[0].value == f"Following run {run_id}"
    workers.start()
    until(other, lambda: any(s.value.startswith("Results for") for s in other.subheader))
    assert not other.exception
    assert "Run completed" in captions(other) or other.success


def test_history_resume_enqueues_the_run_for_the_workers(
    app: AppTest, pg_url: str, workers: Workers, sites: tuple[SiteServer, SiteServer]
) -> None:
    import psycopg

    site, _ = sites
    run_id = discover(app, site.url)
    next(b for b in app.button if b.label == "Cancel").click()  # cancelled while queued
    app.run()
    app.switch_page("pages/history.py")
    app.query_params["run"] = run_id
    app.run()
    next(b for b in app.button if b.label == "Resume").click()
    app.run()
    assert not app.exception
    assert app.title[0].value == "Discover Topics"
    assert app.subheader[0].value == f"Following run {run_id}"
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT status, owner FROM runs WHERE run_id = %s", (run_id,))
        assert row.fetchone() == ("queued", None)  # for the workers, not run in the dashboard
    workers.start()

    def completed() -> bool:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            return row.fetchone() == ("completed",)

    until(app, completed, 60)
    app.run()
    assert not app.exception
    assert not any(s.value.startswith("Following run") for s in app.subheader)
    assert any(s.value.startswith(site.url) for s in app.subheader)  # the finished run's results


def test_settings_show_the_backend_the_queue_and_workers(app: AppTest, workers: Workers) -> None:
    app.switch_page("pages/settings.py")
    app.run()
    rows = dict(zip(*app.table[-1].value.to_dict("list").values(), strict=True))
    assert rows["History"].startswith("PostgreSQL at 127.0.0.1:")
    assert rows["Queue"] == "on (procrastinate)"
    assert rows["Workers seen in the last minute"] == "0"
    assert any("never sent to them" in info.value for info in app.info)  # the session key
    workers.start()
    app.run()
    rows = dict(zip(*app.table[-1].value.to_dict("list").values(), strict=True))
    assert rows["Workers seen in the last minute"] == "1"


def test_the_batch_page_enqueues_and_cancels_a_batch(
    app: AppTest, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    app.switch_page("pages/batch.py")
    app.run()
    app.text_area[0].input(f"{site.url}\n{rival.url}\n")
    next(b for b in app.button if b.label == "Start batch").click()
    app.run()
    assert not app.exception
    assert list(app.dataframe[0].value["Status"]) == ["queued", "queued"]
    next(b for b in app.button if b.label == "Cancel batch").click()
    app.run()
    assert list(app.dataframe[0].value["Status"]) == ["cancelled", "cancelled"]


def test_an_unreachable_history_is_one_error_naming_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RESEARCH_DATABASE_URL", f"postgresql://u:{SECRET}@127.0.0.1:{port}/x")
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        assert not at.exception
        assert [e.value for e in at.error] == [
            f"The run history database at 127.0.0.1:{port} could not be reached."
        ]
        assert SECRET not in str(at)
    finally:
        st.cache_resource.clear()
