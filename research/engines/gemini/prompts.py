"""What the Gemini engine asks: prompts, the JSON shapes it expects back, the brief format."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field, ValidationError

from research.models import Brief, Page, SiteAnalysis, Topic

MAX_PAGES_LISTED = 15
MAX_KEYPHRASES = 30
EXCERPT_CHARS = 600


class CompetitorIdea(BaseModel):
    """A competitor the model names."""

    name: str
    url: str
    reason: str


class CompetitorList(BaseModel):
    """Stage 2's answer."""

    competitors: list[CompetitorIdea]


class KeywordIdea(BaseModel):
    """A keyword the model ranks for the site (score 0-1)."""

    keyword: str
    score: float


class GapIdea(BaseModel):
    """A content gap: a phrase competitors cover and the site does not."""

    keyword: str
    score: float
    competitors: list[str]


class KeywordPlan(BaseModel):
    """Stage 3's answer."""

    keywords: list[KeywordIdea]
    gaps: list[GapIdea]


class TopicIdea(BaseModel):
    """A topic idea (score 0-1)."""

    title: str
    keywords: list[str]
    score: float
    reason: str


class TopicList(BaseModel):
    """Stage 4's answer."""

    topics: list[TopicIdea]


class PassageIdea(BaseModel):
    """A passage quoted from numbered source `source`."""

    text: str
    source: int


class BriefDraft(BaseModel):
    """Stage 5's answer, parsed from the streamed Markdown or asked for as JSON."""

    summary: str = Field(min_length=1)
    outline: list[str] = Field(min_length=1)
    questions: list[str] = Field(default_factory=list)
    passages: list[PassageIdea] = Field(min_length=1)


def _site_block(site: SiteAnalysis, label: str) -> str:
    lines = [f"{label}: {site.url} (domain {site.domain})"]
    if site.title:
        lines.append(f"Title: {site.title}")
    phrases = ", ".join(k.keyword for k in site.keyphrases[:MAX_KEYPHRASES])
    if phrases:
        lines.append(f"Key phrases: {phrases}")
    for page in site.pages[:MAX_PAGES_LISTED]:
        heads = "; ".join(page.headings[:5])
        lines.append(f"- Page {page.url}: {page.title}" + (f" | {heads}" if heads else ""))
    return "\n".join(lines)


def competitors_prompt(site: SiteAnalysis, known: list[str], limit: int) -> str:
    """Ask for up to `limit` competitor websites beyond the known ones."""
    known_text = ", ".join(known) if known else "none"
    outbound = ", ".join(site.outbound_domains[:20]) or "none"
    return (
        "You are a market researcher. Use Google Search to find websites that compete with the "
        "site below for the same audience and topics.\n\n"
        f"{_site_block(site, 'Site')}\n"
        f"Domains it links to: {outbound}\n"
        f"Competitors already known (do not repeat): {known_text}\n\n"
        f"Return at most {limit} competitors, each with its name, home page URL and a one-sentence "
        "reason. Do not include the site itself."
    )


def structure_prompt(text: str, what: str) -> str:
    """Ask to turn a grounded free-text answer into the JSON shape of `what`."""
    return (
        f"Turn the research notes below into {what} in the requested JSON shape. Use only "
        f"facts from the notes.\n\nNotes:\n{text}"
    )


def keywords_prompt(site: SiteAnalysis, competitors: list[SiteAnalysis]) -> str:
    """Ask for the site's ranked keywords and the gaps competitors cover."""
    blocks = [_site_block(site, "Site")]
    blocks += [_site_block(c, f"Competitor {i}") for i, c in enumerate(competitors, 1)]
    return (
        "You are an SEO analyst. From the crawled pages below, list the site's most important "
        "keywords (2-4 word phrases, score 0-1, best first) and the content gaps: phrases the "
        "competitors cover that the site does not, each with the competitor domains that cover "
        "it and a score 0-1.\n\n" + "\n\n".join(blocks)
    )


def topics_prompt(
    site: SiteAnalysis, keywords: list[str], gaps: list[str], competitor_domains: list[str]
) -> str:
    """Ask for topic ideas built from keywords and gaps, scored 0-1."""
    return (
        "You are a content strategist. Propose article topics for the site below that close its "
        "content gaps and build on its strengths. Each topic: a title, 2-6 keywords taken from "
        "the lists, a score 0-1 (value for the site) and a one-sentence reason.\n\n"
        f"Site: {site.url} ({site.title})\n"
        f"Competitors: {', '.join(competitor_domains) or 'none'}\n"
        f"Site keywords: {', '.join(keywords) or 'none'}\n"
        f"Content gaps: {', '.join(gaps) or 'none'}\n\n"
        "Return 5 to 10 topics, best first."
    )


BRIEF_FORMAT = """## Summary
<two or three sentences>
## Outline
- <section heading>
## Questions
- <a question readers ask>
## Passages
- <a sentence quoted from a numbered source> [<source number>]"""


def plan_lines(plan: Brief | None) -> str:
    """What the writer's plan asks of the brief: its length and the subtopics it must cover."""
    if plan is None:
        return ""
    lines = []
    if plan.target_words is not None:
        words = plan.target_words
        lines.append(f"Target length of the article: {words.min}-{words.max} words.")
    if plan.must_cover:
        names = ", ".join(item.subtopic for item in plan.must_cover)
        lines.append(f"The outline must cover these subtopics most competitors cover: {names}.")
    return "\n".join(lines) + "\n" if lines else ""


def brief_prompt(topic: Topic, pages: list[Page], plan: Brief | None = None) -> str:
    """Ask for a Markdown brief on `topic` that cites the numbered pages (and follows the plan)."""
    sources = "\n".join(
        f"[{i}] {page.url} | {page.title}\n{page.text[:EXCERPT_CHARS]}"
        for i, page in enumerate(pages, 1)
    )
    return (
        f"Write a research brief for an article titled {topic.title!r} "
        f"(keywords: {', '.join(topic.keywords)}). Reason it matters: {topic.reason}\n"
        f"{plan_lines(plan)}\n"
        "Use exactly this Markdown format, with at least 4 outline items and 3 passages; every "
        "passage quotes one of the numbered sources word for word (quotes not found on the "
        "cited page are marked unverified) and ends with its number in brackets:\n"
        f"{BRIEF_FORMAT}\n\nSources:\n{sources}"
    )


def brief_repair_prompt(text: str, source_count: int) -> str:
    """Ask to restate a malformed brief as JSON."""
    return (
        "Restate the research brief below as JSON: summary, outline (list), questions (list) and "
        f"passages (each with text and source, a number from 1 to {source_count}).\n\n{text}"
    )


def repair_prompt(text: str, error: ValidationError) -> str:
    """Ask the model to fix an answer that did not validate."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in error.errors()[:5]
    )
    return (
        "Your previous answer was not valid JSON for the requested shape "
        f"({problems}). Return the corrected JSON only.\n\nPrevious answer:\n{text[:8000]}"
    )


_HEADING = re.compile(r"^#{1,6}\s*(.+?)\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(.*\S)\s*$")
_CITATION = re.compile(r"\s*\[(\d+)\]\s*[.]?\s*$")


def parse_brief(text: str, source_count: int) -> BriefDraft:
    """Parse a Markdown brief in BRIEF_FORMAT; raise ValidationError if it does not fit."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            current = sections.setdefault(heading.group(1).strip(" *:").lower(), [])
        elif current is not None and line.strip():
            current.append(line)
    bullets = {
        name: [m.group(1) for m in map(_BULLET.match, lines) if m]
        for name, lines in sections.items()
    }
    passages = []
    for item in bullets.get("passages", []):
        found = quoted(item)
        if found and 1 <= found[1] <= source_count:
            passages.append({"text": found[0], "source": found[1]})
    return BriefDraft.model_validate(
        {
            "summary": " ".join(line.strip() for line in sections.get("summary", [])),
            "outline": bullets.get("outline", []),
            "questions": bullets.get("questions", []),
            "passages": passages,
        }
    )


def quoted(item: str) -> tuple[str, int] | None:
    """Return (quote, source number) of a passage ending with its citation ("... [2]"), or None."""
    cited = _CITATION.search(item)
    if cited is None:
        return None
    quote = item[: cited.start()].strip().strip('"“”')
    return (quote, int(cited.group(1))) if quote else None


def bullet_text(line: str) -> str | None:
    """Return the text of a Markdown list item, or None when the line is not one."""
    match = _BULLET.match(line)
    return match.group(1) if match else None


def strip_fences(text: str) -> str:
    """Return JSON text without a surrounding Markdown code fence."""
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    return body.strip()
