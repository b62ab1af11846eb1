"""Exports of a report: the Excel workbook, JSON and a Markdown brief document; built off the loop.

Every text cell is cleaned before it reaches the workbook: control characters and code points
XML cannot hold (which would corrupt the file) are removed, text longer than Excel's 32,767-character cell limit is cut with a note,
and text that a spreadsheet could read as a formula (starting with = + - @, tab or carriage
return) is stored as a literal string with Excel's quote prefix.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import anyio
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from research.errors import ExportError
from research.models import STAGE_LABELS, Brief, Report, StageName, SubtopicCoverage, Topic
from research.processes import CpuWorkers, run_cpu

ExportFormat = Literal["xlsx", "json", "md"]

FORMAT_SUFFIXES: dict[str, ExportFormat] = {
    ".xlsx": "xlsx",
    ".json": "json",
    ".md": "md",
}
CELL_LIMIT = 32_767
URL_LIMIT = 2_000  # Excel ignores hyperlink targets longer than about 2,080 characters
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
SCORE_FORMAT = "0.000"
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
UNVERIFIED_PART = "Passage (unverified)"

# Control characters other than tab, line feed and carriage return (C0 and C1), lone
# surrogates, and the two non-characters XML 1.0 forbids.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDE4EE")
_LINK_FONT = Font(color="0563C1", underline="single")
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")

Kind = Literal["text", "wrap", "url", "score", "int", "number", "time"]


@dataclass(frozen=True)
class Column:
    """One worksheet column: header, how its cells are formatted, and the widest it gets."""

    header: str
    kind: Kind = "text"
    max_width: int = 50


def clean_text(value: str) -> str:
    """Return text safe for a workbook cell: no control characters, within Excel's cell limit."""
    text = CONTROL_CHARACTERS.sub("", value)
    if len(text) <= CELL_LIMIT // 2:
        return text
    # Excel counts UTF-16 code units: a character beyond the BMP (an emoji) counts twice.
    units = text.encode("utf-16-le")
    if len(units) <= 2 * CELL_LIMIT:
        return text
    note = f" … [cut: the full text has {len(text):,} characters; see the JSON export]"
    keep = units[: 2 * (CELL_LIMIT - len(note))].decode("utf-16-le", "ignore")
    return keep + note


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _is_web_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and len(text) <= URL_LIMIT and " " not in text


def _cell(ws: WriteOnlyWorksheet, value: object, kind: Kind) -> WriteOnlyCell | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = _naive_utc(value)
    elif isinstance(value, str):
        value = clean_text(value)
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        if value.startswith(FORMULA_PREFIXES):
            cell.data_type = "s"
            cell.quotePrefix = True
        if kind == "url" and _is_web_url(value):
            cell.hyperlink = value
            cell.font = _LINK_FONT
        cell.alignment = _WRAP if kind == "wrap" else _TOP
    elif isinstance(value, datetime):
        cell.number_format = TIME_FORMAT
    elif kind == "score":
        cell.number_format = SCORE_FORMAT
    elif kind == "int":
        cell.number_format = "#,##0"
    return cell


def _width(column: Column, rows: Sequence[Sequence[object]], index: int) -> float:
    if column.kind == "time":
        return 20
    longest = max(8, len(column.header) + 4)  # room for the autofilter button
    for row in rows[:500]:
        value = row[index]
        if value is None:
            continue
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        longest = max(longest, max((len(line) for line in text.splitlines()), default=0) + 2)
        if longest >= column.max_width:
            return column.max_width
    return longest


def _write_sheet(
    wb: Workbook,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[Sequence[object]],
) -> None:
    ws = wb.create_sheet(title)
    for index, column in enumerate(columns):
        letter = get_column_letter(index + 1)
        ws.column_dimensions[letter].width = _width(column, rows, index)
    ws.freeze_panes = "A2"
    header = []
    for column in columns:
        cell = WriteOnlyCell(ws, value=column.header)
        cell.font, cell.fill, cell.alignment = _HEADER_FONT, _HEADER_FILL, _TOP
        header.append(cell)
    ws.append(header)
    kinds = [column.kind for column in columns]
    for row in rows:
        ws.append([_cell(ws, value, kind) for value, kind in zip(row, kinds, strict=True)])
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"


def _lines(values: Iterable[str]) -> str:
    return "\n".join(value for value in values if value)


def _summary_rows(report: Report) -> list[tuple[object, ...]]:
    request = report.request
    site = report.site
    rows: list[tuple[object, ...]] = [
        ("Request", "Website", request.url, ""),
        (
            "Request",
            "Competitor URLs",
            _lines(request.competitors) or "(none given)",
            "",
        ),
        ("Request", "Max pages per site", request.max_pages, ""),
        ("Request", "Max depth", request.max_depth, ""),
        ("Request", "Engine requested", request.engine, ""),
        ("Run", "Run ID", report.run_id, ""),
        ("Run", "Status", report.status, ""),
        ("Run", "Engine used", report.engine, ""),
        ("Run", "Started (UTC)", report.started_at, ""),
        ("Run", "Finished (UTC)", report.finished_at, ""),
        ("Run", "Duration (s)", _round(report.duration_seconds, 1), ""),
    ]
    for name in StageName:
        state = report.stages.get(name)
        if state is None:
            continue
        seconds = (
            (state.finished_at - state.started_at).total_seconds()
            if state.started_at and state.finished_at
            else None
        )
        detail = f"{_round(seconds, 1)} s" if seconds is not None else ""
        detail = "; ".join(part for part in (detail, state.detail) if part)
        rows.append(("Stage", STAGE_LABELS[name], f"{state.status} ({state.count})", detail))
    counts = {
        "Pages analysed": len(site.pages) if site else 0,
        "Pages skipped or failed": len(site.issues) if site else 0,
        "Competitors": len(report.competitors),
        "Keywords": len(report.keywords),
        "Content gaps": len(report.gaps),
        "Topics": len(report.topics),
        "Briefs": len(report.briefs),
        "Sources": len(report.sources),
        "Errors": len(report.errors),
    }
    rows += [("Counts", label, count, "") for label, count in counts.items()]
    for usage in report.usage:
        detail = _usage_detail(usage.calls, usage.input_tokens, usage.output_tokens, usage.cost_usd)
        label = f"{usage.stage.label} · {usage.engine}"
        rows.append(("Usage", label, usage.input_tokens + usage.output_tokens, detail))
    totals = report.usage_totals
    total = _usage_detail(totals.calls, totals.input_tokens, totals.output_tokens, totals.cost_usd)
    rows.append(("Usage", "Total tokens", totals.tokens, total))
    rows += [
        ("Errors", f"Error {index}", error, "") for index, error in enumerate(report.errors, 1)
    ]
    return rows


def _usage_detail(calls: int, tokens_in: int, tokens_out: int, cost: float) -> str:
    return f"{calls} calls, {tokens_in:,} input + {tokens_out:,} output tokens, ${cost:.4f}"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _first(values: Sequence[str]) -> str:
    return values[0] if values else ""


def _cited_by(report: Report) -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    for brief in report.briefs:
        urls = [source.url for source in brief.sources] + [p.url for p in brief.passages]
        for url in dict.fromkeys(urls):
            cited.setdefault(url, []).append(brief.topic)
    return cited


def _brief_rows(report: Report) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for brief in report.briefs:
        topic = brief.topic
        if brief.summary:
            rows.append((topic, "Summary", None, brief.summary, ""))
        rows += [(topic, "Outline", n, line, "") for n, line in enumerate(brief.outline, 1)]
        rows += [(topic, "Question", n, line, "") for n, line in enumerate(brief.questions, 1)]
        rows += [
            (
                topic,
                "Passage" if passage.verified else UNVERIFIED_PART,
                n,
                passage.text,
                passage.url,
            )
            for n, passage in enumerate(brief.passages, 1)
        ]
        rows += [
            (topic, "Source", n, source.title or source.url, source.url)
            for n, source in enumerate(brief.sources, 1)
        ]
        if brief.text:
            rows.append((topic, "Draft", None, brief.text, ""))
    return rows


def _plan_rows(report: Report) -> list[tuple[object, ...]]:
    """One row per (brief, subtopic), then the brief's target length and links."""
    rows: list[tuple[object, ...]] = []
    for brief in report.briefs:
        topic = brief.topic
        if brief.target_words is not None:
            words = f"{brief.target_words.min}–{brief.target_words.max} words"
            rows.append((topic, "Target length", words, "", brief.target_words.basis, None, ""))
        rows += [
            (topic, "Subtopic", c.subtopic, "must" if c.must else "differentiator",
             ", ".join(c.competitors), c.pages, "")
            for c in brief.coverage
        ]  # fmt: skip
        rows += [
            (topic, "Internal link", link.anchor, "", "", None, link.from_url)
            for link in brief.internal_links
        ]
        rows += [(topic, "Link to", "", "", "", None, url) for url in brief.link_to]
    return rows


def workbook_sheets(
    report: Report,
) -> list[tuple[str, list[Column], Callable[[], Sequence[Sequence[object]]]]]:
    """Return each sheet of the workbook: title, columns and a function building its rows."""
    cited = _cited_by(report)
    return [
        (
            "Summary",
            [Column("Section", max_width=12), Column("Item", max_width=32),
             Column("Value", "wrap", 60), Column("Detail", "wrap", 60)],
            lambda: _summary_rows(report),
        ),
        (
            "Topics",
            [Column("Rank", "int"), Column("Title", "wrap", 50), Column("Score", "score"),
             Column("Keywords", "wrap", 40), Column("Reason", "wrap", 60),
             Column("Competitor coverage", "int"), Column("Example page", "url", 50),
             Column("Evidence", "wrap", 60), Column("Intent", max_width=16),
             Column("Action", max_width=10), Column("Overlapping page", "url", 50)],
            lambda: [
                (rank, t.title, t.score, ", ".join(t.keywords), t.reason, t.competitor_coverage,
                 _first(t.evidence), _lines(t.evidence), t.intent, t.action,
                 t.overlaps[0].url if t.overlaps else "")
                for rank, t in enumerate(report.topics, 1)
            ],
        ),
        (
            "Keywords",
            [Column("Keyword", max_width=40), Column("Score", "score"),
             Column("Site pages", "int"), Column("Competitor pages", "int"), Column("Source")],
            lambda: [
                (k.keyword, k.score, k.site_pages, k.competitor_pages, k.source)
                for k in report.keywords
            ],
        ),
        (
            "Content Gaps",
            [Column("Keyword", max_width=40), Column("Score", "score"),
             Column("Competitors", "wrap", 40), Column("Competitor pages", "int"),
             Column("Example page", "url", 50), Column("Evidence", "wrap", 60)],
            lambda: [
                (g.keyword, g.score, ", ".join(g.competitors), g.competitor_pages,
                 _first(g.evidence), _lines(g.evidence))
                for g in report.gaps
            ],
        ),
        (
            "Competitors",
            [Column("Domain", max_width=30), Column("URL", "url", 50), Column("Name", max_width=30),
             Column("Found by"), Column("Reason", "wrap", 60), Column("Pages analysed", "int"),
             Column("Top keyphrases", "wrap", 60)],
            lambda: [
                (c.domain, c.url, c.name, c.source, c.reason,
                 len(c.analysis.pages) if c.analysis else None,
                 ", ".join(k.keyword for k in c.analysis.keyphrases[:10]) if c.analysis else "")
                for c in report.competitors
            ],
        ),
        (
            "Briefs",
            [Column("Topic", "wrap", 40), Column("Part"), Column("#", "int"),
             Column("Text", "wrap", 80), Column("Source URL", "url", 50)],
            lambda: _brief_rows(report),
        ),
        (
            "Brief Plan",
            [Column("Topic", "wrap", 40), Column("Row", max_width=16),
             Column("Subtopic or anchor", "wrap", 40), Column("Must or differentiator"),
             Column("Competitors", "wrap", 40), Column("Pages", "int"), Column("URL", "url", 50)],
            lambda: _plan_rows(report),
        ),
        (
            "Sources",
            [Column("URL", "url", 60), Column("Title", "wrap", 50),
             Column("Cited by briefs", "int"), Column("Topics", "wrap", 60)],
            lambda: [
                (s.url, s.title, len(cited.get(s.url, [])), _lines(cited.get(s.url, [])))
                for s in report.sources
            ],
        ),
        (
            "Run Log",
            [Column("Time (UTC)", "time"), Column("Stage", max_width=18), Column("Level"),
             Column("Message", "wrap", 100)],
            lambda: [
                (e.at, e.stage.label if e.stage else "", e.level, e.message) for e in report.log
            ],
        ),
    ]  # fmt: skip


def sheet_table(report: Report, title: str) -> tuple[list[Column], Sequence[Sequence[object]]]:
    """Return the columns and rows of one workbook sheet; the pages show the same tables."""
    for name, columns, rows in workbook_sheets(report):
        if name == title:
            return columns, rows()
    raise ExportError(f"The workbook has no sheet called {title!r}.")


USAGE_COLUMNS = [
    Column("Stage"), Column("Engine"), Column("Calls", "int"), Column("Input tokens", "int"),
    Column("Output tokens", "int"), Column("Cost (USD)", "number"),
]  # fmt: skip


def usage_rows(report: Report) -> list[tuple[object, ...]]:
    """Return model usage by stage, one row per stage and engine (columns USAGE_COLUMNS)."""
    return [
        (u.stage.label, u.engine, u.calls, u.input_tokens, u.output_tokens, round(u.cost_usd, 4))
        for u in report.usage
    ]


def to_xlsx(report: Report) -> bytes:
    """Return the report as an Excel workbook (blocking: call it in a worker thread)."""
    wb = Workbook(write_only=True)
    wb.properties.creator = "Research Lab"
    wb.properties.title = clean_text(f"Content research: {report.request.url}")
    for title, columns, rows in workbook_sheets(report):
        _write_sheet(wb, title, columns, rows())
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def to_json(report: Report) -> bytes:
    """Return the report as indented JSON (the Report model, loadable with model_validate_json)."""
    return report.model_dump_json(indent=2).encode("utf-8")


_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _md(text: str) -> str:
    """Return text as inline Markdown: one line, markup characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_link(title: str, url: str) -> str:
    label = _md(title or url)
    if not _is_web_url(url):
        return f"{label} ({_md(url)})"
    return f"[{label}](<{url.replace('>', '%3E').replace('<', '%3C')}>)"


def _coverage_line(item: SubtopicCoverage, box: str) -> str:
    n = len(item.competitors)
    return f"  - {box}{_md(item.subtopic)} ({n} competitor{'s' * (n != 1)}, {item.pages} pages)"


def spec_sheet_markdown(brief: Brief, topic: Topic | None) -> list[str]:
    """Return a brief's spec sheet as Markdown lines: what to write, how long, what to cover,
    which questions to answer and where to link."""
    out = ["### Spec sheet", ""]
    if topic is not None:
        out.append(f"- Intent: {topic.intent} — {_md(topic.intent_reason)}")
        action = "write a new piece"
        if topic.action == "refresh" and topic.overlaps:
            action = f"refresh {_md(topic.overlaps[0].url)} instead of writing a new piece"
        out.append(f"- Action: {action}")
        if topic.competes_with:
            out.append(f"- Competes with: {_md('; '.join(topic.competes_with))}")
    if brief.target_words is not None:
        words = brief.target_words
        out.append(f"- Target length: {words.min:,}–{words.max:,} words ({_md(words.basis)})")
    if brief.must_cover:
        out += ["- Must cover:"] + [_coverage_line(c, "[ ] ") for c in brief.must_cover]
    if brief.differentiators:
        out += ["- Differentiators:"] + [_coverage_line(c, "") for c in brief.differentiators]
    if brief.questions:
        out += ["- Questions to answer:"] + [f"  - {_md(q)}" for q in brief.questions]
    if brief.internal_links:
        out.append("- Internal links (add a link to this piece from):")
        out += [
            f"  - {_md_link(link.from_url, link.from_url)}, anchor “{_md(link.anchor)}”"
            for link in brief.internal_links
        ]
    if brief.link_to:
        out += ["- Links out (this piece links to):"] + [
            f"  - {_md_link(url, url)}" for url in brief.link_to
        ]
    return [*out, ""]


def _md_brief(brief: Brief, topic: Topic | None) -> list[str]:
    """Return one brief as Markdown lines: spec sheet, summary, outline, evidence, sources."""
    out: list[str] = [f"## {_md(brief.topic)}", ""]
    out += spec_sheet_markdown(brief, topic)
    if brief.summary:
        out += [_md(brief.summary), ""]
    if brief.outline:
        out += ["### Outline", ""] + [f"{n}. {_md(line)}" for n, line in
                                      enumerate(brief.outline, 1)] + [""]  # fmt: skip
    if brief.passages:
        out += ["### Evidence", ""]
        for passage in brief.passages:
            mark = "" if passage.verified else " — **unverified**: not found on the cited page"
            out += [
                f"> {_md(passage.text)}",
                ">",
                f"> — {_md_link(passage.title, passage.url)}{mark}",
            ]
            out.append("")
    if brief.sources:
        out += ["### Sources", ""]
        out += [f"{n}. {_md_link(s.title, s.url)}" for n, s in enumerate(brief.sources, 1)]
        out.append("")
    return out


def to_markdown(report: Report) -> bytes:
    """Return a readable Markdown document: summary, topics, briefs with cited sources."""
    domain = report.site.domain if report.site else report.request.url
    out: list[str] = [f"# Content research: {_md(domain)}", ""]
    out += [
        f"- Website: {_md_link(report.request.url, report.request.url)}",
        f"- Status: {report.status}",
        f"- Engine: {_md(report.engine)}",
        f"- Started: {report.started_at:%Y-%m-%d %H:%M} UTC",
    ]
    if report.duration_seconds is not None:
        out.append(f"- Duration: {report.duration_seconds:.0f} s")
    if report.site:
        out.append(f"- Pages analysed: {len(report.site.pages)}")
    if report.competitors:
        names = ", ".join(_md(c.domain) for c in report.competitors)
        out.append(f"- Competitors: {names}")
    if (totals := report.usage_totals).tokens:
        out.append(f"- Model usage: {totals.tokens:,} tokens, about ${totals.cost_usd:.4f}")
    out.append("")
    if report.errors:
        out += ["## Problems", ""] + [f"- {_md(error)}" for error in report.errors] + [""]
    if report.topics:
        out += [
            "## Topics",
            "",
            "| # | Topic | Score | Keywords | Why |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| {rank} | {_md(t.title)} | {t.score:.2f} | {_md(', '.join(t.keywords))} "
            f"| {_md(t.reason)} |"
            for rank, t in enumerate(report.topics, 1)
        ]
        out.append("")
    topics = {topic.title: topic for topic in report.topics}
    for brief in report.briefs:
        out += _md_brief(brief, topics.get(brief.topic))
    if report.gaps:
        out += [
            "## Content gaps",
            "",
            "| Keyword | Score | Competitors | Pages |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {_md(g.keyword)} | {g.score:.2f} | {_md(', '.join(g.competitors))} "
            f"| {g.competitor_pages} |"
            for g in report.gaps[:50]
        ]
        out.append("")
    if report.sources:
        out += ["## All sources", ""]
        out += [f"- {_md_link(s.title, s.url)}" for s in report.sources]
        out.append("")
    return "\n".join(out).encode("utf-8")


BUILDERS: dict[ExportFormat, Callable[[Report], bytes]] = {
    "xlsx": to_xlsx,
    "json": to_json,
    "md": to_markdown,
}


def format_for_path(path: Path) -> ExportFormat:
    """Return the export format a file name asks for (.xlsx, .json, .md), or raise ExportError."""
    fmt = FORMAT_SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise ExportError(f"{Path(path).name} has no known export type: use .xlsx, .json or .md.")
    return fmt


def _batch_summary_rows(reports: Sequence[Report]) -> list[tuple[object, ...]]:
    return [
        (r.request.url, r.status, len(r.site.pages) if r.site else 0,
         _lines(t.title for t in r.topics[:3]), _lines(g.keyword for g in r.gaps[:5]),
         len(r.topics), r.engine, _round(r.duration_seconds, 1), r.run_id,
         r.errors[-1] if r.errors else "")
        for r in reports
    ]  # fmt: skip


def batch_xlsx(reports: Sequence[Report]) -> bytes:
    """Return one workbook for a batch: a Summary row per site and every site's topics (blocking)."""
    wb = Workbook(write_only=True)
    wb.properties.creator = "Research Lab"
    wb.properties.title = clean_text(f"Content research: {len(reports)} sites")
    summary = [
        Column("Site", "url", 40), Column("Status"), Column("Pages", "int"),
        Column("Top topics", "wrap", 50), Column("Gaps", "wrap", 40), Column("Topics", "int"),
        Column("Engine"), Column("Seconds", "score"), Column("Run ID"), Column("Error", "wrap", 60),
    ]  # fmt: skip
    topics = [
        Column("Site", "url", 40), Column("Rank", "int"), Column("Title", "wrap", 50),
        Column("Score", "score"), Column("Keywords", "wrap", 40), Column("Reason", "wrap", 60),
        Column("Competitor coverage", "int"),
    ]  # fmt: skip
    _write_sheet(wb, "Summary", summary, _batch_summary_rows(reports))
    rows = [
        (r.request.url, rank, t.title, t.score, ", ".join(t.keywords), t.reason,
         t.competitor_coverage)
        for r in reports
        for rank, t in enumerate(r.topics, 1)
    ]  # fmt: skip
    _write_sheet(wb, "Topics", topics, rows)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


async def export_batch(reports: Sequence[Report], cpu: CpuWorkers | None = None) -> bytes:
    """Build the combined workbook of a batch's reports in a worker (a thread without `cpu`)."""
    try:
        return await run_cpu(cpu or anyio.CapacityLimiter(1), batch_xlsx, list(reports))
    except (ValueError, TypeError, KeyError) as exc:
        raise ExportError(f"The batch workbook could not be built: {exc}.") from exc


async def export_report(report: Report, fmt: str, cpu: CpuWorkers | None = None) -> bytes:
    """Build an export ("xlsx", "json" or "md") of a report in a worker (a thread without `cpu`)."""
    builder = BUILDERS.get(fmt)  # type: ignore[call-overload]
    if builder is None:
        raise ExportError(f"{fmt!r} is not an export format: use xlsx, json or md.")
    try:
        return await run_cpu(cpu or anyio.CapacityLimiter(1), builder, report)
    except (ValueError, TypeError, KeyError) as exc:
        raise ExportError(f"The {fmt} export could not be built: {exc}.") from exc
