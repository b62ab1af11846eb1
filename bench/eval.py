"""`make eval`: the local engine's gaps and topics against hand-labelled site pairs.

Each folder under tests/data/eval/ (in-house sites) and tests/data/eval_real/ (real sites
rendered from public repositories) holds one site pair: a folder of HTML pages per domain and a
labels.json naming the gap topics a person judged right, each with the phrases that count as
that topic. Real pairs also list `must_not` phrases (the two brands, support, billing and legal
subjects): a top-10 gap, topic title or topic keyword naming a brand is a brand leak, a top-10
topic whose title or lead keyword names one of the others a support topic. Pages are read as the crawler reads them: bytes decoded by the
fetcher's charset rules, then extracted; a page that cannot be read counts against "read". A gap (or a topic, by its lead keyword) is right when one of those phrases occurs in
it word for word after stemming (a one-word term also matches the start of a compound, so
"dinkel" matches "Dinkelvollkornbrot"); a topic is judged by its title or lead keyword. Prints precision@10 per set and overall, and how many of
the labelled topics the top 10 reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import anyio

from research.engines.local import LocalEngine
from research.engines.local.plan import plan_brief, plan_topics
from research.errors import UnreadablePage
from research.models import (
    Brief,
    DiscoveryRequest,
    KeywordResearch,
    Page,
    Report,
    SiteAnalysis,
    StageName,
    Topic,
)
from research.net.encoding import decode_html
from research.net.extract import extract_page
from research.net.urls import site_key
from research.progress import RunTracker, StageContext
from research.text.keyphrases import analyse_site
from research.text.phrases import phrase_key, site_phrases

DATA_DIR = Path(__file__).resolve().parent.parent / "tests" / "data"
EVAL_DIR = DATA_DIR / "eval"
REAL_DIR = DATA_DIR / "eval_real"
TOP = 10
_CONTENT_TYPES = {"xhtml": "application/xhtml+xml", "html": "text/html"}


@dataclass
class SetScore:
    """One labelled set's results."""

    name: str
    gap_precision: float
    topic_precision: float
    gap_recall: float
    topic_recall: float
    gaps: list[tuple[str, str | None]]
    topics: list[tuple[str, str | None]]
    brand_leaks: list[str]
    support_topics: list[str]
    pages_read: int
    pages_crawled: int
    held_out: bool = False


@dataclass
class LoadedSite:
    """One fixture site's pages, and how many of its files could be read."""

    pages: list[Page]
    crawled: int

    @property
    def read(self) -> int:
        """Pages extracted with some text."""
        return sum(1 for page in self.pages if page.text)


def load_site(folder: Path, content_type: str = "text/html") -> LoadedSite:
    """Return the pages of one fixture site, read from bytes the way the crawler reads them."""
    pages = []
    files = sorted(folder.glob("*.html"))
    for path in files:
        slug = "" if path.stem == "index" else path.stem
        url = f"https://{folder.name}/{slug}"
        markup = decode_html(path.read_bytes(), content_type)
        try:
            pages.append(extract_page(markup, url, depth=0 if not slug else 1))
        except UnreadablePage:
            continue
    return LoadedSite(pages, len(files))


def load_pages(folder: Path) -> list[Page]:
    """Return the pages of one fixture site, extracted from its HTML files."""
    return load_site(folder).pages


def matching_topic(phrase: str, labels: dict[str, list[str]], language: str) -> str | None:
    """Return the labelled gap topic a phrase belongs to, or None."""
    words = phrase_key(phrase, language).split()
    padded = f" {' '.join(words)} "
    for topic, terms in labels.items():
        for term in terms:
            key = phrase_key(term, language)
            if f" {key} " in padded:
                return topic
            if " " not in key and len(key) >= 4 and any(w.startswith(key) for w in words):
                return topic
    return None


async def run_engine(
    site: SiteAnalysis, competitors: list[SiteAnalysis]
) -> tuple[KeywordResearch, list[Topic]]:
    """Run stages 3 and 4 of the local engine on analysed sites."""
    engine = LocalEngine(anyio.CapacityLimiter(2))
    tracker = RunTracker(Report(request=DiscoveryRequest(url=site.url)))
    research = await engine.expand_keywords(
        StageContext(tracker, StageName.KEYWORDS), site, competitors
    )
    topics = await engine.propose_topics(
        StageContext(tracker, StageName.TOPICS), site, competitors, research
    )
    return research, topics


def _judge_topic(topic: Topic, labels: dict[str, list[str]], language: str) -> str | None:
    """A topic is right when its title or its lead keyword names a labelled gap topic."""
    lead = topic.keywords[0] if topic.keywords else ""
    return matching_topic(topic.title, labels, language) or matching_topic(lead, labels, language)


def _precision(judged: list[tuple[str, str | None]]) -> float:
    top = judged[:TOP]
    return sum(1 for _, topic in top if topic) / len(top) if top else 0.0


def _recall(judged: list[tuple[str, str | None]], labels: dict[str, list[str]]) -> float:
    return len({topic for _, topic in judged[:TOP] if topic}) / len(labels)


def _domain_labels(domains: list[str]) -> list[str]:
    return [d.split(":")[0].rsplit(".", 1)[0].replace("www.", "").lower() for d in domains]


def split_must_not(spec: dict[str, object]) -> tuple[list[str], list[str]]:
    """Split a set's `must_not` phrases into brand names and support/billing/legal subjects.

    A brand entry has a word of four letters or more inside one of the pair's domain labels
    ("hugo" in gohugo, "meili" in meilisearch).
    """
    domains = [str(spec["site"]), *(str(c) for c in spec["competitors"])]  # type: ignore[attr-defined]
    labels = _domain_labels(domains)
    brands, support = [], []
    for entry in spec.get("must_not", []):  # type: ignore[attr-defined]
        words = str(entry).lower().split()
        is_brand = any(len(w) >= 4 and any(w in label for label in labels) for w in words)
        (brands if is_brand else support).append(str(entry))
    return brands, support


def _naming(texts: list[str], phrases: list[str], language: str) -> bool:
    """Whether any text names one of the phrases, word for word after stemming."""
    keys = [f" {phrase_key(p, language)} " for p in phrases if p.strip()]
    return any(key in f" {phrase_key(text, language)} " for text in texts for key in keys)


def evaluate(folder: Path) -> SetScore:
    """Return the scores of one labelled set."""
    spec = json.loads((folder / "labels.json").read_text("utf-8"))
    language, labels = spec["language"], spec["gaps"]
    fmt = (folder / "FORMAT").read_text().strip() if (folder / "FORMAT").exists() else "html"
    content_type = _CONTENT_TYPES.get(fmt, "text/html")
    domains = [spec["site"], *spec["competitors"]]
    loaded = {d: load_site(folder / d, content_type) for d in domains}
    analyses = {d: analyse_site(f"https://{d}/", loaded[d].pages, []) for d in domains}
    site, competitors = analyses[spec["site"]], [analyses[d] for d in spec["competitors"]]
    research, topics = anyio.run(run_engine, site, competitors)
    gaps = [(g.keyword, matching_topic(g.keyword, labels, language)) for g in research.gaps]
    ideas = [(t.title, _judge_topic(t, labels, language)) for t in topics]
    brands, support = split_must_not(spec)
    detected = [b for a in analyses.values() for b in site_phrases(a.domain, a.pages).brand]
    brand_terms = [*brands, *detected]
    items = [[g.keyword] for g in research.gaps[:TOP]] + [
        [t.title, *t.keywords] for t in topics[:TOP]
    ]
    return SetScore(
        name=folder.name,
        gap_precision=_precision(gaps),
        topic_precision=_precision(ideas),
        gap_recall=_recall(gaps, labels),
        topic_recall=_recall(ideas, labels),
        gaps=gaps,
        topics=ideas,
        brand_leaks=[texts[0] for texts in items if _naming(texts, brand_terms, language)],
        support_topics=[
            t.title for t in topics[:TOP] if _naming([t.title, *t.keywords[:1]], support, language)
        ],
        pages_read=sum(site.read for site in loaded.values()),
        pages_crawled=sum(site.crawled for site in loaded.values()),
        held_out=bool(spec.get("held_out", False)),
    )


def evaluate_all() -> list[SetScore]:
    """Return the scores of every in-house labelled set, by name."""
    return [evaluate(p.parent) for p in sorted(EVAL_DIR.glob("*/labels.json"))]


def evaluate_real() -> list[SetScore]:
    """Return the scores of every real site pair, by name (held-out pairs included)."""
    return [evaluate(p.parent) for p in sorted(REAL_DIR.glob("*/labels.json"))]


def _print_details(score: SetScore) -> None:
    print(f"\n== {score.name}" + (" (held out)" if score.held_out else ""))
    for label, judged in (("gaps", score.gaps), ("topics", score.topics)):
        print(f"  top {label}:")
        for text, topic in judged[:TOP]:
            print(f"    {'+' if topic else '-'} {text}" + (f"  [{topic}]" if topic else ""))
    for label, found in (("brand leaks", score.brand_leaks), ("support", score.support_topics)):
        if found:
            print(f"  {label}: {found}")


def print_table(title: str, scores: list[SetScore]) -> None:
    """Print gap and topic P@10, recall, brand leaks, support topics and pages read per set,
    and overall when there are several."""
    print(
        f"\n{title:<24} {'gaps P@10':>9} {'topics P@10':>11} {'gap R':>6} {'topic R':>7} "
        f"{'brands':>6} {'support':>7} {'read/crawled':>12}"
    )
    for s in scores:
        print(
            f"{s.name:<24} {s.gap_precision:>9.2f} {s.topic_precision:>11.2f} "
            f"{s.gap_recall:>6.2f} {s.topic_recall:>7.2f} {len(s.brand_leaks):>6} "
            f"{len(s.support_topics):>7} {f'{s.pages_read}/{s.pages_crawled}':>12}"
        )
    if len(scores) > 1:
        n = len(scores)
        read = f"{sum(s.pages_read for s in scores)}/{sum(s.pages_crawled for s in scores)}"
        print(
            f"{'overall':<24} {sum(s.gap_precision for s in scores) / n:>9.2f} "
            f"{sum(s.topic_precision for s in scores) / n:>11.2f} "
            f"{sum(s.gap_recall for s in scores) / n:>6.2f} "
            f"{sum(s.topic_recall for s in scores) / n:>7.2f} "
            f"{sum(len(s.brand_leaks) for s in scores):>6} "
            f"{sum(len(s.support_topics) for s in scores):>7} {read:>12}"
        )


def main() -> None:
    """Print precision@10, recall, brand leaks, support topics and pages read per set."""
    own, real = evaluate_all(), evaluate_real()
    for score in [*own, *real]:
        _print_details(score)
    print_table("in-house sets", own)
    print_table("real pairs", [s for s in real if not s.held_out])
    print_table("real pairs, held out", [s for s in real if s.held_out])


# -- the writer's plan (issue 13) ---------------------------------------------------------------

EVAL_REAL_DIR = EVAL_DIR.parent / "eval_real"


@dataclass
class PlanScore:
    """One labelled set's writer's-plan results: right / judged for each check."""

    name: str
    links: tuple[int, int]  # internal links from pages the labels say mention the topic
    refresh: tuple[int, int]  # labelled topics whose action (and page) the labels expect
    must: tuple[int, int]  # subtopics whose `must` matches an independent count
    ranges: tuple[int, int]  # target ranges containing the median of the covering pages
    wrong: list[str]


def _analysed_set(folder: Path) -> tuple[dict[str, object], SiteAnalysis, list[SiteAnalysis]]:
    spec = json.loads((folder / "labels.json").read_text("utf-8"))
    site = analyse_site(f"https://{spec['site']}/", load_pages(folder / spec["site"]), [])
    competitors = [
        analyse_site(f"https://{d}/", load_pages(folder / d), []) for d in spec["competitors"]
    ]
    return spec, site, competitors


def page_has(page: Page, phrase: str, language: str) -> bool:
    """Whether a line of the page's title, headings or main text names the phrase."""
    key = f" {phrase_key(phrase, language)} "
    lines = [page.title, *page.headings, *page.text.splitlines()]
    return any(key in f" {phrase_key(line, language)} " for line in lines)


def judge_must(brief: Brief, pages: dict[str, Page], language: str) -> tuple[int, int, list[str]]:
    """Count subtopics whose `must` is right: at least half the competitors with a covering
    page have the subtopic on one of their covering pages (counted here, not by the plan)."""
    covering = [pages[url] for url in brief.covering_pages]
    domains = {site_key(p.url) for p in covering}
    right, wrong = 0, []
    for item in brief.coverage:
        having = {site_key(p.url) for p in covering if page_has(p, item.subtopic, language)}
        if item.must == (2 * len(having) >= len(domains)):
            right += 1
        else:
            wrong.append(f"must {item.subtopic!r}: {len(having)} of {len(domains)}")
    return right, len(brief.coverage), wrong


def judge_range(brief: Brief, pages: dict[str, Page]) -> bool:
    """Whether the target range contains the median main-text word count of the covering pages."""
    counts = [len(pages[url].text.split()) for url in brief.covering_pages]
    if brief.target_words is None:
        return not counts
    return brief.target_words.min <= median(counts) <= brief.target_words.max


async def _write_briefs(
    site: SiteAnalysis, competitors: list[SiteAnalysis], topics: list[Topic]
) -> list[Brief]:
    engine = LocalEngine(anyio.CapacityLimiter(2))
    tracker = RunTracker(Report(request=DiscoveryRequest(url=site.url)))
    ctx = StageContext(tracker, StageName.BRIEFS)
    return [await engine.write_brief(ctx, topic, site, competitors) for topic in topics]


def _judge_labelled(
    labelled: list[dict[str, object]],
    planned: list[Topic],
    site: SiteAnalysis,
    competitors: list[SiteAnalysis],
) -> tuple[tuple[int, int], tuple[int, int], list[str]]:
    """Links and refresh advice of hand-labelled topics against their labels."""
    links = [0, 0]
    refresh = [0, 0]
    wrong: list[str] = []
    for label, topic in zip(labelled, planned, strict=True):
        page = label["refresh"]
        expected = f"{site.url}{page}" if page is not None else None
        got = topic.overlaps[0].url if topic.action == "refresh" else None
        named = got is None or f"refresh /{page}" in topic.reason
        refresh[1] += 1
        if got == expected and named:
            refresh[0] += 1
        else:
            wrong.append(f"{topic.title}: {topic.action} {got}, expected {expected}")
        brief = plan_brief(Brief(topic=topic.title), topic, site, competitors)
        mentioned = {f"{site.url}{p}" for p in label["mentioned_on"]}  # type: ignore[attr-defined]
        for link in brief.internal_links:
            links[1] += 1
            if link.from_url in mentioned:
                links[0] += 1
            else:
                wrong.append(f"{topic.title}: link from {link.from_url} ({link.anchor!r})")
    return (links[0], links[1]), (refresh[0], refresh[1]), wrong


def evaluate_plan(folder: Path, briefs: int = 5) -> PlanScore:
    """Return the writer's-plan scores of one set that has plan labels (plan.json)."""
    spec, site, competitors = _analysed_set(folder)
    labels = json.loads((folder / "plan.json").read_text("utf-8"))["topics"]
    topics = [Topic(title=t["title"], keywords=t["keywords"]) for t in labels]
    planned = plan_topics(topics, site, competitors)
    links, refresh, wrong = _judge_labelled(labels, planned, site, competitors)
    _, found = anyio.run(run_engine, site, competitors)
    written = anyio.run(_write_briefs, site, competitors, found[:briefs])
    pages = {p.url: p for c in competitors for p in c.pages}
    must = [0, 0]
    ranges = [0, 0]
    for brief in written:
        right, judged, missed = judge_must(brief, pages, str(spec["language"]))
        must = [must[0] + right, must[1] + judged]
        wrong += missed
        ranges[1] += 1
        ranges[0] += judge_range(brief, pages)
    return PlanScore(folder.name, links, refresh, (must[0], must[1]), (ranges[0], ranges[1]), wrong)


def evaluate_plans() -> list[PlanScore]:
    """Return the writer's-plan scores of every set with plan labels, fixture then real."""
    folders = [*sorted(EVAL_DIR.glob("*/plan.json")), *sorted(EVAL_REAL_DIR.glob("*/plan.json"))]
    return [evaluate_plan(p.parent) for p in folders]


def _share(pair: tuple[int, int]) -> str:
    return f"{pair[0]}/{pair[1]}" + (f" ({pair[0] / pair[1]:.2f})" if pair[1] else "")


def print_plans(scores: list[PlanScore]) -> None:
    """Print the writer's-plan checks per set and overall."""
    print(f"\n{'plan':<16} {'links P':>14} {'refresh':>14} {'must':>14} {'ranges':>14}")
    for s in scores:
        print(
            f"{s.name:<16} {_share(s.links):>14} {_share(s.refresh):>14} "
            f"{_share(s.must):>14} {_share(s.ranges):>14}"
        )
        for line in s.wrong[:6]:
            print(f"    - {line}")
    total = [tuple(map(sum, zip(*(getattr(s, f) for s in scores), strict=True)))
             for f in ("links", "refresh", "must", "ranges")]  # fmt: skip
    print(f"{'overall':<16} " + " ".join(f"{_share(t):>14}" for t in total))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
    print_plans(evaluate_plans())
