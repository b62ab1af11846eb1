"""The Engine protocol: what stages 2-5 ask of an analysis engine (local or Gemini)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from research.models import Brief, Competitor, KeywordResearch, SiteAnalysis, Topic
from research.progress import StageContext

TextCallback = Callable[[str], None]


class Engine(Protocol):
    """Both engines implement this and return the same models."""

    name: str

    async def find_competitors(
        self, ctx: StageContext, site: SiteAnalysis, known: list[str], limit: int
    ) -> list[Competitor]:
        """Return competitor candidates beyond the `known` URLs (the stage drops the site's own)."""
        ...

    async def expand_keywords(
        self, ctx: StageContext, site: SiteAnalysis, competitors: list[SiteAnalysis]
    ) -> KeywordResearch:
        """Return the site's ranked keywords and the gaps competitors cover."""
        ...

    async def propose_topics(
        self,
        ctx: StageContext,
        site: SiteAnalysis,
        competitors: list[SiteAnalysis],
        research: KeywordResearch,
    ) -> list[Topic]:
        """Return topic ideas, best first, each with keywords, score and reason."""
        ...

    async def write_brief(
        self,
        ctx: StageContext,
        topic: Topic,
        site: SiteAnalysis,
        competitors: list[SiteAnalysis],
        on_text: TextCallback | None = None,
    ) -> Brief:
        """Return a brief for `topic` citing crawled or grounded sources; stream text to on_text."""
        ...
