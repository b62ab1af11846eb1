"""Exports: the workbook read back with openpyxl, JSON against the model, Markdown content."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import anyio
import pytest
from openpyxl import load_workbook

from research.errors import ExportError
from research.export import (
    CELL_LIMIT,
    export_report,
    format_for_path,
    to_json,
    to_markdown,
    to_xlsx,
)
from research.models import Report
from tests.sample_report import EVIL, large_report, sample_report

HEADERS = {
    "Summary": ["Section", "Item", "Value", "Detail"],
    "Topics": ["Rank", "Title", "Score", "Keywords", "Reason", "Competitor coverage",
               "Example page", "Evidence", "Intent", "Action", "Overlapping page"],
    "Keywords": ["Keyword", "Score", "Site pages", "Competitor pages", "Source"],
    "Content Gaps": ["Keyword", "Score", "Competitors", "Competitor pages", "Example page",
                     "Evidence"],
    "Competitors": ["Domain", "URL", "Name", "Found by", "Reason", "Pages analysed",
                    "Top keyphrases"],
    "Briefs": ["Topic", "Part", "#", "Text", "Source URL"],
    "Brief Plan": ["Topic", "Row", "Subtopic or anchor", "Must or differentiator", "Competitors",
                   "Pages", "URL"],
    "Sources": ["URL", "Title", "Cited by briefs", "Topics"],
    "Run Log": ["Time (UTC)", "Stage", "Level", "Message"],
}  # fmt: skip


def _workbook(report: Report):  # type: ignore[no-untyped-def]
    return load_workbook(io.BytesIO(to_xlsx(report)))


def test_workbook_has_every_sheet_with_a_formatted_header() -> None:
    wb = _workbook(sample_report())
    assert wb.sheetnames == list(HEADERS)
    for name in HEADERS:
        assert len(name) <= 31 and not set(name) & set("[]:*?/\\"), name  # Excel's rules
        ws = wb[name]
        assert [c.value for c in ws[1]] == HEADERS[name], name
        assert all(c.font.bold for c in ws[1])
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref == f"A1:{ws.cell(1, ws.max_column).column_letter}{ws.max_row}"
        widths = {
            index: dim.width
            for dim in ws.column_dimensions.values()
            for index in range(dim.min, dim.max + 1)
        }
        assert all(6 <= widths[c.column] <= 100 for c in ws[1]), name


def test_workbook_content_links_and_number_formats() -> None:
    report = sample_report()
    wb = _workbook(report)
    topics = wb["Topics"]
    assert topics["B2"].value == "Garden irrigation"
    assert topics["C2"].value == pytest.approx(0.91)
    assert topics["C2"].number_format == "0.000"
    assert topics["G2"].hyperlink.target == "https://rival.test/garden"
    assert topics["E2"].alignment.wrap_text
    sources = wb["Sources"]
    assert sources["A2"].hyperlink.target == "https://example.com/p0"
    assert sources["C2"].value == 2  # both briefs cite page 0
    briefs = wb["Briefs"]
    parts = [row[1] for row in briefs.iter_rows(min_row=2, values_only=True)]
    assert parts.count("Passage") == 4 and parts.count("Source") == 6
    assert parts.count("Passage (unverified)") == 2  # the third quote of each brief
    summary = {row[1]: row[2] for row in wb["Summary"].iter_rows(min_row=2, values_only=True)}
    assert summary["Website"] == "https://example.com/"
    assert summary["Status"] == "completed"
    assert summary["Engine used"] == "local"
    assert summary["Topics"] == 2
    assert summary["Total tokens"] == 1500
    assert summary["Duration (s)"] == 42.5


def test_formula_like_text_stays_text() -> None:
    report = sample_report()
    report.topics[0].title = EVIL
    report.topics[1].title = "+cmd|' /C calc'!A0"
    report.sources[0].title = EVIL  # a crawled page titled like a formula
    report.errors = ["-2+3", "\tTAB", "\r=1+1", "@SUM(1)", "\x01=1+2"]
    data = to_xlsx(report)
    wb = load_workbook(io.BytesIO(data))
    cells = [c for ws in wb for row in ws.iter_rows() for c in row]
    formulas = (EVIL, "+cmd|' /C calc'!A0", "-2+3", "\tTAB", "\r=1+1", "@SUM(1)", "=1+2")
    for text in (*formulas, "@mention"):
        matches = [c for c in cells if c.value == text]
        assert matches, text
        assert all(c.data_type == "s" and c.quotePrefix for c in matches), text
    assert wb["Sources"]["B2"].value == EVIL and wb["Sources"]["B2"].data_type == "s"
    assert wb["Summary"]["C2"].quotePrefix is False  # plain text gets no quote prefix
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        assert sheets and not any(b"<f>" in archive.read(n) for n in sheets)


def test_topics_and_brief_plan_carry_the_writers_plan() -> None:
    report = sample_report()
    report.briefs[0].coverage[1].subtopic = EVIL  # a competitor heading that looks like a formula
    wb = _workbook(report)
    topics = wb["Topics"]
    assert [topics["I2"].value, topics["J2"].value] == ["commercial", "refresh"]
    assert topics["K2"].hyperlink.target == "https://example.com/p0"
    assert [topics["I3"].value, topics["J3"].value, topics["K3"].value] == [
        "informational",
        "new",
        None,
    ]
    rows = list(wb["Brief Plan"].iter_rows(min_row=2, values_only=True))
    first = [r for r in rows if r[0] == "Garden irrigation"]
    assert first[0][1:3] == ("Target length", "800–1200 words")
    assert [r[1:6] for r in first if r[1] == "Subtopic"] == [
        ("Subtopic", "Garden irrigation costs", "must", "rival.test", 2),
        ("Subtopic", EVIL, "differentiator", "rival.test", 1),
    ]
    [link] = [r for r in first if r[1] == "Internal link"]
    assert link[2] == "garden irrigation" and link[6] == "https://example.com/"
    assert [r[6] for r in first if r[1] == "Link to"] == ["https://example.com/p0"]
    evil = [c for row in wb["Brief Plan"].iter_rows() for c in row if c.value == EVIL]
    assert evil and all(c.data_type == "s" and c.quotePrefix for c in evil)


def test_markdown_briefs_open_with_the_spec_sheet() -> None:
    text = to_markdown(sample_report()).decode()
    start = text.index("## Garden irrigation")
    brief = text[start : text.index("\n## ", start)]
    spec, outline = brief.index("### Spec sheet"), brief.index("### Outline")
    assert spec < outline and brief.index("Why Garden irrigation matters.") > spec
    sheet = brief[spec:outline]
    assert "- Intent: commercial" in sheet
    assert "- Action: refresh https://example.com/p0 instead of writing a new piece" in sheet
    assert "- Target length: 800–1,200 words (4 competitor pages)" in sheet
    assert "  - [ ] Garden irrigation costs (1 competitor, 2 pages)" in sheet
    assert "- Differentiators:\n  - tools (1 competitor, 1 pages)" in sheet
    assert "  - What is garden irrigation?" in sheet
    assert "anchor “garden irrigation”" in sheet
    assert brief.count("**unverified**") == 1  # the third quote, marked under its source


def test_only_web_urls_become_links() -> None:
    report = sample_report()
    report.sources[0].url = "javascript:alert(1)"
    report.sources[1].url = "file:///etc/passwd"
    sources = _workbook(report)["Sources"]
    assert sources["A2"].value == "javascript:alert(1)" and sources["A2"].hyperlink is None
    assert sources["A3"].hyperlink is None
    assert sources["A4"].hyperlink.target == "https://example.com/p2"


def test_control_characters_and_long_text() -> None:
    report = sample_report()
    report.topics[0].title = "bell\x07 nul\x00 esc\x1b del\x7f nel\x85 \ud800\ufffe\uffffgone"
    report.topics[0].reason = "x" * 40_000
    report.topics[1].reason = "\U0001f331" * 20_000  # Excel counts each as two characters
    report.keywords[0].keyword = "tab\tline\nreturn\r kept"
    wb = _workbook(report)
    assert wb["Topics"]["B2"].value == "bell nul esc del nel gone"
    reason = wb["Topics"]["E2"].value
    assert len(reason) == CELL_LIMIT
    assert reason.endswith("40,000 characters; see the JSON export]")
    emoji = wb["Topics"]["E3"].value
    assert len(emoji.encode("utf-16-le")) // 2 <= CELL_LIMIT
    assert emoji.startswith("\U0001f331") and emoji.endswith(
        "20,000 characters; see the JSON export]"
    )
    assert wb["Keywords"]["A2"].value == "tab\tline\nreturn\r kept"


def test_json_validates_against_the_report_model() -> None:
    report = sample_report()
    assert Report.model_validate_json(to_json(report)) == report


def test_markdown_has_every_top_topic_and_its_sources() -> None:
    report = sample_report()
    text = to_markdown(report).decode()
    for brief in report.briefs:
        assert f"## {brief.topic}" in text
        for source in brief.sources:
            assert f"[{source.title}](<{source.url}>)" in text
    for topic in report.topics:
        assert topic.title in text
    assert "drip irrigation" in text


def test_markdown_escapes_markup_and_refuses_script_links() -> None:
    report = sample_report()
    report.briefs[0].sources[0].url = "javascript:alert(1)"
    report.briefs[0].topic = "Tools | *bold* <b>"
    text = to_markdown(report).decode()
    assert "](<javascript:" not in text
    assert "## Tools \\| \\*bold\\* \\<b\\>" in text


def test_format_for_path() -> None:
    assert format_for_path(Path("out/Report.XLSX")) == "xlsx"
    assert format_for_path(Path("r.json")) == "json"
    assert format_for_path(Path("r.md")) == "md"
    with pytest.raises(ExportError):
        format_for_path(Path("r.csv"))


@pytest.mark.anyio
async def test_export_report_runs_in_a_worker_thread() -> None:
    report = sample_report()
    limiter = anyio.CapacityLimiter(1)
    assert (await export_report(report, "json", limiter)) == to_json(report)
    assert (await export_report(report, "md")).startswith(b"# Content research: example.com")
    assert (await export_report(report, "xlsx", limiter))[:2] == b"PK"
    with pytest.raises(ExportError):
        await export_report(report, "pdf")


async def export_with_heartbeat(report: Report) -> tuple[bytes, int]:
    """Export while a 2 ms heartbeat runs; return the bytes and the beats seen meanwhile."""
    ticks = 0
    done = anyio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not done.is_set():
            await anyio.sleep(0.002)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(heartbeat)
        data = await export_report(report, "xlsx")
        during = ticks
        done.set()
    return data, during


def test_large_export_leaves_the_loop_free() -> None:
    report = large_report(10_000)
    # The loop runs in asyncio debug mode (conftest), which also fails on a blocking step.
    data, during = anyio.run(export_with_heartbeat, report)
    # Built on the loop, the export would have let no heartbeat through until it was done.
    assert during >= 5
    wb = load_workbook(io.BytesIO(data), read_only=True)
    assert sum(1 for _ in wb["Keywords"].iter_rows(values_only=True)) == 10_001
