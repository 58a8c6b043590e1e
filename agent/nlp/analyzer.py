"""The `Analyzer` seam: text in, `Analysis` out, batched and off the event loop.

`LexiconAnalyzer` is the deterministic first layer (critical intents, entities,
heuristic emotion). A model-based analyzer implements the same protocol and is
chosen by `build_analyzer` (AGENT_ANALYZER); nothing downstream changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from agent.domain import Analysis, AnalysisContext, Emotion, Language
from agent.nlp.entities import extract_entities
from agent.nlp.language import detect_language
from agent.nlp.lexicon import scan
from agent.settings import Settings


class Analyzer(Protocol):
    async def analyze(self, texts: Sequence[str], context: AnalysisContext) -> list[Analysis]: ...


def language_for(text: str, locale: str) -> Language:
    """The text's language; text with no letters (dates, amounts) takes the locale's."""
    if not any(ch.isalpha() for ch in text):
        return "zh" if locale.startswith("zh") else "en"
    return detect_language(text)


def analyze_with_lexicon(text: str, context: AnalysisContext) -> Analysis:
    language = language_for(text, context.locale)
    found = scan(text, language)
    scores = {emotion: round(found.emotion_scores.get(emotion, 0.0), 4) for emotion in Emotion}
    return Analysis(
        text=text,
        language=language,
        emotion=max(scores, key=lambda e: scores[e]),
        emotion_scores=scores,
        intents=sorted(found.intents, key=lambda i: i.value),
        entities=extract_entities(text, language, context),
        cues=sorted(found.cues),
        source="lexicon",
    )


class LexiconAnalyzer:
    async def analyze(self, texts: Sequence[str], context: AnalysisContext) -> list[Analysis]:
        # dateparser can take milliseconds on odd input: keep it off the event loop.
        return await asyncio.to_thread(lambda: [analyze_with_lexicon(t, context) for t in texts])


async def build_analyzer(settings: Settings) -> Analyzer:
    """The analyzer AGENT_ANALYZER names: `model` (the default) or `lexicon`.

    The model (torch, transformers) is imported, built if missing, and loaded off the event
    loop, once per process; `lexicon` never imports torch.
    """
    if settings.analyzer == "lexicon":
        return LexiconAnalyzer()
    from agent.nlp.classifier import shared_model_analyzer

    return await asyncio.to_thread(shared_model_analyzer, settings)
