"""compare_runs: topics new, gone and rescored, and gaps, between two runs of a site."""

from __future__ import annotations

from datetime import timedelta

from research.compare import compare_runs
from tests.sample_report import START, sample_report


def test_topics_and_gaps_between_two_runs() -> None:
    old = sample_report(
        topics=[("Garden irrigation", 0.9), ("Composting basics", 0.7), ("Lawn care", 0.5)],
        gaps=["drip irrigation", "rain barrels"],
    )
    new = sample_report(
        topics=[("Garden Irrigation", 0.6), ("Composting  basics", 0.7), ("Mulching", 0.4)],
        gaps=["rain barrels", "soil testing"],
        started_at=START + timedelta(days=30),
    )
    # Argument order does not matter: the earlier run is the baseline.
    for result in (compare_runs(old, new), compare_runs(new, old)):
        assert (result.old_run_id, result.new_run_id) == (old.run_id, new.run_id)
        assert [t.title for t in result.new_topics] == ["Mulching"]
        assert [t.title for t in result.gone_topics] == ["Lawn care"]
        [change] = result.changed_topics
        assert (change.title, change.old_score, change.new_score) == ("Garden Irrigation", 0.9, 0.6)
        assert result.unchanged_topics == 1
        assert [g.keyword for g in result.new_gaps] == ["soil testing"]
        assert [g.keyword for g in result.gone_gaps] == ["drip irrigation"]


def test_reworded_topic_with_the_same_keywords_is_a_change() -> None:
    old = sample_report(topics=[("Drip irrigation kits", 0.8)])
    new = sample_report(topics=[("Kits for drip irrigation", 0.8)], started_at=START.replace(day=9))
    new.topics[0].keywords = old.topics[0].keywords
    result = compare_runs(old, new)
    assert not result.new_topics and not result.gone_topics
    [change] = result.changed_topics
    assert (change.old_title, change.title) == ("Drip irrigation kits", "Kits for drip irrigation")


def test_identical_runs_have_no_changes() -> None:
    report = sample_report()
    result = compare_runs(report, report.model_copy(deep=True))
    assert not (result.new_topics or result.gone_topics or result.changed_topics)
    assert not (result.new_gaps or result.gone_gaps)
    assert result.unchanged_topics == len(report.topics)
