"""Guard benchmark: blocking precision/recall on the red team, and the time of one check.

    .venv/bin/python -m bench.guard [--repeats N]

Runs `Guard.check` over `tests/compliance/redteam.yaml`. Blocking is the positive class:
a row is positive when it expects `block`, predicted positive when the guard does not allow
it. Precision and recall are computed from those counts (overall and per language), as is
the share of rows whose verdict is exactly right (block/warn/allow and the rule ids). Check
time: every row is checked `--repeats` times after a warm-up pass; p50/p95 are over all
single checks, in microseconds. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import yaml

from agent.compliance.guard import Guard, Utterance
from agent.domain import GuardResult
from agent.settings import PROJECT_ROOT

REDTEAM = PROJECT_ROOT / "tests" / "compliance" / "redteam.yaml"
Verdict = tuple[str, frozenset[str]]


def load_redteam(path: Path = REDTEAM) -> list[dict[str, Any]]:
    rows = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(rows, list):
        raise ValueError(f"{path}: a list of rows")
    return rows


def utterance_of(row: dict[str, Any]) -> Utterance:
    return Utterance(
        text=row["text"],
        language=row["language"],
        verified=row["verified"],
        reveals_debt=row.get("reveals_debt", False),
        source=row["source"],
        jurisdiction=row["jurisdiction"],
        region=row.get("region"),
        account_flags=frozenset(row.get("flags", [])),
        debt_words=tuple(row.get("debt_words", [])),
    )


def expected_of(row: dict[str, Any]) -> Verdict:
    return row["expect"], frozenset(row.get("rules", []))


def verdict_of(result: GuardResult) -> Verdict:
    if not result.allowed:
        return "block", frozenset(result.rule_ids)
    if result.warnings:
        return "warn", frozenset(result.warnings)
    return "allow", frozenset()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ratio(num: int, den: int) -> str:
    return f"{num / den:.3f}" if den else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    started = time.perf_counter()
    guard = Guard()
    load_ms = (time.perf_counter() - started) * 1000
    rows = load_redteam()
    utterances = [utterance_of(row) for row in rows]

    counts: dict[str, dict[str, int]] = {}
    wrong = []
    for row, utterance in zip(rows, utterances, strict=True):
        got, expected = verdict_of(guard.check(utterance)), expected_of(row)
        for scope in ("all", row["language"]):
            c = counts.setdefault(scope, dict.fromkeys(("n", "tp", "fp", "fn", "exact"), 0))
            positive, predicted = expected[0] == "block", got[0] == "block"
            c["n"] += 1
            c["tp"] += positive and predicted
            c["fp"] += predicted and not positive
            c["fn"] += positive and not predicted
            c["exact"] += got == expected
        if got != expected:
            wrong.append((row["text"], expected, got))

    print(f"guard: {len(rows)} red-team utterances, packs loaded in {load_ms:.1f} ms")
    print(f"{'scope':6} {'n':>5} {'block':>6} {'TP':>5} {'FP':>4} {'FN':>4} "
          f"{'precision':>9} {'recall':>7} {'exact':>6}")  # fmt: skip
    for scope in ("all", "en", "zh"):
        s = counts.get(scope)
        if s:
            positives = s["tp"] + s["fn"]
            print(
                f"{scope:6} {s['n']:>5} {positives:>6} {s['tp']:>5} {s['fp']:>4} {s['fn']:>4} "
                f"{ratio(s['tp'], s['tp'] + s['fp']):>9} {ratio(s['tp'], positives):>7} "
                f"{ratio(s['exact'], s['n']):>6}"
            )
    for text, expected, got in wrong:
        print(f"  wrong: {text!r}: expected {expected[0]} {sorted(expected[1])}, "
              f"got {got[0]} {sorted(got[1])}")  # fmt: skip

    for utterance in utterances:  # warm-up (the account-word patterns are cached)
        guard.check(utterance)
    samples = []
    for _ in range(args.repeats):
        for utterance in utterances:
            t0 = time.perf_counter_ns()
            guard.check(utterance)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    print(
        f"check time over {len(samples)} checks: p50 {percentile(samples, 0.5):.0f} µs, "
        f"p95 {percentile(samples, 0.95):.0f} µs, max {max(samples):.0f} µs"
    )


if __name__ == "__main__":
    main()
