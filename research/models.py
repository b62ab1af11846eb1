"""The data that crosses module boundaries: request, pages, analysis results, report, progress."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from research.net.urls import normalize_start_url

EngineName = Literal["local", "gemini", "auto"]
DEFAULT_MAX_PAGES = 30
# Runs a batch (or a worker) keeps going at once unless told otherwise.
DEFAULT_CONCURRENCY = 4
MAX_PAGES_LIMIT = 1000


def now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class DiscoveryRequest(BaseModel):
    """What the user asked for: a site, optional competitors, limits and engine."""

    url: str
    competitors: list[str] = Field(default_factory=list)
    max_pages: int = Field(default=DEFAULT_MAX_PAGES, ge=1, le=MAX_PAGES_LIMIT)
    max_depth: int = Field(default=3, ge=0, le=10)
    engine: EngineName = "auto"
    allow_private_hosts: bool = False
    top_topics: int = Field(default=5, ge=1, le=20)
    review: bool = False

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return normalize_start_url(value)

    @field_validator("competitors")
    @classmethod
    def _check_competitors(cls, values: list[str]) -> list[str]:
        seen: list[str] = []
        for value in values:
            if value.strip():
                url = normalize_start_url(value)
                if url not in seen:
                    seen.append(url)
        return seen


class SiteList(BaseModel):
    """A batch's sites read from a list: one request per valid line, one message per bad one."""

    requests: list[DiscoveryRequest] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class Page(BaseModel):
    """One crawled and extracted HTML page."""

    url: str
    title: str = ""
    site_name: str = ""  # the name the page gives its site (og:site_name)
    headings: list[str] = Field(default_factory=list)
    text: str = ""
    language: str | None = None
    links: list[str] = Field(default_factory=list)
    depth: int = 0
    status: int = 200
    keyphrases: list[str] = Field(default_factory=list)


class PageIssue(BaseModel):
    """A page that was skipped, refused or failed during a crawl."""

    url: str
    kind: Literal["skipped", "refused", "failed"]
    reason: str


class FetchedPage(BaseModel):
    """An HTML page as fetched: requested and final URL, status, content type and decoded text."""

    url: str
    final_url: str
    status: int
    content_type: str
    text: str


class Resource(BaseModel):
    """Any fetched body (robots.txt, sitemaps): final URL, status, content type and raw bytes."""

    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes


class Keyphrase(BaseModel):
    """A phrase that characterises a site, with where it occurs."""

    keyword: str
    score: float
    pages: int = 0
    urls: list[str] = Field(default_factory=list)


class SiteAnalysis(BaseModel):
    """A crawled site: its pages, issues and keyphrases."""

    url: str
    domain: str
    title: str = ""
    language: str | None = None
    pages: list[Page] = Field(default_factory=list)
    issues: list[PageIssue] = Field(default_factory=list)
    keyphrases: list[Keyphrase] = Field(default_factory=list)
    outbound_domains: list[str] = Field(default_factory=list)
    thin: str = ""  # one sentence: why the site yielded little readable text, when it did


class Competitor(BaseModel):
    """A competitor site, how it was found, and its analysis when crawled."""

    url: str
    domain: str
    name: str = ""
    reason: str = ""
    source: Literal["user", "outbound_link", "gemini"] = "user"
    analysis: SiteAnalysis | None = None


class Keyword(BaseModel):
    """A ranked keyword for the site, with coverage on site and competitors."""

    keyword: str
    score: float
    site_pages: int = 0
    competitor_pages: int = 0
    source: Literal["site", "competitor", "gemini"] = "site"


class ContentGap(BaseModel):
    """A phrase competitors cover that the site does not, with evidence."""

    keyword: str
    score: float
    competitors: list[str] = Field(default_factory=list)
    competitor_pages: int = 0
    evidence: list[str] = Field(default_factory=list)


class KeywordResearch(BaseModel):
    """Stage 3's result: ranked keywords and content gaps."""

    keywords: list[Keyword] = Field(default_factory=list)
    gaps: list[ContentGap] = Field(default_factory=list)


Intent = Literal["informational", "commercial", "transactional", "navigational"]
TopicAction = Literal["new", "refresh"]


class TopicOverlap(BaseModel):
    """One of the user's own pages that already covers a topic, and how well (0..1)."""

    url: str
    title: str = ""
    score: float = 0.0


class Topic(BaseModel):
    """A topic idea: title, keywords, score and the reason it is worth writing."""

    title: str
    keywords: list[str] = Field(default_factory=list)
    score: float = 0.0
    reason: str = ""
    evidence: list[str] = Field(default_factory=list)
    competitor_coverage: int = 0
    intent: Intent = "informational"
    intent_reason: str = ""
    overlaps: list[TopicOverlap] = Field(default_factory=list)
    action: TopicAction = "new"
    competes_with: list[str] = Field(default_factory=list)  # other topics after the same phrases


class Source(BaseModel):
    """A cited web page."""

    url: str
    title: str = ""


class Passage(BaseModel):
    """A sentence or paragraph quoted from a source page; `verified` when found on that page."""

    text: str
    url: str
    title: str = ""
    verified: bool = False


class TargetWords(BaseModel):
    """The length a piece should have, from the competitor pages on its topic."""

    min: int = 0
    max: int = 0
    basis: str = ""


class SubtopicCoverage(BaseModel):
    """A subtopic competitors cover; `must` when at least half the covering competitors do."""

    subtopic: str
    competitors: list[str] = Field(default_factory=list)
    pages: int = 0
    must: bool = False


class InternalLink(BaseModel):
    """An own page that should link to the new piece, with the anchor text found on it."""

    from_url: str
    anchor: str


class Brief(BaseModel):
    """A research brief for one topic, with an outline, cited sources and a writer's plan."""

    topic: str
    summary: str = ""
    outline: list[str] = Field(default_factory=list)
    questions: list[str] = Field(default_factory=list)
    passages: list[Passage] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    text: str = ""
    target_words: TargetWords | None = None
    coverage: list[SubtopicCoverage] = Field(default_factory=list)
    internal_links: list[InternalLink] = Field(default_factory=list)
    link_to: list[str] = Field(default_factory=list)
    covering_pages: list[str] = Field(default_factory=list)  # competitor pages on the topic

    @property
    def must_cover(self) -> list[SubtopicCoverage]:
        """The subtopics at least half the covering competitors cover."""
        return [c for c in self.coverage if c.must]

    @property
    def differentiators(self) -> list[SubtopicCoverage]:
        """The subtopics fewer than half the covering competitors cover."""
        return [c for c in self.coverage if not c.must]


class Draft(BaseModel):
    """A writer's draft, read from Markdown, HTML or text: its headings, text and word count."""

    text: str = ""
    headings: list[str] = Field(default_factory=list)
    words: int = 0


class GradePart(BaseModel):
    """One part of a draft's grade: its score 0-100 (None when not graded) and weight."""

    score: float | None
    weight: float


MissingKind = Literal["subtopic", "keyphrase", "question"]


class MissingItem(BaseModel):
    """Something the brief asks for that the draft does not cover."""

    kind: MissingKind
    text: str


class Grade(BaseModel):
    """A draft graded against its brief: the score 0-100, its parts and what is missing."""

    score: int
    parts: dict[str, GradePart]
    missing: list[MissingItem] = Field(default_factory=list)


class StageName(StrEnum):
    """The five pipeline stages, in order."""

    SITE = "site"
    COMPETITORS = "competitors"
    KEYWORDS = "keywords"
    TOPICS = "topics"
    BRIEFS = "briefs"

    @property
    def label(self) -> str:
        """The name shown to users."""
        return STAGE_LABELS[self]


STAGE_LABELS: dict[StageName, str] = {
    StageName.SITE: "Site analysis",
    StageName.COMPETITORS: "Competitors",
    StageName.KEYWORDS: "Keywords & gaps",
    StageName.TOPICS: "Topics",
    StageName.BRIEFS: "Briefs",
}

StageStatus = Literal["pending", "running", "done", "failed", "skipped", "cancelled"]
RunStatus = Literal[
    "pending",
    "queued",
    "running",
    "awaiting_review",
    "completed",
    "failed",
    "cancelled",
    "interrupted",
]
ACTIVE_STATUSES: tuple[RunStatus, ...] = ("pending", "running")
# Runs some process owns or will run: active, or queued for a worker.
LIVE_STATUSES: tuple[RunStatus, ...] = (*ACTIVE_STATUSES, "queued")
RESUMABLE_STATUSES: tuple[RunStatus, ...] = ("interrupted", "failed", "cancelled")
FINISHED_STATUSES: tuple[RunStatus, ...] = ("completed", *RESUMABLE_STATUSES)
# Where a run with `review` on pauses (saved `awaiting_review`, no task holding it), in order.
ReviewPoint = Literal["competitors", "topics"]


class ReviewEdits(BaseModel):
    """A user's edits at a review point; competitors by URL, topics numbered from 1."""

    drop_competitors: list[str] = Field(default_factory=list)
    add_competitors: list[str] = Field(default_factory=list)
    drop_topics: list[int] = Field(default_factory=list)
    rename_topics: dict[int, str] = Field(default_factory=dict)
    topic_keywords: dict[int, list[str]] = Field(default_factory=dict)


class StageState(BaseModel):
    """Where one stage is: status, how many items it produced, a short detail."""

    name: StageName
    status: StageStatus = "pending"
    count: int = 0
    detail: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ProgressEvent(BaseModel):
    """One line of the run log."""

    at: datetime = Field(default_factory=now)
    stage: StageName | None = None
    level: Literal["info", "warning", "error"] = "info"
    message: str


class Usage(BaseModel):
    """Model usage of one stage: calls, tokens and estimated cost."""

    stage: StageName
    engine: str
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class UsageTotals(BaseModel):
    """Model usage of a whole run: calls, tokens and estimated cost summed over its stages."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class RunSummary(BaseModel):
    """One row of the run history: what a list of past runs shows."""

    run_id: str
    site: str
    domain: str
    started_at: datetime
    finished_at: datetime | None = None
    status: RunStatus
    engine: str
    duration_seconds: float | None = None
    topic_count: int = 0
    batch_id: str | None = None
    current_stage: StageName | None = None


class TopicChange(BaseModel):
    """A topic found by both runs whose score moved (its title may have been reworded)."""

    title: str
    old_title: str
    old_score: float
    new_score: float


class RunComparison(BaseModel):
    """What changed from an older run of a site to a newer one: topics and content gaps."""

    old_run_id: str
    new_run_id: str
    new_topics: list[Topic] = Field(default_factory=list)
    gone_topics: list[Topic] = Field(default_factory=list)
    changed_topics: list[TopicChange] = Field(default_factory=list)
    unchanged_topics: int = 0
    new_gaps: list[ContentGap] = Field(default_factory=list)
    gone_gaps: list[ContentGap] = Field(default_factory=list)


def _new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def _initial_stages() -> dict[StageName, StageState]:
    return {name: StageState(name=name) for name in StageName}


class Report(BaseModel):
    """Everything a run produced so far; saved after every stage and exported."""

    run_id: str = Field(default_factory=_new_run_id)
    request: DiscoveryRequest
    status: RunStatus = "pending"
    engine: str = "local"
    started_at: datetime = Field(default_factory=now)
    finished_at: datetime | None = None
    site: SiteAnalysis | None = None
    competitors: list[Competitor] = Field(default_factory=list)
    keywords: list[Keyword] = Field(default_factory=list)
    gaps: list[ContentGap] = Field(default_factory=list)
    topics: list[Topic] = Field(default_factory=list)
    briefs: list[Brief] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    stages: dict[StageName, StageState] = Field(default_factory=_initial_stages)
    log: list[ProgressEvent] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    usage: list[Usage] = Field(default_factory=list)
    review_point: ReviewPoint | None = None
    reviewed: list[ReviewPoint] = Field(default_factory=list)
    batch_id: str | None = None

    @property
    def current_stage(self) -> StageName | None:
        """The first stage still running, if any."""
        return next(
            (name for name, state in self.stages.items() if state.status == "running"), None
        )

    @property
    def first_unfinished_stage(self) -> StageName | None:
        """The first stage not done, where a resume continues; None when all five are done."""
        return next((name for name in StageName if self.stages[name].status != "done"), None)

    @property
    def usage_totals(self) -> UsageTotals:
        """Model usage summed over the run's stages."""
        return UsageTotals(
            calls=sum(u.calls for u in self.usage),
            input_tokens=sum(u.input_tokens for u in self.usage),
            output_tokens=sum(u.output_tokens for u in self.usage),
            cost_usd=sum(u.cost_usd for u in self.usage),
        )

    @property
    def finished(self) -> bool:
        """Whether the run has ended, however it ended."""
        return self.status in FINISHED_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, when finished."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
