"""Full discovery runs on the Gemini engine: fixture sites + the fake Gemini server + LoopRunner."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import openpyxl
import pytest
from google.genai import types
from pydantic import SecretStr

from research.config import Settings
from research.engines.gemini import GeminiEngine
from research.errors import GeminiAuthError, GeminiUnavailable
from research.export import to_json, to_markdown, to_xlsx
from research.models import DiscoveryRequest, Report, StageName
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from tests.fakes.gemini import FakeGemini, FakeRequest, Grounding
from tests.fakes.site import SiteServer

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
RIVAL_ONLY = ["server-side tracking", "cookie consent", "attribution model"]
SITE_PHRASES = ["bounce rate", "marketing dashboard", "conversion funnel"]
TITLES = [
    "Server-side tracking for small teams",
    "Cookie consent that keeps your data",
    "Attribution models explained",
    "Bounce rate versus reading time",
    "Funnels that find drop-offs",
]


def asks(role: str) -> Callable[[FakeRequest], bool]:
    """Match the requests of one stage by the role its prompt gives the model."""
    return lambda request: role in request.prompt


COMPETITORS, KEYWORDS, TOPICS, BRIEFS = (
    asks("market researcher"),
    asks("SEO analyst"),
    asks("content strategist"),
    asks("research brief"),
)

FIRST_BRIEF = lambda request: request.stream and TITLES[0] in request.prompt  # noqa: E731
KEYWORDS_OR_REPAIR = lambda request: KEYWORDS(request) or "Previous answer" in request.prompt  # noqa: E731


@pytest.fixture
def fake(sites: tuple[SiteServer, SiteServer]) -> Iterator[FakeGemini]:
    """The fake Gemini server, answering with the fixture rival as a competitor it 'found'."""
    _, rival = sites
    with FakeGemini() as server:
        server.values = {
            "url": [rival.url],
            "name": ["Metricly"],
            "reason": ["Metricly sells web analytics to the same marketing teams."],
            "keyword": RIVAL_ONLY + SITE_PHRASES,
            "title": TITLES,
        }
        server.grounding = [
            Grounding("Metricly", rival.url),
            Grounding("Cookie consent guide", rival.url + "guides/cookie-consent"),
            Grounding("metricly.example", rival.url + "no-such-page"),
        ]
        yield server


@pytest.fixture
def settings(settings: Settings, fake: FakeGemini) -> Settings:
    """Test settings with the fake as the Gemini endpoint (no key: runs pass their own)."""
    return settings.model_copy(
        update=dict(
            gemini_base_url=fake.url,
            gemini_timeout=5.0,
            gemini_stream_timeout=10.0,
            gemini_backoff_initial=0.01,
            gemini_backoff_max=0.05,
            gemini_retry_budget=10.0,
            gemini_resolve_timeout=5.0,
        )
    )


def run(
    runner: LoopRunner,
    url: str,
    key: str | None,
    timeout: float = 60.0,
    **request: object,
) -> Report:
    jobs = JobManager(runner)
    discovery = DiscoveryRequest.model_validate(
        {"url": url, "engine": "auto", "allow_private_hosts": True, "max_pages": 10, **request}
    )
    job = jobs.get(jobs.start(discovery, api_key=SecretStr(key) if key else None))
    assert job is not None and job.wait(timeout), "the run did not finish"
    return job.snapshot()


def warnings(report: Report) -> list[str]:
    return [event.message for event in report.log if event.level == "warning"]


def gemini_warnings(report: Report) -> list[str]:
    return [w for w in warnings(report) if "Gemini" in w]


def test_full_run_finds_grounded_competitors_the_user_did_not_give(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    site, rival = sites
    streamed: list[int] = []
    report = run(runner, site.url, fake.api_key)

    assert report.status == "completed", report.errors
    assert report.engine == "gemini" and not gemini_warnings(report)
    # 2: a competitor the user did not name, found by Gemini and crawled
    [found] = [c for c in report.competitors if c.source == "gemini"]
    assert found.url == rival.url and found.analysis is not None and found.analysis.pages
    assert "Google Search: Metricly" in found.reason
    messages = [e.message for e in report.log]
    assert "Gemini found 1 competitor with Google Search (3 sources)." in messages
    # 3-4: Gemini's keywords and gaps, with coverage counted on the crawl
    gaps = {g.keyword: g for g in report.gaps}
    assert gaps["server-side tracking"].competitors == [found.domain]
    assert all(k.source == "gemini" for k in report.keywords)
    assert report.topics and report.topics[0].title == "Server-side tracking for small teams"
    # 5: briefs cite crawled pages, and the grounded sources resolved through the redirects
    crawled = {p.url for p in report.site.pages} | {p.url for p in found.analysis.pages}
    assert len(report.briefs) == 5
    for brief in report.briefs:
        assert {p.url for p in brief.passages} <= crawled and brief.outline and brief.text
        streamed.append(len(brief.text))
    # the fake invents its quotes: none is verified, and the run log counts them
    quotes = sum(len(b.passages) for b in report.briefs)
    assert quotes and not any(p.verified for b in report.briefs for p in b.passages)
    counted = f"{quotes} of {quotes} quotes could not be found on the cited pages"
    assert any(w.startswith(counted) for w in warnings(report)), warnings(report)
    source_urls = {s.url for s in report.sources}
    resolved = {rival.url, rival.url + "guides/cookie-consent", "https://metricly.example/"}
    assert resolved <= source_urls
    # usage per stage, tokens and cost
    stages = {u.stage for u in report.usage if u.engine == "gemini"}
    assert stages == {StageName.COMPETITORS, StageName.KEYWORDS, StageName.TOPICS, StageName.BRIEFS}
    assert all(u.input_tokens > 0 and u.output_tokens > 0 and u.cost_usd > 0 for u in report.usage)
    streams = fake.log("streamGenerateContent")
    assert len(streams) == 5 and all(r.search for r in streams)
    # the Excel Summary sheet carries each stage's tokens and cost, and the total
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(report)))["Summary"]
    usage = {row[1]: row[2:4] for row in sheet.iter_rows(values_only=True) if row[0] == "Usage"}
    for u in report.usage:
        tokens, detail = usage[f"{u.stage.label} · gemini"]
        assert tokens == u.input_tokens + u.output_tokens and f"${u.cost_usd:.4f}" in detail
    total = sum(u.input_tokens + u.output_tokens for u in report.usage)
    assert usage["Total tokens"][0] == total > 0


def _kept_earlier_stages(report: Report, upto: StageName) -> None:
    """Every stage before `upto` finished and its results are in the report."""
    order = list(StageName)
    for stage in order[: order.index(upto)]:
        assert report.stages[stage].status == "done", stage
    assert report.site is not None and report.site.pages
    assert any(c.source == "gemini" for c in report.competitors) or upto == StageName.COMPETITORS


@pytest.mark.parametrize(
    ("kind", "stage", "when"),
    [
        ("429", StageName.TOPICS, TOPICS),
        ("500", StageName.BRIEFS, BRIEFS),
        ("503", StageName.KEYWORDS, KEYWORDS),
        ("truncated_body", StageName.COMPETITORS, COMPETITORS),
        ("truncated_json", StageName.TOPICS, TOPICS),
    ],
)
def test_transient_faults_are_retried_and_the_run_completes_on_gemini(
    runner: LoopRunner,
    sites: tuple[SiteServer, SiteServer],
    fake: FakeGemini,
    kind: str,
    stage: StageName,
    when: Callable[[FakeRequest], bool],
) -> None:
    fake.fail_next(kind, when=when)
    report = run(runner, sites[0].url, fake.api_key)

    assert report.status == "completed" and not gemini_warnings(report)
    assert [r.fault for r in fake.log()].count(kind) == 1
    assert all(report.stages[s].status == "done" for s in StageName)
    assert any(u.stage == stage and u.engine == "gemini" for u in report.usage)


@pytest.mark.parametrize(
    ("kind", "stage", "when", "says"),
    [
        ("blocked", StageName.TOPICS, TOPICS, "blocked"),
        ("invalid_json", StageName.KEYWORDS, KEYWORDS_OR_REPAIR, "expected shape"),
        ("hang", StageName.COMPETITORS, COMPETITORS, "did not answer within"),
        ("stream_hang", StageName.BRIEFS, FIRST_BRIEF, "did not answer within"),
    ],
)
def test_bad_answers_fall_back_to_local_with_a_warning(
    runner: LoopRunner,
    sites: tuple[SiteServer, SiteServer],
    fake: FakeGemini,
    kind: str,
    stage: StageName,
    when: Callable[[FakeRequest], bool],
    says: str,
) -> None:
    runner.settings.gemini_timeout = runner.settings.gemini_stream_timeout = 0.5
    runner.settings.gemini_max_attempts = 1
    fake.fail_next(kind, times=2, when=when)
    report = run(runner, sites[0].url, fake.api_key)

    assert report.status == "completed", report.errors
    [warning] = gemini_warnings(report)
    assert says in warning and "local engine" in warning
    assert any(e.stage == stage and e.message == warning for e in report.log)
    _kept_earlier_stages(report, stage)
    assert report.topics and len(report.briefs) == 5


def test_refused_key_fails_the_stage_with_one_line_and_keeps_earlier_stages(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    fake.fail_next("401", when=KEYWORDS)
    report = run(runner, sites[0].url, fake.api_key)

    assert report.status == "failed"
    assert report.errors == ["The Gemini key was refused (HTTP 401); check it in Settings."]
    assert report.stages[StageName.KEYWORDS].status == "failed"
    _kept_earlier_stages(report, StageName.KEYWORDS)


def test_breaker_opens_and_the_run_completes_on_local(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    runner.settings.gemini_breaker_threshold = 2
    runner.settings.gemini_max_attempts = 2
    fake.fail_next("503", times=50, when=lambda request: not COMPETITORS(request))
    report = run(runner, sites[0].url, fake.api_key)

    assert report.status == "completed", report.errors
    # Stage 2 on Gemini; stage 3's two attempts fail and open the breaker; then no calls.
    assert [r.status for r in fake.log()] == [200, 503, 503]
    [keywords] = [e for e in report.log if e.stage == StageName.KEYWORDS and e.level == "warning"][
        :1
    ]
    assert "HTTP 503" in keywords.message and "local engine" in keywords.message
    paused = {e.stage for e in report.log if "paused" in e.message and "local engine" in e.message}
    assert paused == {StageName.TOPICS, StageName.BRIEFS}
    assert report.topics and len(report.briefs) == 5
    assert all(u.stage in (StageName.COMPETITORS, StageName.KEYWORDS) for u in report.usage)
    _kept_earlier_stages(report, StageName.KEYWORDS)


def test_twenty_concurrent_runs_stay_within_the_limits(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    # The rate (8 per s) is below what 6 calls at once of 300 ms could start (12 in any 0.6 s),
    # so both limits bind and a broken one shows.
    runner.settings.gemini_concurrency = 6
    runner.settings.gemini_rpm = 8
    runner.settings.gemini_rpm_period = 1.0
    fake.latency = 0.3
    jobs = JobManager(runner)
    key = SecretStr(fake.api_key)
    request = DiscoveryRequest(
        url=sites[0].url, allow_private_hosts=True, max_pages=2, top_topics=1
    )
    started = [jobs.get(jobs.start(request, api_key=key)) for _ in range(20)]

    reports = []
    for job in started:
        assert job is not None and job.wait(120)
        reports.append(job.snapshot())
    assert all(r.status == "completed" and r.engine == "gemini" for r in reports)
    assert not [w for r in reports for w in gemini_warnings(r)]
    log = fake.log()
    assert len(log) == 20 * 4  # competitors, keywords, topics, a brief
    assert fake.max_in_flight <= 6
    # Arrival times at the server; a window 0.4 s short of the period absorbs arrival jitter
    # (a loaded machine delayed one arrival by more than 0.2 s).
    starts = sorted(r.started for r in log)
    for index, start in enumerate(starts):
        assert len([s for s in starts[index:] if s - start < 0.6]) <= 8


def test_cancel_during_a_hanging_call_ends_the_run_within_one_second(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    runner.settings.gemini_timeout = 60.0
    fake.fail_next("hang", when=KEYWORDS)
    jobs = JobManager(runner)
    request = DiscoveryRequest(url=sites[0].url, allow_private_hosts=True, max_pages=10)
    job = jobs.get(jobs.start(request, api_key=SecretStr(fake.api_key)))
    assert job is not None
    assert fake.hanging.acquire(timeout=30), "the keyword call never reached the fake"

    job.cancel()
    assert job.wait(1.0), "the run did not end within 1 s of cancel"
    report = job.snapshot()
    assert report.status == "cancelled"
    _kept_earlier_stages(report, StageName.KEYWORDS)


def _texts_of(data: bytes) -> list[bytes]:
    """The bytes of a file and, for a zip (xlsx), of every member."""
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [archive.read(name) for name in archive.namelist()]
    return [data]


def test_the_key_appears_in_no_artifact(
    runner: LoopRunner,
    sites: tuple[SiteServer, SiteServer],
    fake: FakeGemini,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-gemini-key-5550123"
    good = run(runner, sites[0].url, fake.api_key)
    refused = run(runner, sites[0].url, wrong)
    assert good.status == "completed" and good.engine == "gemini"
    assert refused.status == "failed" and "refused" in refused.errors[0]
    assert all(r.key_ok for r in fake.log()[:-1]) and not fake.log()[-1].key_ok
    runner.shutdown()  # flushes the store

    artifacts: list[bytes] = [caplog.text.encode(), *(m.encode() for m in capsys.readouterr())]
    for report in (good, refused):
        artifacts += [report.model_dump_json().encode(), to_json(report), to_markdown(report)]
        artifacts += _texts_of(to_xlsx(report))
    artifacts += [path.read_bytes() for path in tmp_path.iterdir() if path.is_file()]
    assert len(artifacts) > 8 and any(b"server-side tracking" in a for a in artifacts)
    for secret in (fake.api_key, wrong):
        assert not [a for a in artifacts if secret.encode() in a], "a key leaked"


def test_engine_choice_and_key_precedence(runner: LoopRunner, fake: FakeGemini) -> None:
    services = runner.services()

    async def pick(name: str, key: str | None) -> object:
        return await services.engine(name, SecretStr(key) if key is not None else None)

    def engine(name: str, key: str | None = None) -> object:
        return runner.submit(pick(name, key)).result(timeout=10)

    assert engine("auto") is services.local and engine("auto", "  ") is services.local
    first = engine("auto", "key-one")
    assert isinstance(first, GeminiEngine) and engine("gemini", "key-one") is first
    assert engine("gemini", "key-two") is not first
    with pytest.raises(GeminiAuthError, match="No Gemini key"):
        engine("gemini")
    runner.settings.gemini_api_key = SecretStr("key-from-settings")
    from_settings = engine("auto")
    assert isinstance(from_settings, GeminiEngine) and from_settings is not first
    assert engine("auto", "key-one") is first  # the session's own key wins
    assert engine("local", "key-one") is services.local


def test_engine_cache_keeps_a_few_keys_and_closes_evicted_clients_once_idle(
    runner: LoopRunner, fake: FakeGemini
) -> None:
    runner.settings.gemini_max_attempts = 1
    services = runner.services()
    hello = types.GenerateContentConfig()

    async def engine(key: str) -> GeminiEngine:
        return await services.engine("gemini", SecretStr(key))  # type: ignore[return-value]

    def on_loop(coro: Coroutine[Any, Any, T]) -> T:
        return runner.submit(coro).result(timeout=30)

    first = on_loop(engine(fake.api_key))
    on_loop(first.client.generate("hello", hello))
    sdk = first.client._client
    assert sdk is not None
    transport = sdk._api_client._async_httpx_client
    fake.fail_next("hang")
    hanging = runner.submit(first.client.generate("hello", hello))
    assert fake.hanging.acquire(timeout=10)
    others = [on_loop(engine(f"other-key-{n}")) for n in range(runner.settings.gemini_engines_kept)]

    # Evicted while a call is using it: the call's connection stays open until it ends.
    assert on_loop(services.open_breakers()) == (runner.settings.gemini_engines_kept, 0)
    assert not transport.is_closed
    fake.release()
    with pytest.raises(GeminiUnavailable):
        hanging.result(timeout=10)
    assert transport.is_closed and first.client._client is None
    # A run still holding it goes on working; each call opens and closes its own client.
    assert on_loop(first.client.generate("hello", hello)).text
    assert first.client._client is None
    assert on_loop(engine(fake.api_key)) is not first
    assert on_loop(engine(f"other-key-{runner.settings.gemini_engines_kept - 1}")) is others[-1]


def test_concurrency_limit_is_shared_by_every_key(runner: LoopRunner, fake: FakeGemini) -> None:
    runner.settings.gemini_concurrency = 3
    fake.latency = 0.1
    fake.other_keys = ("second-key-1", "third-key-2")
    services = runner.services()
    hello = types.GenerateContentConfig()

    async def calls() -> None:
        async with anyio.create_task_group() as group:
            for key in (fake.api_key, *fake.other_keys):
                engine = await services.engine("gemini", SecretStr(key))
                assert isinstance(engine, GeminiEngine)
                for _ in range(3):
                    group.start_soon(engine.client.generate, "hello", hello)

    runner.submit(calls()).result(timeout=30)
    log = fake.log()
    assert len(log) == 9 and all(r.key_ok and r.status == 200 for r in log)
    assert fake.max_in_flight == 3


def test_cli_runs_on_gemini_from_the_environment_and_leaks_no_key(
    sites: tuple[SiteServer, SiteServer], fake: FakeGemini, tmp_path: Path
) -> None:
    site, rival = sites
    out, js, db = tmp_path / "report.xlsx", tmp_path / "report.json", tmp_path / "runs.sqlite3"
    env = {
        **os.environ,
        "RESEARCH_DB": str(db),
        "GEMINI_API_KEY": fake.api_key,
        "GEMINI_BASE_URL": fake.url,
    }
    env.pop("RESEARCH_ALLOW_PRIVATE_HOSTS", None)
    done = subprocess.run(
        [sys.executable, "-m", "research", "discover", site.url, "--max-pages", "10",
         "--out", str(out), "--json", str(js), "--allow-private-hosts"],
        cwd=ROOT, env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr.decode()
    report = Report.model_validate_json(js.read_bytes())
    assert report.engine == "gemini"
    assert [c.url for c in report.competitors if c.source == "gemini"] == [rival.url]
    assert fake.log() and all(r.key_ok for r in fake.log())
    artifacts = [done.stdout, done.stderr, js.read_bytes(), *_texts_of(out.read_bytes())]
    artifacts += [path.read_bytes() for path in tmp_path.iterdir() if path.is_file()]
    assert not [a for a in artifacts if fake.api_key.encode() in a], "the key leaked"


def test_gemini_naming_the_site_itself_finds_no_competitor_in_it(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    """A host spelling Acme's name, or a page of the site, is Acme's own: never crawled."""
    site, rival = sites
    own = ["https://acme.test/", "https://docs.acmeanalytics.test/", site.url + "about"]
    fake.values |= {"url": [*own, rival.url], "name": ["Acme", "Acme Docs", "Acme", "Metricly"]}
    report = run(runner, site.url, fake.api_key)

    assert report.status == "completed", report.errors
    assert [c.url for c in report.competitors] == [rival.url]
    assert report.competitors[0].analysis is not None
    messages = [e.message for e in report.log]
    assert (
        "Left out the site's own hosts among those found: acme.test, docs.acmeanalytics.test."
        in messages
    )
    assert not [m for m in messages if "could not be analysed" in m]


def test_shutdown_closes_the_gemini_clients(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    assert run(runner, sites[0].url, fake.api_key).engine == "gemini"
    services = runner.services()

    async def engine() -> GeminiEngine:
        return await services.engine("gemini", SecretStr(fake.api_key))  # type: ignore[return-value]

    gemini = runner.submit(engine()).result(timeout=10)
    sdk = gemini.client._client
    assert sdk is not None
    transport = sdk._api_client._async_httpx_client
    assert not transport.is_closed
    runner.shutdown()
    assert transport.is_closed and gemini.client._client is None


def test_gemini_2_model_runs_with_the_two_call_fallback(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    runner.settings.gemini_model = "gemini-2.5-flash"
    first = run(runner, sites[0].url, fake.api_key)
    second = run(runner, sites[0].url, fake.api_key)

    for report in (first, second):
        assert report.status == "completed" and not gemini_warnings(report)
        assert [c.url for c in report.competitors if c.source == "gemini"] == [sites[1].url]
    assert [r.status for r in fake.log()].count(400) == 1  # learnt once, for the process
    assert all(r.model == "gemini-2.5-flash" for r in fake.log())


@pytest.mark.parametrize("key", [None, "   "])
def test_cli_engine_gemini_without_a_key_fails_with_one_line(
    sites: tuple[SiteServer, SiteServer], fake: FakeGemini, tmp_path: Path, key: str | None
) -> None:
    env = {**os.environ, "RESEARCH_DB": str(tmp_path / "runs.sqlite3"), "GEMINI_BASE_URL": fake.url}
    env.pop("GEMINI_API_KEY", None)
    if key is not None:
        env["GEMINI_API_KEY"] = key
    done = subprocess.run(
        [sys.executable, "-m", "research", "discover", sites[0].url, "--engine", "gemini",
         "--allow-private-hosts"],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: The Gemini engine needs GEMINI_API_KEY; use --engine local."
    )
    assert fake.log() == [] and sites[0].requests == []


def test_a_gemini_that_hangs_costs_one_deadline_is_said_once_and_the_run_ends_local(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    runner.settings.gemini_timeout = runner.settings.gemini_stream_timeout = 0.5
    fake.fault = "hang"  # every call, from stage 2 on
    report = run(runner, sites[0].url, fake.api_key)

    assert report.status == "completed", report.errors
    assert all(report.stages[s].status == "done" for s in StageName)
    assert report.topics and len(report.briefs) == 5
    [warning] = gemini_warnings(report)
    assert warning == (
        "Gemini did not answer within 0.5 s, so the rest of this run uses the local engine."
    )
    assert [e.stage for e in report.log if e.message == warning] == [StageName.COMPETITORS]
    # The first timeouts in a row open the breaker at once: no try goes into it, and the
    # stages after stage 2 never call Gemini.
    assert [r.fault for r in fake.log()] == ["hang", "hang"]

    async def breaker_open() -> bool:
        engine = await runner.services().engine("gemini", SecretStr(fake.api_key))
        return isinstance(engine, GeminiEngine) and engine.client.breaker.is_open

    assert runner.submit(breaker_open()).result(timeout=5)


def test_streamed_briefs_that_hang_share_one_deadline_and_fall_back_once(
    runner: LoopRunner, sites: tuple[SiteServer, SiteServer], fake: FakeGemini
) -> None:
    runner.settings.gemini_stream_timeout = 0.5
    runner.settings.gemini_max_attempts = 1
    fake.fail_next("hang", times=50, when=lambda request: request.stream)
    report = run(runner, sites[0].url, fake.api_key)

    assert report.status == "completed", report.errors
    [warning] = gemini_warnings(report)
    assert "did not answer within 0.5 s" in warning and "local engine" in warning
    assert len(report.briefs) == 5
    # The briefs in flight when the deadline passed were the only streams ever sent.
    assert 1 <= len(fake.log(method="streamGenerateContent")) <= 3
