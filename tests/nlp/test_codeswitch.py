"""Dictionary code-switching of training rows (agent/nlp/codeswitch.py)."""

from __future__ import annotations

import random

from agent.nlp.codeswitch import Dictionary, switch
from agent.nlp.model import hanzi_glosses, hanzi_words

GLOSSES = {"担心": ["anxious", "worried"], "担心死": ["worried sick"], "律师": ["lawyer"]}
SMALL = Dictionary.from_glosses(["担心", "担心死", "律师"], GLOSSES)


def test_chinese_words_become_their_first_gloss_longest_first() -> None:
    rng = random.Random(0)
    assert switch("我担心死了", "zh", SMALL, rng, share=1.0) == "我 worried sick 了"
    assert switch("我很担心，找了律师", "zh", SMALL, rng, share=1.0) == "我很 anxious ，找了 lawyer"
    assert switch("我很担心", "zh", SMALL, rng, share=0.0) == "我很担心"


def test_english_words_become_the_chinese_word_they_first_gloss() -> None:
    rng = random.Random(0)
    assert SMALL.to_chinese == {"anxious": "担心", "lawyer": "律师"}  # first glosses only
    assert switch("I'm Anxious, call my lawyer", "en", SMALL, rng, 1.0) == "I'm 担心, call my 律师"
    # Placeholders from the redactor and acronyms stay as they are.
    assert switch("LAWYER at [EMAIL]", "en", SMALL, rng, 1.0) == "LAWYER at [EMAIL]"


def test_switching_is_seeded_and_partial() -> None:
    dictionary = Dictionary.from_glosses(hanzi_words(), hanzi_glosses())
    text = "我最近压力很大，心里很担心孩子的学习，晚上也睡不好"
    first = switch(text, "zh", dictionary, random.Random(5), 0.5)
    assert first == switch(text, "zh", dictionary, random.Random(5), 0.5)
    assert first != text
    assert any("\u4e00" <= ch <= "\u9fff" for ch in first)  # some Chinese kept
    assert any(ch.isascii() and ch.isalpha() for ch in first)  # some English put in
