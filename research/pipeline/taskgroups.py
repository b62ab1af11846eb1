"""Unwrapping anyio's exception groups so callers see the one error that matters."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from research.errors import ResearchError

log = logging.getLogger("research.run")


def _leaves(group: BaseExceptionGroup) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


@contextmanager
def first_error() -> Iterator[None]:
    """Re-raise a task group's first ResearchError (or its only error) instead of the group.

    The errors it does not re-raise are logged, with their tracebacks, not dropped.
    """
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        chosen: BaseException | None = next(
            (exc for exc in leaves if isinstance(exc, ResearchError)), None
        )
        if chosen is None and len(leaves) == 1:
            chosen = leaves[0]
        if chosen is None:
            raise
        for other in leaves:
            if other is not chosen:
                log.warning("Another task failed at the same time: %s", other, exc_info=other)
        # Its own cause stays; the group it came in is not part of its story.
        raise chosen from chosen.__cause__
