"""Grading a writer's draft against its brief: a score 0-100, its parts, and what is missing."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import Literal

import anyio

from research.errors import InvalidRequest
from research.models import (
    Brief,
    Draft,
    Grade,
    GradePart,
    MissingItem,
    MissingKind,
    Report,
    normalize_start_url,
)
from research.net.extract import extract_page
from research.net.fetch import Fetcher
from research.text.language import guess_language
from research.text.phrases import stem, tokens
from research.text.stopwords import stopwords_for

DraftKind = Literal["markdown", "html", "text"]
WEIGHTS = {
    "coverage": 40.0,
    "keyphrases": 15.0,
    "questions": 20.0,
    "length": 15.0,
    "headings": 10.0,
}
# An item (subtopic, keyphrase, question) is covered when this share of its content words,
# stemmed, occur in the draft's headings or text.
COVER_SHARE = 0.75
MIN_HEADINGS = 2
MAX_DRAFT_BYTES = 5_000_000
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_SETEXT = re.compile(r"^\s{0,3}(=+|-+)\s*$")
_MD_MARKUP = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|[*_`>#|]")
_HTML_SNIFF = re.compile(r"<(html|body|article|h[1-6]|p|div)\b", re.I)
_MD_SNIFF = re.compile(r"^\s{0,3}#{1,6}\s|^\s{0,3}(=+|-+)\s*$", re.M)
_TEXT_HEADING_WORDS = 10
_SENTENCE_END = (".", "!", "?", ",", ";", ":")


def draft_kind(content: str, name: str = "") -> DraftKind:
    """Say whether a draft is HTML, Markdown or plain text, by file suffix and then by content."""
    suffix = Path(name).suffix.lower()
    if suffix in (".html", ".htm", ".xhtml"):
        return "html"
    if suffix in (".md", ".markdown"):
        return "markdown"
    if suffix == ".txt":
        return "text"
    if _HTML_SNIFF.search(content):
        return "html"
    return "markdown" if _MD_SNIFF.search(content) else "text"


def _markdown(content: str) -> Draft:
    lines = content.splitlines()
    headings: list[str] = []
    body: list[str] = []
    for index, line in enumerate(lines):
        heading = _MD_HEADING.match(line)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if heading:
            headings.append(_MD_MARKUP.sub(r"\1", heading.group(1)).strip())
        elif line.strip() and _SETEXT.match(following) and not _SETEXT.match(line):
            headings.append(_MD_MARKUP.sub(r"\1", line).strip())
        elif not _SETEXT.match(line):
            body.append(_MD_MARKUP.sub(r"\1", line))
    text = "\n".join(line.strip() for line in body if line.strip())
    return Draft(text=text, headings=headings, words=len(tokens(" ".join([*headings, text]))))


def _plain(content: str) -> Draft:
    """Plain text: a short one-line paragraph not ending a sentence, with text after, is a heading."""
    lines = [line.strip() for line in content.splitlines()]
    last = max((index for index, line in enumerate(lines) if line), default=-1)
    headings: list[str] = []
    body: list[str] = []
    for index, line in enumerate(lines):
        before = lines[index - 1] if index else ""
        after = lines[index + 1] if index + 1 < len(lines) else ""
        short = len(line.split()) <= _TEXT_HEADING_WORDS and not line.endswith(_SENTENCE_END)
        if line and short and not before and not after and index < last:
            headings.append(line)
        elif line:
            body.append(line)
    text = "\n".join(body)
    return Draft(text=text, headings=headings, words=len(tokens(" ".join([*headings, text]))))


def parse_draft(content: str, kind: DraftKind, url: str = "https://draft.invalid/") -> Draft:
    """Read a draft's headings, text and word count (blocking for HTML; run in a thread)."""
    if kind == "html":
        page = extract_page(content, url)
        return Draft(text=page.text, headings=page.headings, words=len(tokens(page.text)))
    return _markdown(content) if kind == "markdown" else _plain(content)


def brief_at(report: Report, number: int) -> Brief:
    """Return brief `number` (counting from 1) of a run, or raise InvalidRequest."""
    if not 1 <= number <= len(report.briefs):
        if not report.briefs:
            raise InvalidRequest(f"Run {report.run_id} has no briefs to grade against.")
        raise InvalidRequest(
            f"Run {report.run_id} has briefs 1 to {len(report.briefs)}; there is no brief {number}."
        )
    return report.briefs[number - 1]


def _stems(text: str, language: str) -> set[str]:
    stops = stopwords_for(language)
    return {stem(word, language) for word in tokens(text) if len(word) > 2 and word not in stops}


def _missing(items: list[str], found: set[str], language: str) -> list[str]:
    """The items fewer than COVER_SHARE of whose content words occur in the draft."""
    gone = []
    for item in items:
        wanted = _stems(item, language)
        if wanted and len(wanted & found) / len(wanted) < COVER_SHARE:
            gone.append(item)
    return gone


def _share(items: list[str], gone: list[str]) -> float | None:
    return None if not items else 100.0 * (len(items) - len(gone)) / len(items)


def _length_score(brief: Brief, words: int) -> float | None:
    target = brief.target_words
    if target is None or target.max <= 0 or target.max < target.min:
        return None
    if words < target.min:
        return 100.0 * words / target.min
    return 100.0 if words <= target.max else 100.0 * target.max / words


def grade_draft(report: Report, number: int, draft: Draft) -> Grade:
    """Grade a draft against brief `number` (from 1) of a run.

    Five parts, each scored 0-100, make the score: their mean weighted by WEIGHTS (coverage 40,
    keyphrases 15, questions 20, length 15, headings 10), rounded; a part with nothing to grade
    is neutral: score None, weight 0, left out of the mean.
    - coverage: share of the brief's must-cover subtopics (`Brief.coverage` with `must`; when
      the brief has no coverage, its outline headings) that the draft covers;
    - keyphrases: share of the topic's keywords the draft covers;
    - questions: share of `Brief.questions` the draft answers;
    - length: 100 inside `Brief.target_words` (min..max); below it words/min, above it
      max/words, times 100; neutral when the brief has no target;
    - headings: 100 x min(1, headings / max(2, outline headings)).
    An item counts as covered when at least three quarters of its content words (stop words
    dropped, plurals folded) occur in the draft's headings or text. `missing` lists what is
    not covered in the brief's order: subtopics, then keyphrases, then questions.
    """
    brief = brief_at(report, number)
    language = (report.site.language if report.site else None) or guess_language(draft.text)
    language = language or "en"
    found = _stems(" ".join([*draft.headings, draft.text]), language)
    must = [c.subtopic for c in brief.coverage if c.must] or list(brief.outline)
    topic = next((t for t in report.topics if t.title == brief.topic), None)
    keyphrases = list(topic.keywords) if topic else []
    gone: dict[MissingKind, list[str]] = {
        "subtopic": _missing(must, found, language),
        "keyphrase": _missing(keyphrases, found, language),
        "question": _missing(list(brief.questions), found, language),
    }
    expected = max(MIN_HEADINGS, len(brief.outline))
    scores = {
        "coverage": _share(must, gone["subtopic"]),
        "keyphrases": _share(keyphrases, gone["keyphrase"]),
        "questions": _share(list(brief.questions), gone["question"]),
        "length": _length_score(brief, draft.words),
        "headings": 100.0 * min(1.0, len(draft.headings) / expected),
    }
    parts = {
        name: GradePart(
            score=None if score is None else round(score, 1),
            weight=0.0 if score is None else WEIGHTS[name],
        )
        for name, score in scores.items()
    }
    total = sum(part.weight for part in parts.values())
    weighted = sum((part.score or 0.0) * part.weight for part in parts.values())
    missing = [MissingItem(kind=kind, text=text) for kind, items in gone.items() for text in items]
    return Grade(score=round(weighted / total) if total else 0, parts=parts, missing=missing)


async def read_draft_file(path: Path, limiter: anyio.CapacityLimiter | None = None) -> Draft:
    """Read and parse a draft file; raise InvalidRequest when there is none or it is too big."""
    try:
        data = await anyio.Path(path).read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"No draft file could be read at {path}.") from exc
    if len(data) > MAX_DRAFT_BYTES:
        raise InvalidRequest(f"{path} is larger than {MAX_DRAFT_BYTES // 1_000_000} MB.")
    content = data.decode("utf-8", errors="replace").lstrip("\ufeff")
    kind = draft_kind(content, path.name)
    return await anyio.to_thread.run_sync(parse_draft, content, kind, limiter=limiter)


async def read_draft_text(content: str, limiter: anyio.CapacityLimiter | None = None) -> Draft:
    """Parse pasted draft text (Markdown, HTML or plain text) off the loop."""
    kind = draft_kind(content)
    return await anyio.to_thread.run_sync(parse_draft, content, kind, limiter=limiter)


async def read_draft_url(
    fetcher: Fetcher,
    url: str,
    *,
    allow_private: bool = False,
    limiter: anyio.CapacityLimiter | None = None,
) -> Draft:
    """Fetch a published draft through the guarded Fetcher and parse it; raise FetchError."""
    fetched = await fetcher.fetch(normalize_start_url(url), allow_private=allow_private)
    parse = partial(parse_draft, fetched.text, "html", fetched.final_url)
    return await anyio.to_thread.run_sync(parse, limiter=limiter)
