"""Grading a draft against its brief: the score behaves, HTML and Markdown read alike, the CLI.

Fixture briefs carry the writer's-plan fields (must-cover subtopics, questions, target words)
set by hand, so these tests do not depend on how an engine fills them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from research.cli import main
from research.grade import grade_draft, parse_draft
from research.models import Brief, Grade, Report, SubtopicCoverage, TargetWords, Topic
from tests.fakes.site import SiteServer
from tests.sample_report import sample_report, seed

TOPIC = "Bounce rate for content teams"
SECTIONS = {
    "What bounce rate measures": "Bounce rate measures the share of visits that view one page "
    "and leave. The bounce rate of a blog post says whether readers stayed on the site.",
    "Benchmarks by page type": "Benchmarks differ by page type: a landing page and a blog post "
    "have different bounce benchmarks, so compare each page type with its own kind.",
    "Reading time and engagement": "Reading time shows engagement better than bounce rate "
    "alone. Track reading time and scroll depth for every article.",
    "How to lower bounce rate": "To lower bounce rate, link related articles, answer the "
    "question early and speed up slow pages. A lower bounce rate follows better links.",
}
QUESTIONS = ["What is a good bounce rate for a blog?", "How does reading time relate to bounce?"]
ANSWERS = (
    "A good bounce rate for a blog is high by design: readers find the answer and leave. "
    "Reading time relates to bounce because a long reading time with a bounce is still success."
)
FILLER = "Teams review these numbers weekly and write down what they change and why it helped. "
GARDEN = (
    "Tomatoes need full sun, rich soil and steady watering through the summer months. "
    "Mulch keeps the roots cool and holds moisture after the evening watering. "
)


IN_RANGE = TargetWords(min=150, max=600, basis="fixture")


def brief(target: TargetWords | None = IN_RANGE) -> Brief:
    """The fixture brief: four outline headings, three must-cover subtopics, two questions."""
    return Brief(
        topic=TOPIC,
        outline=list(SECTIONS),
        questions=QUESTIONS,
        target_words=target,
        coverage=[
            SubtopicCoverage(subtopic="bounce rate benchmarks", competitors=["a", "b"], must=True),
            SubtopicCoverage(subtopic="reading time", competitors=["a", "b"], must=True),
            SubtopicCoverage(subtopic="lower bounce rate", competitors=["a"], must=True),
            SubtopicCoverage(subtopic="heatmap tools", competitors=["a"], must=False),
        ],
    )


def report(*briefs: Brief) -> Report:
    """A saved-run report with the fixture topic and the given briefs."""
    base = sample_report()
    topic = Topic(title=TOPIC, keywords=["bounce rate", "reading time", "scroll depth"], score=1)
    return base.model_copy(update={"topics": [topic], "briefs": list(briefs)})


def markdown(sections: dict[str, str], filler: int = 4) -> str:
    """A Markdown draft: a title, one section per heading, the answers, some filler."""
    parts = [f"# {TOPIC}", ""]
    for heading, body in sections.items():
        parts += [f"## {heading}", "", body + " " + FILLER * filler, ""]
    parts += ["## Questions readers ask", "", ANSWERS]
    return "\n".join(parts)


def html(sections: dict[str, str]) -> str:
    """The same draft as an HTML page."""
    body = "".join(f"<h2>{h}</h2><p>{b} {FILLER * 4}</p>" for h, b in sections.items())
    return (
        f"<html><head><title>{TOPIC}</title></head><body><article><h1>{TOPIC}</h1>{body}"
        f"<h2>Questions readers ask</h2><p>{ANSWERS}</p></article></body></html>"
    )


def graded(text: str, kind: str = "markdown", the_brief: Brief | None = None) -> Grade:
    return grade_draft(report(the_brief or brief()), 1, parse_draft(text, kind))  # type: ignore[arg-type]


def scores(grade: Grade) -> dict[str, float | None]:
    return {name: part.score for name, part in grade.parts.items()}


def test_the_outline_expanded_beats_an_unrelated_article_of_the_same_length() -> None:
    good = markdown(SECTIONS)
    words = parse_draft(good, "markdown").words
    headings = "\n\n".join(f"## Garden note {n}\n\n{GARDEN * 3}" for n in range(5))
    unrelated = f"# Growing tomatoes\n\n{headings}"
    while parse_draft(unrelated, "markdown").words < words:
        unrelated += " " + GARDEN
    assert abs(parse_draft(unrelated, "markdown").words - words) < 40
    ours, theirs = graded(good), graded(unrelated)
    assert ours.score >= 90 and ours.missing == []
    assert theirs.score < 50 < ours.score
    assert scores(ours)["coverage"] == 100 and scores(theirs)["coverage"] == 0
    kinds = [item.kind for item in theirs.missing]
    assert kinds == sorted(kinds, key=["subtopic", "keyphrase", "question"].index)
    assert [i.text for i in theirs.missing if i.kind == "subtopic"] == [
        "bounce rate benchmarks", "reading time", "lower bounce rate",
    ]  # fmt: skip
    assert [i.text for i in theirs.missing if i.kind == "question"] == QUESTIONS


def without_reading_time(sections: dict[str, str]) -> str:
    """The Markdown draft with no word of reading time outside its own section."""
    answer = ANSWERS.split(". Reading")[0] + "."
    return markdown(sections).replace(ANSWERS, answer)


def test_adding_a_missing_must_cover_section_raises_the_score() -> None:
    without = {h: b for h, b in SECTIONS.items() if h != "Reading time and engagement"}
    before = graded(without_reading_time(without))
    assert [i.text for i in before.missing if i.kind == "subtopic"] == ["reading time"]
    after = graded(without_reading_time(SECTIONS))
    assert "reading time" not in [i.text for i in after.missing]
    assert after.score > before.score
    assert scores(after)["coverage"] == 100 > (scores(before)["coverage"] or 0)


def test_a_draft_far_outside_the_target_length_loses_the_length_part_only() -> None:
    text = markdown(SECTIONS)
    inside = graded(text)
    far = graded(text, the_brief=brief(TargetWords(min=5000, max=8000)))
    short = graded(markdown(SECTIONS, filler=0), the_brief=brief(TargetWords(min=10, max=60)))
    assert scores(inside)["length"] == 100
    assert (scores(far)["length"] or 0) < 15 and (scores(short)["length"] or 0) < 60
    for other in (far, short):
        changed = {n for n, s in scores(other).items() if s != scores(inside)[n]}
        assert changed == {"length"}
        assert other.score < inside.score
    neutral = graded(text, the_brief=brief(None))
    assert neutral.parts["length"].score is None and neutral.parts["length"].weight == 0
    assert neutral.score == 100  # a part with nothing to grade neither adds nor takes away


def test_html_and_markdown_drafts_read_alike_and_outline_stands_in_for_coverage() -> None:
    as_markdown, as_html = graded(markdown(SECTIONS)), graded(html(SECTIONS), "html")
    assert scores(as_html) == scores(as_markdown)
    parsed = parse_draft(html(SECTIONS), "html")
    assert list(SECTIONS) == [h for h in parsed.headings if h in SECTIONS]
    plain = markdown(SECTIONS).replace("## ", "").replace("# ", "")
    assert parse_draft(plain, "text").headings[:2] == [TOPIC, "What bounce rate measures"]
    no_coverage = brief().model_copy(update={"coverage": []})
    half = {h: b for h, b in list(SECTIONS.items())[:2]}
    result = graded(markdown(half).replace(ANSWERS, ""), the_brief=no_coverage)
    missing = [i.text for i in result.missing if i.kind == "subtopic"]
    assert missing == ["Reading time and engagement", "How to lower bounce rate"]


@pytest.fixture
def saved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Report:
    """A run with the fixture brief in the database the in-process CLI uses."""
    monkeypatch.setenv("RESEARCH_DB", str(tmp_path / "runs.sqlite3"))
    monkeypatch.delenv("RESEARCH_ALLOW_PRIVATE_HOSTS", raising=False)
    run = report(brief())
    seed(tmp_path / "runs.sqlite3", run)
    return run


def test_cli_grades_a_file_and_writes_json(
    saved: Report, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text(
        without_reading_time({h: b for h, b in SECTIONS.items() if "Reading" not in h})
    )
    out = tmp_path / "grade.json"
    assert (
        main(["grade", saved.run_id, "--brief", "1", "--draft", str(draft), "--json", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert set(data) == {"score", "parts", "missing"}
    assert set(data["parts"]) == {"coverage", "keyphrases", "questions", "length", "headings"}
    assert all(set(part) == {"score", "weight"} for part in data["parts"].values())
    assert f"Score: {data['score']}/100" in printed
    assert "subtopic: reading time" in printed
    assert {"kind": "subtopic", "text": "reading time"} in data["missing"]


def test_cli_refuses_missing_run_brief_and_file_with_one_line(
    saved: Report, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text(markdown(SECTIONS))
    for args, words in (
        (["nope", "--brief", "1", "--draft", str(draft)], "No saved run"),
        ([saved.run_id, "--brief", "2", "--draft", str(draft)], "there is no brief 2"),
        ([saved.run_id, "--brief", "0", "--draft", str(draft)], "there is no brief 0"),
        ([saved.run_id, "--brief", "1", "--draft", str(tmp_path / "gone.md")], "No draft file"),
    ):
        assert main(["grade", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err


def test_cli_grades_a_url_through_the_guarded_fetcher(
    saved: Report,
    sites: tuple[SiteServer, SiteServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site, _ = sites
    page = f"{site.url}blog/bounce-rate"
    # A refused address is bad input, as for `discover`: exit 2 with one line.
    assert main(["grade", saved.run_id, "--brief", "1", "--url", page]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "private or reserved address" in err
    assert site.requests == [], "a refused host is never contacted"
    assert "--allow-private-hosts" in err  # ...which grade takes, as discover does
    assert (
        main(["grade", saved.run_id, "--brief", "1", "--url", page, "--allow-private-hosts"]) == 0
    )
    assert capsys.readouterr().out.startswith("Score: ") and site.requests
    metadata = "http://169.254.169.254/latest/meta-data/"
    monkeypatch.setenv("RESEARCH_ALLOW_PRIVATE_HOSTS", "1")
    assert main(["grade", saved.run_id, "--brief", "1", "--url", metadata]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cloud metadata" in err
    assert main(["grade", saved.run_id, "--brief", "1", "--url", page]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("Score: ") and "coverage" in printed
    assert site.requests
