"""Build the English language-model corpus for PocketSphinx (agent/voice/ngram.py).

Spoken forms of the training split (``data/train.jsonl``; the test split stays
unseen), plus generated spoken dates of birth, amounts and payment dates, because a
recogniser hears "april twelfth nineteen eighty five", never "12/04/1985".
Deterministic (seeded). Writes ``agent/voice/resources/en_asr_corpus.txt``.

Run:  .venv/bin/python data/asr_corpus.py
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "agent" / "voice" / "resources" / "en_asr_corpus.txt"
SEED = 20261130

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
ORDINALS = [
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
]
ORDINALS += [f"twenty {o}" for o in ORDINALS[:9]] + ["thirtieth", "thirty first"]


def number_words(n: int) -> str:
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = "" if n % 100 == 0 else " and " + number_words(n % 100)
        return ONES[n // 100] + " hundred" + rest
    rest = "" if n % 1000 == 0 else " " + number_words(n % 1000)
    return number_words(n // 1000) + " thousand" + rest


def year_words(year: int) -> str:
    if year < 2000:
        tail = year % 100
        return f"nineteen {number_words(tail) if tail >= 10 else 'oh ' + number_words(tail)}"
    return "two thousand" + (f" {number_words(year % 100)}" if year % 100 else "")


def _spoken_number(match: re.Match[str]) -> str:
    digits = match.group()
    return f" {number_words(int(digits))} " if len(digits) < 6 else " "


def spoken(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = re.sub(r"(\d+)\.(\d\d)", r"\1", text)  # cents are rarely said
    text = re.sub(
        r"\d+", lambda m: f" {number_words(int(m.group()))} " if len(m.group()) < 6 else " ", text
    )
    text = re.sub(r"[^a-z' ]", " ", text)
    return " ".join(text.split())


def generated(rng: random.Random) -> list[str]:
    lines = []
    for _ in range(1500):
        birth = f"{rng.choice(MONTHS)} {rng.choice(ORDINALS)} {year_words(rng.randint(1935, 2006))}"
        lead = rng.choice(["", "my date of birth is ", "it's ", "i was born on ", "born ", "yes "])
        lines.append(lead + birth)
        amount = rng.choice([50, 100, 150, 200, 250, 300, 400, 500, 1000, rng.randint(1, 3000)])
        when = rng.choice(
            [
                "next friday",
                "on monday",
                "tomorrow",
                "next week",
                "at the end of the month",
                f"on the {rng.choice(ORDINALS)}",
                f"on {rng.choice(MONTHS)} {rng.choice(ORDINALS)}",
                "",
            ]
        )
        unit = rng.choice(["dollars", "pounds", "bucks", ""])
        verb = rng.choice(["i can pay", "i could pay", "i'll pay", "i can do", "maybe", ""])
        lines.append(" ".join(f"{verb} {number_words(amount)} {unit} {when}".split()))
    return lines


def main() -> None:
    rng = random.Random(SEED)
    rows = [json.loads(line) for line in (ROOT / "data" / "train.jsonl").open(encoding="utf-8")]
    lines = [spoken(r["text"]) for r in rows if r["language"] == "en"]
    lines += generated(rng)
    lines = sorted({line for line in lines if line})
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} lines -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
