"""GeminiEngine: stages 2-5 with Gemini (grounded, structured, streamed), falling back to the
local engine with a visible warning when Gemini cannot do its part."""

from __future__ import annotations

import re
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
from google.genai import types
from pydantic import BaseModel, SecretStr, ValidationError

from research.config import Settings
from research.engines.base import TextCallback
from research.engines.gemini.citations import check_brief, unverified_count
from research.engines.gemini.client import GeminiClient, response_text
from research.engines.gemini.prompts import (
    BriefDraft,
    CompetitorList,
    KeywordPlan,
    TopicList,
    brief_prompt,
    brief_repair_prompt,
    competitors_prompt,
    keywords_prompt,
    parse_brief,
    repair_prompt,
    strip_fences,
    structure_prompt,
    topics_prompt,
)
from research.engines.local import LocalEngine
from research.engines.local.plan import plan_brief, plan_topics
from research.errors import (
    GeminiAuthError,
    GeminiBadResponse,
    GeminiError,
    GeminiTimeout,
    ResearchError,
    SearchWithSchemaUnsupported,
)
from research.models import (
    Brief,
    Competitor,
    ContentGap,
    Keyword,
    KeywordResearch,
    Page,
    Passage,
    SiteAnalysis,
    Source,
    Topic,
)
from research.net.fetch import Fetcher
from research.net.urls import normalize_start_url, site_key
from research.processes import run_cpu
from research.progress import RunTracker, StageContext
from research.text.offtopic import site_brands, strip_brands
from research.text.phrases import site_phrases
from research.text.support import names_support_subject

T = TypeVar("T", bound=BaseModel)
R = TypeVar("R")

BRIEF_SOURCE_PAGES = 8
_DOMAIN_TITLE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", re.IGNORECASE)
_SEARCH = types.Tool(google_search=types.GoogleSearch())


@dataclass
class _RunCalls:
    """What one run has learnt of Gemini: whether it stopped answering, and its calls in flight."""

    unanswered: bool = False
    in_flight: set[anyio.CancelScope] = field(default_factory=set)
    streams: set[anyio.CancelScope] = field(default_factory=set)  # they share one deadline


class GeminiEngine:
    """The Gemini engine; one per key, shared by every run in the process."""

    name = "gemini"

    def __init__(
        self,
        settings: Settings,
        fetcher: Fetcher,
        local: LocalEngine,
        api_key: SecretStr | None = None,
        calls: anyio.CapacityLimiter | None = None,
    ) -> None:
        key = settings.gemini_key(api_key)
        if key is None or not key.get_secret_value().strip():
            raise GeminiAuthError("No Gemini key is configured; add one in Settings.")
        self.settings = settings
        self.fetcher = fetcher
        self.local = local
        self.client = GeminiClient(settings, key, calls)
        self._resolve_limiter = anyio.CapacityLimiter(max(1, settings.gemini_resolve_concurrency))
        # Models that answered 400 to google_search + response schema in one call.
        self._no_search_with_schema: set[str] = set()
        self._runs: weakref.WeakKeyDictionary[RunTracker, _RunCalls] = weakref.WeakKeyDictionary()

    async def aclose(self) -> None:
        """Close the Gemini client."""
        await self.client.aclose()

    async def retire(self) -> None:
        """Let go of the Gemini client's connections once runs still using it are done with it."""
        await self.client.retire()

    # -- the Engine protocol -------------------------------------------------------------------

    async def find_competitors(
        self, ctx: StageContext, site: SiteAnalysis, known: list[str], limit: int
    ) -> list[Competitor]:
        """Return competitors found with Google Search grounding, beyond the known URLs."""

        async def gemini() -> list[Competitor]:
            ideas, response = await self._grounded_structured(
                ctx, competitors_prompt(site, known, limit), CompetitorList, "a competitor list"
            )
            sources = await self._grounded_sources(ctx, response)
            found = _competitors(ideas, known, limit, sources)
            ctx.info(
                f"Gemini found {len(found)} competitor{'s' * (len(found) != 1)} with Google "
                f"Search ({len(sources)} source{'s' * (len(sources) != 1)})."
            )
            return found

        return await self._or_local(
            ctx,
            "find competitors",
            gemini,
            lambda: self.local.find_competitors(ctx, site, known, limit),
        )

    async def expand_keywords(
        self, ctx: StageContext, site: SiteAnalysis, competitors: list[SiteAnalysis]
    ) -> KeywordResearch:
        """Return Gemini's ranked keywords and content gaps, with coverage counted on the crawl."""

        async def gemini() -> KeywordResearch:
            plan = await self._structured(ctx, keywords_prompt(site, competitors), KeywordPlan)
            if not plan.keywords:
                raise GeminiBadResponse("Gemini listed no keywords.")
            research = await run_cpu(self.local.cpu, _keyword_research, plan, site, competitors)
            ctx.info(
                f"Gemini ranked {len(research.keywords)} keywords and found "
                f"{len(research.gaps)} content gaps."
            )
            return research

        return await self._or_local(
            ctx,
            "rank keywords",
            gemini,
            lambda: self.local.expand_keywords(ctx, site, competitors),
        )

    async def propose_topics(
        self,
        ctx: StageContext,
        site: SiteAnalysis,
        competitors: list[SiteAnalysis],
        research: KeywordResearch,
    ) -> list[Topic]:
        """Return Gemini's topic ideas, best first."""

        async def gemini() -> list[Topic]:
            prompt = topics_prompt(
                site,
                [k.keyword for k in research.keywords[:40]],
                [g.keyword for g in research.gaps[:40]],
                [c.domain for c in competitors],
            )
            ideas = await self._structured(ctx, prompt, TopicList)
            topics = await run_cpu(self.local.cpu, _topics, ideas, research, site, competitors)
            if not topics:
                raise GeminiBadResponse("Gemini proposed no topics.")
            topics = await run_cpu(self.local.cpu, plan_topics, topics, site, competitors)
            ctx.info(f"Gemini proposed {len(topics)} topics.")
            return topics

        return await self._or_local(
            ctx,
            "propose topics",
            gemini,
            lambda: self.local.propose_topics(ctx, site, competitors, research),
        )

    async def write_brief(
        self,
        ctx: StageContext,
        topic: Topic,
        site: SiteAnalysis,
        competitors: list[SiteAnalysis],
        on_text: TextCallback | None = None,
    ) -> Brief:
        """Return a brief streamed from Gemini, citing crawled pages and grounded sources."""

        async def gemini() -> Brief:
            pages = await run_cpu(self.local.cpu, _pages_for, topic, [site, *competitors])
            if not pages:
                raise GeminiBadResponse("There are no crawled pages to cite for this topic.")
            plan = await run_cpu(
                self.local.cpu, plan_brief, Brief(topic=topic.title), topic, site, competitors
            )
            config = types.GenerateContentConfig(tools=[_SEARCH])
            text, chunks = await self._stream(
                ctx, brief_prompt(topic, pages, plan), config, on_text
            )
            if chunks:
                self._record_usage(ctx, chunks[-1])
            if not text.strip():
                # Raises GeminiBadResponse saying why: a blocked prompt or an empty answer.
                response_text(chunks[-1] if chunks else types.GenerateContentResponse())
            try:
                draft = parse_brief(text, len(pages))
            except ValidationError:
                ctx.info(f"Brief for {topic.title!r} was not in the expected format; restating it.")
                draft = await self._structured(
                    ctx, brief_repair_prompt(text, len(pages)), BriefDraft, repair=False
                )
            grounded = await self._grounded_sources(ctx, *chunks)
            brief = await run_cpu(
                self.local.cpu,
                _checked_brief,
                _brief(topic, draft, pages, grounded, text),
                topic, pages, grounded, site, competitors,
            )  # fmt: skip
            _report_checks(ctx, brief, text, on_text)
            return brief

        return await self._or_local(
            ctx,
            f"write the brief for {topic.title!r}",
            gemini,
            lambda: self.local.write_brief(ctx, topic, site, competitors, on_text),
        )

    # -- calls ---------------------------------------------------------------------------------

    async def _or_local(
        self,
        ctx: StageContext,
        task: str,
        gemini: Callable[[], Awaitable[R]],
        local: Callable[[], Awaitable[R]],
    ) -> R:
        """Run the Gemini path; on a Gemini failure other than a refused key, run the local one."""
        calls = self._runs.setdefault(ctx.tracker, _RunCalls())
        if calls.unanswered:
            return await local()  # said once already, when Gemini first did not answer
        try:
            with anyio.CancelScope() as scope:
                calls.in_flight.add(scope)
                try:
                    return await gemini()
                finally:
                    calls.in_flight.discard(scope)
        except GeminiAuthError:
            raise
        except GeminiTimeout as exc:
            self._stop_asking(ctx, calls, exc)
        except GeminiError as exc:
            ctx.warn(f"Gemini could not {task}: {exc.message} The local engine did it instead.")
        # Here after a Gemini error, or when another call of this run got no answer in time.
        return await local()

    @staticmethod
    def _stop_asking(ctx: StageContext, calls: _RunCalls, exc: GeminiTimeout) -> None:
        """Give up on Gemini for the rest of the run, saying so once; stop its other calls."""
        if calls.unanswered:
            return
        calls.unanswered = True
        ctx.warn(f"{exc.message.rstrip('.')}, so the rest of this run uses the local engine.")
        for scope in calls.in_flight:
            scope.cancel()

    async def _stream(
        self,
        ctx: StageContext,
        prompt: str,
        config: types.GenerateContentConfig,
        on_text: TextCallback | None,
    ) -> tuple[str, list[types.GenerateContentResponse]]:
        """Stream one answer under the deadline the run's streams share.

        The deadline moves on whenever any of them receives text, so briefs Gemini is writing
        keep all of them going, while streams that all hang end together, after one deadline.
        """
        calls = self._runs.setdefault(ctx.tracker, _RunCalls())
        limit = self.settings.gemini_stream_timeout
        # The SDK's read timeout ends a single silent stream first; this bounds them together,
        # with the same second of slack the client gives each call.
        span = limit + 1.0

        def renew(text: str) -> None:
            for scope in calls.streams:
                scope.deadline = anyio.current_time() + span
            if on_text is not None:
                on_text(text)

        if calls.streams:
            deadline = next(iter(calls.streams)).deadline
        else:
            deadline = anyio.current_time() + span
        with anyio.CancelScope(deadline=deadline) as scope:
            calls.streams.add(scope)
            try:
                return await self.client.stream(prompt, config, renew, note=ctx.info)
            finally:
                calls.streams.discard(scope)
        self.client.breaker.record_timeout()
        raise GeminiTimeout(f"Gemini did not answer within {limit:g} s.")

    def _record_usage(self, ctx: StageContext, response: types.GenerateContentResponse) -> None:
        meta = response.usage_metadata
        if meta is None:
            return
        prompt = meta.prompt_token_count or 0
        output = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
        ctx.usage(self.name, prompt, output, self._cost(prompt, output))

    def _cost(self, input_tokens: int, output_tokens: int) -> float:
        """Estimate a call's cost in USD from the price table (longest matching model prefix)."""
        model = self.client.model
        matches = [p for p in self.settings.gemini_prices if model.startswith(p)]
        if not matches:
            return 0.0
        price_in, price_out = self.settings.gemini_prices[max(matches, key=len)]
        return (input_tokens * price_in + output_tokens * price_out) / 1_000_000

    async def _structured(
        self, ctx: StageContext, prompt: str, schema: type[T], *, repair: bool = True
    ) -> T:
        """Return the model's answer validated as `schema`, after one repair request if needed."""
        value, _ = await self._structured_call(ctx, prompt, schema, repair=repair)
        return value

    async def _structured_call(
        self,
        ctx: StageContext,
        prompt: str,
        schema: type[T],
        *,
        tools: list[types.Tool] | None = None,
        repair: bool = True,
    ) -> tuple[T, types.GenerateContentResponse]:
        config = types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=schema, tools=tools
        )
        response = await self.client.generate(prompt, config, note=ctx.info)
        self._record_usage(ctx, response)
        text = response_text(response)
        try:
            return schema.model_validate_json(strip_fences(text)), response
        except ValidationError as exc:
            if not repair:
                raise GeminiBadResponse("Gemini's answer did not have the expected shape.") from exc
            ctx.info("Gemini's answer did not have the expected shape; asking it to repair it.")
            plain = types.GenerateContentConfig(
                response_mime_type="application/json", response_schema=schema
            )
            fixed = await self.client.generate(repair_prompt(text, exc), plain, note=ctx.info)
            self._record_usage(ctx, fixed)
            try:
                return schema.model_validate_json(strip_fences(response_text(fixed))), response
            except ValidationError as again:
                raise GeminiBadResponse(
                    "Gemini's answer did not have the expected shape, even after a repair request."
                ) from again

    async def _grounded_structured(
        self, ctx: StageContext, prompt: str, schema: type[T], what: str
    ) -> tuple[T, types.GenerateContentResponse]:
        """Return a Search-grounded answer as `schema`; two calls for models that need them."""
        model = self.client.model
        if model not in self._no_search_with_schema:
            try:
                return await self._structured_call(ctx, prompt, schema, tools=[_SEARCH])
            except SearchWithSchemaUnsupported:
                self._no_search_with_schema.add(model)
                ctx.info(f"{model} cannot ground and structure in one call; using two calls.")
        grounded = await self.client.generate(
            prompt, types.GenerateContentConfig(tools=[_SEARCH]), note=ctx.info
        )
        self._record_usage(ctx, grounded)
        value = await self._structured(ctx, structure_prompt(response_text(grounded), what), schema)
        return value, grounded

    # -- grounding sources ---------------------------------------------------------------------

    async def _grounded_sources(
        self, ctx: StageContext, *responses: types.GenerateContentResponse
    ) -> list[Source]:
        """Return the grounding chunks as sources, redirect links resolved to final URLs."""
        found: dict[str, str] = {}
        for response in responses:
            for candidate in response.candidates or []:
                meta = candidate.grounding_metadata
                for chunk in (meta.grounding_chunks if meta else None) or []:
                    if chunk.web and chunk.web.uri and chunk.web.uri not in found:
                        found[chunk.web.uri] = chunk.web.title or ""
        if not found:
            return []
        links = list(found.items())
        resolved: list[Source] = [_unresolved(uri, title) for uri, title in links]
        allow_private = self.settings.allow_private(ctx.tracker.request.allow_private_hosts)

        async def resolve(index: int, uri: str, title: str) -> None:
            async with self._resolve_limiter:
                try:
                    # Only the final URL matters: fetch_resource skips decoding the page.
                    page = await self.fetcher.fetch_resource(uri, allow_private=allow_private)
                except ResearchError:
                    return
            resolved[index] = Source(url=page.final_url, title=title or site_key(page.final_url))

        with anyio.move_on_after(self.settings.gemini_resolve_timeout) as scope:
            async with anyio.create_task_group() as group:
                for index, (uri, title) in enumerate(links):
                    group.start_soon(resolve, index, uri, title)
        if scope.cancelled_caught:
            ctx.info("Some source links were not resolved in time; their titles are kept.")
        unique: dict[str, Source] = {}
        for source in resolved:
            unique.setdefault(source.url, source)
        return list(unique.values())


def _unresolved(uri: str, title: str) -> Source:
    """A source whose redirect link could not be followed: the title, and the best URL we have."""
    if _DOMAIN_TITLE.match(title):
        return Source(url=f"https://{title.lower()}/", title=title)
    return Source(url=uri, title=title)


def _competitors(
    ideas: CompetitorList, known: list[str], limit: int, sources: list[Source]
) -> list[Competitor]:
    """Turn the model's competitor ideas into new, valid, distinct competitors."""
    taken = {site_key(url) for url in known}
    by_domain: dict[str, Source] = {}
    for source in sources:
        by_domain.setdefault(site_key(source.url), source)
    competitors: list[Competitor] = []
    for idea in ideas.competitors:
        try:
            url = normalize_start_url(idea.url)
        except ResearchError:
            continue
        domain = site_key(url)
        if domain in taken:
            continue
        taken.add(domain)
        reason = idea.reason.strip()
        if (grounded := by_domain.get(domain)) is not None:
            reason += f" (Google Search: {grounded.title or grounded.url})"
        competitors.append(
            Competitor(
                url=url, domain=domain, name=idea.name.strip(), reason=reason, source="gemini"
            )
        )
        if len(competitors) >= limit:
            break
    return competitors


def _clamp(score: float) -> float:
    return max(0.0, min(1.0, float(score)))


def _pages_with(phrase: str, site: SiteAnalysis) -> list[str]:
    """URLs of the site's pages that mention `phrase` (case-insensitive)."""
    needle = phrase.lower()
    return [
        page.url
        for page in site.pages
        if needle in page.text.lower() or needle in page.title.lower()
    ]


def _keyword_research(
    plan: KeywordPlan, site: SiteAnalysis, competitors: list[SiteAnalysis]
) -> KeywordResearch:
    """Turn the model's plan into keywords and gaps with coverage counted on the crawled pages."""
    keywords: list[Keyword] = []
    seen: set[str] = set()
    for idea in sorted(plan.keywords, key=lambda k: k.score, reverse=True):
        phrase = idea.keyword.strip()
        if not phrase or phrase.lower() in seen:
            continue
        seen.add(phrase.lower())
        keywords.append(
            Keyword(
                keyword=phrase,
                score=_clamp(idea.score),
                site_pages=len(_pages_with(phrase, site)),
                competitor_pages=sum(len(_pages_with(phrase, c)) for c in competitors),
                source="gemini",
            )
        )
    gaps: list[ContentGap] = []
    seen.clear()
    clean = _Subjects(site, competitors)
    for gap in sorted(plan.gaps, key=lambda g: g.score, reverse=True):
        phrase = clean.phrase(gap.keyword)
        if not phrase or phrase.lower() in seen:
            continue
        seen.add(phrase.lower())
        covering = {c.domain: _pages_with(phrase, c) for c in competitors}
        named = {site_key(_normalized_or_empty(d)) or d.lower() for d in gap.competitors}
        domains = [d for d, urls in covering.items() if urls] or [
            c.domain for c in competitors if c.domain.lower() in named
        ]
        evidence = [url for urls in covering.values() for url in urls]
        gaps.append(
            ContentGap(
                keyword=phrase,
                score=_clamp(gap.score),
                competitors=domains,
                competitor_pages=len(evidence),
                evidence=evidence[:5],
            )
        )
    return KeywordResearch(keywords=keywords, gaps=gaps)


def _normalized_or_empty(value: str) -> str:
    """Return the normalised URL for a domain or URL the model gave, or '' when it is not one."""
    try:
        return normalize_start_url(value)
    except ResearchError:
        return ""


class _Subjects:
    """The model's phrases kept to subjects: the sites' brands stripped, support subjects out."""

    def __init__(self, site: SiteAnalysis, competitors: list[SiteAnalysis]) -> None:
        self.language = site_phrases(site.domain, site.pages).language
        self.brands = sorted(
            {b for s in (site, *competitors) for b in site_brands(s.domain, s.pages)}
        )

    def phrase(self, text: str) -> str:
        """The phrase without brand names; "" when none of it is left or it names a support
        subject."""
        stripped = strip_brands(text.strip(), self.brands, self.language)
        return "" if names_support_subject(stripped) else stripped


def _topics(
    ideas: TopicList,
    research: KeywordResearch,
    site: SiteAnalysis,
    competitors: list[SiteAnalysis],
) -> list[Topic]:
    """Turn the model's topic ideas into topics with evidence from the gaps, best first; a
    topic on an account, billing or legal subject, or on brands alone, is left out."""
    gaps = {gap.keyword.lower(): gap for gap in research.gaps}
    clean = _Subjects(site, competitors)
    topics: list[Topic] = []
    seen: set[str] = set()
    for idea in ideas.topics:
        title = clean.phrase(idea.title)
        named = [k.strip() for k in idea.keywords if k.strip()]
        keywords = [k for k in map(clean.phrase, named) if k]
        if not title or title.lower() in seen or (named and names_support_subject(named[0])):
            continue
        seen.add(title.lower())
        matched = [gaps[k.lower()] for k in keywords if k.lower() in gaps]
        evidence = list(dict.fromkeys(url for gap in matched for url in gap.evidence))[:5]
        covering = {domain for gap in matched for domain in gap.competitors}
        topics.append(
            Topic(
                title=title,
                keywords=keywords,
                score=_clamp(idea.score),
                reason=idea.reason.strip(),
                evidence=evidence,
                competitor_coverage=len(covering),
            )
        )
    topics.sort(key=lambda t: t.score, reverse=True)
    return topics


def _pages_for(topic: Topic, sites: list[SiteAnalysis]) -> list[Page]:
    """The crawled pages most relevant to `topic`, best first (the brief's numbered sources)."""
    terms = {
        w for phrase in [topic.title, *topic.keywords] for w in phrase.lower().split() if len(w) > 2
    }
    scored: list[tuple[int, int, Page]] = []
    order = 0
    for site in sites:
        for page in site.pages:
            if not page.text.strip():
                continue
            body = f"{page.title} {page.text}".lower()
            hits = sum(body.count(term) for term in terms)
            scored.append((hits, -order, page))
            order += 1
    scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [page for hits, _, page in scored[:BRIEF_SOURCE_PAGES]]


def _report_checks(
    ctx: StageContext, brief: Brief, streamed: str, on_text: TextCallback | None
) -> None:
    """Say how many quotes were not found; stream the checked text when checks changed it."""
    missing, quotes = unverified_count([brief])
    if missing:
        ctx.info(
            f"{missing} of {quotes} quotes in the brief for {brief.topic!r} could not be "
            "found on the cited pages; they are marked unverified."
        )
    if on_text is not None and brief.text != streamed:
        on_text(brief.text)


def _checked_brief(
    brief: Brief,
    topic: Topic,
    cited: list[Page],
    grounded: list[Source],
    site: SiteAnalysis,
    competitors: list[SiteAnalysis],
) -> Brief:
    """The brief with its citations checked against the crawl and grounding, and its plan."""
    crawled = [page for s in (site, *competitors) for page in s.pages]
    return plan_brief(check_brief(brief, cited, crawled, grounded), topic, site, competitors)


def _brief(
    topic: Topic, draft: BriefDraft, pages: list[Page], grounded: list[Source], text: str
) -> Brief:
    """Assemble a Brief whose passages cite crawled pages and whose sources add grounded ones."""
    passages = [
        Passage(text=p.text, url=pages[p.source - 1].url, title=pages[p.source - 1].title)
        for p in draft.passages
        if 1 <= p.source <= len(pages)
    ]
    if not passages:
        raise GeminiBadResponse("Gemini's brief cited none of the crawled pages.")
    sources: dict[str, Source] = {}
    for passage in passages:
        sources.setdefault(passage.url, Source(url=passage.url, title=passage.title))
    for source in grounded:
        sources.setdefault(source.url, source)
    return Brief(
        topic=topic.title,
        summary=draft.summary.strip(),
        outline=[item.strip() for item in draft.outline if item.strip()],
        questions=[q.strip() for q in draft.questions if q.strip()],
        passages=passages,
        sources=list(sources.values()),
        text=text,
    )
