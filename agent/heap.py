"""Keeping the C allocator's memory in check in a long-running, threaded process.

Measured in the 5-minute 200-session soak (README, "Load"): glibc gives each thread that
allocates its own arena (up to 8 per core) and keeps freed pages in them, so the service's
RSS crept upwards for as long as it ran, even with the lexicon analyzer alone (+44 MiB
over 5 minutes; +19 MiB, flat after the first 2.5 minutes, with two arenas). Hence:

- `limit_arenas` (called first thing by `agent serve` and `agent worker`): at most two
  arenas, unless `MALLOC_ARENA_MAX` is set, which glibc has then read already;
- `HeapTrimmer`: the classifier's forward passes allocate activations of a few MB on its
  worker and lanes; its worker calls `malloc_trim(0)` when it goes idle, at most every
  10 s (600 mixed passes: +90 MiB without it, given back by one trim).

Both are no-ops where the C library is not glibc (musl, macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from collections.abc import Callable

ARENAS = 2
M_ARENA_MAX = -8  # mallopt's parameter number, from glibc's malloc.h
TRIM_INTERVAL_S = 10.0


def _libc_function(name: str) -> Callable[..., int] | None:
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    function: Callable[..., int] | None = getattr(ctypes.CDLL(library), name, None)
    return function


def libc_malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library has none."""
    return _libc_function("malloc_trim")


def limit_arenas(count: int = ARENAS) -> bool:
    """At most `count` malloc arenas from now on; True if set. Call it before threads
    start: arenas made earlier stay."""
    mallopt = _libc_function("mallopt")
    if mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(mallopt(M_ARENA_MAX, count))


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
