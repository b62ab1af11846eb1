"""Research Lab: discover content topics for a website from its pages and its competitors'."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from research.config import Settings as Settings
    from research.errors import ResearchError as ResearchError
    from research.models import (
        Brief as Brief,
        Competitor as Competitor,
        ContentGap as ContentGap,
        DiscoveryRequest as DiscoveryRequest,
        Keyword as Keyword,
        Report as Report,
        StageName as StageName,
        Topic as Topic,
    )
    from research.pipeline.run import (
        discover_topics as discover_topics,
        run_pipeline as run_pipeline,
    )
    from research.progress import RunTracker as RunTracker
    from research.runtime.jobs import Job as Job, JobManager as JobManager
    from research.runtime.loop_runner import LoopRunner as LoopRunner
    from research.services import Services as Services


# Each public name and the module it lives in, imported on first use: the CLI's `history` and
# the worker processes need none of the pipeline, and importing it all takes seconds.
_HOMES = {
    "Brief": "research.models",
    "Competitor": "research.models",
    "ContentGap": "research.models",
    "DiscoveryRequest": "research.models",
    "Job": "research.runtime.jobs",
    "JobManager": "research.runtime.jobs",
    "Keyword": "research.models",
    "LoopRunner": "research.runtime.loop_runner",
    "Report": "research.models",
    "ResearchError": "research.errors",
    "RunTracker": "research.progress",
    "Services": "research.services",
    "Settings": "research.config",
    "StageName": "research.models",
    "Topic": "research.models",
    "discover_topics": "research.pipeline.run",
    "run_pipeline": "research.pipeline.run",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'research' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
