"""The local engine's quality on the hand-labelled site pairs stays above measured floors.

Measured (bench/eval.py, November 2026, after the review pass): gaps P@10 brot 0.90, coffee
0.90, email 0.90, huerto 0.90; topics P@10 brot 1.00, coffee 1.00, email 0.90, huerto 0.89
(overall 0.90 and 0.95; before the review pass gaps were 0.80 for huerto, 0.88 overall, and
topics 0.90 for brot, 0.92 overall). The
Spanish set (huerto) was written after the engine was tuned on the other three; the only
changes it prompted were general ones (Spanish "por" may sit inside a phrase, French and
Spanish titles without gendered participles). The floors sit a little below: one more wrong
item in any one set still passes, overall and per set.

Real site pairs (tests/data/eval_real, December 2026). Before issue 10: analytics gaps 0.50,
topics 0.50, 4 brand leaks, 2 support topics; static-site-generators 0.00 and 0.00 with 0 of 57
XHTML pages read; search-engines 0.60, 0.60, 1 support topic. After the first round: analytics
0.80 and 0.80, static-site-generators 0.80 and 0.80, no brand leak, no support topic, every
page read; search-engines, held out until December 3 (never tuned on), 0.70 and 0.70.

December 3: search-engines joined the tuned pairs, and a new pair built from public
repositories, feature-flags (Flagsmith docs vs GrowthBook docs, labelled before any engine
run), became the held-out one. After general rules tuned on the three other pairs (kinds of
documentation page, adverbs, plumbing acronyms and code blocks are no subject; a competitor's
brand-comparison page is a sales page; the site's own everyday words recombined count half;
topics no competitor heads count 0.7; no copied "disable X" how-to): analytics 0.90 and 0.90,
search-engines 0.80 and 0.80, static-site-generators 0.80 and 0.90 (tuned overall 0.83 and
0.87); held out, measured once, feature-flags 0.90 and 1.00; no brand leak, no support topic,
every page read, in-house sets unchanged. After the title rules (sentence case but for the
words the crawled text capitalises, no how-to title saying what a heading says) every number
above is unchanged, the held-out pair's included (0.90 and 1.00, its second measurement).
"""

from __future__ import annotations

import pytest

from bench.eval import REAL_DIR, SetScore, evaluate_all, evaluate_real, print_table

SET_FLOOR = 0.7
GAP_OVERALL_FLOOR = 0.87
TOPIC_OVERALL_FLOOR = 0.9
REAL_FLOOR = 0.7  # measured 0.80 to 0.90 for the tuned pairs
REAL_OVERALL_FLOOR = 0.8  # measured 0.83 (gaps) and 0.87 (topics) over the tuned pairs
HELD_OUT_FLOOR = 0.8  # measured 0.90 and 1.00; never tuned on


@pytest.fixture(scope="module")
def scores() -> list[SetScore]:
    return evaluate_all()


def test_every_labelled_set_is_evaluated(scores: list[SetScore]) -> None:
    assert [s.name for s in scores] == ["brot", "coffee", "email", "huerto"]
    assert all(len(s.gaps) >= 10 and len(s.topics) >= 5 for s in scores)


def test_precision_at_10_per_set(scores: list[SetScore]) -> None:
    for score in scores:
        assert score.gap_precision >= SET_FLOOR, (score.name, score.gaps[:10])
        assert score.topic_precision >= SET_FLOOR, (score.name, score.topics[:10])


def test_precision_at_10_overall(scores: list[SetScore]) -> None:
    assert sum(s.gap_precision for s in scores) / len(scores) >= GAP_OVERALL_FLOOR
    assert sum(s.topic_precision for s in scores) / len(scores) >= TOPIC_OVERALL_FLOOR


def test_brand_names_and_covered_subjects_are_not_gaps(scores: list[SetScore]) -> None:
    coffee = next(s for s in scores if s.name == "coffee")
    gaps = [text.lower() for text, _ in coffee.gaps]
    assert not any("daily grind" in g for g in gaps)
    assert not any(g in ("grind size", "french press", "brew ratio") for g in gaps)


def test_german_topics_do_not_promise_everyday_or_covered_words(scores: list[SetScore]) -> None:
    brot = next(s for s in scores if s.name == "brot")
    titles = [title for title, _ in brot.topics]
    assert any(t.startswith("Knusprige Brötchen") for t in titles), titles
    # "Bäcker" is a word the site uses; wheat is covered by its Weizenmehl and Weizensauerteig
    assert not any("Bäcker" in t or t.startswith("Weizen ") for t in titles), titles


def test_related_gaps_are_clustered_into_one_topic(scores: list[SetScore]) -> None:
    coffee = next(s for s in scores if s.name == "coffee")
    grinders = [t for t, label in coffee.topics if label == "burr grinders"]
    assert grinders == ["Burr grinder vs blade grinder: when to use which"], coffee.topics


@pytest.fixture(scope="module")
def real() -> list[SetScore]:
    return evaluate_real()


def test_every_real_pair_is_evaluated_and_every_page_read(real: list[SetScore]) -> None:
    assert [(s.name, s.held_out) for s in real] == [
        ("analytics", False),
        ("feature-flags", True),
        ("search-engines", False),
        ("static-site-generators", False),
    ]
    for score in real:
        assert score.pages_crawled >= 50 and score.pages_read == score.pages_crawled, score.name


def test_real_pairs_keep_their_precision(real: list[SetScore]) -> None:
    for score in real:
        floor = HELD_OUT_FLOOR if score.held_out else REAL_FLOOR
        assert score.gap_precision >= floor, (score.name, score.gaps[:10])
        assert score.topic_precision >= floor, (score.name, score.topics[:10])


def test_tuned_real_pairs_keep_their_precision_overall(real: list[SetScore]) -> None:
    tuned = [s for s in real if not s.held_out]
    assert sum(s.gap_precision for s in tuned) / len(tuned) >= REAL_OVERALL_FLOOR
    assert sum(s.topic_precision for s in tuned) / len(tuned) >= REAL_OVERALL_FLOOR


def test_real_pairs_have_no_brand_and_no_support_topic(real: list[SetScore]) -> None:
    for score in real:
        assert score.brand_leaks == [], score.name
        assert score.support_topics == [], score.name


def test_a_real_pair_is_xhtml_with_an_xml_declaration_and_is_read(real: list[SetScore]) -> None:
    xhtml = [f.parent.name for f in REAL_DIR.glob("*/FORMAT") if f.read_text().strip() == "xhtml"]
    assert xhtml, "no real pair is served as XHTML"
    for name in xhtml:
        files = list((REAL_DIR / name).glob("*/*.html"))
        assert files and all(f.read_bytes().startswith(b"<?xml") for f in files), name
        [score] = [s for s in real if s.name == name]
        assert score.pages_read == score.pages_crawled == len(files)


def test_the_eval_prints_every_goal_per_pair_and_overall(
    real: list[SetScore], capsys: pytest.CaptureFixture[str]
) -> None:
    print_table("real pairs", real)
    header, *rows, overall = capsys.readouterr().out.strip().splitlines()
    for column in ("gaps P@10", "topics P@10", "brands", "support", "read/crawled"):
        assert column in header
    assert [row.split()[0] for row in rows] == [s.name for s in real]
    assert overall.startswith("overall")
    for row, score in zip(rows, real, strict=True):
        assert row.split()[1:3] == [f"{score.gap_precision:.2f}", f"{score.topic_precision:.2f}"]
        assert row.split()[-1] == f"{score.pages_read}/{score.pages_crawled}"
