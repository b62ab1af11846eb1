"""A complete Report built in code, for store, export and history tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from research.models import (
    Brief,
    Competitor,
    ContentGap,
    DiscoveryRequest,
    InternalLink,
    Keyphrase,
    Keyword,
    Page,
    Passage,
    ProgressEvent,
    Report,
    SiteAnalysis,
    Source,
    StageName,
    SubtopicCoverage,
    TargetWords,
    Topic,
    TopicOverlap,
    Usage,
)
from research.store import SQLiteStore

EVIL = '=HYPERLINK("http://evil")'
START = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def sample_report(
    site: str = "https://example.com/",
    *,
    topics: list[tuple[str, float]] | None = None,
    gaps: list[str] | None = None,
    status: str = "completed",
    started_at: datetime = START,
) -> Report:
    """Return a finished report with every section filled in."""
    domain = site.split("/")[2]
    rival = "https://rival.test/"
    topics = topics or [("Garden irrigation", 0.91), ("Composting basics", 0.72)]
    gaps = gaps or ["drip irrigation", "rain barrels"]
    pages = [
        Page(url=site, title="Home", headings=["Welcome"], text="We sell garden tools."),
        Page(url=f"{site}evil", title=EVIL, text="-1+2 is not a formula here"),
    ]
    report = Report(
        request=DiscoveryRequest(url=site, competitors=[rival], engine="local"),
        status=status,  # type: ignore[arg-type]
        engine="local",
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=42.5),
        site=SiteAnalysis(
            url=site,
            domain=domain,
            title="Example garden shop",
            pages=pages,
            keyphrases=[Keyphrase(keyword="garden tools", score=0.8, pages=2, urls=[site])],
        ),
        competitors=[
            Competitor(
                url=rival,
                domain="rival.test",
                name="Rival",
                reason="Given by the user",
                analysis=SiteAnalysis(url=rival, domain="rival.test", pages=[Page(url=rival)]),
            )
        ],
        keywords=[
            Keyword(keyword="garden tools", score=0.8, site_pages=2),
            Keyword(keyword=EVIL, score=0.1, site_pages=1),
            Keyword(keyword="@mention", score=0.05, site_pages=1),
        ],
        gaps=[
            ContentGap(
                keyword=gap,
                score=0.5,
                competitors=["rival.test"],
                competitor_pages=3,
                evidence=[f"{rival}{gap.replace(' ', '-')}"],
            )
            for gap in gaps
        ],
        topics=[
            Topic(
                title=title,
                keywords=title.lower().split(),
                score=score,
                reason=f"Competitors cover {title.lower()}",
                evidence=[f"{rival}{title.split()[0].lower()}"],
                competitor_coverage=2,
                intent="commercial" if rank == 0 else "informational",
                intent_reason="Commercial: the topic says “best”." if rank == 0 else "",
                overlaps=[TopicOverlap(url=f"{site}p0", title="Page 0", score=0.7)] * (rank == 0),
                action="refresh" if rank == 0 else "new",
            )
            for rank, (title, score) in enumerate(topics)
        ],
        briefs=[
            Brief(
                topic=title,
                summary=f"Why {title} matters.",
                outline=["Introduction", "How it works", "Checklist"],
                questions=[f"What is {title.lower()}?"],
                passages=[
                    Passage(text=f"{title} passage {n}.", url=f"{site}p{n}", title=f"Page {n}",
                            verified=n != 2)
                    for n in range(3)
                ],
                sources=[Source(url=f"{site}p{n}", title=f"Page {n}") for n in range(3)],
                target_words=TargetWords(min=800, max=1200, basis="4 competitor pages"),
                coverage=[
                    SubtopicCoverage(subtopic=f"{title} costs", competitors=["rival.test"],
                                     pages=2, must=True),
                    SubtopicCoverage(subtopic="tools", competitors=["rival.test"], pages=1),
                ],
                internal_links=[InternalLink(from_url=site, anchor=title.lower())],
                link_to=[f"{site}p0"],
                covering_pages=[f"{rival}a", f"{rival}b"],
            )
            for title, _ in topics
        ],
        sources=[Source(url=f"{site}p{n}", title=f"Page {n}") for n in range(3)],
        log=[ProgressEvent(at=started_at, stage=StageName.SITE, message="Site analysis started")],
        usage=[Usage(stage=StageName.TOPICS, engine="gemini", calls=2, input_tokens=1200,
                     output_tokens=300, cost_usd=0.0015)],
    )  # fmt: skip
    for state in report.stages.values():
        state.status = "done"
        state.count = 1
        state.started_at = started_at
        state.finished_at = started_at + timedelta(seconds=5)
    return report


def large_report(rows: int = 10_000) -> Report:
    """Return a report with `rows` keywords, and a tenth as many gaps and log lines."""
    report = sample_report()
    report.keywords = [
        Keyword(keyword=f"keyword {n}", score=1 / (n + 1), site_pages=n % 7, competitor_pages=n % 5)
        for n in range(rows)
    ]
    report.gaps = [
        ContentGap(
            keyword=f"gap {n}",
            score=1 / (n + 2),
            competitors=["rival.test", "other.test"],
            competitor_pages=n % 9,
            evidence=[f"https://rival.test/page-{n}"],
        )
        for n in range(rows // 10)
    ]
    report.log = [
        ProgressEvent(at=START, stage=StageName.SITE, message=f"Fetched https://example.com/{n}")
        for n in range(rows // 10)
    ]
    return report


def seed(path: Path, *reports: Report) -> None:
    """Save reports into the history database at `path` (from outside any event loop)."""

    async def save() -> None:
        store = await SQLiteStore.open(path)
        for report in reports:
            await store.save(report)
        await store.aclose()

    anyio.run(save)


def load_saved(path: Path, run_id: str) -> Report:
    """Open the history at `path` as a new process would (marking dead runs); load a run."""

    async def load() -> Report:
        store = await SQLiteStore.open(path)
        try:
            return await store.load(run_id)
        finally:
            await store.aclose()

    return anyio.run(load)
