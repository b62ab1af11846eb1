"""Phrase statistics of a site: candidate phrases per page, boilerplate removed, variants merged."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from research.engines.language import detect_language
from research.engines.stopwords import stopwords_for
from research.models import Page

MAX_WORDS = 3
_TOKEN = re.compile(r"[^\W_](?:[\w'’]*[^\W_])?(?:-[^\W_]+)*")
# Phrases never cross punctuation, line breaks or brackets.
_BREAK = re.compile(r"[.,;:!?()\[\]{}\"“”„«»|/–—•·…\n\r\t]+|\s-\s")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+(?=[\"“„«¿¡(]?[^\W\d_])")
_TITLE_SPLIT = re.compile(r"\s+[|–—·-]\s+|\s+:\s+")
# Pages a line must repeat on (share of the site) before it counts as boilerplate.
BOILERPLATE_SHARE = 0.5
# Title, headings and body text do not weigh the same when a page is "about" a phrase.
TITLE_BONUS = 1.5
HEADING_BONUS = 1.0


@dataclass
class PhraseStat:
    """How one normalised phrase occurs across a site's pages."""

    key: str
    words: int
    forms: Counter[str] = field(default_factory=Counter)
    count: int = 0
    weights: dict[str, float] = field(default_factory=dict)
    headed: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        """The most common surface form (ties broken alphabetically)."""
        return min(self.forms.items(), key=lambda item: (-item[1], item[0]))[0]

    @property
    def pages(self) -> int:
        """How many pages carry the phrase."""
        return len(self.weights)

    @property
    def weight(self) -> float:
        """Sum of the phrase's per-page weights."""
        return sum(self.weights.values())

    def covered(self) -> bool:
        """Whether the site treats the phrase as a subject, not a passing mention."""
        return self.pages >= 2 or self.count >= 3 or bool(self.headed)


@dataclass
class PageText:
    """A page's content after boilerplate removal."""

    url: str
    title: str
    headings: list[str]
    lines: list[str]


@dataclass
class SitePhrases:
    """All phrase statistics of one site."""

    domain: str
    language: str
    pages: list[PageText]
    stats: dict[str, PhraseStat]
    ranked: list[PhraseStat]

    def score(self, key: str) -> float:
        """Return the phrase's site score (0 when absent from the ranking)."""
        stat = self.stats.get(key)
        return phrase_score(stat) if stat else 0.0


def tokens(text: str) -> list[str]:
    """Return the lower-cased word tokens of a text."""
    return [t.lower().replace("’", "'") for t in _TOKEN.findall(text)]


def stem(word: str, language: str) -> str:
    """Return a light stem so that singular and plural forms meet."""
    if language == "de":
        if len(word) > 5:
            for suffix in ("ern", "en", "er", "es", "e", "n", "s"):
                if word.endswith(suffix) and len(word) - len(suffix) >= 4:
                    return word[: -len(suffix)]
        return word
    if language in ("fr", "es", "it", "pt"):
        if len(word) > 4 and word.endswith(("s", "x")):
            word = word[:-1]
            if (
                language == "es"
                and word.endswith("e")
                and len(word) > 4
                and word[-2] not in "aeiou"
            ):
                word = word[:-1]
        return word
    if len(word) > 4:
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith(("sses", "ches", "shes", "xes")):
            return word[:-2]
        if word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")):
            return word[:-1]
    if word.endswith("'s"):
        return word[:-2]
    return word


def phrase_key(text: str, language: str) -> str:
    """Return the normalised key of a phrase (lower-case, stemmed words)."""
    return " ".join(stem(t, language) for t in tokens(text))


def candidates(text: str, language: str) -> Iterator[tuple[str, str, int]]:
    """Yield (key, surface form, word count) for every candidate phrase in a text."""
    stops = stopwords_for(language)
    for chunk in _BREAK.split(text):
        words = tokens(chunk)
        n = len(words)
        if n == 0:
            continue
        good = [_content_word(w, stops) for w in words]
        stems = [stem(w, language) for w in words]
        for i in range(n):
            if not good[i]:
                continue
            if language == "de" and len(words[i]) >= 10:
                # German packs a topic into one compound noun ("Sauerteigbrot").
                yield stems[i], words[i], 1
            inner_stops = 0
            for j in range(i + 1, min(n, i + MAX_WORDS + 1)):
                if not good[j]:
                    if (words[j] in stops and words[j] not in _CONJUNCTIONS) or (
                        words[j] in _CONNECTORS
                    ):
                        inner_stops += 1
                        if inner_stops > 1:
                            break
                        continue
                    break
                if j - i + 1 - inner_stops > MAX_WORDS:
                    break
                yield " ".join(stems[i : j + 1]), " ".join(words[i : j + 1]), j - i + 1


_CONNECTORS = frozenset({"vs", "versus", "v"})
# "and"/"or" join two subjects; a phrase spanning them is not one subject.
_CONJUNCTIONS = frozenset(
    {"and", "or", "nor", "but", "und", "oder", "aber", "et", "ou", "mais", "y", "o", "pero", "e"}
)


def _content_word(word: str, stops: frozenset[str]) -> bool:
    return (
        len(word) > 1
        and word not in _CONNECTORS
        and word not in stops
        and not any(c.isdigit() for c in word)
    )


def sentences(text: str) -> list[str]:
    """Split text into sentences (line breaks always end one)."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            out.extend(s.strip() for s in _SENTENCE.split(line) if s.strip())
    return out


def _norm_line(line: str) -> str:
    return " ".join(line.lower().split())


def strip_boilerplate(pages: Sequence[Page]) -> list[PageText]:
    """Return page content without lines, headings and title parts repeated on most pages."""
    n = len(pages)
    threshold = max(2, math.ceil(n * BOILERPLATE_SHARE)) if n >= 3 else n + 1
    line_pages: Counter[str] = Counter()
    title_parts: Counter[str] = Counter()
    for page in pages:
        seen = {_norm_line(x) for x in page.text.splitlines() if x.strip()}
        seen |= {_norm_line(h) for h in page.headings if h.strip()}
        line_pages.update(seen)
        title_parts.update({_norm_line(p) for p in _TITLE_SPLIT.split(page.title) if p.strip()})
    repeated = {line for line, count in line_pages.items() if count >= threshold}
    # A title part shared by several pages is the site's name ("Guide | Acme").
    title_threshold = max(2, math.ceil(n * 0.3)) if n >= 3 else n + 1
    brand = {part for part, count in title_parts.items() if count >= title_threshold}
    out: list[PageText] = []
    for page in pages:
        parts = [p for p in _TITLE_SPLIT.split(page.title) if p.strip()]
        kept = [p for p in parts if _norm_line(p) not in brand]
        title = " – ".join(kept) if kept else page.title
        headings = [h for h in page.headings if h.strip() and _norm_line(h) not in repeated]
        lines = [x.strip() for x in page.text.splitlines() if x.strip()]
        lines = [x for x in lines if _norm_line(x) not in repeated]
        out.append(PageText(page.url, title.strip(), headings, lines))
    return out


def site_language(pages: Sequence[Page]) -> str:
    """Return the language most of the pages are written in ('en' when unknown)."""
    votes: Counter[str] = Counter()
    for page in pages:
        code = page.language or detect_language(page.title + "\n" + page.text[:5000])
        if code:
            votes[code.split("-")[0].lower()] += 1
    if not votes:
        return "en"
    return min(votes.items(), key=lambda item: (-item[1], item[0]))[0]


def page_weight(count: int, in_title: bool, in_heading: bool) -> float:
    """How strongly one page is about a phrase: log-damped mentions plus title/heading bonus."""
    base = 1.0 + math.log(count) if count > 0 else 0.5
    return base + (TITLE_BONUS if in_title else 0.0) + (HEADING_BONUS if in_heading else 0.0)


def phrase_score(stat: PhraseStat) -> float:
    """A phrase's site score: summed page weights, favouring multi-word phrases."""
    length = {1: 0.8, 2: 1.0}.get(stat.words, 1.1)
    return stat.weight * length


def collect(domain: str, pages: Sequence[Page], language: str | None = None) -> SitePhrases:
    """Return the phrase statistics of a site's pages."""
    lang = language or site_language(pages)
    texts = strip_boilerplate(pages)
    stats: dict[str, PhraseStat] = {}
    for page in texts:
        body: Counter[str] = Counter()
        forms: Counter[tuple[str, str]] = Counter()
        words: dict[str, int] = {}
        for line in page.lines:
            for key, form, size in candidates(line, lang):
                body[key] += 1
                forms[(key, form)] += 1
                words[key] = size
        titled: set[str] = set()
        for key, form, size in candidates(page.title, lang):
            titled.add(key)
            forms[(key, form)] += 1
            words[key] = size
        headed: set[str] = set()
        for heading in page.headings:
            for key, form, size in candidates(heading, lang):
                headed.add(key)
                forms[(key, form)] += 1
                words[key] = size
        for key in sorted(set(body) | titled | headed):
            stat = stats.get(key)
            if stat is None:
                stat = stats[key] = PhraseStat(key, words[key])
            stat.count += body[key]
            stat.weights[page.url] = page_weight(body[key], key in titled, key in headed)
            if key in titled or key in headed:
                stat.headed.add(page.url)
        for (key, form), count in forms.items():
            stats[key].forms[form] += count
    ranked = _rank(stats)
    return SitePhrases(domain, lang, texts, stats, ranked)


def _rank(stats: dict[str, PhraseStat]) -> list[PhraseStat]:
    """Phrases worth listing, best first, without phrases that only live inside a longer one."""
    kept = [s for s in stats.values() if s.covered() and (s.words > 1 or s.count >= 2)]
    by_key = {s.key: s for s in kept}
    drop: set[str] = set()
    for stat in kept:
        if stat.words < 2:
            continue
        parts = stat.key.split()
        for size in range(1, len(parts)):
            for start in range(len(parts) - size + 1):
                inner = by_key.get(" ".join(parts[start : start + size]))
                if inner is None or inner.key in drop:
                    continue
                if stat.count >= 0.7 * inner.count and stat.pages >= 0.7 * inner.pages:
                    drop.add(inner.key)  # "new york" only ever appears as "new york city"
    ranked = [s for s in kept if s.key not in drop]
    ranked.sort(key=lambda s: (-phrase_score(s), s.key))
    return ranked
