"""The local engine on pages built in memory: keyphrases, gaps, topics, briefs, determinism."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from bench.bench_local import analyse_all, make_sites, package_prose, section_pool
from research.engines.keyphrases import analyse_site
from research.engines.local import LocalEngine
from research.engines.titles import topic_title
from research.models import DiscoveryRequest, Page, Report, SiteAnalysis, StageName
from research.progress import RunTracker, StageContext
from research.runtime.loop_runner import LoopRunner

NAV = "Bread baking courses\nFlour shop"
FOOTER = "Subscribe to our newsletter for weekly baking notes. © Crumb Bakery School"


def _page(url: str, title: str, headings: list[str], body: str, links: list[str] = ()) -> Page:
    text = f"{NAV}\n{body}\n{FOOTER}"
    return Page(url=url, title=title, headings=headings, text=text, links=links)


SITE = [
    _page(
        "https://crumb.test/",
        "Crumb | Sourdough bread at home",
        ["Sourdough bread at home"],
        "Sourdough bread needs only flour, water and salt. A lively sourdough starter does the "
        "rest. Our sourdough bread recipes start with a simple country loaf. Preheat a hot oven "
        "for a full hour before baking.",
        [
            "https://rival.test/starter",
            "https://facebook.com/crumb",
            "https://flourmill.test/",
            "https://shop.crumb.test/",
            "https://cdn.jsdelivr.net/x.js",
        ],
    ),
    _page(
        "https://crumb.test/starter",
        "Making a sourdough starter | Crumb",
        ["Making a sourdough starter", "Feeding schedule"],
        "A sourdough starter is flour and water colonised by wild yeast. Keep the sourdough "
        "starter at room temperature. The feeding schedule decides how sour the bread tastes.",
        ["https://rival.test/"],
    ),
    _page(
        "https://crumb.test/loaf",
        "Country loaf recipe | Crumb",
        ["Country loaf recipe"],
        "The country loaf is our everyday sourdough bread. Mix, rest, fold and bake the country "
        "loaf in a hot oven.",
        ["https://flourmill.test/about"],
    ),
]

RIVAL = [
    _page(
        "https://rival.test/",
        "Rival Bakes | Sourdough guides",
        ["Sourdough guides"],
        "Guides to sourdough bread, bulk fermentation and shaping. Learn how a banneton basket "
        "shapes the loaf.",
    ),
    _page(
        "https://rival.test/bulk",
        "Bulk fermentation explained | Rival Bakes",
        ["Bulk fermentation", "How to read bulk fermentation"],
        "Bulk fermentation is the first long rise of the dough. During bulk fermentation the "
        "dough grows by half. Stretch and folds during bulk fermentation build strength. "
        "Watch the dough temperature: warm dough ferments faster.",
    ),
    _page(
        "https://rival.test/banneton",
        "Banneton basket guide | Rival Bakes",
        ["Banneton basket", "Cleaning a banneton basket"],
        "A banneton basket holds the shaped loaf during the final proof. Dust the banneton "
        "basket with rice flour so the dough does not stick. What size banneton basket do you "
        "need? A round banneton basket suits a country loaf.",
    ),
    _page(
        "https://rival.test/temperature",
        "Dough temperature and bulk fermentation | Rival Bakes",
        ["Dough temperature"],
        "Dough temperature controls the speed of bulk fermentation. Aim for a dough temperature "
        "of 24 degrees. Measure dough temperature with a probe thermometer.",
    ),
]


def _ctx(stage: StageName) -> StageContext:
    return StageContext(
        RunTracker(Report(request=DiscoveryRequest(url="https://crumb.test"))), stage
    )


def test_analyse_site_finds_multiword_keyphrases_without_boilerplate() -> None:
    analysis = analyse_site("https://crumb.test/", SITE, [])
    assert analysis.domain == "crumb.test"
    assert analysis.title == "Crumb | Sourdough bread at home"
    assert analysis.language == "en"
    words = [k.keyword for k in analysis.keyphrases]
    assert {"sourdough bread", "sourdough starter"} <= set(words[:3])
    assert "country loaf" in words
    assert all(len(w.split()) >= 2 for w in words)
    boilerplate = ("baking notes", "bakery school", "baking courses", "flour shop")
    assert not any(b in w.lower() for w in words for b in boilerplate), words
    assert analysis.outbound_domains == ["flourmill.test", "rival.test"]


def test_singular_and_plural_merge_and_every_page_gets_its_keyphrases() -> None:
    pages = [
        Page(
            url="https://gaps.test/a",
            title="Finding content gaps",
            text="A content gap is a subject your rivals cover. List every content gap you find.",
        ),
        Page(
            url="https://gaps.test/b",
            title="Ranking content gaps",
            text="Rank content gaps by how many rivals cover them. Keyword research helps.",
        ),
        Page(
            url="https://gaps.test/c",
            title="Keyword research basics",
            text="Keyword research starts with one content gap. Keyword research tools help.",
        ),
    ]
    analysis = analyse_site("https://gaps.test/a", pages, [])
    gaps = [k for k in analysis.keyphrases if k.keyword.startswith("content gap")]
    assert [(k.keyword, k.pages) for k in gaps] == [("content gap", 3)]
    keyphrases = {p.url: p.keyphrases for p in analysis.pages}
    assert keyphrases["https://gaps.test/a"][0] == "content gap"
    assert keyphrases["https://gaps.test/c"][0] == "keyword research"


@pytest.mark.anyio
async def test_ports_make_different_domains_and_candidates_keep_their_scheme() -> None:
    home = Page(
        url="http://127.0.0.1:8001/",
        links=["http://127.0.0.1:8002/guide", "/about", "http://127.0.0.1:8001/x"],
    )
    analysis = analyse_site("http://127.0.0.1:8001/", [home], [])
    assert analysis.domain == "127.0.0.1:8001"
    assert analysis.outbound_domains == ["127.0.0.1:8002"]
    engine = LocalEngine(anyio.CapacityLimiter(1))
    ctx = _ctx(StageName.COMPETITORS)
    found = await engine.find_competitors(ctx, analysis, [], 5)
    assert [(c.url, c.domain, c.source) for c in found] == [
        ("http://127.0.0.1:8002/", "127.0.0.1:8002", "outbound_link")
    ]
    assert await engine.find_competitors(ctx, analysis, ["http://127.0.0.1:8002/"], 5) == []
    assert "needs Gemini" in ctx.tracker.snapshot().log[-1].message


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Der Sauerteig braucht Zeit, und das Brot wird dann besser.", "de"),
        ("Le levain a besoin de temps et le pain sera meilleur.", "fr"),
        ("La masa madre necesita tiempo y el pan será mejor.", "es"),
        ("Sourdough needs time and the bread will be better for it.", "en"),
    ],
)
def test_site_language_is_detected_when_pages_do_not_declare_it(text: str, language: str) -> None:
    pages = [Page(url=f"https://lang.test/{i}", text=text) for i in range(3)]
    assert analyse_site("https://lang.test/0", pages, []).language == language


async def _run_engine(site: SiteAnalysis, rival: SiteAnalysis) -> tuple[object, ...]:
    engine = LocalEngine(anyio.CapacityLimiter(2))
    found = await engine.find_competitors(_ctx(StageName.COMPETITORS), site, [], 5)
    research = await engine.expand_keywords(_ctx(StageName.KEYWORDS), site, [rival])
    topics = await engine.propose_topics(_ctx(StageName.TOPICS), site, [rival], research)
    streamed: list[str] = []
    brief = await engine.write_brief(
        _ctx(StageName.BRIEFS), topics[0], site, [rival], on_text=streamed.append
    )
    return found, research, topics, brief, streamed


@pytest.mark.anyio
async def test_without_competitors_topics_come_from_under_covered_site_phrases() -> None:
    site = analyse_site("https://crumb.test/", SITE, [])
    engine = LocalEngine(anyio.CapacityLimiter(2))
    research = await engine.expand_keywords(_ctx(StageName.KEYWORDS), site, [])
    assert research.keywords and not research.gaps
    topics = await engine.propose_topics(_ctx(StageName.TOPICS), site, [], research)
    assert topics[0].keywords == ["hot oven"]
    assert "no page is about it" in topics[0].reason
    assert topics[0].competitor_coverage == 0
    brief = await engine.write_brief(_ctx(StageName.BRIEFS), topics[0], site, [])
    assert brief.passages and all(p.url.startswith("https://crumb.test/") for p in brief.passages)
    assert any("hot oven" in p.text for p in brief.passages)


@pytest.mark.anyio
async def test_engine_finds_gaps_topics_and_cited_briefs() -> None:
    site = analyse_site("https://crumb.test/", SITE, [])
    rival = analyse_site("https://rival.test/", RIVAL, [])
    found, research, topics, brief, streamed = await _run_engine(site, rival)

    assert [c.domain for c in found] == ["flourmill.test", "rival.test"]
    assert all(c.source == "outbound_link" and c.url.startswith("https://") for c in found)

    gaps = [g.keyword for g in research.gaps]
    assert "bulk fermentation" in gaps[:3]
    assert "banneton basket" in gaps[:3]
    assert "sourdough bread" not in gaps and "sourdough starter" not in gaps
    bulk = next(g for g in research.gaps if g.keyword == "bulk fermentation")
    assert bulk.competitors == ["rival.test"]
    assert "https://rival.test/bulk" in bulk.evidence
    keywords = {k.keyword: k for k in research.keywords}
    assert keywords["sourdough bread"].site_pages == 2
    assert keywords["sourdough bread"].competitor_pages == 1

    assert topics and topics[0].score >= topics[-1].score
    assert all(t.reason and t.keywords and t.evidence for t in topics)
    assert topics[0].competitor_coverage == 1
    assert any("bulk fermentation" in t.keywords for t in topics)

    crawled = {p.url for p in SITE + RIVAL}
    assert brief.topic == topics[0].title
    assert len(brief.passages) >= 3
    assert all(p.url in crawled for p in brief.passages)
    assert {s.url for s in brief.sources} == {p.url for p in brief.passages}
    assert len(brief.outline) >= 3 and brief.questions
    assert streamed == [brief.text]


_RUN = """
import anyio
from research.engines.keyphrases import analyse_site
from tests.test_local_engine import RIVAL, SITE, _dump, _run_engine

site = analyse_site("https://crumb.test/", SITE, [])
rival = analyse_site("https://rival.test/", RIVAL, [])
print(_dump(anyio.run(_run_engine, site, rival)))
"""


def test_same_pages_give_the_same_report_in_any_process() -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _RUN],
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2")
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    assert outputs[0] == outputs[1]
    assert "bulk fermentation" in outputs[0]


def _dump(parts: tuple[object, ...]) -> str:
    def one(x: object) -> object:
        if isinstance(x, list):
            return [one(i) for i in x]
        return x.model_dump(mode="json") if hasattr(x, "model_dump") else x

    return repr([one(p) for p in parts])


def test_titles_read_like_a_writer_wrote_them() -> None:
    headings = ["Burr grinder vs blade grinder", "Setting up DMARC step by step"]
    assert (
        topic_title("burr grinder", [], ["burr grinder", "blade grinder"], headings, "en")
        == "Burr grinder vs blade grinder: when to use which"
    )
    assert topic_title("DMARC", [], ["DMARC"], headings, "en") == "How to set up DMARC step by step"
    assert (
        topic_title(
            "Pizzastein", [], ["Pizzastein", "Backstahl"], ["Pizzastein oder Backstahl?"], "de"
        )
        == "Pizzastein oder Backstahl: was wann passt"
    )
    assert topic_title("Lievito Madre", [], ["Lievito Madre"], [], "de") == (
        "Lievito Madre einfach erklärt"
    )
    assert topic_title("latte art", ["steamed milk"], [], [], "en") == (
        "Latte art explained: what to know about steamed milk"
    )


def _french(domain: str, pages: list[tuple[str, str]]) -> list[Page]:
    return [
        Page(url=f"https://{domain}/{i}", title=title, headings=[title], text=text)
        for i, (title, text) in enumerate(pages)
    ]


@pytest.mark.anyio
async def test_french_site_gets_french_phrases_single_word_gaps_and_titles() -> None:
    site = _french(
        "levain.test",
        [
            ("Le pain au levain", "Le pain au levain demande du temps. Le levain naturel donne "
             "une mie souple. Nous cuisons le pain au levain chaque semaine."),
            ("Nourrir le levain", "Le levain naturel se nourrit avec de la farine et de l'eau. "
             "Un levain naturel actif double de volume."),
            ("La farine de seigle", "La farine de seigle apporte du goût. La farine de seigle "
             "absorbe beaucoup d'eau."),
        ],
    )  # fmt: skip
    rival = _french(
        "fournil.test",
        [
            ("Le banneton expliqué", "Le banneton soutient la pâte pendant l'apprêt. Farinez le "
             "banneton avec de la farine de riz. Un banneton rond convient au pain de campagne."),
            ("La cuisson en cocotte", "La cuisson en cocotte garde la vapeur. La cocotte en fonte "
             "doit chauffer une heure. La cuisson en cocotte donne une belle croûte."),
            ("Le pain au levain", "Le pain au levain se garde longtemps. Le levain naturel "
             "parfume la mie."),
        ],
    )  # fmt: skip
    analysis = analyse_site("https://levain.test/0", site, [])
    assert analysis.language == "fr"
    assert {"pain au levain", "levain naturel", "farine de seigle"} <= {
        k.keyword for k in analysis.keyphrases
    }
    competitor = analyse_site("https://fournil.test/0", rival, [])
    engine = LocalEngine(anyio.CapacityLimiter(2))
    research = await engine.expand_keywords(_ctx(StageName.KEYWORDS), analysis, [competitor])
    assert [g.keyword for g in research.gaps] == ["banneton", "cuisson en cocotte"]
    topics = await engine.propose_topics(_ctx(StageName.TOPICS), analysis, [competitor], research)
    assert "Banneton : le guide pratique" in [t.title for t in topics]


def test_analysis_of_500_pages_runs_off_the_loop(runner: LoopRunner) -> None:
    """Run on a debug-mode loop: a CPU step left on the loop would be a slow callback."""
    pool = section_pool() + package_prose()
    sites = make_sites(pool, random.Random(3), 0)
    assert sum(len(pages) for _, pages in sites) == 500
    timings = runner.submit(analyse_all(sites, anyio.CapacityLimiter(2))).result(timeout=120)
    assert set(timings) == {"site analysis", "keywords & gaps", "topics", "5 briefs", "total"}


def _site(domain: str, pages: dict[str, tuple[str, str]]) -> SiteAnalysis:
    built = [
        Page(url=f"https://{domain}{path}", title=title, headings=[title], text=text)
        for path, (title, text) in pages.items()
    ]
    return analyse_site(f"https://{domain}/", built, [])


@pytest.mark.anyio
async def test_what_is_and_is_not_a_gap() -> None:
    site = _site(
        "mine.test",
        {
            "/": ("Home", "We write about coffee at home. Good coffee needs good water."),
            "/press": ("French press guide", "The French press makes rich coffee. Rinse the "
                       "French press after use. A French press is cheap coffee gear."),
            "/kettles": ("Kettles", "Pick a kettle for coffee. A steady kettle helps with "
                         "coffee. Cold brew is something we tried once."),
        },
    )  # fmt: skip
    rival = _site(
        "rival.test",
        {
            "/": ("Rival Coffee", "Welcome to our coffee club with a loyalty card, a loyalty "
                  "card and one more loyalty card."),
            "/pricing": ("Pricing", "Our loyalty card costs nothing. Loyalty card holders "
                         "save. Ask for the loyalty card."),
            "/press": ("French press coffee", "French press coffee is rich. French press "
                       "coffee suits dark roasts. Stir French press coffee once."),
            "/cold": ("Cold brew", "Cold brew steeps overnight. Cold brew is smooth. Dilute "
                      "cold brew with milk."),
            "/decaf": ("Swiss Water Process", "The Swiss Water Process removes caffeine. The "
                       "Swiss Water Process uses water. Look for the Swiss Water Process."),
        },
    )  # fmt: skip
    engine = LocalEngine(anyio.CapacityLimiter(1))
    research = await engine.expand_keywords(_ctx(StageName.KEYWORDS), site, [rival])
    gaps = {g.keyword: g for g in research.gaps}
    assert "Swiss Water Process" in gaps  # never mentioned by the site
    assert "cold brew" in gaps  # mentioned once in passing: still a gap, scored lower
    assert gaps["cold brew"].score < gaps["Swiss Water Process"].score
    assert "French press coffee" not in gaps  # the site's French press plus its own word
    assert "loyalty card" not in gaps  # only on the front and pricing pages
    topics = await engine.propose_topics(_ctx(StageName.TOPICS), site, [rival], research)
    reasons = {t.keywords[0]: t.reason for t in topics}
    assert reasons["cold brew"].endswith("your site only mentions it in passing.")
    assert reasons["Swiss Water Process"].endswith("your site never covers it.")
