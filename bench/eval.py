"""`make eval`: the local engine's gaps and topics against hand-labelled fixture site pairs.

Each folder under tests/data/eval/ holds one site pair: a folder of HTML pages per domain and a
labels.json naming the gap topics a person judged right, each with the phrases that count as
that topic. A gap (or a topic, by its lead keyword) is right when one of those phrases occurs in
it word for word after stemming (a one-word term also matches the start of a compound, so
"dinkel" matches "Dinkelvollkornbrot"); a topic is judged by its title or lead keyword. Prints precision@10 per set and overall, and how many of
the labelled topics the top 10 reach.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import anyio

from research.engines.local import LocalEngine
from research.models import (
    DiscoveryRequest,
    KeywordResearch,
    Page,
    Report,
    SiteAnalysis,
    StageName,
    Topic,
)
from research.net.extract import extract_page
from research.progress import RunTracker, StageContext
from research.text.keyphrases import analyse_site
from research.text.phrases import phrase_key

EVAL_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "eval"
TOP = 10


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


def load_pages(folder: Path) -> list[Page]:
    """Return the pages of one fixture site, extracted from its HTML files."""
    pages = []
    for path in sorted(folder.glob("*.html")):
        slug = "" if path.stem == "index" else path.stem
        url = f"https://{folder.name}/{slug}"
        pages.append(extract_page(path.read_text("utf-8"), url, depth=0 if not slug else 1))
    return pages


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


def evaluate(folder: Path) -> SetScore:
    """Return the scores of one labelled set."""
    spec = json.loads((folder / "labels.json").read_text("utf-8"))
    language, labels = spec["language"], spec["gaps"]
    site = analyse_site(f"https://{spec['site']}/", load_pages(folder / spec["site"]), [])
    competitors = [
        analyse_site(f"https://{domain}/", load_pages(folder / domain), [])
        for domain in spec["competitors"]
    ]
    research, topics = anyio.run(run_engine, site, competitors)
    gaps = [(g.keyword, matching_topic(g.keyword, labels, language)) for g in research.gaps]
    ideas = [(t.title, _judge_topic(t, labels, language)) for t in topics]
    return SetScore(
        name=folder.name,
        gap_precision=_precision(gaps),
        topic_precision=_precision(ideas),
        gap_recall=_recall(gaps, labels),
        topic_recall=_recall(ideas, labels),
        gaps=gaps,
        topics=ideas,
    )


def evaluate_all() -> list[SetScore]:
    """Return the scores of every labelled set, by name."""
    return [evaluate(p.parent) for p in sorted(EVAL_DIR.glob("*/labels.json"))]


def main() -> None:
    """Print precision@10 (and topic recall) per set and overall."""
    scores = evaluate_all()
    for score in scores:
        print(f"\n== {score.name}")
        for label, judged in (("gaps", score.gaps), ("topics", score.topics)):
            print(f"  top {label}:")
            for text, topic in judged[:TOP]:
                print(f"    {'+' if topic else '-'} {text}" + (f"  [{topic}]" if topic else ""))
    print(f"\n{'set':<10} {'gaps P@10':>10} {'topics P@10':>12} {'gap R':>7} {'topic R':>8}")
    for s in scores:
        print(
            f"{s.name:<10} {s.gap_precision:>10.2f} {s.topic_precision:>12.2f} "
            f"{s.gap_recall:>7.2f} {s.topic_recall:>8.2f}"
        )
    n = len(scores)
    print(
        f"{'overall':<10} {sum(s.gap_precision for s in scores) / n:>10.2f} "
        f"{sum(s.topic_precision for s in scores) / n:>12.2f} "
        f"{sum(s.gap_recall for s in scores) / n:>7.2f} "
        f"{sum(s.topic_recall for s in scores) / n:>8.2f}"
    )


if __name__ == "__main__":
    main()
