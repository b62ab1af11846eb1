"""compare_runs(): what changed between two runs of a site (topics new, gone, rescored; gaps)."""

from __future__ import annotations

import math

from research.models import ContentGap, Report, RunComparison, Topic, TopicChange

# Two topics with differently worded titles are the same idea when their keywords overlap this
# much (Jaccard similarity of the keyword sets).
SAME_TOPIC_OVERLAP = 0.5


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def _overlap(a: Topic, b: Topic) -> float:
    left, right = {_key(k) for k in a.keywords}, {_key(k) for k in b.keywords}
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def _match_topics(old: list[Topic], new: list[Topic]) -> list[tuple[Topic, Topic]]:
    """Pair topics of two runs: same title first, then the best keyword overlap."""
    pairs: list[tuple[Topic, Topic]] = []
    by_title = {_key(topic.title): topic for topic in old}
    unmatched_new: list[Topic] = []
    for topic in new:
        previous = by_title.pop(_key(topic.title), None)
        if previous is None:
            unmatched_new.append(topic)
        else:
            pairs.append((previous, topic))
    remaining = list(by_title.values())
    for topic in unmatched_new:
        best = max(remaining, key=lambda candidate: _overlap(candidate, topic), default=None)
        if best is not None and _overlap(best, topic) >= SAME_TOPIC_OVERLAP:
            pairs.append((best, topic))
            remaining.remove(best)
    return pairs


def _gaps_missing_from(gaps: list[ContentGap], other: list[ContentGap]) -> list[ContentGap]:
    present = {_key(gap.keyword) for gap in other}
    return [gap for gap in gaps if _key(gap.keyword) not in present]


def compare_runs(first: Report, second: Report) -> RunComparison:
    """Return the changes from the earlier of two runs to the later one."""
    old, new = sorted((first, second), key=lambda report: report.started_at)
    pairs = _match_topics(old.topics, new.topics)
    matched_old = {id(a) for a, _ in pairs}
    matched_new = {id(b) for _, b in pairs}
    changed = [
        TopicChange(title=b.title, old_title=a.title, old_score=a.score, new_score=b.score)
        for a, b in pairs
        if not math.isclose(a.score, b.score, rel_tol=1e-3, abs_tol=1e-3)
        or _key(a.title) != _key(b.title)
    ]
    return RunComparison(
        old_run_id=old.run_id,
        new_run_id=new.run_id,
        new_topics=[topic for topic in new.topics if id(topic) not in matched_new],
        gone_topics=[topic for topic in old.topics if id(topic) not in matched_old],
        changed_topics=changed,
        unchanged_topics=len(pairs) - len(changed),
        new_gaps=_gaps_missing_from(new.gaps, old.gaps),
        gone_gaps=_gaps_missing_from(old.gaps, new.gaps),
    )
