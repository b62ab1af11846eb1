"""Crash safety and resume: saves through the real pipeline, the CLI killed and resumed.

The pipeline saves its report when it starts, after every stage, and when it fails or is
cancelled (what the database holds is read at each stage's start). A `python -m research
discover` subprocess is SIGKILLed during stage 1, and while stage 3 waits on the (fake) Gemini
server after stages 1 and 2 were saved; the next process shows the run `interrupted` with those
stages, and `resume` finishes it without fetching the sites again. Plus `history` and `export`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from openpyxl import load_workbook

from research.cli import main
from research.models import DiscoveryRequest, ProgressEvent, Report, StageName
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from tests.fakes.gemini import FakeGemini, FakeRequest
from tests.fakes.site import SiteServer
from tests.sample_report import load_saved, sample_report, seed

ROOT = Path(__file__).resolve().parents[1]


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m research ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "research", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def saved_payload(db: Path, run_id: str) -> str | None:
    """Read a run's saved report straight from the database file, as another process would."""
    with closing(sqlite3.connect(db)) as connection:
        row = connection.execute("SELECT report FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    return None if row is None else row[0]


def stage_statuses(report: Report) -> list[str]:
    """The status of each stage, in order."""
    return [report.stages[stage].status for stage in StageName]


def test_the_pipeline_saves_at_start_after_every_stage_and_at_the_end(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer]
) -> None:
    site, rival = sites
    db = runner.settings.db_path
    site.hold_paths(lambda path: path == "/")  # stage 1 waits for the home page
    jobs = JobManager(runner)
    job = jobs.get(
        jobs.start(DiscoveryRequest(url=site.url, competitors=[rival.url], engine="local"))
    )
    assert job is not None
    seen: dict[StageName, str | None] = {}

    def on_event(event: ProgressEvent) -> None:
        # Runs on the loop as each stage starts: what is in the database at that moment.
        if event.stage is not None and event.message == f"{event.stage.label} started":
            seen[event.stage] = saved_payload(db, job.id)

    job.tracker.listeners.append(on_event)
    assert site.held.wait(10), "stage 1 never asked for the home page"
    first = saved_payload(db, job.id)
    assert first is not None, "the run was not saved when it started"
    assert Report.model_validate_json(first).status == "running"
    assert "done" not in stage_statuses(Report.model_validate_json(first))
    site.gate.set()
    assert job.wait(60)
    final = job.snapshot()
    assert final.status == "completed", final.errors

    at = {stage: Report.model_validate_json(seen[stage] or "") for stage in list(StageName)[2:]}
    assert stage_statuses(at[StageName.KEYWORDS])[:2] == ["done", "done"]
    assert at[StageName.KEYWORDS].site is not None and at[StageName.KEYWORDS].site.pages
    assert at[StageName.KEYWORDS].competitors[0].analysis is not None
    assert stage_statuses(at[StageName.TOPICS])[:3] == ["done"] * 3
    assert at[StageName.TOPICS].keywords == final.keywords
    assert stage_statuses(at[StageName.BRIEFS])[:4] == ["done"] * 4
    assert at[StageName.BRIEFS].topics == final.topics
    assert Report.model_validate_json(saved_payload(db, job.id) or "") == final


def test_a_failed_run_is_saved_failed(runner: LoopRunner) -> None:
    jobs = JobManager(runner)
    job = jobs.get(jobs.start(DiscoveryRequest(url="http://127.0.0.1:9/", engine="local")))
    assert job is not None and job.wait(30)
    saved = Report.model_validate_json(saved_payload(runner.settings.db_path, job.id) or "")
    assert saved.status == "failed"
    assert saved.stages[StageName.SITE].status == "failed"
    assert saved.errors == job.snapshot().errors and saved.errors


def test_sigkill_during_stage_one_leaves_an_interrupted_run(
    sites: tuple[SiteServer, SiteServer], env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    site, _ = sites
    site.hold_paths(lambda path: path.startswith("/blog/"))
    process = subprocess.Popen(
        [sys.executable, "-m", "research", "discover", site.url, "--engine", "local", "--quiet"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert site.held.wait(30), "the crawl never reached the blog"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    [row] = history_rows(capsys)
    assert "interrupted" in row.split()
    report = load_saved(Path(env["RESEARCH_DB"]), row.split()[0])
    assert report.status == "interrupted"
    assert "done" not in stage_statuses(report)
    assert "interrupted" in report.log[-1].message


def asks_for_gaps(request: FakeRequest) -> bool:
    """Whether a Gemini request is stage 3's (its answer has content gaps)."""
    return "content gaps" in request.prompt or '"gaps"' in json.dumps(request.schema or {})


@pytest.fixture
def gemini(sites: tuple[SiteServer, SiteServer]) -> Iterator[FakeGemini]:
    """A fake Gemini that names the fixture competitor when asked for competitors."""
    _, rival = sites
    with FakeGemini(values={"url": [rival.url]}) as fake:
        yield fake


@pytest.fixture
def env(tmp_path: Path, gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of the CLI, in subprocesses and in this process (for `main`)."""
    values = {
        "RESEARCH_DB": str(tmp_path / "runs.sqlite3"),
        "RESEARCH_ALLOW_PRIVATE_HOSTS": "1",
        "GEMINI_API_KEY": gemini.api_key,
        "GEMINI_BASE_URL": gemini.url,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


def history_rows(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    """Run `history ARGS` in this process (a later process than the killed one); its rows."""
    capsys.readouterr()
    assert main(["history", *args]) == 0
    return capsys.readouterr().out.splitlines()[1:]


def test_sigkill_after_stage_two_then_resume_without_refetching(
    sites: tuple[SiteServer, SiteServer],
    gemini: FakeGemini,
    env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site, rival = sites
    db = Path(env["RESEARCH_DB"])
    # Stage 3 asks Gemini for keywords and content gaps: hold that one request.
    gemini.fail_next("hang", when=asks_for_gaps)
    process = subprocess.Popen(
        [sys.executable, "-m", "research", "discover", site.url, "--competitor", rival.url,
         "--engine", "gemini", "--max-pages", "10", "--quiet"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert gemini.hanging.acquire(timeout=30), "stage 3 never asked Gemini"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    fetched = (list(site.requests), list(rival.requests))
    assert fetched[0] and fetched[1]

    [row] = history_rows(capsys, "--status", "interrupted")
    run_id = row.split()[0]
    report = load_saved(db, run_id)
    assert report.status == "interrupted"
    stages = {name: state.status for name, state in report.stages.items()}
    assert stages[StageName.SITE] == stages[StageName.COMPETITORS] == "done"
    assert all(
        stages[s] != "done" for s in (StageName.KEYWORDS, StageName.TOPICS, StageName.BRIEFS)
    )
    assert report.site is not None and report.site.pages
    assert report.competitors and report.competitors[0].analysis is not None

    out = tmp_path / "resumed.json"
    resumed = cli(env, "resume", run_id, "--json", str(out), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    final = Report.model_validate_json(out.read_bytes())
    assert final.run_id == run_id and final.status == "completed"
    assert all(state.status == "done" for state in final.stages.values())
    assert final.topics and final.briefs
    assert (list(site.requests), list(rival.requests)) == fetched  # nothing fetched twice
    messages = [event.message for event in final.log]
    assert messages[: len(report.log)] == [event.message for event in report.log]
    assert any("interrupted" in m for m in messages)
    assert any(m.startswith("Resumed") for m in messages)
    assert load_saved(db, run_id).status == "completed"

    assert main(["resume", run_id]) == 2
    assert "nothing to resume" in capsys.readouterr().err


@pytest.fixture
def saved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Report, Report]:
    """Two saved runs in the database the in-process CLI uses."""
    db = tmp_path / "runs.sqlite3"
    monkeypatch.setenv("RESEARCH_DB", str(db))
    done = sample_report()
    failed = sample_report("https://other.org/", status="failed")
    seed(db, done, failed)
    return done, failed


def test_history_lists_and_filters(
    saved: tuple[Report, Report], capsys: pytest.CaptureFixture[str]
) -> None:
    done, failed = saved
    assert main(["history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["RUN", "ID", "STARTED"]
    assert {line.split()[0] for line in lines[1:]} == {done.run_id, failed.run_id}
    assert main(["history", "--site", "other.org"]) == 0
    [row] = capsys.readouterr().out.splitlines()[1:]
    assert row.split()[0] == failed.run_id and "failed" in row


@pytest.mark.parametrize("name", ["run.xlsx", "run.json", "run.md"])
def test_export_writes_the_format_its_suffix_names(
    saved: tuple[Report, Report], tmp_path: Path, name: str
) -> None:
    done, _ = saved
    out = tmp_path / name
    assert main(["export", done.run_id, "--out", str(out)]) == 0
    if name.endswith(".xlsx"):
        assert "Summary" in load_workbook(out, read_only=True).sheetnames
    elif name.endswith(".json"):
        assert Report.model_validate(json.loads(out.read_text())) == done
    else:
        assert out.read_text().startswith("# Content research: example.com")


def test_export_and_resume_refuse_bad_input(
    saved: tuple[Report, Report], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done, _ = saved
    assert main(["export", done.run_id, "--out", str(tmp_path / "run.csv")]) == 2
    assert "use .xlsx, .json or .md" in capsys.readouterr().err
    assert main(["export", "nope", "--out", str(tmp_path / "run.json")]) == 2
    assert "No saved run" in capsys.readouterr().err
    assert main(["resume", done.run_id]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_a_history_it_cannot_read_is_one_line_not_a_traceback(
    saved: tuple[Report, Report], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done, _ = saved
    with closing(sqlite3.connect(tmp_path / "runs.sqlite3")) as db:
        db.execute("UPDATE runs SET report = 'not json' WHERE run_id = ?", (done.run_id,))
        db.commit()
    assert main(["export", done.run_id, "--out", str(tmp_path / "run.json")]) == 1
    assert main(["resume", done.run_id]) == 1
    with closing(sqlite3.connect(tmp_path / "runs.sqlite3")) as db:
        db.execute("PRAGMA user_version = 99")
    for command in (["history"], ["export", done.run_id, "--out", "x.md"], ["resume", "x"]):
        assert main(command) == 1, command
    errors = capsys.readouterr().err.splitlines()
    damaged = f"error: The saved run {done.run_id!r} could not be read: it is damaged."
    assert errors[:2] == [damaged, damaged]
    assert len(errors) == 5 and all(e.startswith("error: ") for e in errors), errors
    assert "is from a newer Research Lab; upgrade to open it." in errors[-1]
