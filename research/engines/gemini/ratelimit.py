"""RateLimiter: at most N call starts in any sliding window of `period` seconds."""

from __future__ import annotations

from collections import deque

import anyio


class RateLimiter:
    """A sliding-window limit on how many calls may start per period, fair to waiters."""

    def __init__(self, limit: int, period: float = 60.0) -> None:
        self.limit = max(1, limit)
        self.period = period
        self._starts: deque[float] = deque()
        self._lock = anyio.Lock()

    async def acquire(self) -> None:
        """Wait until one more call may start within the limit, and count it."""
        async with self._lock:
            while True:
                now = anyio.current_time()
                while self._starts and now - self._starts[0] >= self.period:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return
                await anyio.sleep(self._starts[0] + self.period - now)
