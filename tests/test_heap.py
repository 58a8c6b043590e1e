"""Allocator upkeep: at most two arenas, and freed memory given back at most once per
interval, only after work."""

from __future__ import annotations

import pytest

from agent.heap import HeapTrimmer, libc_malloc_trim, limit_arenas


def test_trims_only_after_work_and_at_most_once_per_interval() -> None:
    now = [100.0]
    calls: list[int] = []

    def trim(pad: int) -> int:
        calls.append(pad)
        return 1

    trimmer = HeapTrimmer(trim, interval=10.0, clock=lambda: now[0])
    now[0] = 150.0
    assert not trimmer.maybe_trim()  # nothing was done: nothing to give back
    trimmer.worked()
    assert trimmer.maybe_trim() and calls == [0]
    trimmer.worked()
    now[0] = 155.0
    assert not trimmer.maybe_trim()  # too soon
    now[0] = 160.0
    assert trimmer.maybe_trim() and calls == [0, 0] and trimmer.trims == 2


def test_a_c_library_without_malloc_trim_is_a_no_op() -> None:
    trimmer = HeapTrimmer(None, interval=0.0)  # as on musl or macOS
    trimmer.worked()
    assert not trimmer.maybe_trim()


def test_glibc_malloc_trim_is_found_and_callable() -> None:
    trim = libc_malloc_trim()
    assert trim is not None  # CI and the Docker image run glibc
    assert trim(0) in (0, 1)


def test_arenas_are_limited_unless_the_environment_already_chose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not limit_arenas()  # glibc read the variable at start: leave it be
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert limit_arenas()
