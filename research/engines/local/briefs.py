"""Extractive briefs: an outline from headings and ranked, cited passages.

Passages are sentences of the crawled pages' text, copied as they are, so they are verified by
construction; questions come from the writer's plan (plan.py), which keeps only real ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from research.engines.local.titles import deeper_title, is_procedure_step, is_settings_step
from research.models import Brief, Passage, Source, Topic
from research.text.phrases import (
    PageText,
    SitePhrases,
    page_importance,
    phrase_key,
    sentences,
    stem,
    tokens,
)
from research.text.stopwords import stopwords_for

MAX_OUTLINE = 8
MAX_PASSAGES = 6
MIN_PASSAGES = 3
PASSAGES_PER_PAGE = 2
MIN_PASSAGE_CHARS = 40
MAX_PASSAGE_CHARS = 400

_WORDING: dict[str, dict[str, str]] = {
    "en": {
        "intro": "{Main}: the basics and why they matter",
        "end": "Key takeaways and next steps",
        "summary": "A piece on {main}{rest}, drawing on {pages} crawled pages from {sites}.",
        "further": "What your pages already say about {main}",
    },
    "de": {
        "intro": "{Main}: die Grundlagen und warum sie wichtig sind",
        "end": "Das Wichtigste in Kürze",
        "summary": "Ein Beitrag über {main}{rest}, gestützt auf {pages} Seiten von {sites}.",
        "further": "Was Ihre Seiten schon über {main} sagen",
    },
    "fr": {
        "intro": "{Main} : les bases et pourquoi elles comptent",
        "end": "À retenir",
        "summary": "Un article sur {main}{rest}, fondé sur {pages} pages de {sites}.",
        "further": "Ce que vos pages disent déjà sur {main}",
    },
    "es": {
        "intro": "{Main}: lo básico y por qué importa",
        "end": "Puntos clave",
        "summary": "Un artículo sobre {main}{rest}, basado en {pages} páginas de {sites}.",
        "further": "Lo que tus páginas ya dicen sobre {main}",
    },
}  # fmt: skip


@dataclass
class _Terms:
    """The topic's phrases and words, normalised for matching."""

    phrases: list[str]
    words: set[str]
    language: str
    brands: list[str]  # " name " keys of the sites' names, padded for word matching

    def phrase_hits(self, key: str) -> int:
        padded = f" {key} "
        return sum(1 for p in self.phrases if f" {p} " in padded)

    def word_hits(self, key: str) -> int:
        return sum(1 for w in set(key.split()) if w in self.words)


def _terms(topic: Topic, sites: Sequence[SitePhrases], language: str) -> _Terms:
    stops = stopwords_for(language)
    phrases = [phrase_key(k, language) for k in topic.keywords if k.strip()]
    words = {stem(w, language) for k in topic.keywords for w in tokens(k) if w not in stops}
    brands = sorted({f" {b} " for s in sites for b in s.brand if b})
    return _Terms([p for p in phrases if p], words, language, brands)


def write(topic: Topic, site: SitePhrases, competitors: Sequence[SitePhrases]) -> Brief:
    """Return a brief for the topic from the crawled pages of the site and its competitors."""
    language = site.language
    terms = _terms(topic, [*competitors, site], language)
    pages = _ranked_pages(terms, [*competitors, site], topic.evidence)
    outline_body = _outline(terms, pages)
    wording = _WORDING.get(language, _WORDING["en"])
    main = topic.keywords[0] if topic.keywords else topic.title
    # A follow-up to the site's own pages starts from what they say, not from the basics.
    further = topic.title == deeper_title(main, language)
    intro = wording["further" if further else "intro"].format(
        main=main, Main=main[:1].upper() + main[1:]
    )
    outline = [intro, *outline_body, wording["end"]]
    passages = _passages(terms, pages)
    sources: list[Source] = []
    for passage in passages:
        if all(s.url != passage.url for s in sources):
            sources.append(Source(url=passage.url, title=passage.title))
    cited = {source.url for source in sources}
    sites = sorted({s.domain for s in (*competitors, site) for p in s.pages if p.url in cited})
    summary = wording["summary"].format(
        main=main,
        rest=f" ({', '.join(topic.keywords[1:4])})" if topic.keywords[1:] else "",
        pages=len(sources),
        sites=", ".join(sites) or "the crawled sites",
    )
    return Brief(
        topic=topic.title, summary=summary, outline=outline, passages=passages, sources=sources
    )


def _ranked_pages(
    terms: _Terms, sites: Sequence[SitePhrases], evidence: Sequence[str]
) -> list[PageText]:
    """Pages most about the topic first (evidence pages get a head start)."""
    scored: list[tuple[float, str, PageText]] = []
    first = {url: i for i, url in enumerate(evidence)}
    for site in sites:
        for page in site.pages:
            score = 0.0
            for key in terms.phrases:
                stat = site.stats.get(key)
                if stat is not None:
                    score += stat.weights.get(page.url, 0.0)
            if page.url in first:
                score += 1.0 / (1 + first[page.url])
            if score > 0:
                scored.append((score, page.url, page))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [page for _, _, page in scored]


def _outline(terms: _Terms, pages: Sequence[PageText]) -> list[str]:
    """Headings about the topic from the best pages, without repeats."""
    outline: list[str] = []
    seen: set[str] = set()
    content = [p for p in pages if page_importance(p.url) == 1.0]
    minor = [p for p in pages if page_importance(p.url) < 1.0]
    for page in [*content[:10], *minor[:2]]:
        # A heading must name one of the topic's phrases, or share its words on a page whose
        # title does: other headings of the same cluster are about other subjects.
        loose = page_importance(page.url) == 1.0 and bool(
            terms.phrase_hits(phrase_key(page.title, terms.language))
        )
        for heading in page.headings:
            text = " ".join(heading.split())
            key = phrase_key(text, terms.language)
            if not key or key in seen or text.endswith("?") or len(text) > 90:
                continue
            if any(name in f" {key} " for name in terms.brands):
                continue
            if is_settings_step(text) or is_procedure_step(text):
                continue
            if terms.phrase_hits(key) or (loose and terms.word_hits(key)):
                seen.add(key)
                outline.append(text)
        if len(outline) >= MAX_OUTLINE:
            break
    return outline[:MAX_OUTLINE]


def _passages(terms: _Terms, pages: Sequence[PageText]) -> list[Passage]:
    """The sentences that say the most about the topic, at most two per page, best first."""
    scored: list[tuple[float, int, str, str, str]] = []
    for rank, page in enumerate(pages[:20]):
        for line in page.lines:
            for sentence in sentences(line):
                if not MIN_PASSAGE_CHARS <= len(sentence) <= MAX_PASSAGE_CHARS:
                    continue
                if sentence.endswith("?"):
                    continue
                key = phrase_key(sentence, terms.language)
                score = 2.0 * terms.phrase_hits(key) + 0.5 * terms.word_hits(key)
                if score <= 0:
                    continue
                score += 0.5 / (1 + rank)
                scored.append((score, rank, page.url, page.title, sentence))
    scored.sort(key=lambda item: (-item[0], item[1], item[2], item[4]))
    chosen: list[Passage] = []
    per_page: dict[str, int] = {}
    seen: set[str] = set()
    for _, _, url, title, sentence in scored:
        if per_page.get(url, 0) >= PASSAGES_PER_PAGE or sentence in seen:
            continue
        per_page[url] = per_page.get(url, 0) + 1
        seen.add(sentence)
        chosen.append(Passage(text=sentence, url=url, title=title, verified=True))
        if len(chosen) >= MAX_PASSAGES:
            break
    # Too few sentences name the topic: add the ones that do from pages already cited, then
    # the opening sentences of the pages most about it.
    fallback = [(url, title, sentence) for _, _, url, title, sentence in scored]
    fallback += [
        (page.url, page.title, sentence)
        for page in pages[:MAX_PASSAGES]
        for line in page.lines
        for sentence in sentences(line)
        if MIN_PASSAGE_CHARS <= len(sentence) <= MAX_PASSAGE_CHARS and not sentence.endswith("?")
    ]
    for url, title, sentence in fallback:
        if len(chosen) >= MIN_PASSAGES:
            break
        if sentence not in seen:
            seen.add(sentence)
            chosen.append(Passage(text=sentence, url=url, title=title, verified=True))
    return chosen


def render_markdown(brief: Brief) -> str:
    """Return the brief as Markdown with numbered citations."""
    lines = [f"# {brief.topic}", "", brief.summary, "", "## Outline"]
    lines += [f"{i}. {item}" for i, item in enumerate(brief.outline, 1)]
    if brief.questions:
        lines += ["", "## Questions to answer"]
        lines += [f"- {q}" for q in brief.questions]
    if brief.passages:
        lines += ["", "## Evidence"]
        index = {s.url: i for i, s in enumerate(brief.sources, 1)}
        lines += [f"> {p.text} [{index.get(p.url, '?')}]" for p in brief.passages]
        lines += ["", "## Sources"]
        lines += [f"{i}. {s.title or s.url} — {s.url}" for i, s in enumerate(brief.sources, 1)]
    return "\n".join(lines) + "\n"
