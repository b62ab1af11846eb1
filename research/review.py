"""Review points: a paused run's pending choices, the user's edits applied, continue and cancel.

A run with `DiscoveryRequest.review` on pauses after Competitors and after Topics: it is saved
`awaiting_review` with `Report.review_point` set, and no task holds it. Continuing applies
`ReviewEdits` to the saved report (competitors dropped or added; topics dropped, renamed or given
new keywords), records the point in `Report.reviewed` and hands the report back for the pipeline
to resume from the next stage. Both continue and cancel first claim the run in the store, so two
browsers (or a browser and the CLI) cannot both act on one pause.
"""

from __future__ import annotations

from research.errors import InvalidRequest, RunNotResumable
from research.models import (
    Competitor,
    ProgressEvent,
    Report,
    ReviewEdits,
    StageState,
    Topic,
    normalize_start_url,
    now,
)
from research.net.urls import site_key
from research.store import RunStore


def review_items(report: Report) -> list[str]:
    """Return the pending choices of a paused run, one line each, in the order `review` numbers."""
    if report.review_point == "competitors":
        return [
            f"{c.domain}  {c.url}  (found by {c.source}, "
            f"{len(c.analysis.pages) if c.analysis else 0} pages analysed)"
            for c in report.competitors
        ]
    if report.review_point == "topics":
        return [f"{t.title}  [{', '.join(t.keywords)}]  score {t.score:.2f}" for t in report.topics]
    return []


def check_paused(report: Report) -> None:
    """Raise RunNotResumable unless the run is waiting for a review."""
    if report.status != "awaiting_review" or report.review_point is None:
        raise RunNotResumable(
            f"Run {report.run_id} is not waiting for a review (it is {report.status})."
        )


def _edit_competitors(report: Report, edits: ReviewEdits) -> tuple[list[Competitor], str]:
    """The competitors after dropping and adding, and a one-line account of the change."""
    kept = list(report.competitors)
    for value in edits.drop_competitors:
        url = normalize_start_url(value)
        match = [c for c in kept if c.url == url or c.domain == site_key(url)]
        if not match:
            raise InvalidRequest(
                f"{value} is not a competitor of run {report.run_id}; "
                f"`python -m research review {report.run_id}` lists them."
            )
        kept = [c for c in kept if c not in match]
    dropped = len(report.competitors) - len(kept)
    added: list[Competitor] = []
    for value in edits.add_competitors:
        url = normalize_start_url(value)
        # Adding a listed (never crawled) candidate makes it the user's: it is crawled then.
        kept = [c for c in kept if c.domain != site_key(url) or c.analysis is not None]
        taken = {c.domain for c in [*kept, *added]} | {report.site.domain if report.site else ""}
        if site_key(url) not in taken:
            added.append(
                Competitor(url=url, domain=site_key(url), source="user", reason="Added at review")
            )
    return [*kept, *added], f"{dropped} competitors dropped, {len(added)} added"


def _topic_index(report: Report, number: int) -> int:
    if not 1 <= number <= len(report.topics):
        raise InvalidRequest(
            f"Run {report.run_id} has topics 1 to {len(report.topics)}; there is no topic {number}."
        )
    return number - 1


def _edit_topics(report: Report, edits: ReviewEdits) -> tuple[list[Topic], str]:
    """The topics after renaming, re-keywording and dropping, and a one-line account."""
    topics = list(report.topics)
    for number, title in edits.rename_topics.items():
        if not title.strip():
            raise InvalidRequest(f"Topic {number} needs a title; an empty one is not accepted.")
        index = _topic_index(report, number)
        topics[index] = topics[index].model_copy(update={"title": title.strip()})
    for number, keywords in edits.topic_keywords.items():
        index = _topic_index(report, number)
        words = [k.strip() for k in keywords if k.strip()]
        topics[index] = topics[index].model_copy(update={"keywords": words})
    dropped = {_topic_index(report, number) for number in edits.drop_topics}
    if len(dropped) == len(topics) and topics:
        raise InvalidRequest("Keep at least one topic; briefs are written for the topics kept.")
    kept = [topic for index, topic in enumerate(topics) if index not in dropped]
    renamed = len(edits.rename_topics)
    return kept, f"{len(dropped)} topics dropped, {renamed} renamed"


def apply_review(report: Report, edits: ReviewEdits | None = None) -> Report:
    """Return the paused report with `edits` applied and its review point passed."""
    check_paused(report)
    edits = edits or ReviewEdits()
    point = report.review_point
    assert point is not None
    update: dict[str, object]
    if point == "competitors":
        if edits.drop_topics or edits.rename_topics or edits.topic_keywords:
            raise InvalidRequest(
                f"Run {report.run_id} waits for a review of its competitors; "
                "topic edits apply at the topics review."
            )
        competitors, account = _edit_competitors(report, edits)
        update = {"competitors": competitors}
    else:
        if edits.drop_competitors or edits.add_competitors:
            raise InvalidRequest(
                f"Run {report.run_id} waits for a review of its topics; "
                "competitors can no longer change."
            )
        topics, account = _edit_topics(report, edits)
        update = {"topics": topics}
    event = ProgressEvent(message=f"Review of the {point}: {account}")
    update |= {
        "review_point": None,
        "reviewed": [*report.reviewed, point],
        "log": [*report.log, event],
    }
    return report.model_copy(update=update)


async def _claim_paused(store: RunStore, run_id: str) -> Report:
    """Claim a paused run for this process; put it back and refuse if it is not paused."""
    check_paused(await store.load(run_id))
    claimed = await store.claim(run_id)
    try:
        check_paused(claimed)
    except RunNotResumable:
        await store.save(claimed)  # another process acted first: leave its state as it was
        raise
    return claimed


async def continue_paused(store: RunStore, run_id: str, edits: ReviewEdits | None) -> Report:
    """Claim a paused run and return its report with `edits` applied, ready to resume."""
    claimed = await _claim_paused(store, run_id)
    try:
        return apply_review(claimed, edits)
    except InvalidRequest:
        await store.save(claimed)  # bad edits: the run stays paused as it was
        raise


async def cancel_paused(store: RunStore, run_id: str) -> Report:
    """Cancel a run waiting for review; its partial results stay saved. Return the report."""
    claimed = await _claim_paused(store, run_id)
    stages = {
        name: state if state.status == "done" else StageState(name=name, status="skipped")
        for name, state in claimed.stages.items()
    }
    event = ProgressEvent(message="Run cancelled while waiting for review; partial results kept")
    report = claimed.model_copy(
        update={
            "status": "cancelled",
            "review_point": None,
            "finished_at": now(),
            "stages": stages,
            "log": [*claimed.log, event],
        }
    )
    await store.save(report)
    return report
