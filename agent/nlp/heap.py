"""Giving the C allocator's free memory back to the operating system.

A forward pass allocates activations of a few MB on whichever thread runs it (the
classifier's worker and lanes). glibc keeps one arena per thread and does not return
freed pages from the middle of an arena, so the process's RSS climbed to every thread's
high-water mark and, as batch sizes varied, kept creeping (measured: +90 MB over 600
mixed passes, given back almost entirely by one `malloc_trim(0)`). The classifier's
worker calls `HeapTrimmer.maybe_trim` when it goes idle; at most once per interval.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from collections.abc import Callable

TRIM_INTERVAL_S = 10.0


def libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    trim: Callable[[int], int] | None = getattr(ctypes.CDLL(name), "malloc_trim", None)
    return trim


class HeapTrimmer:
    """Calls `trim(0)` (`libc_malloc_trim()`) at most once per `interval` seconds, and
    only after work."""

    def __init__(
        self,
        trim: Callable[[int], int] | None,
        interval: float = TRIM_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self._trim = trim  # None: nothing to call (not glibc), a no-op
        self._clock = clock
        self._dirty = False
        self._last = clock()
        self.trims = 0

    def worked(self) -> None:
        """Something was allocated and freed since the last trim."""
        self._dirty = True

    def maybe_trim(self) -> bool:
        """Trim if there was work since the last trim and the interval has passed."""
        now = self._clock()
        if self._trim is None or not self._dirty or now - self._last < self.interval:
            return False
        self._trim(0)
        self._dirty, self._last = False, now
        self.trims += 1
        return True
