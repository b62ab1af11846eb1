"""CircuitBreaker: stop calling a failing service for a cool-down after N failures in a row."""

from __future__ import annotations

import anyio


class CircuitBreaker:
    """Closed until `threshold` consecutive failures; then open for `cooldown` seconds.

    Timeouts weigh more: `timeouts` of them in a row open it at once, since a service that
    hangs costs a whole deadline per call.

    After the cool-down one trial call is let through (half-open): its success closes the
    breaker, its failure opens it again for another cool-down.
    """

    def __init__(self, threshold: int, cooldown: float, timeouts: int | None = None) -> None:
        self.threshold = max(1, threshold)
        self.timeout_threshold = max(1, timeouts if timeouts is not None else threshold)
        self.cooldown = cooldown
        self.failures = 0
        self.timeouts = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def is_open(self) -> bool:
        """Whether calls are currently refused (open, or half-open with a trial in flight)."""
        if self._opened_at is None:
            return False
        if anyio.current_time() - self._opened_at < self.cooldown:
            return True
        return self._trial_running

    def allow(self) -> bool:
        """Return whether a call may go ahead now, claiming the trial slot when half-open."""
        if self._opened_at is None:
            return True
        if self.is_open:
            return False
        self._trial_running = True
        return True

    def record_success(self) -> None:
        """Note a successful call: the breaker closes."""
        self.failures = 0
        self.timeouts = 0
        self._opened_at = None
        self._trial_running = False

    def release_trial(self) -> None:
        """Give back a half-open trial slot when the call ended without a verdict (cancelled)."""
        self._trial_running = False

    def record_failure(self) -> None:
        """Note a failed call: the breaker opens at the threshold (or on a failed trial)."""
        self.failures += 1
        self.timeouts = 0
        self._fail(self.failures >= self.threshold)

    def record_timeout(self) -> None:
        """Note a call that got no answer in time: it opens at the (lower) timeout threshold."""
        self.failures += 1
        self.timeouts += 1
        self._fail(self.timeouts >= self.timeout_threshold or self.failures >= self.threshold)

    def _fail(self, tripped: bool) -> None:
        self._trial_running = False
        if self._opened_at is not None or tripped:
            self._opened_at = anyio.current_time()
