"""`python -m research ...`: the same pipeline, headless, with progress on stderr."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import anyio

from research.config import Settings
from research.errors import (
    ExportError,
    HostNotAllowed,
    InvalidRequest,
    ResearchError,
    RunNotFound,
    RunNotResumable,
)
from research.models import (
    ACTIVE_STATUSES,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_PAGES,
    DiscoveryRequest,
    Grade,
    ProgressEvent,
    Report,
    ReviewEdits,
    RunStatus,
    RunSummary,
)
from research.net.urls import site_key
from research.outcome import outcome_message

# The pipeline, the engines and the exporters are imported by the commands that use them, so
# `history`, `export` and `--help` start in a fraction of the time a run's imports take.
if TYPE_CHECKING:
    from research.progress import RunTracker
    from research.services import Services
    from research.store import RunStore

# How `resume` and `continue` take over a saved run: (args, settings, store) -> the claimed report.
Claim = Callable[[argparse.Namespace, Settings, "RunStore"], Awaitable[Report]]

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="python -m research", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    discover = commands.add_parser("discover", help="research topics for a website")
    discover.add_argument("url", help="the website to analyse")
    discover.add_argument("--competitor", action="append", default=[], metavar="URL")
    discover.add_argument("--max-pages", type=int, default=DEFAULT_MAX_PAGES, metavar="N")
    discover.add_argument("--engine", choices=["local", "gemini", "auto"], default="auto")
    discover.add_argument("--out", type=Path, metavar="FILE.xlsx", help="write the Excel workbook")
    discover.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    discover.add_argument("--allow-private-hosts", action="store_true")
    discover.add_argument("--quiet", action="store_true", help="no progress on stderr")
    discover.add_argument(
        "--review", action="store_true", help="pause after Competitors and Topics for review"
    )
    add_queue_flags(discover)
    history = commands.add_parser("history", help="list saved runs, newest first")
    history.add_argument("--site", help="only runs of this site (URL or domain)")
    history.add_argument("--status", choices=list(get_args(RunStatus)), help="only this status")
    history.add_argument("--limit", type=int, default=50, metavar="N")
    export = commands.add_parser("export", help="write a saved run to .xlsx, .json or .md")
    export.add_argument("run_id", metavar="RUN_ID")
    export.add_argument("--out", type=Path, required=True, metavar="FILE", help="FILE.xlsx|json|md")
    resume = commands.add_parser(
        "resume", help="continue a stopped run from its first unfinished stage"
    )
    resume.add_argument("run_id", metavar="RUN_ID")
    resume.add_argument("--engine", choices=["local", "gemini", "auto"], help="switch engine")
    resume.add_argument("--out", type=Path, metavar="FILE.xlsx", help="write the Excel workbook")
    resume.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    resume.add_argument("--quiet", action="store_true", help="no progress on stderr")
    resume.add_argument("--wait", action="store_true", help="in queue mode: wait for the run")
    add_batch_commands(commands)
    add_review_commands(commands)
    return parser


def add_batch_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `batch` and `cancel` to the subcommands."""
    batch = commands.add_parser("batch", help="research every site of a list, a few at a time")
    batch.add_argument("file", type=Path, metavar="FILE", help="one site per line, or a CSV")
    batch.add_argument("--max-pages", type=int, default=DEFAULT_MAX_PAGES, metavar="N")
    batch.add_argument("--engine", choices=["local", "gemini", "auto"], default="auto")
    batch.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N")
    add_queue_flags(batch)
    batch.add_argument("--out", type=Path, metavar="FILE.xlsx", help="write the combined workbook")
    batch.add_argument("--allow-private-hosts", action="store_true")
    batch.add_argument("--quiet", action="store_true", help="no progress on stderr")
    cancel = commands.add_parser("cancel", help="stop a run, or every run of a batch")
    cancel.add_argument("target", metavar="RUN_ID|BATCH_ID")
    worker = commands.add_parser("worker", help="run queued runs (RESEARCH_DATABASE_URL)")
    worker.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N")


def add_queue_flags(parser: argparse.ArgumentParser) -> None:
    """Add --queue and --wait to a command that starts runs."""
    parser.add_argument("--queue", action="store_true", help="enqueue the runs for workers")
    parser.add_argument("--wait", action="store_true", help="with the queue: wait for the end")


def add_review_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `review` and `continue` for runs paused for review, and `grade`."""
    review = commands.add_parser("review", help="show the choices a paused run waits for")
    review.add_argument("run_id", metavar="RUN_ID")
    go_on = commands.add_parser("continue", help="apply review edits and continue a paused run")
    go_on.add_argument("run_id", metavar="RUN_ID")
    go_on.add_argument("--drop-competitor", action="append", default=[], metavar="URL")
    go_on.add_argument("--add-competitor", action="append", default=[], metavar="URL")
    go_on.add_argument("--drop-topic", action="append", default=[], type=int, metavar="N")
    go_on.add_argument(
        "--rename-topic", action="append", default=[], nargs=2, metavar=("N", "TITLE")
    )
    go_on.add_argument("--out", type=Path, metavar="FILE.xlsx", help="write the Excel workbook")
    go_on.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    go_on.add_argument("--quiet", action="store_true", help="no progress on stderr")
    grade = commands.add_parser("grade", help="score a draft against one of a run's briefs")
    grade.add_argument("run_id", metavar="RUN_ID")
    grade.add_argument("--brief", type=int, required=True, metavar="N", help="counting from 1")
    source = grade.add_mutually_exclusive_group(required=True)
    source.add_argument("--draft", type=Path, metavar="FILE", help="a Markdown, HTML or text file")
    source.add_argument("--url", metavar="URL", help="a published draft, fetched like any page")
    grade.add_argument("--json", type=Path, metavar="FILE", help="write the grade as JSON")
    grade.add_argument("--allow-private-hosts", action="store_true", help="for --url")


def print_event(event: ProgressEvent) -> None:
    """Write one progress line to stderr; a run's error is left to the one final error line."""
    if event.level == "error":
        return
    message = event.message
    if event.stage and message.startswith(f"{event.stage.label} failed: "):
        message = f"{event.stage.label} failed"  # why comes once, in the final error line
    stage = f"[{event.stage.label}] " if event.stage else ""
    mark = {"warning": "warning: ", "error": "error: "}.get(event.level, "")
    print(f"{event.at:%H:%M:%S} {stage}{mark}{message}", file=sys.stderr, flush=True)


def follow(tracker: RunTracker, quiet: bool) -> None:
    """Print the run's progress to stderr (unless quiet) and keep its log lines off stderr."""
    run_log = logging.getLogger("research.run")
    run_log.propagate = False  # printed by print_event, or not at all when quiet
    run_log.addHandler(logging.NullHandler())  # else logging's last resort prints warnings
    if not quiet:
        tracker.listeners.append(print_event)


async def write_outputs(report: Report, outputs: dict[str, Path | None]) -> None:
    """Write the report to each requested file, by format."""
    from research.export import export_report

    for fmt, path in outputs.items():
        if path is not None:
            data = await export_report(report, fmt)
            await anyio.Path(path).write_bytes(data)
            print(f"wrote {path} ({len(data):,} bytes)", file=sys.stderr)


async def _discover(
    tracker: RunTracker, settings: Settings, outputs: dict[str, Path | None]
) -> None:
    from research.services import Services

    services = await Services.open(settings)
    try:
        await _run_and_write(tracker, services, outputs)
    finally:
        await services.aclose()


async def _run_and_write(
    tracker: RunTracker, services: Services, outputs: dict[str, Path | None]
) -> None:
    """Run the tracked report's unfinished stages, then write the requested files."""
    from research.pipeline.run import run_pipeline

    try:
        await run_pipeline(tracker, services)
    finally:
        with anyio.CancelScope(shield=True):
            await write_outputs(tracker.snapshot(), outputs)


def check_engine(settings: Settings, engine: str) -> None:
    """Raise InvalidRequest when `engine` resolves to Gemini and no key is configured."""
    if settings.resolve_engine(engine) == "gemini" and not settings.has_gemini_key:
        raise InvalidRequest("The Gemini engine needs GEMINI_API_KEY; use --engine local.")


def discover(args: argparse.Namespace, settings: Settings) -> int:
    """Run `discover`; return the process exit code."""
    try:
        request = DiscoveryRequest(
            url=args.url,
            competitors=args.competitor,
            max_pages=args.max_pages,
            engine=args.engine,
            allow_private_hosts=args.allow_private_hosts,
            review=args.review,
        )
        check_engine(settings, request.engine)
    except InvalidRequest as exc:
        return fail(str(exc), EXIT_INVALID)
    except ValueError as exc:
        return fail(first_validation_message(exc), EXIT_INVALID)
    try:
        refuse_fixed_addresses(request, settings)
    except HostNotAllowed as exc:
        return fail(str(exc), EXIT_INVALID)
    outputs = {"xlsx": args.out, "json": args.json}
    if args.queue or settings.queue:
        return enqueue_runs(settings, args, [Report(request=request)], outputs)
    from research.progress import RunTracker

    tracker = RunTracker(Report(request=request))
    follow(tracker, args.quiet)
    try:
        anyio.run(_discover, tracker, settings, outputs)
    except KeyboardInterrupt:
        print("Interrupted; partial results saved.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return outcome(tracker.snapshot())


def refuse_fixed_addresses(request: DiscoveryRequest, settings: Settings) -> None:
    """Raise HostNotAllowed for a URL whose literal IP the address policy always refuses."""
    from research.net.policy import AddressPolicy, refuse_literal_host

    allow_private = request.allow_private_hosts or settings.allow_private_hosts
    policy = AddressPolicy.build(allow_private, settings.allowed_networks)
    for url in [request.url, *request.competitors]:
        refuse_literal_host(url, policy)


def outcome(report: Report) -> int:
    """Print how a run ended and return its exit code."""
    print(f"run {report.run_id}: {report.status}", file=sys.stderr)
    if report.status == "awaiting_review":
        print(f"Run {report.run_id} is waiting for your review of its {report.review_point}.")
        print(f"Next: python -m research review {report.run_id}")
        return EXIT_OK
    if report.status != "completed":
        return fail(outcome_message(report), EXIT_FAILED)
    return EXIT_OK


async def _history(
    settings: Settings, site: str | None, status: str | None, limit: int
) -> list[RunSummary]:
    from research.store import open_store

    store = await open_store(settings)
    try:
        return await store.list_runs(site=site, status=status, limit=limit)
    finally:
        await store.aclose()


# The history table's status column fits the longest status (`awaiting_review`) and a gap.
STATUS_WIDTH = max(len(status) for status in get_args(RunStatus)) + 2


def history(args: argparse.Namespace, settings: Settings) -> int:
    """Run `history`: print a table of saved runs to stdout."""
    try:
        runs = anyio.run(_history, settings, args.site, args.status, args.limit)
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    if not runs:
        print("No saved runs.", file=sys.stderr)
        return EXIT_OK
    wide = STATUS_WIDTH
    header = f"{'RUN ID':<14}{'STARTED (UTC)':<18}{'STATUS':<{wide}}{'ENGINE':<8}"
    print(f"{header}{'SECONDS':>8}{'TOPICS':>8}  SITE")
    for run in runs:
        seconds = "" if run.duration_seconds is None else f"{run.duration_seconds:.1f}"
        print(
            f"{run.run_id:<14}{run.started_at:%Y-%m-%d %H:%M}  {run.status:<{wide}}{run.engine:<8}"
            f"{seconds:>8}{run.topic_count:>8}  {run.site}"
        )
    return EXIT_OK


async def _export(settings: Settings, run_id: str, out: Path, fmt: str) -> int:
    from research.export import export_report

    report = await _load(settings, run_id)
    data = await export_report(report, fmt)
    await anyio.Path(out).write_bytes(data)
    return len(data)


def export(args: argparse.Namespace, settings: Settings) -> int:
    """Run `export`: write a saved run to --out, in the format its suffix names."""
    from research.export import format_for_path

    try:
        fmt = format_for_path(args.out)
        size = anyio.run(_export, settings, args.run_id, args.out, fmt)
    except (RunNotFound, ExportError) as exc:
        return fail(str(exc), EXIT_INVALID)
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    except OSError as exc:
        return fail(f"{args.out} could not be written: {exc.strerror or exc}.", EXIT_FAILED)
    print(f"wrote {args.out} ({size:,} bytes)", file=sys.stderr)
    return EXIT_OK


async def _claim_to_resume(args: argparse.Namespace, settings: Settings, store: RunStore) -> Report:
    """Claim a stopped run to resume it, on the engine `--engine` names (if any)."""
    report = await store.load(args.run_id)
    engine = args.engine or report.request.engine
    check_engine(settings, engine)
    report = await store.claim(args.run_id)
    if report.status == "interrupted" and not args.quiet:
        print(outcome_message(report), file=sys.stderr)
    report.request.engine = engine  # type: ignore[assignment]
    return report


async def _claim_to_continue(
    args: argparse.Namespace, settings: Settings, store: RunStore
) -> Report:
    """Claim a paused run with the review edits `continue` was given applied."""
    from research.review import continue_paused

    return await continue_paused(store, args.run_id, review_edits(args))


async def _run_claimed(
    settings: Settings,
    args: argparse.Namespace,
    claim: Claim,
) -> Report:
    from research.progress import RunTracker
    from research.services import Services

    services = await Services.open(settings)
    try:
        tracker = RunTracker(await claim(args, settings, services.store))
        follow(tracker, args.quiet)
        await _run_and_write(tracker, services, {"xlsx": args.out, "json": args.json})
        return tracker.snapshot()
    finally:
        await services.aclose()


def run_claimed(
    args: argparse.Namespace,
    settings: Settings,
    claim: Claim,
) -> int:
    """Claim a saved run, run its unfinished stages and write the outputs; the exit code."""
    if settings.queue:  # the claimed run goes to the workers
        return enqueue_runs(settings, args, [], {"xlsx": args.out, "json": args.json}, claim)
    try:
        report = anyio.run(_run_claimed, settings, args, claim)
    except (RunNotFound, RunNotResumable, InvalidRequest) as exc:
        return fail(str(exc), EXIT_INVALID)
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        print("Interrupted; partial results saved.", file=sys.stderr)
        return EXIT_INTERRUPTED
    return outcome(report)


def resume(args: argparse.Namespace, settings: Settings) -> int:
    """Run `resume`: continue a saved run from its first unfinished stage (enqueued with a queue)."""
    return run_claimed(args, settings, _claim_to_resume)


async def _load(settings: Settings, run_id: str) -> Report:
    from research.store import open_store

    store = await open_store(settings)
    try:
        return await store.load(run_id)
    finally:
        await store.aclose()


def review(args: argparse.Namespace, settings: Settings) -> int:
    """Run `review`: print a paused run's pending choices, numbered from 1."""
    try:
        report = anyio.run(_load, settings, args.run_id)
    except RunNotFound as exc:
        return fail(str(exc), EXIT_INVALID)
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    from research.review import check_paused, review_items

    try:
        check_paused(report)
    except RunNotResumable as exc:
        return fail(str(exc), EXIT_INVALID)
    print(f"Run {report.run_id} of {report.request.url} waits for a review of its "
          f"{report.review_point}:")  # fmt: skip

    for number, line in enumerate(review_items(report), start=1):
        print(f"{number:>3}. {line}")
    flags = {
        "competitors": "[--drop-competitor URL]... [--add-competitor URL]...",
        "topics": '[--drop-topic N]... [--rename-topic N "New title"]...',
    }[report.review_point or "topics"]
    print(f"Continue: python -m research continue {report.run_id} {flags}")
    return EXIT_OK


def review_edits(args: argparse.Namespace) -> ReviewEdits:
    """Return the edits `continue` was given; raise InvalidRequest for a bad topic number."""
    renames: dict[int, str] = {}
    for number, title in args.rename_topic:
        try:
            renames[int(number)] = title
        except ValueError as exc:
            raise InvalidRequest(f"--rename-topic takes a topic number, not {number!r}.") from exc
    return ReviewEdits(
        drop_competitors=args.drop_competitor,
        add_competitors=args.add_competitor,
        drop_topics=args.drop_topic,
        rename_topics=renames,
    )


def continue_run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `continue`: apply review edits to a paused run and run it to the next pause or end."""
    return run_claimed(args, settings, _claim_to_continue)


async def _grade(settings: Settings, args: argparse.Namespace) -> Grade:
    from research.grade import brief_at, grade_draft, read_draft_file, read_draft_url
    from research.net.fetch import Fetcher

    report = await _load(settings, args.run_id)
    brief_at(report, args.brief)  # a missing brief is refused before any fetch
    if args.draft is not None:
        draft = await read_draft_file(args.draft)
    else:
        fetcher = Fetcher(settings)
        try:
            draft = await read_draft_url(
                fetcher, args.url, allow_private=settings.allow_private(args.allow_private_hosts)
            )
        finally:
            await fetcher.aclose()
    result = await anyio.to_thread.run_sync(grade_draft, report, args.brief, draft)
    if args.json is not None:
        await anyio.Path(args.json).write_text(result.model_dump_json(indent=2))
    return result


def grade(args: argparse.Namespace, settings: Settings) -> int:
    """Run `grade`: print a draft's score against a brief, its parts and what is missing."""
    try:
        result = anyio.run(_grade, settings, args)
    except (RunNotFound, InvalidRequest, HostNotAllowed) as exc:  # refused as `discover` does
        return fail(str(exc), EXIT_INVALID)
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    except OSError as exc:
        return fail(f"{args.json} could not be written: {exc.strerror or exc}.", EXIT_FAILED)
    print(f"Score: {result.score}/100")
    for name, part in result.parts.items():
        shown = "n/a (not graded)" if part.score is None else f"{part.score:.0f}/100"
        print(f"  {name:<11} {shown:<17} weight {part.weight:g}")
    if result.missing:
        print("Missing:")
    for item in result.missing:
        print(f"  - {item.kind}: {item.text}")
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
    commands = {
        "discover": discover,
        "history": history,
        "export": export,
        "resume": resume,
        "review": review,
        "continue": continue_run,
        "grade": grade,
        "batch": batch,
        "cancel": cancel,
        "worker": worker,
    }
    for name in COMMAND_MODULES.get(args.command, ()):
        importlib.import_module(name)  # here, not on the command's loop, where it would block
    return commands[args.command](args, settings)


_RUN_MODULES = (
    "research.export",
    "research.pipeline.run",
    "research.progress",
    "research.runtime.remote",
    "research.services",
    "research.store",
)
# What each command's coroutines import: loaded before its loop starts, and only for it, so
# `history`, `export` and `--help` start fast and no import ever runs on a loop.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "discover": (*_RUN_MODULES, "research.net.policy"),
    "history": ("research.store",),
    "export": ("research.export", "research.store"),
    "resume": _RUN_MODULES,
    "review": ("research.review", "research.store"),
    "continue": (*_RUN_MODULES, "research.review"),
    "grade": ("research.grade", "research.net.fetch", "research.store"),
    "batch": (*_RUN_MODULES, "research.runtime.batch", "research.sitelist"),
    "cancel": ("research.runtime.batch", "research.store"),
    "worker": ("research.runtime.loop_runner",),
}


def print_site_event(report: Report, event: ProgressEvent) -> None:
    """Print one progress line of a batch run on stderr, prefixed by the run's site."""
    host = site_key(report.request.url)
    print_event(event.model_copy(update={"message": f"{host}: {event.message}"}))


def print_site_events(tracker: RunTracker) -> None:
    """Print a batch run's progress lines on stderr as they happen."""
    report = tracker.snapshot()
    tracker.listeners.append(lambda event: print_site_event(report, event))


async def _batch(
    settings: Settings, reports: list[Report], args: argparse.Namespace
) -> list[Report]:
    from research.export import export_batch
    from research.runtime.batch import run_batch
    from research.services import Services

    services = await Services.open(settings)
    try:
        hook = None if args.quiet else print_site_events
        finals = await run_batch(reports, services, concurrency=args.concurrency, on_start=hook)
        if args.out is not None:
            with anyio.CancelScope(shield=True):
                data = await export_batch(finals, services.processes)
                await anyio.Path(args.out).write_bytes(data)
            print(f"wrote {args.out} ({len(data):,} bytes)", file=sys.stderr)
        return finals
    finally:
        await services.aclose()


def batch(args: argparse.Namespace, settings: Settings) -> int:
    """Run `batch`: one run per valid line of FILE; 0 all completed, 1 any failed, 2 none valid."""
    from research.runtime.batch import new_batch_id, queued_reports
    from research.sitelist import parse_sites

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return fail(f"{args.file} could not be read: {getattr(exc, 'strerror', None) or exc}.", 2)
    if args.concurrency < 1:
        return fail("--concurrency must be at least 1.", EXIT_INVALID)
    sites = parse_sites(
        text,
        name=args.file.name,
        max_pages=args.max_pages,
        engine=args.engine,
        allow_private_hosts=args.allow_private_hosts,
    )
    for error in sites.errors:
        print(error, file=sys.stderr)
    if not sites.requests:
        return fail(f"{args.file} has no valid site line.", EXIT_INVALID)
    if settings.resolve_engine(args.engine) == "gemini" and not settings.has_gemini_key:
        return fail("The Gemini engine needs GEMINI_API_KEY; use --engine local.", EXIT_INVALID)
    if args.queue or settings.queue:
        print(batch_id := new_batch_id(), flush=True)
        return enqueue_runs(settings, args, queued_reports(sites.requests, batch_id), {})
    if not args.quiet:
        logging.getLogger("research.run").propagate = False  # printed by print_event already
    batch_id = new_batch_id()
    print(batch_id, flush=True)
    try:
        finals = anyio.run(_batch, settings, queued_reports(sites.requests, batch_id), args)
    except KeyboardInterrupt:
        print("Interrupted; partial results saved.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    for report in finals:
        print(f"run {report.run_id} {report.request.url}: {report.status}", file=sys.stderr)
    return EXIT_OK if all(r.status == "completed" for r in finals) else EXIT_FAILED


async def _cancel(settings: Settings, target: str, queue_type: Any) -> list[RunSummary]:
    from research.runtime.batch import cancel_runs
    from research.store import open_store

    store = await open_store(settings)
    try:
        if queue_type is None:
            return await cancel_runs(store, target)
        queue = await queue_type.open(settings.database_url)
        try:
            return await cancel_runs(store, target, abort=queue.abort)
        finally:
            await queue.aclose()
    finally:
        await store.aclose()


def cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Run `cancel`: stop a run or a batch's runs wherever they run (a run paused for review
    at once); print how each ended."""
    try:
        queue_type = queue_module().RunQueue if settings.queue else None
        runs = anyio.run(_cancel, settings, args.target, queue_type)
    except RunNotFound as exc:
        return fail(str(exc), EXIT_INVALID)
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    for run in runs:
        print(f"run {run.run_id} {run.site}: {run.status}", file=sys.stderr)
    still = [run.run_id for run in runs if run.status in ACTIVE_STATUSES]
    if still:
        return fail(f"{len(still)} run(s) did not confirm the cancel yet: {', '.join(still)}.", 1)
    return EXIT_OK


def queue_module() -> Any:
    """Import the job queue (procrastinate) only when the queue is used, and off any loop."""
    return importlib.import_module("research.runtime.queue")


async def _enqueue_and_follow(
    settings: Settings, reports: list[Report], args: argparse.Namespace, claim: Claim | None
) -> list[Report]:
    """Enqueue runs (or a claimed saved run); with --wait follow them to their end."""
    from research.runtime.remote import follow_runs
    from research.store import open_store

    store = await open_store(settings.model_copy(update={"queue": True}))
    try:
        if claim is not None:
            reports = [await claim(args, settings, store)]
        queue = await queue_module().RunQueue.open(settings.database_url)
        try:
            for report in reports:
                await queue.enqueue(store, report)
        finally:
            await queue.aclose()
        in_batch = getattr(args, "file", None) is not None
        if not in_batch:
            print(reports[0].run_id, flush=True)
        if not args.wait:
            return reports
        show: Callable[[Report, ProgressEvent], None] | None = None
        if not getattr(args, "quiet", False):
            show = print_site_event if in_batch else (lambda _, event: print_event(event))
        return await follow_runs(store, [r.run_id for r in reports], show)
    finally:
        await store.aclose()


def enqueue_runs(
    settings: Settings,
    args: argparse.Namespace,
    reports: list[Report],
    outputs: dict[str, Path | None],
    claim: Claim | None = None,
) -> int:
    """Enqueue runs for workers; with --wait, follow them and end as a local run would."""
    if settings.database_url is None:
        return fail("The queue needs RESEARCH_DATABASE_URL (PostgreSQL).", EXIT_INVALID)
    queue_module()
    try:
        finals = anyio.run(_enqueue_and_follow, settings, reports, args, claim)
    except (RunNotFound, RunNotResumable, InvalidRequest) as exc:
        return fail(str(exc), EXIT_INVALID)
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        print("Stopped following; the runs go on in the queue.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.wait:
        return EXIT_OK
    batch_out = getattr(args, "file", None) is not None
    if batch_out:
        return _end_batch(finals, args.out)
    anyio.run(write_outputs, finals[0], outputs)
    return outcome(finals[0])


def _end_batch(finals: list[Report], out: Path | None) -> int:
    """Print how each run of a batch ended, write the combined workbook; return the exit code."""
    if out is not None:
        from research.export import export_batch

        data = anyio.run(export_batch, finals)
        out.write_bytes(data)
        print(f"wrote {out} ({len(data):,} bytes)", file=sys.stderr)
    for report in finals:
        print(f"run {report.run_id} {report.request.url}: {report.status}", file=sys.stderr)
    return EXIT_OK if all(r.status == "completed" for r in finals) else EXIT_FAILED


def worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run `worker`: take queued runs until SIGTERM/SIGINT, then hand running ones back."""
    if settings.database_url is None:
        return fail("The worker needs RESEARCH_DATABASE_URL (PostgreSQL).", EXIT_INVALID)
    if args.concurrency < 1:
        return fail("--concurrency must be at least 1.", EXIT_INVALID)
    from research.runtime.loop_runner import LoopRunner

    queue_worker_type = queue_module().QueueWorker
    runner = LoopRunner(settings.model_copy(update={"queue": True}))
    try:
        services = runner.services()
        opening = runner.submit(queue_worker_type.open(services, args.concurrency))
        queue_worker = opening.result(timeout=60)
    except ResearchError as exc:
        runner.shutdown()
        return fail(str(exc), EXIT_FAILED)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: queue_worker.request_stop())
    serving = runner.submit(queue_worker.serve())
    serving.add_done_callback(lambda _: queue_worker.ready.set())
    queue_worker.ready.wait()
    if not serving.done():
        print(f"worker {queue_worker.name}: taking runs, {queue_worker.concurrency} at a time",
              file=sys.stderr, flush=True)  # fmt: skip
    try:
        serving.result()
    except ResearchError as exc:
        return fail(str(exc), EXIT_FAILED)
    finally:
        runner.shutdown()
    print(f"worker {queue_worker.name}: stopped", file=sys.stderr)
    return EXIT_OK
