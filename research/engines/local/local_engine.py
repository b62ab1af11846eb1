"""LocalEngine: the offline default engine (phrase statistics, clustering, extractive briefs)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import anyio

from research.engines.base import TextCallback
from research.engines.local.briefs import render_markdown, write
from research.engines.local.clustering import propose
from research.engines.local.gaps import find_gaps, keyword_research, thinly_covered, under_covered
from research.engines.local.plan import plan_brief, plan_topics
from research.models import (
    Brief,
    Competitor,
    KeywordResearch,
    SiteAnalysis,
    Topic,
)
from research.net.urls import site_key
from research.processes import CpuWorkers, run_cpu
from research.progress import StageContext
from research.text.keyphrases import OutboundLink, outbound_links, why_few_gaps
from research.text.phrases import SitePhrases, site_phrases


@dataclass
class _EarlyTopics:
    """Topic ideas computed alongside the keywords, for the topic stage that follows."""

    site: SiteAnalysis
    competitors: list[SiteAnalysis]
    topics: list[Topic]

    def of(self, site: SiteAnalysis, competitors: list[SiteAnalysis]) -> bool:
        """Whether these topics were computed from exactly these analyses (the same objects)."""
        return (
            self.site is site
            and len(self.competitors) == len(competitors)
            and all(a is b for a, b in zip(self.competitors, competitors, strict=True))
        )


# Early topics kept for topic stages still to come: one per run in progress, a few runs at once.
EARLY_TOPICS = 8


class LocalEngine:
    """Finds gaps, topics and briefs from crawled pages alone: no key, no downloads."""

    name = "local"

    def __init__(self, cpu: CpuWorkers) -> None:
        self.cpu = cpu
        self._early: deque[_EarlyTopics] = deque(maxlen=EARLY_TOPICS)

    async def find_competitors(
        self, ctx: StageContext, site: SiteAnalysis, known: list[str], limit: int
    ) -> list[Competitor]:
        """Return candidate competitors from the site's outbound links (not crawled here)."""
        found = await run_cpu(self.cpu, linked_competitors, site, known, limit)
        ctx.info(
            f"The local engine found {len(found)} candidate competitor"
            f"{'s' if len(found) != 1 else ''} in your site's outbound links; finding competitors "
            "beyond the sites you link to needs Gemini (add a Gemini API key in Settings)."
        )
        return found

    async def expand_keywords(
        self, ctx: StageContext, site: SiteAnalysis, competitors: list[SiteAnalysis]
    ) -> KeywordResearch:
        """Return the site's ranked keywords and the gaps its competitors cover."""

        async def early_topics() -> None:
            topics = await run_cpu(self.cpu, topics_of, site, competitors)
            self._early.append(_EarlyTopics(site, list(competitors), topics))

        # The topics depend on the same analyses only (not on this research), so they are
        # computed meanwhile in another worker; the topic stage that follows takes them.
        async with anyio.create_task_group() as group:
            group.start_soon(early_topics)
            research = await run_cpu(self.cpu, research_of, site, competitors)
        for reason in [] if research.gaps else why_few_gaps(site, competitors, 0):
            if reason not in (site.thin, *(c.thin for c in competitors)):
                ctx.warn(reason)  # a thin site's sentence is in the log already
        ctx.info(
            f"{len(research.keywords)} keywords ranked for {site.domain}; "
            f"{len(research.gaps)} gaps found across {len(competitors)} "
            f"competitor{'s' if len(competitors) != 1 else ''}."
        )
        return research

    async def propose_topics(
        self,
        ctx: StageContext,
        site: SiteAnalysis,
        competitors: list[SiteAnalysis],
        research: KeywordResearch,
    ) -> list[Topic]:
        """Return topic ideas clustered from the gaps, best first."""
        early = next((e for e in self._early if e.of(site, competitors)), None)
        if early is not None:
            self._early.remove(early)
            topics = early.topics
        else:
            topics = await run_cpu(self.cpu, topics_of, site, competitors)
        if research.gaps:
            ctx.info(f"{len(topics)} topic ideas from {len(research.gaps)} gaps.")
        else:
            ctx.info(
                f"{len(topics)} topic ideas from subjects your site mentions in passing or "
                "treats on only one or two pages (no competitor gaps to work from)."
            )
        return topics

    async def write_brief(
        self,
        ctx: StageContext,
        topic: Topic,
        site: SiteAnalysis,
        competitors: list[SiteAnalysis],
        on_text: TextCallback | None = None,
    ) -> Brief:
        """Return an extractive brief for the topic citing crawled pages, with its plan."""
        brief = await run_cpu(self.cpu, brief_of, topic, site, competitors)
        if on_text is not None:
            on_text(brief.text)
        if len(brief.passages) < 3:
            ctx.warn(f"Only {len(brief.passages)} passages found for {topic.title!r}.")
        return brief


def site_phrases_of(site: SiteAnalysis) -> SitePhrases:
    """Return the phrase statistics of an analysed site (blocking; call in a worker)."""
    return site_phrases(site.domain, site.pages)


def research_of(site: SiteAnalysis, competitors: list[SiteAnalysis]) -> KeywordResearch:
    """Return the site's ranked keywords and gaps (blocking; call in a worker)."""
    return keyword_research(site_phrases_of(site), [site_phrases_of(c) for c in competitors])


def topics_of(site: SiteAnalysis, competitors: list[SiteAnalysis]) -> list[Topic]:
    """Return topic ideas clustered from the gaps (blocking; call in a worker)."""
    own = site_phrases_of(site)
    others = [site_phrases_of(c) for c in competitors]
    # The same pages give the same gaps as the keyword stage (or, after another engine's
    # research, the local view of them); topics keep the variants the gap list merges.
    gaps = find_gaps(own, others)
    ideas = propose(own, others, gaps or under_covered(own) or thinly_covered(own))
    return plan_topics(ideas, site, competitors)


def brief_of(topic: Topic, site: SiteAnalysis, competitors: list[SiteAnalysis]) -> Brief:
    """Return an extractive brief for the topic with its plan (blocking; call in a worker)."""
    draft = write(topic, site_phrases_of(site), [site_phrases_of(c) for c in competitors])
    brief = plan_brief(draft, topic, site, competitors)
    return brief.model_copy(update={"text": render_markdown(brief)})


def linked_competitors(site: SiteAnalysis, known: list[str], limit: int) -> list[Competitor]:
    """Return the sites the site links to most as competitor candidates, except `known` ones."""
    taken = {site_key(url) for url in known}
    links = {link.domain: link for link in outbound_links(site.domain, site.pages)}
    found: list[Competitor] = []
    for domain in site.outbound_domains:
        if domain in taken or len(found) >= limit:
            continue
        link = links.get(domain, OutboundLink(domain, 0, "https"))
        plural = "s" if link.pages != 1 else ""
        found.append(
            Competitor(
                url=f"{link.scheme}://{domain}/",
                domain=domain,
                name=domain,
                reason=f"Your site links to it from {link.pages} page{plural}."
                if link.pages
                else "Your site links to it.",
                source="outbound_link",
            )
        )
    return found
