"""`python -m research ...`: the same pipeline, headless, with progress on stderr."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import anyio

from research.config import Settings
from research.errors import InvalidRequest, ResearchError
from research.export import export_report
from research.models import DiscoveryRequest, ProgressEvent, Report
from research.pipeline.run import run_pipeline
from research.progress import RunTracker
from research.services import Services

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m research", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    discover = commands.add_parser("discover", help="research topics for a website")
    discover.add_argument("url", help="the website to analyse")
    discover.add_argument("--competitor", action="append", default=[], metavar="URL")
    discover.add_argument("--max-pages", type=int, default=30, metavar="N")
    discover.add_argument("--engine", choices=["local", "gemini", "auto"], default="auto")
    discover.add_argument("--out", type=Path, metavar="FILE.xlsx", help="write the Excel workbook")
    discover.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    discover.add_argument("--allow-private-hosts", action="store_true")
    discover.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def print_event(event: ProgressEvent) -> None:
    """Write one progress line to stderr."""
    stage = f"[{event.stage.label}] " if event.stage else ""
    mark = {"warning": "warning: ", "error": "error: "}.get(event.level, "")
    print(f"{event.at:%H:%M:%S} {stage}{mark}{event.message}", file=sys.stderr, flush=True)


async def write_outputs(report: Report, outputs: dict[str, Path | None]) -> None:
    """Write the report to each requested file, by format."""
    for fmt, path in outputs.items():
        if path is not None:
            data = await export_report(report, fmt)
            await anyio.Path(path).write_bytes(data)


async def _discover(tracker: RunTracker, settings: Settings, outputs: dict[str, Path | None]) -> None:
    services = await Services.open(settings)
    try:
        try:
            await run_pipeline(tracker, services)
        finally:
            with anyio.CancelScope(shield=True):
                await write_outputs(tracker.snapshot(), outputs)
    finally:
        await services.aclose()


def discover(args: argparse.Namespace, settings: Settings) -> int:
    """Run `discover`; return the process exit code."""
    try:
        request = DiscoveryRequest(
            url=args.url,
            competitors=args.competitor,
            max_pages=args.max_pages,
            engine=args.engine,
            allow_private_hosts=args.allow_private_hosts,
        )
    except InvalidRequest as exc:
        return fail(str(exc), EXIT_INVALID)
    except ValueError as exc:
        return fail(first_validation_message(exc), EXIT_INVALID)
    if settings.resolve_engine(request.engine) == "gemini" and not settings.has_gemini_key:
        return fail("The Gemini engine needs GEMINI_API_KEY; use --engine local.", EXIT_INVALID)
    tracker = RunTracker(Report(request=request))
    if not args.quiet:
        tracker.listeners.append(print_event)
    outputs = {"xlsx": args.out, "json": args.json}
    try:
        anyio.run(_discover, tracker, settings, outputs)
    except KeyboardInterrupt:
        print("Interrupted; partial results saved.", file=sys.stderr)
        return EXIT_INTERRUPTED
    report = tracker.snapshot()
    print(f"run {report.run_id}: {report.status}", file=sys.stderr)
    if report.status != "completed":
        return fail(report.errors[-1] if report.errors else f"Run {report.status}.", EXIT_FAILED)
    return EXIT_OK


def first_validation_message(exc: ValueError) -> str:
    """Return a one-line message for a pydantic validation error."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return f"Invalid {where}: {first.get('msg', 'invalid value')}."
    return str(exc).splitlines()[0]


def fail(message: str, code: int) -> int:
    """Print a one-line error to stderr and return `code`."""
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the command and return its exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except ResearchError as exc:
        return fail(str(exc), EXIT_INVALID)
    commands = {"discover": discover}
    return commands[args.command](args, settings)
