"""The result tabs explain thin results, and the Topics chart is useful without competitors."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from research.models import SiteAnalysis
from research.text.keyphrases import NO_COMPETITOR, why_few_gaps


def _thin_run() -> None:
    from research.models import StageName
    from research.ui.report_view import render_results, render_stages
    from tests.sample_report import sample_report

    report = sample_report()
    report.gaps = []
    for topic in report.topics:
        topic.competitor_coverage = 0
    [rival] = report.competitors
    assert rival.analysis is not None
    rival.analysis.thin = "rival.test yielded little readable text: 4 pages could not be read."
    report.stages[StageName.KEYWORDS].status = "done"
    render_stages(report)
    render_results(report)


def test_a_thin_competitor_is_named_in_the_panel_and_the_gaps_and_topics_tabs() -> None:
    app = AppTest.from_function(_thin_run, default_timeout=30).run()
    assert not app.exception
    sentence = "rival.test yielded little readable text: 4 pages could not be read."
    assert [w.value for w in app.warning] == [sentence]
    infos = [i.value for i in app.info]
    assert any(i.startswith("No competitor gaps to work from, so these topics") for i in infos)
    assert sum(sentence in i for i in infos) == 2, infos  # Topics and Content gaps tabs


def test_topics_without_competitor_coverage_are_mapped_by_cluster_and_score() -> None:
    # no axis is competitor coverage, so topics with none do not collapse onto one line
    app = AppTest.from_function(_thin_run, default_timeout=30).run()
    [chart] = app.get("vega_lite_chart")
    points = json.loads(chart.proto.spec)["layer"][0]["encoding"]
    assert points["x"]["field"] == "cluster" and points["size"]["field"] == "score"
    assert "competitor coverage" not in json.dumps(points)


def test_few_gaps_always_come_with_a_reason() -> None:
    site = SiteAnalysis(url="https://mine.example/", domain="mine.example")
    rival = SiteAnalysis(url="https://rival.example/", domain="rival.example")
    assert why_few_gaps(site, [], 0) == [NO_COMPETITOR]
    assert why_few_gaps(site, [rival], 0) == [
        "The analysed competitors write about no subjects your site does not already cover; "
        "add competitors that write about more of your market."
    ]
    assert "only 1 subject your" in why_few_gaps(site, [rival], 1)[0]
    thin = rival.model_copy(update={"thin": "rival.example yielded little readable text: x."})
    assert why_few_gaps(site, [thin], 0, ["gone.example"]) == [
        "gone.example could not be analysed (see the Run log).",
        "rival.example yielded little readable text: x.",
    ]
    assert why_few_gaps(site, [rival], 5) == []
