"""GeminiEngine driven directly against the fake Gemini server (real SDK, real HTTP)."""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import pytest
from google.genai import types
from pydantic import BaseModel, SecretStr, ValidationError

from research.config import Settings
from research.engines.gemini import GeminiEngine
from research.engines.gemini.citations import LINK_REMOVED, UNVERIFIED
from research.engines.gemini.prompts import BriefDraft, CompetitorList, KeywordPlan, parse_brief
from research.engines.local import LocalEngine
from research.errors import GeminiAuthError, GeminiCircuitOpen, GeminiTimeout
from research.models import (
    DiscoveryRequest,
    KeywordResearch,
    Page,
    Report,
    SiteAnalysis,
    StageName,
    Topic,
)
from research.net.fetch import Fetcher
from research.progress import RunTracker, StageContext
from tests.fakes.gemini import FakeGemini, FakeRequest, Grounding
from tests.fakes.site import SiteServer

SITE_URL = "https://acme.test/"
RIVAL_URL = "https://rival.test/"


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    with FakeGemini() as server:
        yield server


@pytest.fixture
def target_site() -> Iterator[SiteServer]:
    """A small site the fake's grounding redirects point at."""
    pages = {
        "/": "<html><head><title>Metricly</title></head><body><h1>Metricly</h1></body></html>",
        "/pricing": "<html><head><title>Pricing</title></head><body><p>Plans</p></body></html>",
    }
    server = SiteServer(pages).start()
    yield server
    server.stop()


def settings_for(fake: FakeGemini, **overrides: object) -> Settings:
    """Settings pointing the SDK at the fake, with short deadlines and quick retries."""
    values: dict[str, object] = {
        "gemini_api_key": SecretStr(fake.api_key),
        "gemini_base_url": fake.url,
        "gemini_timeout": 3.0,
        "gemini_stream_timeout": 5.0,
        "gemini_backoff_initial": 0.01,
        "gemini_backoff_max": 0.05,
        "gemini_retry_budget": 10.0,
        "gemini_resolve_timeout": 5.0,
        "allow_private_hosts": True,
        "connect_timeout": 2.0,
        "read_timeout": 3.0,
        "page_timeout": 5.0,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@asynccontextmanager
async def open_engine(
    settings: Settings, api_key: SecretStr | None = None
) -> AsyncIterator[GeminiEngine]:
    fetcher = Fetcher(settings)
    engine = GeminiEngine(settings, fetcher, LocalEngine(anyio.CapacityLimiter(2)), api_key)
    try:
        yield engine
    finally:
        await engine.aclose()
        await fetcher.aclose()


def context(stage: StageName = StageName.COMPETITORS) -> StageContext:
    report = Report(request=DiscoveryRequest(url=SITE_URL, allow_private_hosts=True))
    return StageContext(RunTracker(report), stage)


def _page(url: str, title: str, text: str) -> Page:
    return Page(url=url, title=title, headings=[title], text=text)


SITE = SiteAnalysis(
    url=SITE_URL,
    domain="acme.test",
    title="Acme analytics",
    pages=[
        _page(SITE_URL, "Acme analytics", "Acme makes web analytics dashboards for small teams."),
        _page(SITE_URL + "features", "Features", "Real-time dashboards and funnel reports."),
    ],
    outbound_domains=["rival.test"],
)
RIVAL = SiteAnalysis(
    url=RIVAL_URL,
    domain="rival.test",
    title="Rival",
    pages=[
        _page(RIVAL_URL, "Rival", "Rival offers cohort analysis and privacy-first analytics."),
        _page(RIVAL_URL + "cohorts", "Cohorts", "Cohort analysis shows retention over time."),
    ],
)
TOPIC = Topic(
    title="Cohort analysis for small teams",
    keywords=["cohort analysis", "retention"],
    score=0.9,
    reason="Rival covers it and Acme does not.",
)


def warnings_of(ctx: StageContext) -> list[str]:
    return [e.message for e in ctx.tracker.snapshot().log if e.level == "warning"]


# -- the four methods ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_find_competitors_grounded_and_structured(
    fake: FakeGemini, target_site: SiteServer
) -> None:
    other = target_site.url
    fake.values = {
        "url": [SITE_URL, RIVAL_URL, other, "not a url at all"],
        "name": ["Acme", "Rival", "Metricly", "Broken"],
    }
    fake.grounding = [
        Grounding("Metricly pricing", target_site.url + "pricing"),
        Grounding("Gone", target_site.url + "missing"),
    ]
    ctx = context()
    async with open_engine(settings_for(fake)) as engine:
        found = await engine.find_competitors(ctx, SITE, [SITE_URL, RIVAL_URL], limit=5)

    assert [c.url for c in found] == [other]
    assert found[0].source == "gemini" and found[0].name == "Metricly"
    [call] = fake.log()
    assert call.method == "generateContent" and call.version == "v1beta"
    assert call.server_timeout == "3"  # gemini_timeout, sent by the SDK's own timeout
    assert call.key_ok and call.search and call.schema is not None
    assert fake.api_key not in json.dumps(call.body)
    # The grounding link was followed to the fixture page; the title is kept.
    assert target_site.fetched("/pricing") == 1
    assert "(Google Search: Metricly pricing)" in found[0].reason
    usage = ctx.tracker.snapshot().usage
    assert usage and usage[0].engine == "gemini" and usage[0].input_tokens > 0
    assert usage[0].cost_usd > 0


@pytest.mark.anyio
async def test_grounded_sources_resolve_redirects_and_keep_titles(
    fake: FakeGemini, target_site: SiteServer
) -> None:
    fake.grounding = [
        Grounding("Metricly pricing", target_site.url + "pricing"),
        Grounding("example.org", target_site.url + "missing"),
        Grounding("No such page", target_site.url + "also-missing"),
    ]
    ctx = context(StageName.BRIEFS)
    async with open_engine(settings_for(fake)) as engine:
        brief = await engine.write_brief(ctx, TOPIC, SITE, [RIVAL])

    urls = {s.url: s.title for s in brief.sources}
    assert urls[target_site.url + "pricing"] == "Metricly pricing"
    # Unresolvable links keep their title (and a domain-like title becomes the URL).
    assert urls["https://example.org/"] == "example.org"
    assert "No such page" in urls.values()


@pytest.mark.anyio
async def test_gemini_2_search_with_schema_falls_back_to_two_calls_once(fake: FakeGemini) -> None:
    fake.values = {"url": ["https://newcomer.test/"]}
    ctx = context()
    async with open_engine(settings_for(fake, gemini_model="gemini-2.5-flash")) as engine:
        first = await engine.find_competitors(ctx, SITE, [], limit=3)
        calls_first = len(fake.log())
        second = await engine.find_competitors(ctx, SITE, [], limit=3)

    assert [c.url for c in first] == [c.url for c in second] == ["https://newcomer.test/"]
    log = fake.log()
    assert calls_first == 3  # refused combined call, grounded call, structuring call
    assert [r.status for r in log[:3]] == [400, 200, 200]
    assert log[1].search and log[1].schema is None
    assert not log[2].search and log[2].schema is not None
    assert len(log) == 5  # remembered: the second run skips the refused combination
    assert not warnings_of(ctx)


@pytest.mark.anyio
async def test_expand_keywords_counts_coverage_on_the_crawl(fake: FakeGemini) -> None:
    fake.values = {"keyword": ["cohort analysis", "web analytics", "dashboards"]}
    fake.responder = None
    ctx = context(StageName.KEYWORDS)
    async with open_engine(settings_for(fake)) as engine:
        research = await engine.expand_keywords(ctx, SITE, [RIVAL])

    keywords = {k.keyword: k for k in research.keywords}
    assert keywords["web analytics"].site_pages == 1
    assert keywords["cohort analysis"].competitor_pages == 2
    assert all(k.source == "gemini" for k in research.keywords)
    gap = next(g for g in research.gaps if g.keyword == "cohort analysis")
    assert gap.competitors == ["rival.test"] and gap.evidence
    assert not warnings_of(ctx)


@pytest.mark.anyio
async def test_propose_topics_best_first(fake: FakeGemini) -> None:
    def respond(request: FakeRequest) -> str:
        topics = [
            {"title": "Low", "keywords": ["dashboards"], "score": 0.2, "reason": "r"},
            {"title": "High", "keywords": ["cohort analysis"], "score": 0.9, "reason": "r"},
            {"title": "Too high", "keywords": ["x"], "score": 7, "reason": "r"},
        ]
        return json.dumps({"topics": topics})

    fake.responder = respond
    research = KeywordResearch.model_validate(
        {
            "gaps": [
                {
                    "keyword": "cohort analysis",
                    "score": 0.8,
                    "competitors": ["rival.test"],
                    "evidence": [RIVAL_URL + "cohorts"],
                }
            ]
        }
    )
    async with open_engine(settings_for(fake)) as engine:
        topics = await engine.propose_topics(context(StageName.TOPICS), SITE, [RIVAL], research)

    assert [t.title for t in topics] == ["Too high", "High", "Low"]
    assert topics[0].score == 1.0
    assert topics[1].evidence == [RIVAL_URL + "cohorts"] and topics[1].competitor_coverage == 1


@pytest.mark.anyio
async def test_write_brief_streams_text_and_cites_crawled_pages(fake: FakeGemini) -> None:
    seen: list[str] = []
    ctx = context(StageName.BRIEFS)
    async with open_engine(settings_for(fake)) as engine:
        brief = await engine.write_brief(ctx, TOPIC, SITE, [RIVAL], on_text=seen.append)

    [call] = fake.log()
    assert call.stream and call.search
    assert call.server_timeout == "5"  # the stream's deadline (gemini_stream_timeout), not 3 s
    # the stream grows; its last word is the checked text (the fake's quotes are invented)
    *drafts, checked = seen
    assert len(drafts) > 1 and all(b.startswith(a) for a, b in itertools.pairwise(drafts))
    assert checked == brief.text and checked.count(UNVERIFIED) == 3
    assert checked.replace(f"{UNVERIFIED} ", "") == drafts[-1]
    crawled = {p.url for p in SITE.pages + RIVAL.pages}
    assert len(brief.passages) == 3 and all(p.url in crawled for p in brief.passages)
    assert not any(p.verified for p in brief.passages)
    assert len(brief.outline) == 4 and brief.summary
    assert {p.url for p in brief.passages} <= {s.url for s in brief.sources}
    assert ctx.tracker.snapshot().usage[0].output_tokens > 0


def _brief_citing(request: FakeRequest, quotes: list[tuple[str, str]]) -> str:
    """A Markdown brief quoting (text, cited page URL) pairs by the prompt's source numbers."""
    numbers = {url: n for n, url in re.findall(r"^\[(\d+)\] (\S+) \|", request.prompt, re.M)}
    passages = "\n".join(f"- {text} [{numbers[url]}]" for text, url in quotes)
    return (
        "## Summary\nCohorts, retention and where to read more: https://invented.example/x and "
        f"{RIVAL_URL}cohorts.\n## Outline\n- Cohorts\n- Retention\n- Reading a cohort table\n"
        f"- Next steps\n## Questions\n- What is a cohort?\n## Passages\n{passages}\n"
    )


@pytest.mark.anyio
async def test_only_quotes_found_on_the_cited_page_are_verified(fake: FakeGemini) -> None:
    cohorts = RIVAL_URL + "cohorts"
    quotes = [
        ("“cohort   ANALYSIS shows retention over time”", cohorts),  # on the page
        ("Cohort analysis shows revenue over time.", cohorts),  # altered
        ("Cohort analysis doubles conversion for every team.", RIVAL_URL),  # invented
    ]
    fake.responder = lambda r: _brief_citing(r, quotes) if r.stream else None
    seen: list[str] = []
    ctx = context(StageName.BRIEFS)
    async with open_engine(settings_for(fake)) as engine:
        brief = await engine.write_brief(ctx, TOPIC, SITE, [RIVAL], on_text=seen.append)

    assert [p.verified for p in brief.passages] == [True, False, False]
    assert [p.url for p in brief.passages] == [cohorts, cohorts, RIVAL_URL]
    lines = [line for line in brief.text.splitlines() if line.startswith("- ")][-3:]
    assert [UNVERIFIED in line for line in lines] == [False, True, True]
    # a page neither crawled nor grounded is never cited, in the sources or in the text
    assert "invented.example" not in brief.text and LINK_REMOVED in brief.text
    assert f"{cohorts}." in brief.text
    crawled = {p.url for p in SITE.pages + RIVAL.pages}
    assert {s.url for s in brief.sources} <= crawled
    assert seen[-1] == brief.text
    logged = [e.message for e in ctx.tracker.snapshot().log]
    assert any(m.startswith("2 of 3 quotes in the brief for") for m in logged), logged


@pytest.mark.anyio
async def test_the_brief_follows_the_writers_plan(fake: FakeGemini) -> None:
    text = (
        "Cohort analysis groups users by start date. Cohort analysis shows retention.\n"
        "Retention curves flatten over time. Read retention curves weekly.\n"
        "Cohort tables list each week. Cohort tables need a start date."
    )
    rival = RIVAL.model_copy(
        update={
            "pages": [
                *RIVAL.pages,
                Page(
                    url=RIVAL_URL + "guide",
                    title="Cohort analysis guide",
                    headings=["Cohort analysis guide", "Retention curves", "Cohort tables"],
                    text=text,
                ),
            ]
        }
    )
    ctx = context(StageName.BRIEFS)
    async with open_engine(settings_for(fake)) as engine:
        brief = await engine.write_brief(ctx, TOPIC, SITE, [rival])

    must = [c.subtopic for c in brief.must_cover]
    assert {"retention curves", "cohort tables"} <= set(must), brief.coverage
    [stream] = fake.log("streamGenerateContent")
    assert "must cover these subtopics most competitors cover: " in stream.prompt
    assert all(name in stream.prompt for name in must)
    # the fake's outline names none of them: the plan adds the competitors' headings
    assert {"Retention curves", "Cohort tables"} <= set(brief.outline)
    assert brief.outline[-1] == "Next steps" and brief.target_words is not None
    assert brief.covering_pages == [RIVAL_URL + "guide"]


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["429", "500", "503", "truncated_body"])
async def test_transient_faults_are_retried(fake: FakeGemini, kind: str) -> None:
    fake.fail_next(kind, times=2)
    fake.values = {"url": ["https://newcomer.test/"]}
    ctx = context()
    async with open_engine(settings_for(fake)) as engine:
        found = await engine.find_competitors(ctx, SITE, [], limit=3)

    assert [c.url for c in found] == ["https://newcomer.test/"]
    assert [r.fault for r in fake.log()] == [kind, kind, None]
    assert not warnings_of(ctx)
    assert sum("retrying in" in e.message for e in ctx.tracker.snapshot().log) == 2


@pytest.mark.anyio
async def test_retry_honours_retry_info_delay(fake: FakeGemini) -> None:
    fake.retry_delay = "0.4s"
    fake.fail_next("429")
    ctx = context()
    async with open_engine(settings_for(fake)) as engine:
        await engine.find_competitors(ctx, SITE, [], limit=3)

    first, second = fake.log()
    assert second.started - first.started >= 0.4  # the answer came after first.started
    assert any(
        "HTTP 429 (rate limited); retrying in 0.4 s" in e.message
        for e in ctx.tracker.snapshot().log
    )


@pytest.mark.anyio
async def test_invalid_json_gets_one_repair(fake: FakeGemini) -> None:
    fake.fail_next("truncated_json")
    fake.values = {"url": ["https://newcomer.test/"]}
    ctx = context()
    async with open_engine(settings_for(fake)) as engine:
        found = await engine.find_competitors(ctx, SITE, [], limit=3)

    assert [c.url for c in found] == ["https://newcomer.test/"]
    first, repair = fake.log()
    assert first.fault == "truncated_json" and "not valid JSON" in repair.prompt
    assert not warnings_of(ctx)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["invalid_json", "blocked"])
async def test_bad_answers_fall_back_to_local_with_a_warning(fake: FakeGemini, kind: str) -> None:
    fake.fault = kind
    ctx = context(StageName.KEYWORDS)
    async with open_engine(settings_for(fake)) as engine:
        research = await engine.expand_keywords(ctx, SITE, [RIVAL])
        assert research == await engine.local.expand_keywords(context(), SITE, [RIVAL])

    [warning] = warnings_of(ctx)
    assert "local engine" in warning
    if kind == "blocked":
        assert "blocked" in warning and len(fake.log()) == 1
    else:
        assert len(fake.log()) == 2  # the answer and one repair


@pytest.mark.anyio
async def test_brief_in_the_wrong_format_is_restated_as_json(fake: FakeGemini) -> None:
    def respond(request: FakeRequest) -> str | None:
        return "Here is a brief without any of the headings." if request.stream else None

    fake.responder = respond
    ctx = context(StageName.BRIEFS)
    async with open_engine(settings_for(fake)) as engine:
        brief = await engine.write_brief(ctx, TOPIC, SITE, [RIVAL])

    stream, restate = fake.log()
    assert stream.stream and not restate.stream and restate.schema is not None
    assert brief.passages and brief.text.startswith("Here is a brief")


@pytest.mark.anyio
@pytest.mark.parametrize("wrong_key", [False, True])
async def test_refused_key_fails_with_one_line_and_no_key(
    fake: FakeGemini, caplog: pytest.LogCaptureFixture, wrong_key: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    key = SecretStr("wrong-key-987654321") if wrong_key else None
    if not wrong_key:
        fake.fail_next("401")
    ctx = context()
    async with open_engine(settings_for(fake), api_key=key) as engine:
        with pytest.raises(GeminiAuthError) as info:
            await engine.find_competitors(ctx, SITE, [], limit=3)

    status = 400 if wrong_key else 401  # the real API answers 400 API_KEY_INVALID for a bad key
    assert str(info.value) == f"The Gemini key was refused (HTTP {status}); check it in Settings."
    assert len(fake.log()) == 1  # never retried
    everything = caplog.text + ctx.tracker.snapshot().model_dump_json() + repr(engine.client)
    assert fake.api_key not in everything and "wrong-key-987654321" not in everything


@pytest.mark.anyio
async def test_hang_ends_by_the_sdk_timeout_and_falls_back(fake: FakeGemini) -> None:
    fake.fault = "hang"
    ctx = context(StageName.KEYWORDS)
    settings = settings_for(
        fake,
        gemini_timeout=0.3,
        gemini_stream_timeout=0.3,
        gemini_max_attempts=2,
        gemini_breaker_threshold=10,
        gemini_breaker_timeouts=10,
    )
    async with open_engine(settings) as engine:
        with pytest.raises(GeminiTimeout) as info:
            await engine.client.generate("hello", types.GenerateContentConfig())
        with pytest.raises(GeminiTimeout) as streamed:
            await engine.client.stream("hello", types.GenerateContentConfig())
        research = await engine.expand_keywords(ctx, SITE, [RIVAL])
        assert research == await engine.local.expand_keywords(context(), SITE, [RIVAL])

    # The SDK's own timeout (httpx2), not our outer deadline, ended the call; it is the cause.
    for error in (info.value, streamed.value):
        assert isinstance(error.__cause__, httpx2.TimeoutException)
    [warning] = warnings_of(ctx)
    assert "did not answer within" in warning and "local engine" in warning


@pytest.mark.anyio
async def test_breaker_opens_and_later_stages_use_local(fake: FakeGemini) -> None:
    fake.fault = "503"
    settings = settings_for(fake, gemini_breaker_threshold=3, gemini_max_attempts=2)
    ctx = context(StageName.KEYWORDS)
    async with open_engine(settings) as engine:
        await engine.expand_keywords(ctx, SITE, [RIVAL])  # 2 failed attempts
        await engine.expand_keywords(ctx, SITE, [RIVAL])  # 1 more: the breaker opens
        calls = len(fake.log())
        topics = await engine.propose_topics(
            context(StageName.TOPICS), SITE, [RIVAL], KeywordResearch()
        )
        brief_ctx = context(StageName.BRIEFS)
        brief = await engine.write_brief(brief_ctx, TOPIC, SITE, [RIVAL])

    assert calls == 3 and len(fake.log()) == 3  # nothing attempted while open
    assert isinstance(topics, list) and brief.passages
    assert any("paused" in w and "local engine" in w for w in warnings_of(brief_ctx))


@pytest.mark.anyio
async def test_breaker_half_opens_after_cool_down(fake: FakeGemini) -> None:
    fake.fault = "500"
    settings = settings_for(
        fake, gemini_breaker_threshold=1, gemini_breaker_cooldown=0.0, gemini_max_attempts=1
    )
    async with open_engine(settings) as engine:
        await engine.find_competitors(context(), SITE, [], limit=3)
        assert engine.client.breaker.failures == 1
        fake.fault = None
        ctx = context()
        await engine.find_competitors(ctx, SITE, [], limit=3)

    assert engine.client.breaker.failures == 0 and not warnings_of(ctx)


# -- limits and cancellation -----------------------------------------------------------------


@pytest.mark.anyio
async def test_concurrency_limit_holds_across_callers(fake: FakeGemini) -> None:
    fake.latency = 0.1
    settings = settings_for(fake, gemini_concurrency=3)
    async with open_engine(settings) as engine, anyio.create_task_group() as group:
        for _ in range(9):
            group.start_soon(engine.find_competitors, context(), SITE, [], 3)

    assert len(fake.log()) == 9 and fake.max_in_flight == 3


@pytest.mark.anyio
async def test_rate_limit_spaces_calls(fake: FakeGemini) -> None:
    settings = settings_for(fake, gemini_rpm=3, gemini_rpm_period=0.5)
    async with open_engine(settings) as engine, anyio.create_task_group() as group:
        for _ in range(7):
            group.start_soon(engine.find_competitors, context(), SITE, [], 3)

    # Arrival times at the server: a window a little shorter than the period absorbs the
    # jitter between a call starting here and arriving there.
    starts = sorted(r.started for r in fake.log())
    assert len(starts) == 7
    for index, start in enumerate(starts):
        in_window = [s for s in starts[index:] if s - start < 0.4]
        assert len(in_window) <= 3, [round(s - starts[0], 3) for s in starts]
    assert starts[-1] - starts[0] >= 0.8  # 7 calls at 3 per 0.5 s need two full periods (1 s)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["hang", "stream_hang"])
async def test_cancel_during_a_hang_ends_within_one_second(fake: FakeGemini, kind: str) -> None:
    fake.fault = kind
    settings = settings_for(fake, gemini_timeout=60.0, gemini_stream_timeout=60.0)
    finished = anyio.Event()
    scope = anyio.CancelScope()
    async with open_engine(settings) as engine:

        async def brief() -> None:
            with scope:
                await engine.write_brief(context(StageName.BRIEFS), TOPIC, SITE, [RIVAL])
            finished.set()

        async with anyio.create_task_group() as group:
            group.start_soon(brief)
            assert await anyio.to_thread.run_sync(fake.hanging.acquire, True, 5.0)
            scope.cancel()
            with anyio.fail_after(1.0):
                await finished.wait()
    assert scope.cancelled_caught
    fake.release()


@pytest.mark.anyio
@pytest.mark.parametrize("schema", [BriefDraft, KeywordPlan, CompetitorList])
async def test_fake_answers_json_schema_requests_with_valid_json(
    fake: FakeGemini, schema: type[BaseModel]
) -> None:
    config = types.GenerateContentConfig(
        response_mime_type="application/json", response_json_schema=schema.model_json_schema()
    )
    async with open_engine(settings_for(fake)) as engine:
        response = await engine.client.generate("Answer as JSON.", config)

    [call] = fake.log()
    assert "responseJsonSchema" in call.body["generationConfig"]
    assert schema.model_validate_json(response.text)


@pytest.mark.anyio
async def test_no_topics_from_gemini_falls_back_to_local(fake: FakeGemini) -> None:
    fake.responder = lambda request: json.dumps({"topics": []})
    ctx = context(StageName.TOPICS)
    research = KeywordResearch.model_validate(
        {"gaps": [{"keyword": "cohort analysis", "score": 0.8, "competitors": ["rival.test"]}]}
    )
    async with open_engine(settings_for(fake)) as engine:
        topics = await engine.propose_topics(ctx, SITE, [RIVAL], research)
        assert topics == await engine.local.propose_topics(context(), SITE, [RIVAL], research)

    [warning] = warnings_of(ctx)
    assert "Gemini proposed no topics" in warning and "local engine" in warning


def test_brief_markdown_parsing_tolerates_common_variants() -> None:
    text = (
        "# A brief\n## **Summary:**\nFirst line.\nSecond line.\n"
        "## Outline\n1. One\n2) Two\n* Three\n## Questions\n- Why?\n"
        '## Passages\n- "Quoted text" [2].\n- Cites a missing source [9]\n- Cites nothing\n'
    )
    draft = parse_brief(text, source_count=3)
    assert draft.summary == "First line. Second line."
    assert draft.outline == ["One", "Two", "Three"] and draft.questions == ["Why?"]
    assert [(p.text, p.source) for p in draft.passages] == [("Quoted text", 2)]
    with pytest.raises(ValidationError):
        parse_brief("## Summary\nOnly a summary.", source_count=3)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["503", "429"])
async def test_retries_stop_within_the_time_budget(fake: FakeGemini, kind: str) -> None:
    fake.fault = kind
    fake.retry_delay = "30s"  # the server asks for more than the whole budget
    settings = settings_for(
        fake,
        gemini_max_attempts=10,
        gemini_retry_budget=0.3,
        gemini_backoff_initial=0.2,
        gemini_backoff_max=1.0,
        gemini_breaker_threshold=20,
    )
    ctx = context(StageName.KEYWORDS)
    async with open_engine(settings) as engine:
        await engine.expand_keywords(ctx, SITE, [RIVAL])

    # 503: one backoff of 0.2-0.4 s may still fit in 0.3 s, the next cannot; a 429 asking for
    # 30 s is not retried at all.
    assert 1 <= len(fake.log()) <= (2 if kind == "503" else 1)
    [warning] = warnings_of(ctx)
    assert f"HTTP {kind}" in warning and "local engine" in warning


@pytest.mark.anyio
async def test_timeouts_in_a_row_open_the_breaker_at_once(fake: FakeGemini) -> None:
    fake.fault = "hang"
    settings = settings_for(
        fake, gemini_timeout=0.3, gemini_max_attempts=4, gemini_breaker_threshold=10
    )
    async with open_engine(settings) as engine:
        with pytest.raises(GeminiTimeout):
            await engine.client.generate("hello", types.GenerateContentConfig())
        # Two timeouts (gemini_breaker_timeouts) opened it; the other two tries were not made.
        assert len(fake.log()) == 2 and engine.client.breaker.is_open
        with pytest.raises(GeminiCircuitOpen):
            await engine.client.generate("hello", types.GenerateContentConfig())
    assert len(fake.log()) == 2


@pytest.mark.anyio
async def test_grounding_links_follow_the_address_policy(
    fake: FakeGemini, target_site: SiteServer
) -> None:
    fake.grounding = [
        Grounding("Metricly pricing", target_site.url + "pricing"),
        Grounding("metricly.example", target_site.url),
    ]
    report = Report(request=DiscoveryRequest(url=SITE_URL))
    ctx = StageContext(RunTracker(report), StageName.BRIEFS)
    async with open_engine(settings_for(fake, allow_private_hosts=False)) as engine:
        brief = await engine.write_brief(ctx, TOPIC, SITE, [RIVAL])

    # The redirect links point at 127.0.0.1: refused, so titles are kept and nothing fetched.
    titles = {s.title: s.url for s in brief.sources}
    assert titles["Metricly pricing"].startswith(fake.url + "/grounding-api-redirect/")
    assert titles["metricly.example"] == "https://metricly.example/"
    assert target_site.fetched("/pricing") == 0 and target_site.fetched("/") == 0


def test_gemini_settings_from_the_environment_and_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('GEMINI_API_KEY = "key-from-secrets"\nGEMINI_MODEL = "gemini-2.5-pro"\n')
    from_file = Settings.from_env({}, secrets_file=secrets)
    assert from_file.gemini_api_key is not None
    assert from_file.gemini_api_key.get_secret_value() == "key-from-secrets"
    assert from_file.gemini_model == "gemini-2.5-pro" and from_file.gemini_api_version == "v1beta"
    assert "key-from-secrets" not in repr(from_file) + from_file.model_dump_json()

    env = {"GEMINI_API_KEY": "key-from-env", "GEMINI_BASE_URL": "http://127.0.0.1:9"}
    from_env = Settings.from_env(env, secrets_file=secrets)
    assert from_env.gemini_api_key is not None
    assert from_env.gemini_api_key.get_secret_value() == "key-from-env"
    assert from_env.gemini_base_url == "http://127.0.0.1:9"
    assert from_env.resolve_engine("auto") == "gemini"
    blank = Settings.from_env({"GEMINI_API_KEY": "   "}, secrets_file=None)
    assert not blank.has_gemini_key and blank.resolve_engine("auto") == "local"


def _branded(url: str, name: str, pages: dict[str, tuple[str, str]]) -> SiteAnalysis:
    """A site whose pages carry its name in the title suffix and og:site_name."""
    return SiteAnalysis(
        url=url,
        domain=url.split("/")[2],
        pages=[
            Page(
                url=url + path,
                title=f"{title} | {name}",
                site_name=name,
                headings=[title],
                text=text,
            )
            for path, (title, text) in pages.items()
        ],
    )


BRANDED_SITE = _branded(
    SITE_URL,
    "Acme",
    {
        "": ("Web analytics", "Acme makes web analytics dashboards for small teams."),
        "features": ("Features", "Real-time dashboards and funnel reports for every site."),
    },
)
BRANDED_RIVAL = _branded(
    RIVAL_URL,
    "Rival",
    {
        "": ("Privacy-first analytics", "Cohort analysis and privacy-first analytics."),
        "cohorts": ("Cohort analysis", "Cohort analysis shows retention over time."),
        "billing": ("Billing", "Add your VAT number before the next invoice."),
    },
)


@pytest.mark.anyio
async def test_gemini_gaps_and_topics_name_no_brand_and_no_support_subject(
    fake: FakeGemini,
) -> None:
    def respond(request: FakeRequest) -> str:
        if "topics" in json.dumps(request.schema):
            topics = [
                ("Rival cohort analysis explained", ["Rival cohorts", "cohort analysis"]),
                ("Acme vs Rival: which analytics tool to choose", ["acme vs rival"]),
                ("How to add your VAT number", ["VAT number", "invoices"]),
                ("Retention reports for small teams", ["retention reports"]),
            ]
            return json.dumps(
                {
                    "topics": [
                        {"title": t, "keywords": k, "score": 0.8, "reason": "r"} for t, k in topics
                    ]
                }
            )
        gaps = ["cohort analysis in Rival", "Acme", "VAT number", "retention reports"]
        return json.dumps(
            {
                "keywords": [{"keyword": "web analytics", "score": 0.9}],
                "gaps": [{"keyword": g, "score": 0.8, "competitors": ["rival.test"]} for g in gaps],
            }
        )

    fake.responder = respond
    async with open_engine(settings_for(fake)) as engine:
        ctx = context(StageName.KEYWORDS)
        research = await engine.expand_keywords(ctx, BRANDED_SITE, [BRANDED_RIVAL])
        topics = await engine.propose_topics(
            context(StageName.TOPICS), BRANDED_SITE, [BRANDED_RIVAL], research
        )

    assert not warnings_of(ctx)
    assert [g.keyword for g in research.gaps] == ["cohort analysis", "retention reports"]
    assert research.gaps[0].evidence == [RIVAL_URL, RIVAL_URL + "cohorts"]
    titles = {t.title: t.keywords for t in topics}
    assert titles == {
        "Cohort analysis explained": ["Cohorts", "cohort analysis"],
        "Retention reports for small teams": ["retention reports"],
    }, titles
    assert next(t for t in topics if t.title.startswith("Cohort")).evidence
