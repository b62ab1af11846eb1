"""Research Lab: discover content topics for a website from its pages and its competitors'."""

from __future__ import annotations

import importlib
from typing import Any

# Each public name and the module it lives in, imported on first use: the CLI's `history` and
# the worker processes need none of the pipeline, and importing all of it takes seconds.
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
