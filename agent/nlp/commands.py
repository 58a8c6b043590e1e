"""The work behind `agent evaluate` (the CLI only parses options)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.domain import Analysis, AnalysisContext, Emotion, Intent
from agent.nlp.analyzer import Analyzer, LexiconAnalyzer
from agent.nlp.built_model import DATA_DIR, META_FILE, ModelMeta
from agent.nlp.evaluation import (
    LabelledRow,
    Report,
    format_report,
    multi_label_report,
    read_labelled,
    single_label_report,
)
from agent.settings import Settings

TRAIN_FILE = DATA_DIR / "train.jsonl"
LOCALES = {"en": "en-US", "zh": "zh-CN"}


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """`["neutral=calm", "joy=positive"]` -> a dict; raises ValueError on a bad pair."""
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip():
            raise ValueError(f"--map wants SOURCE=TARGET, got {pair!r}")
        mapping[source.strip()] = target.strip()
    return mapping


def majority_emotion(model_dir: Path, path: Path = TRAIN_FILE) -> Emotion:
    """The most frequent emotion of the training data: as the model built in `model_dir`
    recorded it (an installed service has no data/ folder), else counted in `path`; calm
    if neither is there."""
    counts: Counter[str] = Counter()
    with suppress(OSError, ValueError):  # no model, or one of another format: count the file
        counts.update(ModelMeta.read(model_dir / META_FILE).training.get("emotion_counts", {}))
    if not counts and path.is_file():
        counts.update(
            json.loads(line)["emotion"]
            for line in path.read_text(encoding="utf-8").splitlines()
            if line
        )
    return Emotion(counts.most_common(1)[0][0]) if counts else Emotion.calm


@dataclass
class Scored:
    name: str
    emotion: Report | None
    intents: Report | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "emotion": None if self.emotion is None else self.emotion.as_dict(),
            "intents": None if self.intents is None else self.intents.as_dict(),
        }


def score(name: str, rows: Sequence[LabelledRow], analyses: Sequence[Analysis]) -> Scored:
    emotion = intents = None
    if rows and rows[0].emotion is not None:
        emotion = single_label_report(
            "emotion",
            [r.emotion.value for r in rows if r.emotion is not None],
            [a.emotion.value for r, a in zip(rows, analyses, strict=True) if r.emotion is not None],
            [e.value for e in Emotion],
        )
    if rows and rows[0].intents is not None:
        intents = multi_label_report(
            "intents",
            [{i.value for i in r.intents or ()} for r in rows],
            [{i.value for i in a.intents} for a in analyses],
            [i.value for i in Intent],
        )
    return Scored(name, emotion, intents)


async def analyze_all(
    analyzer: Analyzer, texts: Sequence[str], locale: str, batch: int = 64
) -> list[Analysis]:
    context = AnalysisContext(today=dt.date.today(), locale=locale)
    results: list[Analysis] = []
    for start in range(0, len(texts), batch):
        results.extend(await analyzer.analyze(texts[start : start + batch], context))
    return results


def majority_analyses(rows: Sequence[LabelledRow], emotion: Emotion) -> list[Analysis]:
    scores = {e: 1.0 if e is emotion else 0.0 for e in Emotion}
    return [
        Analysis(
            text=r.text, language="en", emotion=emotion, emotion_scores=scores, source="majority"
        )
        for r in rows
    ]


def evaluate_file(
    path: Path,
    settings: Settings,
    *,
    text_column: str,
    emotion_column: str | None,
    intents_column: str | None,
    language: str | None,
    language_column: str | None = None,
    emotion_map: dict[str, str] | None = None,
    limit: int | None = None,
) -> tuple[str, list[Scored]]:
    """The printed report and the scores: the configured analyzer, then the baselines."""
    from agent.nlp.analyzer import build_analyzer

    data = read_labelled(
        path,
        text_column=text_column,
        emotion_column=emotion_column,
        intents_column=intents_column,
        language_column=language_column,
        emotion_map=emotion_map,
    )
    rows = data.rows[:limit] if limit else data.rows
    if not rows:
        raise ValueError(f"{path}: no usable rows (skipped: {data.skipped})")
    locale = LOCALES.get(language or "", "en-US")
    texts = [r.text for r in rows]
    analyzer = asyncio.run(build_analyzer(settings))
    majority = majority_emotion(settings.model_dir)
    runs: list[tuple[str, list[Analysis]]] = [
        (f"{settings.analyzer} analyzer", asyncio.run(analyze_all(analyzer, texts, locale)))
    ]
    if settings.analyzer != "lexicon":
        runs.append(
            (
                "baseline: lexicon analyzer",
                asyncio.run(analyze_all(LexiconAnalyzer(), texts, locale)),
            )
        )
    runs.append((f"baseline: majority class ({majority.value})", majority_analyses(rows, majority)))
    scored = [score(name, rows, analyses) for name, analyses in runs]

    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(data.skipped.items()))
    lines = [
        f"{path.name}: {len(rows)} rows scored" + (f" (skipped: {skipped})" if skipped else "")
    ]
    for result in scored:
        lines.append("")
        lines.append(f"== {result.name}")
        for report in (result.emotion, result.intents):
            if report is not None:
                lines.append(format_report(report))
    lines.append("")
    lines.append(f"{'summary':<40}{'emotion macro-F1':>18}{'intent micro-F1':>17}")
    for result in scored:
        emotion = f"{result.emotion.macro_f1:.3f}" if result.emotion else "-"
        intents = f"{result.intents.micro_f1:.3f}" if result.intents else "-"
        lines.append(f"{result.name:<40}{emotion:>18}{intents:>17}")
    return "\n".join(lines), scored
