"""Dictionary code-switching of training text, to carry English knowledge into Chinese.

The base encoder learnt its English from a large corpus; its Chinese only from our
training rows. Showing it the same sentence with some words in the other language
(担心 -> "anxious" in a Chinese row, "worried" -> 担心 in an English one) pulls the
Chinese words towards the English ones the encoder already understands in context
(code-switching augmentation, as in CoSDA-ML, Qin et al. 2020). The dictionary is the
shipped common-word list with its CC-CEDICT glosses (`hanzi_words`, `hanzi_glosses`).
Training swaps a random share of rows each epoch; serving never calls this.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

ENGLISH_WORD = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class Dictionary:
    to_english: dict[str, str]  # Chinese word -> its first gloss
    to_chinese: dict[str, str]  # English word -> the most frequent word it first glosses

    @cached_property
    def longest(self) -> int:
        """Characters in the longest Chinese word (cached: `_switch_chinese` asks once per
        text, and 49,474 words took 18 s over the training rows)."""
        return max(map(len, self.to_english), default=0)

    @classmethod
    def from_glosses(cls, words: Sequence[str], glosses: dict[str, list[str]]) -> Dictionary:
        """`words` most frequent first. Only first glosses are used, the word's main sense
        (担心 -> "anxious"), and only those of one word of 3+ letters go back to Chinese."""
        to_english = {w: glosses[w][0] for w in words if glosses.get(w)}
        to_chinese: dict[str, str] = {}
        for word, gloss in to_english.items():
            if ENGLISH_WORD.fullmatch(gloss) and len(gloss) >= 3:
                to_chinese.setdefault(gloss.lower(), word)
        return cls(to_english, to_chinese)


def switch(
    text: str, language: str, dictionary: Dictionary, rng: random.Random, share: float
) -> str:
    """`text` with each dictionary word replaced by its translation with probability
    `share`; Chinese words are found longest first, left to right."""
    if language == "zh":
        return _switch_chinese(text, dictionary, rng, share)
    return _switch_english(text, dictionary.to_chinese, rng, share)


def _switch_chinese(text: str, dictionary: Dictionary, rng: random.Random, share: float) -> str:
    table, longest = dictionary.to_english, dictionary.longest
    out: list[str] = []
    i = 0
    while i < len(text):
        for size in range(min(longest, len(text) - i), 1, -1):
            word = text[i : i + size]
            if word in table:
                out.append(f" {table[word]} " if rng.random() < share else word)
                i += size
                break
        else:
            out.append(text[i])
            i += 1
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def _switch_english(text: str, table: dict[str, str], rng: random.Random, share: float) -> str:
    def replace(match: re.Match[str]) -> str:
        word = match.group(0)
        if word.isupper() and len(word) > 1:  # placeholders ([EMAIL]) and acronyms (IVA)
            return word
        chinese = table.get(word.lower())
        return chinese if chinese and rng.random() < share else word

    return ENGLISH_WORD.sub(replace, text)
