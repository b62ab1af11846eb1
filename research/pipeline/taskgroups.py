"""Unwrapping anyio's exception groups so callers see the one error that matters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from research.errors import ResearchError


def _leaves(group: BaseExceptionGroup) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc


@contextmanager
def first_error() -> Iterator[None]:
    """Re-raise a task group's first ResearchError (or its only error) instead of the group."""
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
        raise chosen from None
