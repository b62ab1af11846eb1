"""Topic ideas: gaps and under-covered phrases clustered, titled, scored and explained."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.cluster import AgglomerativeClustering
from sklearn.preprocessing import normalize

from research.engines.local.gaps import UNHEADED, Gap
from research.engines.local.titles import (
    capitalised_words,
    deeper_title,
    subject_phrases,
    topic_title,
    written_phrases,
)
from research.models import Topic
from research.text.offtopic import is_off_topic
from research.text.phrases import SitePhrases

MAX_ITEMS = 60
MAX_TOPICS = 20
MAX_TOPIC_KEYWORDS = 8
MAX_TOPIC_EVIDENCE = 8
# Cosine distance under which two phrases belong to the same topic.
DISTANCE_THRESHOLD = 0.7
# A phrase that heads a competitor section leads its topic's title over a 1.5x better score.
HEADED_LEAD = 1.5
# Word overlap counts less than sharing pages when deciding what belongs together.
WORD_WEIGHT = 0.6
# Weights of the topic score (they sum to 1); see score_topic.
W_COVERAGE, W_DEMAND, W_SIZE, W_COHESION = 0.35, 0.35, 0.15, 0.15


@dataclass
class Cluster:
    """Gaps grouped into one topic, with how tightly they belong together."""

    gaps: list[Gap]
    cohesion: float


def cluster_gaps(gaps: Sequence[Gap], sources: Sequence[SitePhrases]) -> list[Cluster]:
    """Group phrases that share pages and words (agglomerative, cosine, average link)."""
    items = list(gaps[:MAX_ITEMS])
    if len(items) < 2:
        return [Cluster(items, 1.0)] if items else []
    matrix = _features(items, sources)
    labels = AgglomerativeClustering(
        n_clusters=None,
        metric="cosine",
        linkage="average",
        distance_threshold=DISTANCE_THRESHOLD,
    ).fit_predict(matrix)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    clusters: list[Cluster] = []
    for members in groups.values():
        members.sort()
        sims = matrix[members] @ matrix[members].T
        k = len(members)
        cohesion = 1.0 if k == 1 else float((sims.sum() - k) / (k * (k - 1)))
        clusters.append(Cluster([items[i] for i in members], max(0.0, min(1.0, cohesion))))
    clusters.sort(key=lambda c: c.gaps[0].key)
    return clusters


def _features(items: Sequence[Gap], sources: Sequence[SitePhrases]) -> np.ndarray:
    """Rows: one per phrase; columns: pages (the phrase's weight there) and stemmed words."""
    columns: dict[str, int] = {}
    rows: list[dict[int, float]] = []
    for gap in items:
        row: dict[int, float] = {}
        for source in sources:
            stat = source.stats.get(gap.key)
            if stat is None:
                continue
            for url, weight in stat.weights.items():
                row[columns.setdefault("p:" + url, len(columns))] = weight
        scale = max(row.values(), default=1.0)
        for word in gap.key.split():
            col = columns.setdefault("w:" + word, len(columns))
            row[col] = row.get(col, 0.0) + WORD_WEIGHT * scale
        rows.append(row)
    matrix = np.zeros((len(rows), len(columns)))
    for i, row in enumerate(rows):
        for col, value in row.items():
            matrix[i, col] = value
    return normalize(matrix)


def score_topic(cluster: Cluster, competitors: int, top_demand: float) -> float:
    """Return a topic's score from 0 to 100.

    score = 100 x weakness x headed x (0.35 coverage + 0.35 demand + 0.15 size
                                       + 0.15 cohesion), where
    headed = 0.7 when competitors cover it but none gives any of its phrases a title or a
    heading (only their running text: examples, not a subject of theirs), else 1;
    coverage = competitors covering any of its phrases / competitors analysed;
    demand = the cluster's summed gap scores / the best cluster's sum;
    size = log2(1 + phrases) / log2(1 + 8), capped at 1;
    cohesion = mean cosine similarity between its phrases (1 for a single phrase);
    weakness = its phrases' site weakness (1 never mentioned, 0.5 in passing), averaged with
    their gap scores as weights.
    """
    covering = len({d for g in cluster.gaps for d in g.competitors})
    coverage = covering / competitors if competitors else 0.0
    demand = sum(g.score for g in cluster.gaps) / top_demand if top_demand else 0.0
    size = min(1.0, math.log2(1 + len(cluster.gaps)) / math.log2(1 + MAX_TOPIC_KEYWORDS))
    total = sum(g.score for g in cluster.gaps)
    weakness = sum(g.score * g.weakness for g in cluster.gaps) / total if total else 1.0
    headed = UNHEADED if covering and not any(g.headed for g in cluster.gaps) else 1.0
    blend = W_COVERAGE * coverage + W_DEMAND * demand + W_SIZE * size
    return round(100 * weakness * headed * (blend + W_COHESION * cluster.cohesion), 1)


def topic_reason(cluster: Cluster, competitors: int) -> str:
    """Return one plain sentence saying why the topic is worth writing."""
    covering = sorted({d for g in cluster.gaps for d in g.competitors})
    pages = len({u for g in cluster.gaps for u in g.evidence})
    plural = "s" if pages != 1 else ""
    if not covering and all(g.headed for g in cluster.gaps):
        return (
            f"Only {pages} page{plural} of your site treat{'s' if pages == 1 else ''} this; "
            "a follow-up piece would deepen it and link the subject together."
        )
    if not covering:
        return (
            f"Your site mentions this on {pages} page{plural} but no page is about it yet; "
            "a dedicated article would cover it properly."
        )
    mentioned = any(g.weakness < 1.0 for g in cluster.gaps)
    own = "your site only mentions it in passing" if mentioned else "your site never covers it"
    names = ", ".join(covering[:3]) + (" and others" if len(covering) > 3 else "")
    return f"{len(covering)} of {competitors} competitors ({names}) cover this on {pages} page{plural}; {own}."


def propose(
    site: SitePhrases, competitors: Sequence[SitePhrases], gaps: Sequence[Gap]
) -> list[Topic]:
    """Return topic ideas, best first; none names a site's brand or an account subject."""
    sites = (*competitors, site)
    brands = sorted({name for s in sites for name in s.brand})
    gaps = [g for g in gaps if not is_off_topic(g.label, brands, site.language)]
    clusters = cluster_gaps(gaps, [*competitors, site])
    if not clusters:
        return []
    top_demand = max(sum(g.score for g in c.gaps) for c in clusters)
    headings = {
        p.url: [h for h in (p.title, *p.headings) if not is_off_topic(h, brands, site.language)]
        for s in sites
        for p in s.pages
    }
    texts = [p for s in sites for p in s.pages]
    capitals, written, subjects = (
        capitalised_words(texts),
        written_phrases(texts),
        subject_phrases(texts),
    )
    topics: list[Topic] = []
    titles: set[str] = set()
    for cluster in clusters:
        ranked = sorted(
            cluster.gaps, key=lambda g: (-g.score * (HEADED_LEAD if g.headed else 1.0), g.key)
        )
        evidence = _evidence(ranked)
        if all(g.headed and not g.competitors for g in ranked):
            title = deeper_title(ranked[0].label, site.language)
        else:
            title = topic_title(
                ranked[0].label,
                _companions(ranked),
                [g.label for g in ranked],
                [h for u in evidence for h in headings.get(u, [])],
                site.language,
                capitals,
                written,
                subjects,
            )
        if title.lower() in titles:
            title = f"{title} ({ranked[0].label})"
        titles.add(title.lower())
        topics.append(
            Topic(
                title=title,
                keywords=[g.label for g in ranked[:MAX_TOPIC_KEYWORDS]],
                score=score_topic(cluster, len(competitors), top_demand),
                reason=topic_reason(cluster, len(competitors)),
                evidence=evidence,
                competitor_coverage=len({d for g in cluster.gaps for d in g.competitors}),
            )
        )
    topics.sort(key=lambda t: (-t.score, t.title))
    return topics[:MAX_TOPICS]


def _companions(ranked: Sequence[Gap]) -> list[str]:
    """Recurring phrases that head a competitor section and add words the others lack.

    A single word the site itself uses is no companion: it is an everyday word there
    ("Bäcker" next to "knusprige Brötchen"), not a subject to promise in the title.
    """
    seen = set(ranked[0].key.split())
    chosen: list[str] = []
    for gap in ranked[1:]:
        words = set(gap.key.split())
        everyday = gap.words == 1 and gap.weakness < 1.0
        if gap.solid and gap.headed and not everyday and not words & seen:
            chosen.append(gap.label)
            seen |= words
    return chosen


def _evidence(gaps: Sequence[Gap]) -> list[str]:
    """Pages carrying the most of the topic's phrases, best first."""
    counts: dict[str, float] = {}
    for rank, gap in enumerate(gaps):
        for position, url in enumerate(gap.evidence):
            counts[url] = counts.get(url, 0.0) + 1.0 / (1 + rank) + 0.1 / (1 + position)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [u for u, _ in ordered[:MAX_TOPIC_EVIDENCE]]
