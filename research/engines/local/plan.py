"""The writer's plan, from the crawled pages, for topics and briefs of either engine.

For topics: intent, the user's own pages that already cover them (refresh or new) and topics
that compete for the same phrases (merged or flagged). For briefs: the target length, the
subtopics competitors cover (must-cover or differentiator), real questions asked on the pages,
own pages that should link to the piece and own pages it should link to.

Plain functions of pydantic models, so they can run in a worker thread or process.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import quantiles
from urllib.parse import urlsplit

from research.engines.local.intent import classify_intent
from research.engines.local.titles import is_procedure_step, is_settings_step
from research.models import (
    Brief,
    InternalLink,
    Page,
    SiteAnalysis,
    SubtopicCoverage,
    TargetWords,
    Topic,
    TopicOverlap,
)
from research.text.offtopic import strip_brands
from research.text.phrases import (
    PageKeys,
    SitePhrases,
    candidates,
    padded_key,
    phrase_key,
    plan_key,
    sentences,
    site_phrases,
    stem,
    token_spans,
    tokens,
)
from research.text.stopwords import stopwords_for
from research.text.support import names_support_subject

# An own page covers a topic this well (0..1) before the advice is to refresh it.
REFRESH_SCORE = 0.6
MIN_OVERLAP = 0.15
MAX_OVERLAPS = 3
MAX_TOPIC_KEYWORDS = 8
MAX_SUBTOPICS = 12
MAX_QUESTIONS = 8
MAX_QUESTION_CHARS = 160
MIN_QUESTION_WORDS = 3
MAX_INTERNAL_LINKS = 5
MAX_LINK_TO = 3
MIN_LINK_TO = 0.25
HEADED_WEIGHT = 3.0
# The lead phrase says most of what a topic is; the others share the rest.
LEAD_WEIGHT = 0.6


def topic_keys(topic: Topic, language: str) -> list[str]:
    """The keys of a topic's phrases, lead first (its title when it has none)."""
    keys = [plan_key(k, language) for k in topic.keywords] or [plan_key(topic.title, language)]
    return [k for k in dict.fromkeys(keys) if k]


def _phrases_of(site: SiteAnalysis) -> SitePhrases:
    return site_phrases(site.domain, site.pages)


# -- topics ------------------------------------------------------------------------------------


def overlap_score(keys: Sequence[str], page: PageKeys) -> float:
    """How well a page covers a topic, 0..1.

    presence of a phrase = 1 in the title, 0.5 in a heading, else 0.2 per body mention up to
    0.4; score = 0.6 x presence of the lead phrase + 0.4 x the others' presence averaged with
    weights 1/(1 + rank) (the lead's presence alone for a one-phrase topic).
    """
    presence = [_presence(key, page) for key in keys]
    if not presence:
        return 0.0
    lead, rest = presence[0], presence[1:]
    if not rest:
        return round(lead, 3)
    weights = [1.0 / (1 + i) for i in range(len(rest))]
    others = sum(w * p for w, p in zip(weights, rest, strict=True)) / sum(weights)
    return round(LEAD_WEIGHT * lead + (1 - LEAD_WEIGHT) * others, 3)


def _presence(key: str, page: PageKeys) -> float:
    if f" {key} " in page.title:
        return 1.0
    if page.headed(key):
        return 0.5
    return min(0.4, 0.2 * page.count(key))


def overlaps_of(keys: Sequence[str], own: Sequence[PageKeys]) -> list[TopicOverlap]:
    """The user's content pages that already cover a topic, best first."""
    scored = [(overlap_score(keys, page), page) for page in own if page.content]
    scored = [(s, p) for s, p in scored if s >= MIN_OVERLAP]
    scored.sort(key=lambda item: (-item[0], item[1].url))
    return [
        TopicOverlap(url=page.url, title=page.text.title, score=score)
        for score, page in scored[:MAX_OVERLAPS]
    ]


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def refresh_reason(overlap: TopicOverlap) -> str:
    """The sentence that sends the writer to an existing page instead of a new one."""
    path = _path(overlap.url)
    name = f" (“{overlap.title}”)" if overlap.title else ""
    return (
        f"Your page {path}{name} already covers this ({overlap.score:.0%} match): refresh "
        f"{path} instead of writing a new piece."
    )


def plan_topics(
    topics: Sequence[Topic], site: SiteAnalysis, competitors: Sequence[SiteAnalysis]
) -> list[Topic]:
    """Return the topics merged or flagged where they compete, with intent, overlaps, action."""
    own = _phrases_of(site)
    rivals = [_phrases_of(c) for c in competitors]
    lang = own.language
    own_pages = own.keyed
    # The front page mentions everything: it says nothing of what a topic's pages are for.
    every_page = [
        p for p in (*own_pages, *(p for r in rivals for p in r.keyed)) if _path(p.url) != "/"
    ]
    brands = sorted({b for s in (own, *rivals) for b in s.brand if b})
    planned: list[Topic] = []
    for topic in flag_competing(merge_competing(topics, lang), lang):
        keys = topic_keys(topic, lang)
        overlaps = overlaps_of(keys, [*own_pages, *own.aside])
        refresh = bool(overlaps) and overlaps[0].score >= REFRESH_SCORE
        reason = topic.reason
        if refresh and "instead of writing a new piece" not in reason:
            reason = f"{reason} {refresh_reason(overlaps[0])}".strip()
        pages = [(p.url, p.text.title) for p in every_page if any(p.has(k) for k in keys)]
        intent, why = classify_intent([topic.title, *topic.keywords], pages, brands)
        planned.append(
            topic.model_copy(
                update={
                    "reason": reason,
                    "overlaps": overlaps,
                    "action": "refresh" if refresh else "new",
                    "intent": intent,
                    "intent_reason": why,
                }
            )
        )
    return planned


# Share of their title words two topics on the same phrases must share to be one topic.
SAME_TITLE_SHARE = 0.5


def _same_piece(a: Topic, a_keys: list[str], b: Topic, b_keys: list[str], language: str) -> bool:
    """Whether two topics are one piece: the same phrases (the same lead, or one's phrases all
    among the other's) under titles sharing at least half their words."""
    if not (a_keys and b_keys):
        return False
    if not (a_keys[0] == b_keys[0] or set(a_keys) <= set(b_keys) or set(b_keys) <= set(a_keys)):
        return False
    a_words, b_words = _title_words(a.title, language), _title_words(b.title, language)
    shared = len(a_words & b_words) / max(1, min(len(a_words), len(b_words)))
    return shared >= SAME_TITLE_SHARE


def _title_words(title: str, language: str) -> set[str]:
    stops = stopwords_for(language)
    return {stem(w, language) for w in tokens(title) if w not in stops}


def merge_competing(topics: Sequence[Topic], language: str) -> list[Topic]:
    """Fold a topic into a better one (earlier in the list) that is the same piece."""
    kept: list[Topic] = []
    keys: list[list[str]] = []
    for topic in topics:
        mine = topic_keys(topic, language)
        into = next(
            (
                i
                for i, other in enumerate(keys)
                if _same_piece(topic, mine, kept[i], other, language)
            ),
            None,
        )
        if into is None:
            kept.append(topic)
            keys.append(mine)
            continue
        best = kept[into]
        words = list(dict.fromkeys([*best.keywords, *topic.keywords]))
        by_key = {phrase_key(w, language): w for w in reversed(words)}
        kept[into] = best.model_copy(
            update={
                "keywords": [w for w in words if by_key.get(phrase_key(w, language)) == w][
                    :MAX_TOPIC_KEYWORDS
                ],
                "evidence": list(dict.fromkeys([*best.evidence, *topic.evidence]))[:8],
                "competitor_coverage": max(best.competitor_coverage, topic.competitor_coverage),
                "score": max(best.score, topic.score),
            }
        )
        keys[into] = topic_keys(kept[into], language)
    return kept


def _competing(a: list[str], b: list[str]) -> bool:
    """Whether two topics chase one phrase: shared, or a multi-word one inside the other's."""
    return any(
        x == y or (" " in x and f" {x} " in f" {y} ") or (" " in y and f" {y} " in f" {x} ")
        for x in a
        for y in b
    )


def flag_competing(topics: Sequence[Topic], language: str) -> list[Topic]:
    """Name, on each topic, the other topics that would compete with it for the same phrases."""
    keys = [topic_keys(t, language) for t in topics]
    flagged = []
    for i, topic in enumerate(topics):
        rivals = [
            other.title for j, other in enumerate(topics) if j != i and _competing(keys[i], keys[j])
        ]
        flagged.append(topic.model_copy(update={"competes_with": rivals}))
    return flagged


# -- briefs ------------------------------------------------------------------------------------


@dataclass
class _Subtopic:
    label: str
    heading: str
    domains: set[str] = field(default_factory=set)
    pages: int = 0


def on_topic(keys: Sequence[str], page: PageKeys, evidence: set[str]) -> bool:
    """Whether a page is about the topic.

    weight = sum over the topic's phrases, lead first, of (3 when the title or a heading names
    it, else its mentions up to 3) / (1 + rank); a page is about the topic at weight 3 (the lead
    in a heading, or named three times; later phrases count for less), an evidence page at 1.
    """
    weight = sum(
        (HEADED_WEIGHT if page.headed(k) else min(page.count(k), HEADED_WEIGHT)) / (1 + i)
        for i, k in enumerate(keys)
    )
    return weight >= (1.0 if page.url in evidence else HEADED_WEIGHT)


def covering_pages(
    keys: Sequence[str], evidence: set[str], rival_pages: Sequence[PageKeys]
) -> list[PageKeys]:
    """The competitors' content pages about the topic."""
    return [page for page in rival_pages if page.content and on_topic(keys, page, evidence)]


def target_words(pages: Sequence[Page]) -> TargetWords | None:
    """The interquartile range of the pages' main-text word counts, rounded outwards to tens."""
    counts = sorted(len(page.text.split()) for page in pages)
    if not counts:
        return None
    if len(counts) == 1:
        low = high = float(counts[0])
    else:
        low, _, high = quantiles(counts, n=4, method="inclusive")
    n = len(counts)
    basis = (
        f"the main text of 1 competitor page ({counts[0]} words)"
        if n == 1
        else f"the middle half of {n} competitor pages' main text ({counts[0]}–{counts[-1]} words)"
    )
    return TargetWords(
        min=int(math.floor(low / 10) * 10), max=int(math.ceil(high / 10) * 10), basis=basis
    )


def _heading_subtopics(
    page: PageKeys, ranked: set[str], keys: Sequence[str], language: str
) -> list[tuple[str, str, str, str]]:
    """(plan key, phrase key, label, heading) of the listed phrases a page's headings name,
    longest first, without the topic's own phrases or their parts."""
    found: list[tuple[str, str, str, str]] = []
    padded_keys = [f" {k} " for k in keys]
    for heading in page.text.headings:
        chosen: list[str] = []
        options = sorted(
            {(key, form) for key, form, _, _ in candidates(heading, language) if key in ranked},
            key=lambda item: (-len(item[0]), item[0]),
        )
        for key, form in options:
            matched = plan_key(form, language)
            padded = f" {matched} "
            if any(padded in k for k in padded_keys) or any(padded in f" {c} " for c in chosen):
                continue
            chosen.append(matched)
            found.append((matched, key, form, heading))
    return found


def _brand_words(sites: Sequence[SitePhrases]) -> set[str]:
    """The sites' one-word names: domain labels ("plausible") and one-word brand keys."""
    labels = {s.domain.split(":")[0].split(".")[-2 if "." in s.domain else -1] for s in sites}
    return labels | {b for s in sites for b in s.brand if " " not in b}


def subtopic_coverage(
    topic: Topic,
    pages: Sequence[PageKeys],
    every_page: Sequence[PageKeys],
    rivals: Sequence[SitePhrases],
    language: str,
) -> list[tuple[SubtopicCoverage, str]]:
    """The subtopics the covering pages head sections with, each with the competitors and
    pages naming it and a heading for it from a page about the topic ("" when only pages
    merely mentioning it head it); `must` when at least half the covering competitors name it.

    Must-cover first, then by competitors, by the share of the competitors' pages naming it
    that are about the topic (a subtopic of this topic, not of every page), and by pages.
    Phrases with a site's one-word name ("Plausible account") are no subtopic.
    """
    keys = topic_keys(topic, language)
    names = _brand_words(rivals)
    ranked = {r.domain: {s.key for s in r.ranked if not names & set(s.key.split())} for r in rivals}
    labels = {r.domain: r.stats for r in rivals}
    found: dict[str, _Subtopic] = {}
    # Headings for the outline come from pages about the topic, not ones merely mentioning it.
    about = {page.url for page in pages if on_topic(keys, page, set())}
    for page in pages:
        for matched, key, form, heading in _heading_subtopics(
            page, ranked[page.domain], keys, language
        ):
            stat = labels[page.domain].get(key)
            sub = found.setdefault(matched, _Subtopic(stat.label if stat else form, ""))
            if not sub.heading and page.url in about:
                sub.heading = heading
    covering = {page.domain for page in pages}
    for key, sub in found.items():
        for page in pages:
            if page.has(key):
                sub.domains.add(page.domain)
                sub.pages += 1
    everywhere = {key: sum(p.has(key) for p in every_page) for key in found}
    ranked_items = sorted(
        found.items(),
        key=lambda kv: (
            2 * len(kv[1].domains) < len(covering),
            -len(kv[1].domains),
            # pages x the share of its pages about the topic: frequent, and of this topic
            -(kv[1].pages ** 2) / max(1, everywhere[kv[0]]),
            kv[1].label,
        ),
    )
    return [
        (
            SubtopicCoverage(
                subtopic=sub.label,
                competitors=sorted(sub.domains),
                pages=sub.pages,
                must=2 * len(sub.domains) >= len(covering),
            ),
            sub.heading,
        )
        for _, sub in ranked_items[:MAX_SUBTOPICS]
    ]


_OPENER = re.compile(
    r"^(?:[-*•·–]\s*|\d+[.)]\s*|(?:q|faq|frage|question|pregunta)\s*\d*\s*[:.)]\s*)+", re.I
)
_WRAPPING = " \"'“”„«»‚‘’"


def clean_question(text: str) -> str:
    """Return a question as a writer can use it, or '' when the text is not one.

    Whitespace collapsed; list markers and "Q:" labels dropped; quote marks around it removed;
    it must end with "?", have three words or more and fit in 160 characters.
    """
    question = _OPENER.sub("", " ".join(text.split())).strip(_WRAPPING)
    if len(tokens(question)) < MIN_QUESTION_WORDS:
        return ""
    question = question[:1].upper() + question[1:]
    return question if is_question(question) else ""


# Markup, Markdown or template remnants that no question a writer would answer contains.
_REMNANTS = re.compile(r"[<>{}\[\]|`*#=\\]|\]\(|https?:|www\.|&[a-z]+;|\?\?")
_OPENING = re.compile(r"^[¿\"“„«]?[^\W\d_]")


def is_question(text: str) -> bool:
    """Whether a text is a real question: a sentence opening on a letter and ending in "?"."""
    return (
        text.endswith("?")
        and len(text) <= MAX_QUESTION_CHARS
        and len(text.split()) >= MIN_QUESTION_WORDS
        and bool(_OPENING.match(text))
        and text[:1].upper() == text[:1]
        and not _REMNANTS.search(text)
    )


def _topic_words(topic: Topic, language: str) -> set[str]:
    stops = stopwords_for(language)
    phrases = topic.keywords or [topic.title]
    return {stem(w, language) for k in phrases for w in tokens(k) if w not in stops}


def real_questions(
    topic: Topic, pages: Sequence[PageKeys], covering: set[str], language: str
) -> list[str]:
    """Questions the crawled pages ask about the topic: ones naming its phrases, or (on the
    competitors' pages about it) its words; pages about it first."""
    keys = topic_keys(topic, language)
    words = _topic_words(topic, language)

    def weight(page: PageKeys) -> int:
        return sum(page.count(k) + 3 * page.headed(k) for k in keys)

    relevant = [p for p in pages if p.url in covering or weight(p) > 0]
    relevant.sort(key=lambda p: (p.url not in covering, -weight(p), p.url))
    questions: list[str] = []
    seen: set[str] = set()
    for page in relevant:
        for text in [*page.text.headings, *(s for ln in page.text.lines for s in sentences(ln))]:
            question = clean_question(text)
            key = plan_key(question, language) if question else ""
            if not key or key in seen:
                continue
            named = any(f" {k} " in f" {key} " for k in keys)
            if named or (page.url in covering and words & set(key.split())):
                seen.add(key)
                questions.append(question)
                if len(questions) >= MAX_QUESTIONS:
                    return questions
    return questions


def _parts(token: str) -> list[tuple[int, str]]:
    """(offset, part) of a token's hyphenated parts."""
    found, at = [], 0
    for part in token.split("-"):
        found.append((at, part))
        at += len(part) + 1
    return [(offset, part) for offset, part in found if part]


def find_phrase(line: str, key: str, language: str) -> str:
    """Return the words of a line that make up a phrase key, as written there, or ''."""
    spans = [
        (start + offset, start + offset + len(part), part)
        for start, _, token in token_spans(line)
        for offset, part in _parts(token)
    ]
    words = key.split()
    stems = [stem(token, language) for _, _, token in spans]
    for i in range(len(stems) - len(words) + 1):
        if stems[i : i + len(words)] == words:
            return line[spans[i][0] : spans[i + len(words) - 1][1]]
    return ""


def link_phrases(keys: Sequence[str], language: str) -> list[list[str]]:
    """The phrases an own page may name to link to the topic, in two tiers: its phrases, then
    their parts of two words or more that start and end on a content word."""
    stops = stopwords_for(language)
    parts = [
        " ".join(words[i : i + n])
        for words in (k.split() for k in keys)
        for n in range(len(words) - 1, 1, -1)
        for i in range(len(words) - n + 1)
        if words[i] not in stops and words[i + n - 1] not in stops
    ]
    return [list(keys), [p for p in dict.fromkeys(parts) if p not in keys]]


def _anchor(page: PageKeys, keys: Sequence[str], language: str) -> str:
    """The first of the phrases the page's text names, as written there."""
    return next(
        (
            text
            for key in keys
            for line, padded in zip(page.text.lines, page.lines, strict=True)
            if f" {key} " in padded and (text := find_phrase(line, key, language))
        ),
        "",
    )


def internal_links(
    keys: Sequence[str], own: Sequence[PageKeys], exclude: set[str], language: str
) -> list[InternalLink]:
    """Own pages whose text names the topic's phrases (or, failing those, their parts; see
    link_phrases), whole phrases and most phrases first, each with the words found there as
    the anchor."""
    found: list[tuple[int, int, int, str, str]] = []
    for page in own:
        if page.url in exclude:
            continue
        for tier, phrases in enumerate(link_phrases(keys, language)):
            hits = [k for k in phrases if page.count(k)]
            anchor = _anchor(page, hits, language)
            if anchor:
                mentions = sum(page.count(k) for k in hits)
                found.append((tier, -len(hits), -mentions, page.url, anchor))
                break
    found.sort()
    return [InternalLink(from_url=url, anchor=anchor) for *_, url, anchor in found][
        :MAX_INTERNAL_LINKS
    ]


def links_out(
    keys: Sequence[str], words: set[str], own: Sequence[PageKeys], exclude: set[str]
) -> list[str]:
    """Own content pages on related subjects the piece should link to, best first.

    score = overlap score + 0.5 x the share of the topic's words in the page's title and
    headings; pages scoring at least 0.25.
    """
    scored = []
    for page in own:
        if page.url in exclude or not page.content:
            continue
        share = len(words & page.text.head_words) / len(words) if words else 0.0
        score = overlap_score(keys, page) + 0.5 * share
        if score >= MIN_LINK_TO:
            scored.append((score, page.url))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return [url for _, url in scored[:MAX_LINK_TO]]


def _covers(item: str, key: str, language: str) -> bool:
    return f" {key} " in padded_key(item, language)


def outline_with(
    outline: Sequence[str], needed: Sequence[tuple[str, str]], language: str
) -> list[str]:
    """The outline with a heading added, before its closing item, for each (subtopic key,
    heading) whose subtopic it does not name yet."""
    items = list(outline)
    for key, heading in needed:
        if any(_covers(item, key, language) for item in items):
            continue
        items.insert(max(len(items) - 1, 0) if len(items) > 1 else len(items), heading)
    return items


def merged_sections(outline: Sequence[str], language: str) -> list[str]:
    """The outline without a section another one names in full ("File Downloads" beside
    "File downloads tracking", "Annotations" beside "Annotations: the basics ..."); of two
    naming the same, the first stays."""
    keys = [padded_key(item, language) for item in outline]
    return [
        item
        for i, item in enumerate(outline)
        if not any(
            keys[i] in other and (keys[i] != other or j < i)
            for j, other in enumerate(keys)
            if j != i and keys[i].strip()
        )
    ]


def section_heading(heading: str, subtopic: str, brands: Sequence[str], language: str) -> str:
    """A competitor's heading as a section of the user's piece, or the subtopic itself when
    the heading names a site ("Allow Acme to access ..."), is a question (the questions list
    has those), a product's settings step ("Enable X for your site"), a numbered step of a
    procedure ("Step 1: Paste this code ...") or a support subject."""
    text = " ".join(heading.split())
    named = strip_brands(text, brands, language) != text
    step = is_settings_step(text) or is_procedure_step(text)
    if named or text.endswith("?") or step or names_support_subject(text):
        return subtopic[:1].upper() + subtopic[1:]
    return text


def plan_brief(
    brief: Brief, topic: Topic, site: SiteAnalysis, competitors: Sequence[SiteAnalysis]
) -> Brief:
    """Return the brief with its writer's plan: target length, subtopic coverage (the outline
    naming every must-cover one a page about the topic heads, each section once), real
    questions, internal links and links out."""
    own = _phrases_of(site)
    rivals = [_phrases_of(c) for c in competitors]
    lang = own.language
    keys = topic_keys(topic, lang)
    own_pages = own.keyed
    rival_pages = [page for rival in rivals for page in rival.keyed]
    covering = covering_pages(keys, set(topic.evidence), rival_pages)
    raw = {page.url: page for c in competitors for page in c.pages}
    coverage = subtopic_coverage(topic, covering, rival_pages, rivals, lang)
    exclude = {topic.overlaps[0].url} if topic.action == "refresh" and topic.overlaps else set()
    brands = sorted({b for s in (own, *rivals) for b in s.brand})
    needed = [
        (plan_key(item.subtopic, lang), section_heading(heading, item.subtopic, brands, lang))
        for item, heading in coverage
        if item.must and heading and not names_support_subject(item.subtopic)
    ]
    urls = {p.url for p in covering}
    return brief.model_copy(
        update={
            "outline": merged_sections(outline_with(brief.outline, needed, lang), lang),
            "questions": real_questions(topic, [*own_pages, *rival_pages], urls, lang),
            "target_words": target_words([raw[u] for u in urls if u in raw]),
            "coverage": [item for item, _ in coverage],
            "internal_links": internal_links(keys, own_pages, exclude, lang),
            "link_to": links_out(keys, _topic_words(topic, lang), own_pages, exclude),
            "covering_pages": [p.url for p in covering],
        }
    )


def topic_clusters(topics: Sequence[Topic], language: str) -> list[str]:
    """Return, for each topic, the name of its cluster on the topical map.

    Topics whose phrases share a content word belong together (transitively); a cluster is
    named for the word most of its topics share, a lone topic for its lead phrase. Words more
    than half of four or more topics share do not link them.
    """
    words = [_topic_words(topic, language) for topic in topics]
    # A word most topics share (the site's theme, "coffee") links everything and says nothing.
    counts: dict[str, int] = {}
    for found in words:
        for word in found:
            counts[word] = counts.get(word, 0) + 1
    common = {w for w, n in counts.items() if len(topics) >= 4 and n > len(topics) / 2}
    words = [found - common for found in words]
    parent = list(range(len(topics)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(topics)):
        for j in range(i):
            if words[i] & words[j]:
                parent[root(i)] = root(j)
    members: dict[int, list[int]] = {}
    for i in range(len(topics)):
        members.setdefault(root(i), []).append(i)
    names: dict[int, str] = {}
    for head, group in members.items():
        lead = topics[group[0]]
        if len(group) == 1:
            names[head] = (lead.keywords or [lead.title])[0]
            continue
        shared = {w: sum(w in words[i] for i in group) for i in group for w in words[i]}
        word = min(shared, key=lambda w: (-shared[w], w))
        names[head] = _surface(word, [k for i in group for k in topics[i].keywords], language)
    return [names[root(i)] for i in range(len(topics))]


def _surface(word: str, phrases: Sequence[str], language: str) -> str:
    """The word as the phrases spell it (a stem is not a word)."""
    for phrase in phrases:
        for token in tokens(phrase):
            if stem(token, language) == word:
                return token
    return word
