"""The local engine on pages built in memory: keyphrases, gaps, topics, briefs, determinism."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from bench.bench_local import analyse_all, make_sites, package_prose, section_pool
from research.engines.local import LocalEngine, site_phrases_of
from research.engines.local.titles import topic_title
from research.models import (
    DiscoveryRequest,
    KeywordResearch,
    Page,
    Report,
    SiteAnalysis,
    StageName,
)
from research.progress import RunTracker, StageContext
from research.runtime.loop_runner import LoopRunner
from research.text.brands import names_own_host
from research.text.keyphrases import analyse_site
from research.text.ownsite import own_domains
from research.text.stopwords import stopwords_for

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
        "Watch the dough temperature: warm dough ferments faster. How long does bulk fermentation "
        "take?",
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


def test_a_site_served_elsewhere_still_owns_the_hosts_spelling_its_name() -> None:
    """Crumb's pages on 127.0.0.1 link to crumb.test, its real domain: its own, no competitor."""
    served = "http://127.0.0.1:8001/"
    pages = [
        page.model_copy(
            update={
                "url": page.url.replace("https://crumb.test/", served),
                "links": [*page.links, "https://crumb.test/", "https://crumb.shop/"],
            }
        )
        for page in SITE
    ]
    site = analyse_site(served, pages, [])
    assert {"crumb.test", "crumb.shop", "flourmill.test", "rival.test"} <= set(
        site.outbound_domains
    )
    own = own_domains(site, [*site.outbound_domains, site.domain])
    assert own == {"crumb.test", "crumb.shop", "shop.crumb.test", site.domain}


@pytest.mark.parametrize(
    ("host", "brands", "own"),
    [
        ("umami.is", ["umami"], True),
        ("cloud.umami.is", ["umami"], True),
        ("discourse.gohugo.io", ["hugo"], True),  # the label adds a few letters to the name
        ("plausible.io", ["plausible analytic"], True),  # the leading word of the name
        ("plausibleanalytics.com", ["plausible analytic"], True),
        ("analytics.com", ["plausible analytic"], False),
        ("contentful.com", ["content research lab"], False),  # a leading word counts exactly
        ("rival.test", ["crumb"], False),
        ("127.0.0.1:8002", ["crumb"], False),
    ],
)
def test_a_host_is_the_sites_own_when_its_label_spells_the_brand(
    host: str, brands: list[str], own: bool
) -> None:
    assert names_own_host(host, brands) is own


@pytest.mark.parametrize(
    ("texts", "language", "phrase"),
    [
        (
            [
                "Die Übernachtgare im Kühlschrank braucht Zeit, und das Brot wird dann besser.",
                "Nach der Übernachtgare im Kühlschrank backen wir das Brot direkt.",
                "Die Übernachtgare im Kühlschrank gibt dem Teig mehr Aroma als eine kurze Gare.",
            ],
            "de",
            "Übernachtgare im Kühlschrank",
        ),
        (
            [
                "Le pain au levain a besoin de temps et il sera meilleur.",
                "Nous cuisons le pain au levain dans une cocotte bien chaude.",
                "Un pain au levain se garde plus longtemps que le pain blanc.",
            ],
            "fr",
            "pain au levain",
        ),
        (
            [
                "El riego por goteo necesita tiempo y el huerto será mejor.",
                "Con el riego por goteo las plantas beben despacio y sin estrés.",
                "Un programador para el riego por goteo ahorra agua en verano.",
            ],
            "es",
            "riego por goteo",
        ),
        (
            [
                "Return on investment needs time and the numbers will be better for it.",
                "We report the return on investment of every campaign to the founders.",
                "A clear return on investment makes the next budget easier to win.",
            ],
            "en",
            "return on investment",
        ),
    ],
)
def test_language_is_detected_and_its_stop_words_shape_the_phrases(
    texts: list[str], language: str, phrase: str
) -> None:
    """Pages that do not declare a language get it from their words, and its stop words."""
    pages = [Page(url=f"https://lang.test/{i}", text=text) for i, text in enumerate(texts)]
    analysis = analyse_site("https://lang.test/0", pages, [])
    assert analysis.language == language
    found = [k.keyword for k in analysis.keyphrases]
    assert phrase in found, found
    stops = stopwords_for(language)
    assert not any(w.split()[0].lower() in stops or w.split()[-1].lower() in stops for w in found)


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
    assert len(brief.outline) >= 3
    # questions are the pages' own, not templates
    assert brief.questions == ["How long does bulk fermentation take?"]
    # the outline between intro and close is the crawled pages' own headings on the subject
    headings = {h for p in SITE + RIVAL for h in p.headings}
    assert "How to read bulk fermentation" in brief.outline
    assert set(brief.outline[1:-1]) <= headings
    # every cited passage is a sentence about the topic, not filler
    assert all(any(k in p.text.lower() for k in topics[0].keywords) for p in brief.passages)
    assert streamed == [brief.text]


@pytest.mark.anyio
async def test_topics_computed_with_the_keywords_are_those_of_the_same_analyses() -> None:
    site = analyse_site("https://crumb.test/", SITE, [])
    rival = analyse_site("https://rival.test/", RIVAL, [])
    fresh = LocalEngine(anyio.CapacityLimiter(1))
    empty = KeywordResearch(keywords=[], gaps=[])
    alone = await fresh.propose_topics(_ctx(StageName.TOPICS), site, [], empty)
    paired = await fresh.propose_topics(_ctx(StageName.TOPICS), site, [rival], empty)
    assert alone != paired

    engine = LocalEngine(anyio.CapacityLimiter(2))
    research = await engine.expand_keywords(_ctx(StageName.KEYWORDS), site, [rival])
    # other analyses than the keyword stage's get their own topics, not the early ones
    assert await engine.propose_topics(_ctx(StageName.TOPICS), site, [], research) == alone
    assert await engine.propose_topics(_ctx(StageName.TOPICS), site, [rival], research) == paired
    # taken once: a second topic stage on the same analyses computes them again, the same
    assert await engine.propose_topics(_ctx(StageName.TOPICS), site, [rival], research) == paired


_RUN = """
import anyio
from research.text.keyphrases import analyse_site
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
    # the heading's instruction is not copied: the subject leads the guide
    assert topic_title("DMARC", [], ["DMARC"], headings, "en") == "DMARC: a step-by-step guide"
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
    timings = runner.submit(analyse_all(sites, runner.processes)).result(timeout=120)
    assert set(timings) == {"site analysis", "keywords & topics", "5 briefs", "total"}


async def _research(site: SiteAnalysis, rivals: list[SiteAnalysis]) -> KeywordResearch:
    engine = LocalEngine(anyio.CapacityLimiter(1))
    return await engine.expand_keywords(_ctx(StageName.KEYWORDS), site, rivals)


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


@pytest.mark.parametrize(
    ("texts", "subject", "fragments"),
    [
        (
            [
                "A total brew time of four minutes suits pour-over coffee. Use hotter water then.",
                "Pour-over coffee extracts quickly, so keep the total brew time short.",
                "Good pour-over coffee needs a steady hand and hotter water than you think.",
            ],
            "pour-over coffee",
            {"total brew", "hotter water", "extracts quickly"},
        ),
        (
            [
                "Search replicas scale horizontally. Replicas typically answer queries.",
                "Search replicas scale horizontally, and they are typically cheap.",
                "Add search replicas when traffic grows; they scale horizontally.",
            ],
            "search replicas",
            {"scale horizontally", "horizontally", "typically cheap"},
        ),
        (
            [
                "Pinned results sit on top. Save the rule, then the engine evaluates the rule.",
                "Pinned results help merchandising. Users interact with pinned results.",
                "Pinned results expire; configure rules to schedule pinned results.",
            ],
            "pinned results",
            {"save the rule", "evaluates the rule", "users interact", "configure rules"},
        ),
        (
            [
                "Las macetas de barro en tu balcón necesitan riego diario.",
                "Mira tu balcón antes de elegir las macetas de barro.",
                "El huerto urbano crece en macetas de barro junto a tu balcón.",
            ],
            "macetas de barro",
            {"tu balcón"},
        ),
    ],
)
def test_phrases_are_not_cut_off_fragments(
    texts: list[str], subject: str, fragments: set[str]
) -> None:
    """Stop words must not leave the front of a longer subject, a comparative or a possessive."""
    pages = [Page(url=f"https://frag.test/{i}", text=text) for i, text in enumerate(texts)]
    words = {k.keyword for k in analyse_site("https://frag.test/0", pages, []).keyphrases}
    assert subject in words
    assert not words & fragments, words


@pytest.mark.anyio
async def test_kinds_of_documentation_page_are_not_gaps() -> None:
    site = _site("mine.test", {"/": ("Home", "Notes on feature flags and rollouts.")})
    rival = _site(
        "rival.test",
        {
            "/glossary": ("Glossary", "Glossary of terms. The glossary explains sticky "
                          "bucketing. Read the glossary."),
            "/faq": ("FAQ", "This FAQ answers questions. The FAQ covers sticky bucketing."),
            "/metrics": ("Metrics definitions", "Metrics definitions: what each metric "
                         "means. Metrics definitions list sticky bucketing too."),
            "/sticky": ("Sticky bucketing", "Sticky bucketing keeps users in one variation. "
                        "Sticky bucketing needs a store."),
        },
    )  # fmt: skip
    gaps = [g.keyword.lower() for g in (await _research(site, [rival])).gaps]
    assert "sticky bucketing" in gaps
    assert not {"glossary", "faq", "metrics definitions"} & set(gaps), gaps
    # the plumbing of every technical page is no subject either, in a heading or not
    api = _site(
        "api.test",
        {
            "/keys": ("Key UID", "Each key has a UID. The UID is a string. Send the UID and "
                      "the JSON body. JSON is parsed. JSON again."),
            "/sticky": ("Sticky bucketing", "Sticky bucketing stores a UID per user. "
                        "Sticky bucketing uses JSON."),
        },
    )  # fmt: skip
    gaps = [g.keyword for g in (await _research(site, [api])).gaps]
    assert "sticky bucketing" in gaps and not {"UID", "JSON"} & set(gaps), gaps


@pytest.mark.anyio
async def test_sales_pages_and_the_sites_own_words_recombined_are_no_gaps() -> None:
    site = _site(
        "mine.test",
        {
            f"/{i}": (f"Search guide {i}", f"Every search index has a default value. Search "
                      f"indexes use default settings, and each value matters ({i}).")
            for i in range(4)
        },
    )  # fmt: skip
    rival = _site(
        "rival.test",
        {
            "/rival-vs-mine": ("Rival vs Mine", "Developer experience matters. Rival has a "
                               "developer experience. Our developer experience wins."),
            "/geo": ("Geo search", "Geo search sorts by distance. Set default values and "
                     "compound filters for geo search in Rival. Default values and compound "
                     "filters."),
            "/rules": ("Search rules", "Search rules pin results. Default values and compound "
                       "filters of search rules apply in Rival."),
        },
    )  # fmt: skip
    gaps = {g.keyword: g for g in (await _research(site, [rival])).gaps}
    assert "developer experience" not in gaps  # only on a page setting Rival against Mine
    # "default values" is the site's own everyday words recombined: half of what the same
    # uses of words the site never writes count
    assert gaps["default values"].score == round(0.5 * gaps["compound filters"].score, 3)


@pytest.mark.anyio
async def test_german_word_the_site_covers_in_its_compounds_is_not_a_gap() -> None:
    site = _site(
        "krume.test",
        {
            "/mehl": ("Weizenmehl", "Weizenmehl Type 550 ist das Mehl für helle Brote. Das "
                      "Weizenmehl braucht Wasser. Roggen und Weizen mischen wir gern."),
            "/teig": ("Weizensauerteig", "Der Weizensauerteig ist mild. Ein Weizensauerteig "
                      "braucht Wärme und viel Zeit."),
            "/brot": ("Bauernbrot", "Das Bauernbrot bleibt lange frisch. Das Bauernbrot "
                      "backen wir im Gusseisentopf."),
        },
    )  # fmt: skip
    rival = _site(
        "liebe.test",
        {
            "/weizen": ("Weizen", "Weizen ist das wichtigste Getreide. Weizen bringt Kleber. "
                        "Ohne Weizen kein lockeres Brot."),
            "/dinkel": ("Dinkel", "Der Dinkel ist mit Weizen verwandt. Unser Dinkel braucht "
                        "kurze Knetzeiten. Frischer Dinkel schmeckt nussig."),
            "/poolish": ("Poolish", "Ein Poolish ist ein flüssiger Vorteig. Der Poolish reift "
                         "über Nacht. Poolish macht Brötchen luftig."),
        },
    )  # fmt: skip
    research = await _research(site, [rival])
    gaps = [g.keyword for g in research.gaps]
    assert {"Dinkel", "Poolish"} <= set(gaps), gaps
    assert "Weizen" not in gaps  # Weizenmehl, Weizensauerteig: the site covers wheat


@pytest.mark.anyio
async def test_gaps_rank_by_competitors_then_pages_and_list_evidence() -> None:
    openers = ["Why the", "Choosing a", "Caring for a", "Buying a"]

    def rival(domain: str, subjects: list[str]) -> SiteAnalysis:
        pages = {
            f"/{i}": (f"{openers[i]} {subject}", f"{openers[i]} {subject} matters. A good {subject} takes "
                      f"practice number {i} at {domain}.")
            for i, subject in enumerate(subjects)
        }  # fmt: skip
        return _site(domain, pages)

    site = _site("mine.test", {"/": ("Home", "Notes on sourdough bread and baking at home.")})
    one = rival("one.test", ["banneton basket", "bench knife", "bench knife", "dough scraper"])
    two = rival("two.test", ["banneton basket", "proofing box"])
    shaping = {
        "/shaping": ("Shaping tips", "A couche cloth holds baguettes. Flour the couche cloth."),
        "/baguette": ("Baguette day", "Roll the baguettes onto a couche cloth to rest."),
    }
    two = _site("two.test", {**{p.url.removeprefix("https://two.test"): (p.title, p.text)
                                for p in two.pages}, **shaping})  # fmt: skip
    research = await _research(site, [one, two])
    gaps = {g.keyword: g for g in research.gaps}
    order = [g.keyword for g in research.gaps]
    # two competitors beat one; two pages of one competitor beat one page
    assert (
        order.index("banneton basket") < order.index("bench knife") < order.index("dough scraper")
    )
    assert gaps["banneton basket"].competitors == ["one.test", "two.test"]
    assert gaps["banneton basket"].evidence == ["https://one.test/0", "https://two.test/0"]
    assert gaps["bench knife"].competitor_pages == 2
    assert gaps["dough scraper"].score == gaps["proofing box"].score
    # the documented formula; a phrase no competitor heads ("couche cloth") counts 0.7, one in
    # a competitor page's title ("proofing box") twice
    centrality = site_phrases_of(two).centrality
    for keyword, pages, factor in (("proofing box", 1, 2.0), ("couche cloth", 2, 0.7)):
        expected = factor * (0.5 + 0.5 * centrality[keyword]) * (1 + math.log(pages))
        assert gaps[keyword].score == round(expected, 3), keyword


def test_topic_score_follows_its_documented_formula() -> None:
    from research.engines.local.clustering import Cluster, score_topic
    from research.engines.local.gaps import Gap

    def gap(key: str, score: float, weakness: float, competitors: list[str]) -> Gap:
        return Gap(key, key, score, weakness, competitors, 1, [], 2, 2, True)

    cluster = Cluster([gap("a b", 3.0, 1.0, ["x.test"]), gap("c d", 1.0, 0.5, ["y.test"])], 0.6)
    # coverage 2/4, demand 4/8, size log2(3)/log2(9) = 0.5, cohesion 0.6,
    # weakness (3 x 1 + 1 x 0.5) / 4 = 0.875
    expected = 100 * 0.875 * (0.35 * 0.5 + 0.35 * 0.5 + 0.15 * 0.5 + 0.15 * 0.6)
    assert score_topic(cluster, 4, 8.0) == round(expected, 1)
    alone = Cluster([gap("a b", 8.0, 1.0, ["x.test", "y.test", "z.test", "w.test"])], 1.0)
    # coverage 1, demand 1, size log2(2)/log2(9), cohesion 1, weakness 1
    assert score_topic(alone, 4, 8.0) == 89.7
    # no competitor heads any of its phrases: only their running text, 0.7 of it
    unheaded = Gap(
        "a b", "a b", 8.0, 1.0, ["x.test", "y.test", "z.test", "w.test"], 1, [], 2, 2, False
    )
    assert score_topic(Cluster([unheaded], 1.0), 4, 8.0) == round(0.7 * 89.73, 1)


@pytest.mark.anyio
async def test_without_gaps_follow_up_topics_go_further_than_the_sites_own_pages() -> None:
    from research.net.extract import extract_page
    from tests.fakes.fixtures import ACME, build_pages

    html = build_pages(ACME, "Acme Analytics", {"rival": "http://127.0.0.1:9"})
    pages = [extract_page(body, f"https://acme.test{path}", depth=1) for path, body in html.items()]
    site = analyse_site("https://acme.test/", pages, [])
    engine = LocalEngine(anyio.CapacityLimiter(1))
    research = await engine.expand_keywords(_ctx(StageName.KEYWORDS), site, [])
    topics = await engine.propose_topics(_ctx(StageName.TOPICS), site, [], research)
    assert "bounce rate" in topics[0].keywords
    assert topics[0].title == "Bounce rate: beyond the basics"
    own_titles = {p.title.split(" | ")[0].lower() for p in pages}
    assert all(t.title.endswith(": beyond the basics") for t in topics), topics
    assert not {t.title.lower() for t in topics} & own_titles
    assert all("follow-up piece" in t.reason for t in topics)
    # "Built for marketing teams" is a front-page heading, not a subject the site writes on
    assert not any("marketing teams" in t.keywords for t in topics)
    brief = await engine.write_brief(_ctx(StageName.BRIEFS), topics[0], site, [])
    # a follow-up starts from what the site already says, not from the basics
    assert brief.outline[0] == "What your pages already say about bounce rate"
    # the site has a page on it: the plan says refresh that page, naming it
    assert topics[0].action == "refresh"
    assert topics[0].overlaps[0].url == "https://acme.test/blog/bounce-rate"
    assert "refresh /blog/bounce-rate instead of writing a new piece" in topics[0].reason
    assert "https://acme.test/blog/bounce-rate" not in {x.from_url for x in brief.internal_links}
    assert "Built for marketing teams" not in brief.outline  # a front-page tagline heading
    # no template questions: the pages ask none about bounce rate
    assert brief.questions == []
    assert len(brief.passages) >= 3 and {p.url for p in brief.passages} <= {p.url for p in pages}
