"""Research Lab: discover content topics for a website from its pages and its competitors'."""

from research.config import Settings
from research.errors import ResearchError
from research.models import (
    Brief,
    Competitor,
    ContentGap,
    DiscoveryRequest,
    Keyword,
    Report,
    StageName,
    Topic,
)
from research.pipeline.run import discover_topics, run_pipeline
from research.progress import RunTracker
from research.runtime.jobs import Job, JobManager
from research.runtime.loop_runner import LoopRunner
from research.services import Services

__all__ = [
    "Brief",
    "Competitor",
    "ContentGap",
    "DiscoveryRequest",
    "Job",
    "JobManager",
    "Keyword",
    "LoopRunner",
    "Report",
    "ResearchError",
    "RunTracker",
    "Services",
    "Settings",
    "StageName",
    "Topic",
    "discover_topics",
    "run_pipeline",
]
