"""Counts and sanity checks for data/train.jsonl and data/test.jsonl.

Prints a Markdown table of examples per label per language (train+test, and
test alone) and exits non-zero when a minimum is violated:

- every intent >= 80 examples per language (train+test)
- every emotion >= 300 examples per language (train+test)
- every intent >= 12 examples per language in test
- no text shared between train and test after normalisation
  (lowercase, punctuation and whitespace removed), no duplicate ids
- no seed group (a seed and its variants) in both train and test
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

EMOTIONS = ["calm", "positive", "confused", "angry", "distressed"]
INTENTS = [
    "affirm",
    "deny",
    "promise_to_pay",
    "payment_plan",
    "hardship",
    "dispute",
    "already_paid",
    "refuse_to_pay",
    "cease_contact",
    "attorney",
    "bankruptcy",
    "wrong_party",
    "third_party",
    "callback_later",
    "request_human",
    "vulnerability",
    "ask_if_bot",
    "ask_details",
]
LANGS = ["en", "zh"]
MIN_INTENT = 80
MIN_EMOTION = 300
MIN_TEST_INTENT = 12


def norm(text: str) -> str:
    """Near-duplicate key: lowercase, drop punctuation, symbols and whitespace."""
    return "".join(
        ch for ch in text.lower() if not unicodedata.category(ch).startswith(("P", "Z", "S", "C"))
    )


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def table(train: list[dict[str, Any]], test: list[dict[str, Any]]) -> str:
    both = train + test
    cnt: dict[str, Counter[str]] = {lang: Counter() for lang in LANGS}
    cnt_test: dict[str, Counter[str]] = {lang: Counter() for lang in LANGS}
    for rows, c in ((both, cnt), (test, cnt_test)):
        for r in rows:
            c[r["language"]]["emotion:" + r["emotion"]] += 1
            c[r["language"]]["rows"] += 1
            if not r["intents"]:
                c[r["language"]]["(no intent)"] += 1
            for i in r["intents"]:
                c[r["language"]]["intent:" + i] += 1
            if len(r["intents"]) > 1:
                c[r["language"]]["(multi-intent)"] += 1
    labels = (
        ["rows"]
        + [f"emotion:{e}" for e in EMOTIONS]
        + [f"intent:{i}" for i in INTENTS]
        + ["(no intent)", "(multi-intent)"]
    )
    out = ["| label | en (all) | en (test) | zh (all) | zh (test) |", "|---|---:|---:|---:|---:|"]
    for lab in labels:
        cells = [str(x) for lang in LANGS for x in (cnt[lang][lab], cnt_test[lang][lab])]
        out.append(f"| {lab} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def check(train: list[dict[str, Any]], test: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    both = train + test
    ids = Counter(r["id"] for r in both)
    problems += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    for r in both:
        if (
            r["language"] not in LANGS
            or r["emotion"] not in EMOTIONS
            or any(i not in INTENTS for i in r["intents"])
        ):
            problems.append(f"bad labels in {r['id']}")
    keys = Counter(norm(r["text"]) for r in both)
    problems += [f"near-duplicate text {k!r}" for k, n in keys.items() if n > 1]
    overlap = {norm(r["text"]) for r in train} & {norm(r["text"]) for r in test}
    problems += [f"train/test overlap {k!r}" for k in sorted(overlap)]
    shared = {r["group"] for r in train} & {r["group"] for r in test}
    problems += [f"seed group in train and test {g!r}" for g in sorted(shared)]
    for lang in LANGS:
        rows = [r for r in both if r["language"] == lang]
        trows = [r for r in test if r["language"] == lang]
        for e in EMOTIONS:
            n = sum(r["emotion"] == e for r in rows)
            if n < MIN_EMOTION:
                problems.append(f"{lang}: emotion {e} has {n} < {MIN_EMOTION}")
        for i in INTENTS:
            n = sum(i in r["intents"] for r in rows)
            if n < MIN_INTENT:
                problems.append(f"{lang}: intent {i} has {n} < {MIN_INTENT}")
            nt = sum(i in r["intents"] for r in trows)
            if nt < MIN_TEST_INTENT:
                problems.append(f"{lang}: intent {i} has {nt} < {MIN_TEST_INTENT} in test")
    return problems


def main(argv: list[str]) -> int:
    train = load(HERE / "train.jsonl")
    test = load(HERE / "test.jsonl")
    share = 100 * len(test) / (len(train) + len(test))
    print(f"train: {len(train)} rows, test: {len(test)} rows ({share:.1f}%)")
    print(table(train, test))
    problems = check(train, test)
    for p in problems[:50]:
        print("PROBLEM:", p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
