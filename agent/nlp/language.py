"""Which language an utterance is in: Chinese when CJK ideographs are a real share of it."""

from __future__ import annotations

import re

from agent.domain import Language

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")

# An ideograph carries about a word, an English word four or five letters: a share of a
# quarter makes "我想 pay 两千" Chinese and "My name is 张伟" English.
ZH_MIN_SHARE = 0.25


def detect_language(text: str) -> Language:
    cjk = len(_CJK.findall(text))
    if cjk == 0:
        return "en"
    latin = len(_LATIN.findall(text))
    return "zh" if cjk / (cjk + latin) >= ZH_MIN_SHARE else "en"
