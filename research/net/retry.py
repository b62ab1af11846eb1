"""Retries: the one tenacity policy both HTTP fetching and the Gemini client retry under.

An attempt that failed in a way worth another try raises `Retryable`, carrying the error to
raise when the attempts or the time budget run out (chained to the library exception that
caused it). Waits grow exponentially with jitter, up to a maximum; a delay the server asked
for (Retry-After, RetryInfo) is waited instead when longer, up to `server_cap`.
`Retryable` is a signal, not an error: it never leaves `with_retries`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import tenacity

from research.errors import ResearchError

log = logging.getLogger("research.retry")

T = TypeVar("T")
Note = Callable[[str], None]


class Retryable(Exception):
    """A failed attempt worth another try; carries the error to raise when tries run out."""

    def __init__(
        self, error: ResearchError, *, delay: float | None = None, reason: str = ""
    ) -> None:
        super().__init__(reason or error.message.rstrip("."))
        self.error = error
        self.delay = delay


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry: attempts, a time budget and the waits between."""

    attempts: int
    budget: float
    initial: float
    maximum: float
    server_cap: float = math.inf
    # Asked before each retry: True stops retrying at once (e.g. a circuit breaker opened).
    give_up: Callable[[], bool] | None = None

    def retries(self, exc: BaseException) -> bool:
        """Whether a failed attempt is tried again: a Retryable, unless the policy gives up."""
        return isinstance(exc, Retryable) and not (self.give_up is not None and self.give_up())

    def wait(self, state: tenacity.RetryCallState) -> float:
        """Seconds to wait before the next attempt: the backoff, or the server's longer delay."""
        backoff = tenacity.wait_exponential_jitter(
            initial=self.initial, max=self.maximum, jitter=self.initial
        )(state)
        exc = state.outcome.exception() if state.outcome else None
        server = exc.delay if isinstance(exc, Retryable) else None
        return max(backoff, min(server, self.server_cap)) if server is not None else backoff


def retrying(policy: RetryPolicy, note: Note | None = None) -> tenacity.AsyncRetrying:
    """Return tenacity's retry loop for `policy`, logging (and noting) each retry."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        seconds = state.next_action.sleep if state.next_action else 0.0
        message = (
            f"{exc}; retrying in {seconds:.1f} s "
            f"(attempt {state.attempt_number + 1} of {policy.attempts})."
        )
        log.info("%s", message)
        if note is not None:
            note(message)

    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(max(1, policy.attempts))
        | tenacity.stop_before_delay(policy.budget),
        wait=policy.wait,
        retry=tenacity.retry_if_exception(policy.retries),
        before_sleep=before_sleep,
        sleep=anyio.sleep,
        reraise=True,
    )


async def with_retries(
    attempt: Callable[[], Awaitable[T]], policy: RetryPolicy, note: Note | None = None
) -> T:
    """Return `attempt()`'s result, retried under `policy`; raise the last attempt's error."""
    try:
        async for retry in retrying(policy, note):
            with retry:
                return await attempt()
    except Retryable as exc:
        # Chained to what made the last attempt fail, so the log shows the library's error.
        raise exc.error from exc.__cause__
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover
