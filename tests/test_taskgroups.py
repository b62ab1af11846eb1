"""first_error: one error surfaces from a task group, with its cause; the others are logged."""

from __future__ import annotations

import logging

import anyio
import pytest

from research.errors import StoreError
from research.pipeline.taskgroups import first_error


async def fail_together(error: BaseException, ready: anyio.Event, go: anyio.Event) -> None:
    """Raise `error` once every task is ready, so none is cancelled before it fails."""
    with anyio.CancelScope(shield=True):
        ready.set()
        await go.wait()
    raise error


@pytest.mark.anyio
async def test_first_error_raises_the_research_error_and_logs_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="research.run")
    cause = OSError("disk is full")
    store_error = StoreError("The run history could not be written.")
    store_error.__cause__ = cause
    bug = ValueError("a bug in a sibling task")
    go = anyio.Event()
    with pytest.raises(StoreError) as caught:
        with first_error():
            async with anyio.create_task_group() as group:
                readies = [anyio.Event(), anyio.Event()]
                group.start_soon(fail_together, bug, readies[0], go)
                group.start_soon(fail_together, store_error, readies[1], go)
                for ready in readies:
                    await ready.wait()
                go.set()
    assert caught.value is store_error
    assert caught.value.__cause__ is cause  # its own cause survives the unwrapping
    [record] = caplog.records
    assert record.levelno == logging.WARNING and "a bug in a sibling task" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1] is bug


@pytest.mark.anyio
async def test_first_error_keeps_a_group_of_several_foreign_errors() -> None:
    go = anyio.Event()
    with pytest.raises(BaseExceptionGroup) as caught:
        with first_error():
            async with anyio.create_task_group() as group:
                readies = [anyio.Event(), anyio.Event()]
                for ready, error in zip(readies, (KeyError("a"), ValueError("b")), strict=True):
                    group.start_soon(fail_together, error, ready, go)
                for ready in readies:
                    await ready.wait()
                go.set()
    assert len(caught.value.exceptions) == 2
