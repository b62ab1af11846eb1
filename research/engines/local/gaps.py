"""Keywords and content gaps: what competitors write about that the site does not."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from research.models import ContentGap, Keyword, KeywordResearch
from research.text.brands import names_brand
from research.text.phrases import (
    PhraseStat,
    SitePhrases,
    page_importance,
    phrase_score,
)
from research.text.stopwords import stopwords_for
from research.text.support import names_support_subject

MAX_KEYWORDS = 40
MAX_GAPS = 40
MAX_EVIDENCE = 8
# How much a gap still counts when the site mentions it once in passing.
PASSING_MENTION = 0.5
# How much a gap counts when no competitor gives it a title or heading (only running text).
UNHEADED = 0.7
# How much more a gap counts on a competitor page whose title carries it: a page about it.
TITLED = 2.0
# How much a gap counts when every word of it is one the site uses on many pages and no
# competitor titles a page with it: the site's own vocabulary recombined ("multiple indexes").
FAMILIAR_ONLY = 0.5


@dataclass
class Gap:
    """A gap with the numbers behind its score."""

    key: str
    label: str
    score: float
    weakness: float
    competitors: list[str]
    pages: int
    evidence: list[str]
    words: int
    count: int
    headed: bool

    @property
    def solid(self) -> bool:
        """Whether the phrase recurs (more than one mention), so it can name a topic."""
        return self.count >= 2 or self.pages >= 2

    def model(self) -> ContentGap:
        """Return the gap as the shared model."""
        return ContentGap(
            keyword=self.label,
            score=round(self.score, 3),
            competitors=self.competitors,
            competitor_pages=self.pages,
            evidence=self.evidence,
        )


class Weakness:
    """How absent phrases are from one site: 1 never mentioned, 0.5 in passing, 0 covered.

    A page whose headings name one of the phrase's words and whose text has all of them
    touches the subject in other words ("espresso shot" on a page titled "Espresso basics"):
    that counts as in passing too.
    """

    def __init__(self, site: SitePhrases) -> None:
        self.site = site
        self.stops = stopwords_for(site.language)
        self.pages_with: dict[str, set[int]] = {}
        for index, page in enumerate(site.pages):
            for word in page.words:
                self.pages_with.setdefault(word, set()).add(index)

    def of(self, key: str) -> float:
        """Return the site's weakness on the phrase with this key."""
        if key in self.site.stats:
            return 0.0
        if key in self.site.mentioned:
            return PASSING_MENTION
        words = key.split()
        carrying = set.intersection(*(self.pages_with.get(w, set()) for w in words))
        named = {w for w in words if w not in self.stops}
        if any(named & self.site.pages[i].head_words for i in carrying):
            return PASSING_MENTION
        return 1.0


def find_gaps(site: SitePhrases, competitors: Sequence[SitePhrases]) -> list[Gap]:
    """Return gaps best first.

    score = weakness x headed x familiar x sum over covering competitors c of
            (0.5 + 0.5 x centrality_c) x (1 + ln pages_c) x titled_c

    headed is 1 when a competitor names the phrase in a title or heading, else 0.7 (a phrase
    only met in running text is less often a subject of its own: "hojas secas"); familiar is
    0.5 when no competitor's page title carries the phrase and each of its words is on at
    least 30% of the site's pages (its everyday words recombined: "default values"), else 1;
    weakness is 1 when the site never uses the phrase and 0.5 when it mentions it once in
    passing (see Weakness); centrality_c is the phrase's TF-IDF weight on the competitor page it
    is most central to (0..1, see phrases._centrality); pages_c is how many of c's pages carry
    it; titled_c is 2 when one of c's page titles carries it (a page about it), else 1. Not gaps: phrases the site covers, or covers inside a longer phrase, or extends with
    its everyday words, or (German) covers in its own compounds ("Weizen" in "Weizenmehl");
    one-word phrases no competitor gives a heading; phrases found only on front, pricing or
    company pages; phrases naming the site's or a competitor's brand, or an account, billing
    or legal subject.
    """
    by_key: dict[str, list[tuple[SitePhrases, PhraseStat]]] = {}
    for comp in competitors:
        for stat in comp.ranked:
            by_key.setdefault(stat.key, []).append((comp, stat))
    inside_covered = covered_parts(site)
    compounds = _compound_words(site)
    weakness_of = Weakness(site)
    brands = sorted({name for s in (site, *competitors) for name in s.brand})
    gaps: list[Gap] = []
    for key in sorted(by_key):
        entries = by_key[key]
        if names_brand(key, brands) or names_support_subject(entries[0][1].label):
            continue
        weakness = weakness_of.of(key)
        if weakness == 0.0 or key in inside_covered or _extends_covered(site, key, entries):
            continue
        if entries[0][1].words == 1 and _ambiguous_word(site, key, entries, compounds):
            continue
        if all(_minor_only(stat) for _, stat in entries):
            continue  # only on front, pricing or company pages: not something they write about
        total, evidence = _coverage(key, entries)
        label = min(entries, key=lambda e: (-e[1].label_uses, e[1].label))[1].label
        headed = any(stat.headed for _, stat in entries)
        familiar = 1.0 if any(s.titled for _, s in entries) else _familiar(site, key)
        gaps.append(
            Gap(
                key=key,
                label=label,
                score=weakness * (1.0 if headed else UNHEADED) * familiar * total,
                weakness=weakness,
                competitors=sorted(comp.domain for comp, _ in entries),
                pages=sum(stat.pages for _, stat in entries),
                evidence=evidence,
                words=entries[0][1].words,
                count=sum(stat.count for _, stat in entries),
                headed=headed,
            )
        )
    gaps.sort(key=lambda g: (-g.score, g.key))
    return gaps


def _familiar(site: SitePhrases, key: str) -> float:
    """FAMILIAR_ONLY when every content word of the phrase is one the site uses on many pages."""
    familiar_pages = max(2.0, FAMILIAR_SHARE * len(site.pages))
    stops = stopwords_for(site.language)
    words = [w for w in key.split() if w not in stops]
    if words and all(site.vocabulary[w] >= familiar_pages for w in words):
        return FAMILIAR_ONLY
    return 1.0


def _coverage(
    key: str, entries: Sequence[tuple[SitePhrases, PhraseStat]]
) -> tuple[float, list[str]]:
    """The competitors' summed coverage of a phrase (see find_gaps) and its best pages."""
    total = 0.0
    evidence: list[tuple[float, str]] = []
    for comp, stat in entries:
        centrality = comp.centrality.get(key, 0.0)
        titled = TITLED if stat.titled else 1.0
        total += (0.5 + 0.5 * centrality) * (1.0 + math.log(stat.pages)) * titled
        evidence.extend((w, u) for u, w in stat.weights.items())
    evidence.sort(key=lambda item: (-item[0], item[1]))
    return total, [u for _, u in evidence[:MAX_EVIDENCE]]


def _ambiguous_word(
    site: SitePhrases,
    key: str,
    entries: Sequence[tuple[SitePhrases, PhraseStat]],
    compounds: Sequence[str],
) -> bool:
    """Whether one word is too ambiguous for a gap: no competitor heads a section with it, a
    plain (not name-like) word the site uses, or (German) one opening the site's compounds."""
    if not any(stat.headed for _, stat in entries):
        return True
    if not entries[0][1].named and site.vocabulary[key]:
        return True
    return _opens_compounds(compounds, entries[0][1].label.lower())


def _minor_only(stat: PhraseStat) -> bool:
    """Whether the phrase is only on front, pricing or company pages."""
    return all(page_importance(url) < 1.0 for url in stat.weights)


def _compound_words(site: SitePhrases) -> list[str]:
    """Sorted lower-case words of a German site's covered phrases (its compounds); else none."""
    if site.language != "de":
        return []
    return sorted({w.lower() for stat in site.stats.values() for w in stat.label.split()})


def _opens_compounds(words: Sequence[str], word: str) -> bool:
    """Whether two or more of the sorted `words` are compounds opening with `word` ("Weizen")."""
    at = bisect.bisect_right(words, word)
    following = words[at : at + 2]
    return len(word) >= 4 and len(following) == 2 and following[1].startswith(word)


# A word on this share of the site's pages is part of its everyday vocabulary.
FAMILIAR_SHARE = 0.3


def _extends_covered(
    site: SitePhrases, key: str, entries: Sequence[tuple[SitePhrases, PhraseStat]]
) -> bool:
    """Whether the phrase is a phrase the site covers plus familiar words ("french press coffee").

    Familiar: a word on many of the site's pages, or (German) a lower-case adjective in front.
    """
    words = key.split()
    if len(words) < 2:
        return False
    familiar_pages = max(2.0, FAMILIAR_SHARE * len(site.pages))
    form = entries[0][1].label.split()
    for size in range(len(words) - 1, 0, -1):
        for start in range(len(words) - size + 1):
            sub = site.stats.get(" ".join(words[start : start + size]))
            if sub is None or not sub.covered():
                continue
            rest = [i for i in range(len(words)) if not start <= i < start + size]
            if all(
                site.vocabulary[words[i]] >= familiar_pages
                or (site.language == "de" and i < start and form[i][:1].islower())
                for i in rest
            ):
                return True
    return False


# Under-covered site phrases count for less than gaps competitors prove.
UNDER_COVERED_WEIGHT = 0.5
MAX_UNDER_COVERED = 30


def under_covered(site: SitePhrases) -> list[Gap]:
    """Return phrases the site keeps mentioning though no page is about them, best first.

    score = 0.5 x (0.5 + 0.5 x centrality) x (0.5 + 0.5 x familiar) x (1 + ln mentions), where
    familiar is the share of its words the site uses on many pages (its themes): recurring in
    the text, never in a title or heading, on at most two content pages, and not a phrase the
    site covers plus its everyday words ("hoher Hydration"). Used for topics when no
    competitor is analysed.
    """
    found: list[Gap] = []
    familiar_pages = max(2.0, FAMILIAR_SHARE * len(site.pages))
    for stat in site.ranked:
        if stat.headed or stat.pages > 2 or stat.count < 2 or stat.words < 2:
            continue
        if _minor_only(stat) or _extends_covered(site, stat.key, [(site, stat)]):
            continue
        words = stat.key.split()
        familiar = sum(site.vocabulary[w] >= familiar_pages for w in words) / len(words)
        found.append(_own_subject(site, stat, UNDER_COVERED_WEIGHT * (0.5 + 0.5 * familiar)))
    found.sort(key=lambda g: (-g.score, g.key))
    return found[:MAX_UNDER_COVERED]


def _own_subject(site: SitePhrases, stat: PhraseStat, weight: float) -> Gap:
    """A gap from the site's own phrase: weight x (0.5 + 0.5 x centrality) x (1 + ln mentions)."""
    centrality = 0.5 + 0.5 * site.centrality.get(stat.key, 0.0)
    evidence = sorted(stat.weights.items(), key=lambda kv: (-kv[1], kv[0]))
    return Gap(
        key=stat.key,
        label=stat.label,
        score=weight * centrality * (1 + math.log(stat.count)),
        weakness=PASSING_MENTION,
        competitors=[],
        pages=stat.pages,
        evidence=[u for u, _ in evidence[:MAX_EVIDENCE]],
        words=stat.words,
        count=stat.count,
        headed=bool(stat.headed),
    )


def covered_parts(site: SitePhrases) -> set[str]:
    """Return the multi-word parts of phrases the site covers (covering "x y z" covers "x y")."""
    parts: set[str] = set()
    for stat in site.stats.values():
        if stat.words < 3 or not stat.covered():
            continue
        words = stat.key.split()
        for size in range(2, len(words)):
            for start in range(len(words) - size + 1):
                parts.add(" ".join(words[start : start + size]))
    return parts


def rank_keywords(site: SitePhrases, competitors: Sequence[SitePhrases]) -> list[Keyword]:
    """Return the site's ranked keywords with their coverage on the site and competitors."""
    keywords: list[Keyword] = []
    for stat in [s for s in site.ranked if s.listed()][:MAX_KEYWORDS]:
        comp_pages = sum(c.pages_with(stat.key) for c in competitors)
        keywords.append(
            Keyword(
                keyword=stat.label,
                score=round(phrase_score(stat), 3),
                site_pages=stat.pages,
                competitor_pages=comp_pages,
                source="site",
            )
        )
    return keywords


def without_variants(gaps: Sequence[Gap]) -> list[Gap]:
    """Drop gaps that extend a better-ranked gap on the same pages ("cold brew concentrate")."""
    kept: list[Gap] = []
    for gap in gaps:
        padded = f" {gap.key} "
        if not any(
            f" {other.key} " in padded and set(gap.evidence) <= set(other.evidence)
            for other in kept
        ):
            kept.append(gap)
    return kept


def keyword_research(site: SitePhrases, competitors: Sequence[SitePhrases]) -> KeywordResearch:
    """Return ranked site keywords and the top content gaps."""
    gaps = without_variants(find_gaps(site, competitors))[:MAX_GAPS]
    return KeywordResearch(
        keywords=rank_keywords(site, competitors), gaps=[g.model() for g in gaps]
    )


# The site's own thin subjects count for less still: they only deepen what it has.
THIN_COVERAGE_WEIGHT = 0.3


def thinly_covered(site: SitePhrases) -> list[Gap]:
    """Return subjects the site gives at most two pages to, for follow-up pieces, best first.

    score = 0.3 x (0.5 + 0.5 x centrality) x (1 + ln mentions), over phrases in a title or
    heading on at most two pages, not only on front or company pages. Used for topics when no
    competitor is analysed and nothing is under-covered.
    """
    found: list[Gap] = []
    for stat in site.ranked:
        if not stat.headed or stat.pages > 2 or stat.words < 2 or _minor_only(stat):
            continue
        found.append(_own_subject(site, stat, THIN_COVERAGE_WEIGHT))
    found.sort(key=lambda g: (-g.score, g.key))
    return found[:MAX_UNDER_COVERED]
