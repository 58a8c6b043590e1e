"""A light brake on password guessing: at most N failed sign-ins per (username, address)
in a sliding window, counted in this process (a replica each; enough to slow a script)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

Key = tuple[str, str]


class FailedLoginLimiter:
    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[Key, deque[float]] = {}

    def _recent(self, key: Key) -> deque[float] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        horizon = self._clock() - self.window_s
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures

    def retry_after(self, key: Key) -> float:
        """Seconds until another attempt is allowed; 0 when it is allowed now."""
        failures = self._recent(key)
        if failures is None or len(failures) < self.max_failures:
            return 0.0
        return max(0.0, failures[0] + self.window_s - self._clock())

    def record_failure(self, key: Key) -> None:
        if len(self._failures) > 10_000:
            # Bound the memory a flood of distinct usernames can take.
            for stale in list(self._failures):
                self._recent(stale)
        self._failures.setdefault(key, deque()).append(self._clock())

    def reset(self, key: Key) -> None:
        self._failures.pop(key, None)
