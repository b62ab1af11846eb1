"""Real-website shapes end to end: XHTML, BOMs, charsets, unreadable pages, thin sites, brands
and billing pages, on the loopback fixture site server with the local engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from research.models import DiscoveryRequest, Report, SiteAnalysis, StageName
from research.runtime.jobs import JobManager
from research.runtime.loop_runner import LoopRunner
from research.ui.report_view import few_gaps_reasons, thin_sites
from tests.fakes.fixtures import ACME, RIVAL, build_pages
from tests.fakes.site import Article, SiteServer
from tests.test_cli import cli

RIVAL_ONLY = ("server-side tracking", "cookie consent", "gdpr compliance", "attribution model")
XML_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 '
    'Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
)
XHTML = "application/xhtml+xml; charset=utf-8"
BINARY = b"\x00\x01\x02\x03\x04\x05\x06\x07" * 64


def _xhtml(markup: str) -> bytes:
    """The page as XHTML with an XML declaration, the way DocBook and old CMSs serve it."""
    return (XML_HEAD + markup.removeprefix("<!doctype html>")).encode("utf-8")


def _run(runner: LoopRunner, site: SiteServer, rival: SiteServer) -> Report:
    jobs = JobManager(runner)
    request = DiscoveryRequest(url=site.url, competitors=[rival.url], engine="local")
    job = jobs.get(jobs.start(request))
    assert job is not None and job.wait(60)
    report = job.snapshot()
    assert report.status == "completed", report.errors
    return report


def _rival(report: Report) -> SiteAnalysis:
    """The analysis of the competitor the run was given."""
    [competitor] = [c for c in report.competitors if c.source == "user"]
    assert competitor.analysis is not None
    return competitor.analysis


def _warnings(report: Report) -> set[str]:
    return {e.message for e in report.log if e.level == "warning"}


def _serving(
    pages: dict[str, str], extra: dict[str, tuple[int, str, bytes]]
) -> Iterator[SiteServer]:
    """Serve a fixture site for the length of a test."""
    server = SiteServer(pages, extra=extra).start()
    yield server
    server.stop()


@pytest.fixture
def acme() -> Iterator[SiteServer]:
    yield from _serving(
        build_pages(ACME, "Acme Analytics", {"rival": "https://rival.example/"}), {}
    )


@pytest.fixture
def xhtml_rival() -> Iterator[SiteServer]:
    """Metricly served as XHTML with XML declarations, one page with a BOM, one in Latin-1
    declared as UTF-8, and one binary page linked from the home page."""
    pages = build_pages(RIVAL, "Metricly", {})
    extra: dict[str, tuple[int, str, bytes]] = {}
    for path, markup in pages.items():
        extra[path] = (200, XHTML, _xhtml(markup))
    bom = pages["/guides/cookie-consent"].replace("Cookie consent", "Cookie consent – café")
    extra["/guides/cookie-consent"] = (200, "text/html", b"\xef\xbb\xbf" + bom.encode())
    latin = pages["/guides/gdpr-compliance"].replace("European Union", "European Union (Zürich)")
    extra["/guides/gdpr-compliance"] = (200, "text/html; charset=utf-8", latin.encode("cp1252"))
    home = pages["/"].replace("</article>", '<a href="/export.bin.html">Export</a></article>')
    extra["/"] = (200, XHTML, _xhtml(home))
    extra["/export.bin.html"] = (200, "text/html", BINARY)
    yield from _serving({path: "" for path in pages}, extra)


def test_xhtml_bom_and_mis_declared_pages_are_read_and_a_binary_one_is_an_issue(
    runner: LoopRunner, acme: SiteServer, xhtml_rival: SiteServer
) -> None:
    report = _run(runner, acme, xhtml_rival)
    analysis = _rival(report)
    assert len(analysis.pages) == len(RIVAL)
    assert all(page.text and page.headings for page in analysis.pages), analysis.pages
    by_path = {page.url.removeprefix(xhtml_rival.url.rstrip("/")): page for page in analysis.pages}
    assert "Cookie consent – café" in by_path["/guides/cookie-consent"].title
    assert "Zürich" in by_path["/guides/gdpr-compliance"].text
    assert any(link.endswith("/guides/server-side-tracking") for link in by_path["/"].links)
    unreadable = f"{xhtml_rival.url}export.bin.html could not be read as HTML."
    assert [i.reason for i in analysis.issues] == [unreadable]
    assert unreadable in _warnings(report)
    gap_words = " | ".join(g.keyword.lower() for g in report.gaps)
    assert any(phrase in gap_words for phrase in RIVAL_ONLY), gap_words
    assert not analysis.thin and thin_sites(report) == []


@pytest.fixture
def unreadable_rival() -> Iterator[SiteServer]:
    """A competitor whose home page is a bare list of links to pages that cannot be read."""
    links = "".join(f'<li><a href="/guide-{n}">Guide {n}</a></li>' for n in range(4))
    home = f"<html><head><title>Rival</title></head><body><ul>{links}</ul></body></html>"
    extra = {f"/guide-{n}": (200, "text/html", BINARY) for n in range(4)}
    yield from _serving({"/": home}, extra)


def test_a_competitor_of_unreadable_pages_is_named_with_its_cause(
    runner: LoopRunner, acme: SiteServer, unreadable_rival: SiteServer
) -> None:
    report = _run(runner, acme, unreadable_rival)
    analysis = _rival(report)
    sentence = (
        f"{analysis.domain} yielded little readable text: 4 pages could not be read as HTML "
        "(see the Run log)."
    )
    assert analysis.thin == sentence
    assert sentence in _warnings(report)
    assert [e.stage for e in report.log if e.message == sentence] == [StageName.COMPETITORS]
    assert thin_sites(report) == [sentence]
    assert report.gaps == [] and sentence in few_gaps_reasons(report)


def _brand_section(title: str) -> tuple[str, list[str]]:
    """A section naming the competitor's product, worded for each page so it is no boilerplate."""
    subject = title.split(":")[0].lower()
    return (
        f"{subject.capitalize()} in the Metricly dashboard",
        [
            f"Open the Metricly dashboard to see {subject} next to the Metricly snippet report; "
            f"the Metricly snippet sends {subject} data to the Metricly dashboard every minute.",
        ],
    )


BILLING = {
    "/billing": Article(
        "Billing and invoices",
        [
            (
                "Add your VAT number",
                [
                    "Add your VAT number and billing address before the next invoice. Each invoice "
                    "lists the VAT number, the billing address and the subscription plan.",
                    "Download every invoice from the invoice history; the billing address and VAT "
                    "number can be changed at any time from the subscription plan page.",
                ],
            ),
        ],
    ),
    "/delete-account": Article(
        "Delete your account",
        [
            (
                "Cancel your subscription first",
                [
                    "Cancel your subscription plan, then delete your account from account "
                    "settings. Deleting the account removes every invoice and the VAT number.",
                ],
            ),
        ],
    ),
    "/reset-password": Article(
        "Reset your password",
        [
            (
                "Forgot your password",
                [
                    "Reset your password from the login page; a password reset link is sent to "
                    "the email address of your account settings.",
                ],
            ),
        ],
    ),
}
SUPPORT_WORDS = ("vat", "invoice", "billing", "subscription", "password", "account")


@pytest.fixture
def branded_rival() -> Iterator[SiteServer]:
    """Metricly with its name in og:site_name and every page's text, and billing pages; its
    titles do not carry the name."""
    articles = {
        path: Article(a.title, [*a.sections, _brand_section(a.title)], a.links)
        for path, a in RIVAL.items()
    }
    pages = {
        path: markup.replace(
            " | Metricly</title>", '</title><meta property="og:site_name" content="Metricly">'
        )
        for path, markup in build_pages({**articles, **BILLING}, "Metricly", {}).items()
    }
    yield from _serving(pages, {})


def test_competitor_brand_and_billing_pages_give_no_gaps_topics_or_titles(
    runner: LoopRunner, acme: SiteServer, branded_rival: SiteServer
) -> None:
    report = _run(runner, acme, branded_rival)
    assert report.gaps and report.topics
    texts = [g.keyword for g in report.gaps]
    texts += [t.title for t in report.topics] + [k for t in report.topics for k in t.keywords]
    lowered = [text.lower() for text in texts]
    assert not [t for t in lowered if "metricly" in t or "acme" in t], texts
    assert not [t for t in lowered if any(w in t for w in SUPPORT_WORDS)], texts
    gap_words = " | ".join(lowered)
    assert any(phrase in gap_words for phrase in RIVAL_ONLY), gap_words
    for brief in report.briefs:
        assert not [q for q in brief.questions if not q.endswith("?") or "<" in q]


def test_the_cli_names_a_thin_competitor_and_its_cause(
    acme: SiteServer, unreadable_rival: SiteServer, tmp_path: Path
) -> None:
    process = cli(
        "discover", acme.url, "--competitor", unreadable_rival.url, "--engine", "local",
        "--json", str(tmp_path / "report.json"), "--allow-private-hosts",
        db=tmp_path / "runs.sqlite3",
    )  # fmt: skip
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    domain = unreadable_rival.url.split("/")[2]
    sentence = (
        f"{domain} yielded little readable text: 4 pages could not be read as HTML "
        "(see the Run log)."
    )
    assert f"warning: {sentence}" in stderr, stderr


@pytest.fixture
def unreadable_home() -> Iterator[SiteServer]:
    yield from _serving({}, {"/": (200, "text/html", BINARY)})


def test_an_unreadable_start_page_fails_stage_one_with_its_sentence(
    runner: LoopRunner, unreadable_home: SiteServer
) -> None:
    jobs = JobManager(runner)
    job = jobs.get(jobs.start(DiscoveryRequest(url=unreadable_home.url, engine="local")))
    assert job is not None and job.wait(60)
    report = job.snapshot()
    sentence = f"{unreadable_home.url} could not be read as HTML."
    assert report.status == "failed"
    assert report.stages[StageName.SITE].detail == sentence
    assert report.errors == [sentence]
