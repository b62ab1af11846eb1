"""Citation checks: a quote counts as verified only when it is found on the page it cites, and a
brief never cites a page the run neither crawled nor got from Google Search grounding."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from research.engines.gemini.prompts import bullet_text, quoted
from research.models import Brief, Page, Passage, Source
from research.text.quotes import quote_found

UNVERIFIED = "**[unverified]**"
LINK_REMOVED = "[link removed: not a crawled or grounded page]"
_URL = re.compile(r"https?://[^\s<>()\[\]\"'`]+")
_TRAILING = ".,;:!?"


def page_text(page: Page) -> str:
    """The crawled text a quote from the page is looked for in: title, headings and text."""
    return "\n".join([page.title, *page.headings, page.text])


def verify_passages(passages: Iterable[Passage], pages: dict[str, Page]) -> list[Passage]:
    """Return the passages, each `verified` when its text is found on the page it cites."""
    return [
        passage.model_copy(
            update={
                "verified": passage.url in pages
                and quote_found(passage.text, page_text(pages[passage.url]))
            }
        )
        for passage in passages
    ]


def _key(url: str) -> str:
    return url.rstrip("/")


def known_sources(sources: Iterable[Source], allowed: set[str]) -> list[Source]:
    """The sources whose URL was crawled or returned by grounding."""
    keys = {_key(url) for url in allowed}
    return [source for source in sources if _key(source.url) in keys]


def _without_unknown_links(line: str, keys: set[str]) -> str:
    def keep(match: re.Match[str]) -> str:
        url = match.group()
        bare = url.rstrip(_TRAILING)
        if _key(bare) in keys:
            return url
        return LINK_REMOVED + url[len(bare) :]

    return _URL.sub(keep, line)


def check_text(text: str, cited: Sequence[Page], allowed: set[str]) -> str:
    """Return a streamed Markdown brief with every quote not found on its numbered source
    marked unverified, and every link to a page neither crawled nor grounded removed."""
    keys = {_key(url) for url in allowed}
    lines = []
    for line in text.splitlines():
        item = bullet_text(line)
        found = quoted(item) if item else None
        if item and found and 1 <= found[1] <= len(cited) and UNVERIFIED not in line:
            if not quote_found(found[0], page_text(cited[found[1] - 1])):
                at = line.index(item)
                line = f"{line[:at]}{UNVERIFIED} {line[at:]}"
        lines.append(_without_unknown_links(line, keys))
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def check_brief(
    brief: Brief, cited: Sequence[Page], crawled: Iterable[Page], grounded: Iterable[Source]
) -> Brief:
    """Return the brief with its passages verified against the crawled pages, its sources kept
    to crawled and grounded pages, and its text checked the same way."""
    pages = {page.url: page for page in crawled}
    allowed = set(pages) | {source.url for source in grounded}
    return brief.model_copy(
        update={
            "passages": verify_passages(brief.passages, pages),
            "sources": known_sources(brief.sources, allowed),
            "text": check_text(brief.text, cited, allowed),
        }
    )


def unverified_count(briefs: Iterable[Brief]) -> tuple[int, int]:
    """Return (quotes not found on their cited pages, all quotes) over the briefs."""
    passages = [p for brief in briefs for p in brief.passages]
    return sum(not p.verified for p in passages), len(passages)
