"""Phrase statistics of a site: candidate phrases per page, boilerplate removed, variants merged."""

from __future__ import annotations

import functools
import hashlib
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfTransformer

from research.models import Page
from research.processes import shared_result
from research.text.brands import brand_names, domain_label, names_brand
from research.text.language import detect_language
from research.text.stopwords import (
    PLUMBING_ACRONYMS,
    edge_verbs,
    head_nouns,
    inner_words,
    page_kinds,
    stopwords_for,
)
from research.text.support import is_support_page

K = TypeVar("K")
MAX_WORDS = 3
# Shorter single words are never a subject on their own (acronyms aside).
MIN_WORD_CHARS = 4
# Languages whose one-word subjects we only take when they look like names: English builds
# subjects from several words ("burr grinder"), German capitalises its compound nouns. Other
# languages also get plain single words that head a section ("banneton", "cocotte").
_NAMED_WORDS_ONLY = ("en", "de")
# A plain word used this often inside longer kept phrases is only part of them.
FRAGMENT_SHARE = 0.5
# German nouns are capitalised: one this long is usually a subject ("Sauerteig", "Poolish").
GERMAN_NOUN_CHARS = 6
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


@dataclass(slots=True)
class PhraseStat:
    """How one normalised phrase occurs across a site's pages.

    Kept lean (slots, few containers): a big site has tens of thousands of these, and every
    container is one more object for the garbage collector to walk while the loop waits.
    """

    key: str
    words: int
    count: int = 0
    weights: dict[str, float] = field(default_factory=dict)  # page URL -> weight there
    headed: int = 0  # pages whose title or headings carry it
    titled: int = 0  # pages whose title carries it: pages about it
    inside: int = 0  # uses not at the start of a sentence or heading
    named: bool = False  # a one-word name: acronym (SPF), brand-like (AeroPress), German noun
    label: str = ""  # the most used spelling
    label_uses: float = 0.0

    def confirmed(self) -> bool:
        """Whether a one-word phrase was seen mid-sentence, so its capital is its own."""
        return self.words > 1 or self.inside > 0

    def listed(self) -> bool:
        """Whether the phrase may appear in keyword lists: multi-word, or a one-word name."""
        return self.words > 1 or self.named

    def subject_word(self) -> bool:
        """Whether a plain single word is a subject here: it heads a section and recurs."""
        return self.words == 1 and bool(self.headed) and self.count >= 3

    @property
    def pages(self) -> int:
        """How many pages carry the phrase."""
        return len(self.weights)

    @property
    def weight(self) -> float:
        """Sum of the phrase's per-page weights."""
        return sum(self.weights.values())

    def covered(self) -> bool:
        """Whether the site treats the phrase as a subject, not a passing mention.

        A phrase only ever seen in one title or heading is not: titles are full of fragments.
        """
        return self.pages >= 2 or self.count >= 3 or (bool(self.headed) and self.count >= 1)


@dataclass
class PageText:
    """A page's content after boilerplate removal."""

    url: str
    title: str
    headings: list[str]
    lines: list[str]
    words: frozenset[str] = frozenset()  # stemmed words of the text
    head_words: frozenset[str] = frozenset()  # stemmed words of the title and headings


@dataclass
class PageKeys:
    """A page's title, headings and body lines as padded phrase keys, for phrase lookups."""

    url: str
    domain: str
    text: PageText
    title: str
    headings: list[str]
    lines: list[str]
    heads: str = ""  # title and headings joined by line breaks, which no phrase crosses
    body: str = ""  # the lines joined the same way
    content: bool = True  # not a front, company or legal page

    def __post_init__(self) -> None:
        self.heads = "\n".join([self.title, *self.headings])
        self.body = "\n".join(self.lines)
        self.content = page_importance(self.url) == 1.0

    def headed(self, key: str) -> bool:
        """Whether the title or a heading names the phrase."""
        return f" {key} " in self.heads

    def count(self, key: str) -> int:
        """How often the body text names the phrase."""
        return self.body.count(f" {key} ")

    def has(self, key: str) -> bool:
        """Whether the page names the phrase anywhere."""
        return self.headed(key) or self.count(key) > 0


@dataclass
class SitePhrases:
    """All phrase statistics of one site."""

    domain: str
    language: str
    pages: list[PageText]
    stats: dict[str, PhraseStat]  # the phrases the site covers
    mentioned: dict[str, int]  # phrases it only mentions in passing -> pages carrying them
    ranked: list[PhraseStat]
    vocabulary: Counter[str]  # stemmed word -> pages using it
    centrality: dict[str, float]  # ranked phrase -> its best TF-IDF weight on one page (0..1)
    page_keyphrases: dict[str, list[str]]  # page URL -> its most central phrases
    brand: list[str]  # keys of the site's name(s), from title parts most pages share
    keyed: list[PageKeys]  # the pages' text as padded plan keys, for phrase lookups
    # support, account, billing and legal pages as plan keys: no subjects, but a page a topic
    # may still repeat (a help page on single sign-on)
    aside: list[PageKeys] = field(default_factory=list)

    def pages_with(self, key: str) -> int:
        """How many pages carry the phrase, covered or only mentioned."""
        stat = self.stats.get(key)
        return stat.pages if stat is not None else self.mentioned.get(key, 0)


def tokens(text: str) -> list[str]:
    """Return the lower-cased word tokens of a text."""
    return [t.lower().replace("’", "'") for t in _TOKEN.findall(text)]


def token_spans(text: str) -> list[tuple[int, int, str]]:
    """Return (start, end, lower-cased token) for every word token of a text."""
    return [
        (m.start(), m.end(), m.group().lower().replace("’", "'")) for m in _TOKEN.finditer(text)
    ]


@functools.lru_cache(maxsize=1 << 16)
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
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "ches", "shes", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")):
        return word[:-1]
    if word.endswith("'s"):
        return word[:-2]
    return word


def phrase_key(text: str, language: str) -> str:
    """Return the normalised key of a phrase (lower-case, stemmed words)."""
    return " ".join(stem(t, language) for t in tokens(text))


def plan_key(text: str, language: str) -> str:
    """The phrase key of a text with hyphens as spaces ("single-sign on" is "single sign-on")."""
    return phrase_key(text.replace("-", " "), language)


def padded_key(text: str, language: str) -> str:
    """The plan key of a text between spaces, so a key is found only as whole words."""
    return f" {plan_key(text, language)} "


def page_keys_of(domain: str, page: PageText, language: str) -> PageKeys:
    """Return a page's title, headings and lines as padded plan keys."""
    return PageKeys(
        url=page.url,
        domain=domain,
        text=page,
        title=padded_key(page.title, language),
        headings=[padded_key(h, language) for h in page.headings],
        lines=[padded_key(line, language) for line in page.lines],
    )


def candidates(
    text: str, language: str, subjects: frozenset[str] = frozenset()
) -> Iterator[tuple[str, str, int, bool]]:
    """Yield (key, surface form, word count, at chunk start) for every candidate phrase.

    `subjects` are stems of plain single words that are a page's whole title ("Shortcodes"):
    candidates even where one-word subjects must otherwise look like names.
    """
    stops = stopwords_for(language)
    inner = inner_words(language)
    verbs = edge_verbs(language)
    heads = head_nouns(language)
    german = language == "de"
    plain_words = language not in _NAMED_WORDS_ONLY
    for chunk in _BREAK.split(text):
        cased = [t.replace("’", "'") for t in _TOKEN.findall(chunk)]
        n = len(cased)
        if n == 0:
            continue
        words = [t.lower() for t in cased]
        good = [_content_word(w, stops) for w in words]
        stems = [stem(w, language) for w in words]
        # A phrase right before a stop-listed noun only modifies it ("total brew" time).
        cut = [j + 1 < n and words[j + 1] in heads for j in range(n)]
        for i in range(n):
            if not good[i] or words[i] in verbs:
                continue
            if not cut[i] and (
                _single_word_topic(cased[i], german)
                or (plain_words and len(words[i]) >= MIN_WORD_CHARS)
                or stems[i] in subjects
            ):
                yield stems[i], cased[i], 1, i == 0
            content = 1
            for j in range(i + 1, n):
                if not good[j]:
                    if words[j] in inner and j + 1 < n:
                        continue
                    break
                content += 1
                # "cold brew vs iced coffee" may have a word more than other phrases
                if content > MAX_WORDS + (1 if _VERSUS & set(words[i:j]) else 0):
                    break
                if j - i + 1 - content > 1:
                    break  # at most one function word inside
                if german and not cased[j][:1].isupper():
                    continue  # a German phrase ends on a noun
                if words[j] in verbs or cut[j]:
                    continue
                yield " ".join(stems[i : j + 1]), " ".join(cased[i : j + 1]), j - i + 1, i == 0


_VERSUS = frozenset({"vs", "versus"})


def _single_word_topic(token: str, german: bool) -> bool:
    """Acronyms (SPF), brand-like words (AeroPress) and German compounds stand alone."""
    if len(token) >= 3 and token.isupper() and token.isalpha():
        return True
    if any(c.isupper() for c in token[1:]) and token[:1].isupper() and token.isalpha():
        return True
    return german and len(token) >= GERMAN_NOUN_CHARS and token[:1].isupper()


def _content_word(word: str, stops: frozenset[str]) -> bool:
    return (
        len(word) > 1
        and word not in stops
        and word not in ("vs", "versus")
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


# Pages that say little about what a site writes on: front page taglines, legal and company pages.
_MINOR_PAGES = re.compile(
    r"/(about|about-us|ueber-uns|uber-uns|a-propos|sobre-nosotros|contact|kontakt|impressum|"
    r"imprint|datenschutz|privacy|terms|legal|careers|jobs|pricing|preise|team|press)/?$"
)
MINOR_PAGE_WEIGHT = 0.5


def page_importance(url: str) -> float:
    """How much a page's phrases count: less for the front page and company/legal pages."""
    path = urlsplit(url).path
    return MINOR_PAGE_WEIGHT if path in ("", "/") or _MINOR_PAGES.search(path.lower()) else 1.0


def strip_boilerplate(pages: Sequence[Page]) -> tuple[list[PageText], list[str]]:
    """Return page content without lines, headings and title parts repeated on most pages.

    Also returns the title parts shared by many pages: the site's name.
    """
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
    brand = sorted(part for part, count in title_parts.items() if count >= title_threshold)
    out: list[PageText] = []
    for page in pages:
        parts = [p for p in _TITLE_SPLIT.split(page.title) if p.strip()]
        kept = [p for p in parts if _norm_line(p) not in brand]
        title = " – ".join(kept) if kept else page.title
        headings = [h for h in page.headings if h.strip() and _norm_line(h) not in repeated]
        lines = [x.strip() for x in page.text.splitlines() if x.strip()]
        lines = [x for x in lines if _norm_line(x) not in repeated]
        out.append(PageText(page.url, title.strip(), headings, lines))
    return out, brand


def site_language(pages: Sequence[Page]) -> str:
    """Return the language the site is written in ('en' when unknown).

    The words of the site decide first (a template's lang attribute is often left at "en");
    the pages' declared or guessed languages decide when the words are not enough.
    """
    sample = "\n".join(f"{p.title}\n{p.text[:2000]}" for p in pages[:SAMPLE_PAGES])
    found = detect_language(sample)
    if found:
        return found
    votes = Counter(p.language.split("-")[0].lower() for p in pages if p.language)
    if not votes:
        return "en"
    return min(votes.items(), key=lambda item: (-item[1], item[0]))[0]


SAMPLE_PAGES = 20


def add_use(counts: dict[K, float], key: K, amount: float) -> None:
    """Add `amount` to `counts[key]`."""
    counts[key] = counts.get(key, 0.0) + amount


def page_weight(count: int, in_title: bool, in_heading: bool) -> float:
    """How strongly one page is about a phrase: log-damped mentions plus title/heading bonus."""
    base = 1.0 + math.log(count) if count > 0 else 0.5
    return base + (TITLE_BONUS if in_title else 0.0) + (HEADING_BONUS if in_heading else 0.0)


def phrase_score(stat: PhraseStat) -> float:
    """A phrase's site score: summed page weights, favouring multi-word phrases.

    One word counts 0.8, scaled down further when short (a German "Wasser" says less than
    "Anstellgut"); two words 1.0; three or more 1.1.
    """
    if stat.words == 1:
        return stat.weight * 0.8 * min(1.0, len(stat.key) / 10)
    return stat.weight * (1.0 if stat.words == 2 else 1.1)


_CACHE_SIZE = 8  # a few runs at once, three or four sites each
_cache: OrderedDict[str, SitePhrases] = OrderedDict()
_cache_lock = threading.Lock()


def site_phrases(domain: str, pages: Sequence[Page]) -> SitePhrases:
    """Return the phrase statistics of a site's pages, reusing them for the same pages.

    Reused within a process, and across the workers of a pool: the engine's later steps of a
    run find the statistics its site analysis computed, whichever worker they run in.
    """
    key = _pages_digest(domain, pages)
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    stats = shared_result(f"phrases-{key}", functools.partial(collect, domain, pages))
    with _cache_lock:
        _cache[key] = stats
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return stats


def _pages_digest(domain: str, pages: Sequence[Page]) -> str:
    """A digest of what the statistics of a site's pages are computed from."""
    digest = hashlib.blake2b(domain.encode(), digest_size=16)
    for page in pages:
        parts = (page.url, page.title, page.site_name, page.language, page.text, *page.headings)
        digest.update(b"\x01%d" % len(parts))
        for part in parts:
            digest.update(b"\x00" + (part or "").encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _subject_pages(
    domain: str, pages: Sequence[Page], language: str
) -> tuple[list[PageText], list[PageText], list[str]]:
    """The pages without boilerplate, then apart: support, account, billing and legal pages
    and pages setting the site against another product (no subject the site writes about);
    and the keys of the site's brand names."""
    texts, title_names = strip_boilerplate(pages)
    names = {phrase_key(n, language) for n in brand_names(domain, pages, title_names, language)}
    brands = sorted(names - {""})
    kept: list[PageText] = []
    aside: list[PageText] = []
    for text, page in zip(texts, pages, strict=True):
        support = is_support_page(page.url, page.title, page.headings)
        (aside if support or _compares_brand(text.title, brands, language) else kept).append(text)
    return kept, aside, brands


def _compares_brand(title: str, brands: Sequence[str], language: str) -> bool:
    """Whether a title sets the site's brand against another ("Acme vs Rival"): a sales page."""
    match = re.match(r"^(.+?)\s+(?:vs\.?|versus)\s+(.+)$", title, re.IGNORECASE)
    if match is None:
        return False
    sides = (phrase_key(match.group(1), language), phrase_key(match.group(2), language))
    return any(names_brand(side, brands) for side in sides)


@dataclass
class _PageCounts:
    """One page's phrase uses: in the body, mid-sentence, their sizes, in title and headings."""

    body: Counter[str]
    inside: Counter[str]
    words: dict[str, int]
    titled: set[str]
    headed: set[str]


def _add_page(stats: dict[str, PhraseStat], url: str, counts: _PageCounts) -> None:
    """Add one page's phrase uses to the site's statistics."""
    importance = page_importance(url)
    for key in sorted(set(counts.body) | counts.titled | counts.headed):
        stat = stats.get(key)
        if stat is None:
            stat = stats[key] = PhraseStat(key, counts.words[key])
        stat.count += counts.body[key]
        stat.inside += counts.inside[key]
        in_title, in_heading = key in counts.titled, key in counts.headed
        weight = page_weight(counts.body[key], in_title, in_heading)
        stat.weights[url] = round(weight * importance, 6)
        stat.headed += in_title or in_heading
        stat.titled += in_title


def collect(domain: str, pages: Sequence[Page], language: str | None = None) -> SitePhrases:
    """Return the phrase statistics of a site's pages."""
    lang = language or site_language(pages)
    texts, aside, names = _subject_pages(domain, pages, lang)
    stats: dict[str, PhraseStat] = {}
    spellings: dict[str, dict[str, float]] = {}
    vocabulary: Counter[str] = Counter()
    titles = title_words(texts, lang)
    subjects = frozenset(titles)
    for page in texts:
        body: Counter[str] = Counter()
        forms: dict[tuple[str, str], float] = {}
        words: dict[str, int] = {}
        inside: Counter[str] = Counter()
        structure = {_norm_line(page.title), *(_norm_line(h) for h in page.headings)}
        own_words: set[str] = set()
        for line in page.lines:
            own_words.update(stem(t, lang) for t in tokens(line))
            if _norm_line(line) in structure:
                continue  # extractors repeat headings in the text; count them once, as headings
            for key, form, size, first in candidates(line, lang, subjects):
                body[key] += 1
                inside[key] += not first
                if first:
                    add_use(forms, (key, _plain_case(form, lang)), _STRUCTURE_FORM)
                else:
                    add_use(forms, (key, form), 1.0)
                words[key] = size
        titled, headed = _structure_phrases(page, lang, subjects, forms, words, inside)
        _add_page(stats, page.url, _PageCounts(body, inside, words, titled, headed))
        for (key, form), count in forms.items():
            add_use(spellings.setdefault(key, {}), form, count)
        vocabulary.update(own_words)
        page.words = frozenset(own_words)
        page.head_words = frozenset(
            stem(t, lang) for text in (page.title, *page.headings) for t in tokens(text)
        )
    _label(stats, spellings, titles, lang)
    ranked = _rank(stats, names, domain_label(domain), subjects, lang)
    centrality, per_page = _centrality(ranked)
    covered = {key: stat for key, stat in stats.items() if stat.covered()}
    mentioned = {key: stat.pages for key, stat in stats.items() if key not in covered}
    # Computed here, with the statistics, so that every later step finds them made.
    keyed = [page_keys_of(domain, page, lang) for page in texts]
    return SitePhrases(
        domain,
        lang,
        texts,
        covered,
        mentioned,
        ranked,
        vocabulary,
        centrality,
        per_page,
        names,
        keyed,
        [page_keys_of(domain, page, lang) for page in aside],
    )


def _structure_phrases(
    page: PageText,
    lang: str,
    subjects: frozenset[str],
    forms: dict[tuple[str, str], float],
    words: dict[str, int],
    inside: Counter[str],
) -> tuple[set[str], set[str]]:
    """Count the phrases of a page's title and headings; return (in the title, in headings)."""
    titled: set[str] = set()
    headed: set[str] = set()
    for found, texts in ((titled, [page.title]), (headed, page.headings)):
        for text in texts:
            for key, form, size, first in candidates(text, lang, subjects):
                found.add(key)
                inside[key] += not first
                add_use(forms, (key, _plain_case(form, lang)), _STRUCTURE_FORM)
                words[key] = size
    return titled, headed


def _label(
    stats: dict[str, PhraseStat],
    spellings: dict[str, dict[str, float]],
    titles: dict[str, str],
    lang: str,
) -> None:
    """Give each phrase its most used spelling as its label, and mark named single words."""
    german = lang == "de"
    for key, stat in stats.items():
        spelled = spellings[key]
        stat.label, stat.label_uses = min(spelled.items(), key=lambda item: (-item[1], item[0]))
        if lang == "en" and stat.label.islower() and titles.get(key, "").endswith("s"):
            stat.label = titles[key]  # the plural a page about it is titled with: "shortcodes"
        if stat.words == 1:
            stat.named = any(_single_word_topic(form, german) for form in spelled)


def title_words(pages: Sequence[PageText], language: str) -> dict[str, str]:
    """The single words that are a page's whole title (pages about one subject), by stem."""
    stops = stopwords_for(language)
    found: dict[str, str] = {}
    for page in pages:
        words = tokens(page.title)
        if len(words) == 1 and len(words[0]) >= MIN_WORD_CHARS and words[0] not in stops:
            key = stem(words[0], language)
            if not names_page_kind_only(key, language):
                found[key] = words[0]
    return found


@functools.cache
def _page_kind_keys(language: str, alone: bool) -> tuple[str, ...]:
    """The phrase keys of the kinds of documentation page, longest first."""
    keys = {phrase_key(kind, language) for kind in page_kinds(language, alone)}
    return tuple(sorted(keys, key=lambda k: (-len(k), k)))


def _without_page_kinds(key: str, language: str, alone: bool) -> str:
    """The phrase key without the words naming kinds of documentation page."""
    rest = f" {key} "
    for kind in _page_kind_keys(language, alone):
        rest = rest.replace(f" {kind} ", "  ")
    return " ".join(rest.split())


def names_page_kind_only(key: str, language: str) -> bool:
    """Whether a phrase key only names kinds of documentation page ("overview", "FAQ")."""
    return not _without_page_kinds(key, language, alone=True)


def _labels_a_page(stat: PhraseStat, stats: dict[str, PhraseStat], language: str) -> bool:
    """Whether a phrase only labels a documentation page: its kinds alone ("Glossary"), a
    kind and one plain word ("metrics definitions"), not a name ("API overview"), or names
    the plumbing every technical page uses ("UID")."""
    if names_page_kind_only(stat.key, language) or stat.key in PLUMBING_ACRONYMS:
        return True
    rest = _without_page_kinds(stat.key, language, alone=False)
    if rest == stat.key or " " in rest:
        return False
    word = stats.get(rest)
    return word is None or not word.named


PAGE_KEYPHRASES = 5


def _centrality(ranked: Sequence[PhraseStat]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """How central each phrase is where it is most central, and each page's central phrases.

    Rows are pages, columns phrases, cells the page weights (mentions plus title and heading
    bonus); scikit-learn's TfidfTransformer (sublinear tf, smooth idf, L2 rows) turns them into
    each phrase's share of a page, discounted for phrases spread over every page. A phrase's
    centrality is its best share on any page; a page's keyphrases are its largest shares.
    """
    if not ranked:
        return {}, {}
    rows: dict[str, int] = {}
    data, row_ids, col_ids = [], [], []
    for col, stat in enumerate(ranked):
        for url, weight in stat.weights.items():
            data.append(weight)
            row_ids.append(rows.setdefault(url, len(rows)))
            col_ids.append(col)
    matrix = csr_matrix((data, (row_ids, col_ids)), shape=(len(rows), len(ranked)))
    tfidf = TfidfTransformer(sublinear_tf=True).fit_transform(matrix)
    best = tfidf.max(axis=0).toarray().ravel()
    centrality = {stat.key: round(float(best[col]), 6) for col, stat in enumerate(ranked)}
    per_page: dict[str, list[str]] = {}
    for url, row in rows.items():
        line = tfidf.getrow(row)
        order = sorted(zip(line.indices, line.data, strict=True), key=lambda c: (-c[1], c[0]))
        per_page[url] = [ranked[col].label for col, _ in order[:PAGE_KEYPHRASES]]
    return centrality, per_page


# Title, headings and sentence starts capitalise words, so their spelling counts for little.
_STRUCTURE_FORM = 0.01


def _plain_case(form: str, language: str) -> str:
    """Undo title and sentence capitals ("Keyword Research" -> "keyword research").

    Acronyms and brand-like words keep theirs, and so does German, which capitalises nouns.
    """
    if language == "de":
        return form
    return " ".join(w.lower() if w[1:].islower() or len(w) == 1 else w for w in form.split())


def _rank(
    stats: dict[str, PhraseStat],
    names: Sequence[str],
    label: str,
    subjects: frozenset[str],
    language: str,
) -> list[PhraseStat]:
    """Phrases worth listing, best first, without brand names, kinds of documentation page
    ("Glossary") or phrases living in longer ones.

    A plain word mostly used inside longer phrases is a fragment of them, unless it is a
    page's whole title (`subjects`).
    """
    kept = [
        s
        for s in stats.values()
        if s.covered()
        and s.confirmed()
        and (s.listed() or s.subject_word())
        and not names_brand(s.key, names)
        and not _labels_a_page(s, stats, language)
        and not (label and len(s.key) > 3 and s.key.replace(" ", "") in label)
    ]
    by_key = {s.key: s for s in kept}
    # A plain word mostly used inside kept phrases ("grinder" in "burr grinder") is a fragment.
    in_phrases: Counter[str] = Counter()
    for stat in kept:
        if stat.words > 1:
            for word in set(stat.key.split()):
                in_phrases[word] += stat.count
    drop = {
        s.key
        for s in kept
        if s.words == 1
        and not s.named
        and s.key not in subjects
        and in_phrases[s.key] >= FRAGMENT_SHARE * s.count
    }
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
