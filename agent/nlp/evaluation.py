"""Scoring the classifier: per-label precision/recall/F1, confusion matrices, labelled files.

Macro averages are taken over the labels that occur in the reference (a label nobody
said cannot be recalled; predicting it anyway still costs precision on the others).
Micro averages pool every decision. `read_labelled` reads CSV, TSV and JSON lines with a
column mapping, so outside sets (e.g. GoEmotions' `bucket_proposed`) can be scored.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.domain import Emotion, Intent


@dataclass(frozen=True)
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


@dataclass
class Report:
    """Scores for one task (emotion: single-label; intents: multi-label)."""

    task: str
    rows: int
    labels: list[LabelScore]
    macro_f1: float
    micro_precision: float
    micro_recall: float
    micro_f1: float
    accuracy: float | None = None  # single-label only (equals micro F1 there)

    def score(self, label: str) -> LabelScore:
        return next(s for s in self.labels if s.label == label)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "rows": self.rows,
            "macro_f1": round(self.macro_f1, 4),
            "micro_precision": round(self.micro_precision, 4),
            "micro_recall": round(self.micro_recall, 4),
            "micro_f1": round(self.micro_f1, 4),
            "accuracy": None if self.accuracy is None else round(self.accuracy, 4),
            "labels": {
                s.label: {
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                    "support": s.support,
                    "predicted": s.predicted,
                }
                for s in self.labels
            },
        }


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def multi_label_report(
    task: str, gold: Sequence[set[str]], pred: Sequence[set[str]], labels: Sequence[str]
) -> Report:
    if len(gold) != len(pred):
        raise ValueError("gold and predictions differ in length")
    scores = []
    tp_all = fp_all = fn_all = 0
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, pred, strict=True))
        fp = sum(label not in g and label in p for g, p in zip(gold, pred, strict=True))
        fn = sum(label in g and label not in p for g, p in zip(gold, pred, strict=True))
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        scores.append(
            LabelScore(label, precision, recall, _f1(precision, recall), tp + fn, tp + fp)
        )
    present = [s for s in scores if s.support]
    macro = sum(s.f1 for s in present) / len(present) if present else 0.0
    micro_p, micro_r = _ratio(tp_all, tp_all + fp_all), _ratio(tp_all, tp_all + fn_all)
    return Report(task, len(gold), scores, macro, micro_p, micro_r, _f1(micro_p, micro_r))


def single_label_report(
    task: str, gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> Report:
    report = multi_label_report(task, [{g} for g in gold], [{p} for p in pred], labels)
    report.accuracy = _ratio(sum(g == p for g, p in zip(gold, pred, strict=True)), len(gold))
    return report


def format_report(report: Report, title: str = "") -> str:
    lines = [f"{title or report.task} ({report.rows} rows)"]
    lines.append(f"  {'label':<16}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
    for s in report.labels:
        if s.support == 0 and s.predicted == 0:
            continue
        lines.append(
            f"  {s.label:<16}{s.precision:>10.3f}{s.recall:>8.3f}{s.f1:>8.3f}{s.support:>9d}"
        )
    summary = f"  macro-F1 {report.macro_f1:.3f}   micro-F1 {report.micro_f1:.3f}"
    if report.accuracy is not None:
        summary += f"   accuracy {report.accuracy:.3f}"
    else:
        summary += f" (P {report.micro_precision:.3f} R {report.micro_recall:.3f})"
    lines.append(summary)
    return "\n".join(lines)


def confusion_matrix(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> list[list[int]]:
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred, strict=True):
        if g in index and p in index:
            matrix[index[g]][index[p]] += 1
    return matrix


def plot_confusion(matrix: list[list[int]], labels: Sequence[str], path: Path, title: str) -> None:
    """Writes a PNG (matplotlib, Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    try:
        image = axes.imshow(matrix, cmap="Blues")
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
        axes.set_xticks(range(len(labels)), labels=list(labels), rotation=30, ha="right")
        axes.set_yticks(range(len(labels)), labels=list(labels))
        axes.set_xlabel("predicted")
        axes.set_ylabel("reference")
        axes.set_title(title)
        peak = max((max(row) for row in matrix), default=0) or 1
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                colour = "white" if value > peak / 2 else "black"
                axes.text(j, i, str(value), ha="center", va="center", color=colour, fontsize=9)
        figure.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path)
    finally:
        plt.close(figure)


# -- labelled files --


@dataclass(frozen=True)
class LabelledRow:
    text: str
    emotion: Emotion | None = None
    intents: frozenset[Intent] | None = None
    language: str | None = None


@dataclass
class LabelledSet:
    rows: list[LabelledRow]
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _records(path: Path) -> list[dict[str, Any]]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        text = path.read_text(encoding="utf-8")
        if suffix == ".json" and text.lstrip().startswith("["):
            records: list[dict[str, Any]] = json.loads(text)
            return records
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    delimiter = "\t" if suffix in (".tsv", ".tab") else ","
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def _intents(value: Any) -> frozenset[Intent] | None:
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            value = json.loads(stripped)
        else:
            value = [v for v in stripped.replace(";", ",").replace("|", ",").split(",")]
    names = {str(v).strip() for v in value if str(v).strip()}
    unknown = names - {i.value for i in Intent}
    if unknown:
        raise ValueError(f"unknown intents {sorted(unknown)}")
    return frozenset(Intent(n) for n in names)


def read_labelled(
    path: Path,
    *,
    text_column: str = "text",
    emotion_column: str | None = "emotion",
    intents_column: str | None = None,
    language_column: str | None = None,
    emotion_map: Mapping[str, str] | None = None,
) -> LabelledSet:
    """Rows with a text and the labels asked for; others are counted in `skipped`.

    Emotion values go through `emotion_map` first (e.g. `neutral -> calm`); a value that is
    then empty, `mixed:*` or not one of the five emotions skips the row.
    """
    records = _records(path)
    if records and text_column not in records[0]:
        raise ValueError(f"{path}: no column {text_column!r} (columns: {sorted(records[0])})")
    for column in (emotion_column, intents_column, language_column):
        if column and records and column not in records[0]:
            raise ValueError(f"{path}: no column {column!r} (columns: {sorted(records[0])})")
    mapping = dict(emotion_map or {})
    result = LabelledSet([])
    for record in records:
        text = str(record.get(text_column) or "").strip()
        if not text:
            result.skip("empty text")
            continue
        emotion: Emotion | None = None
        if emotion_column:
            raw = str(record.get(emotion_column) or "").strip()
            value = mapping.get(raw, raw)
            if not value:
                result.skip("no emotion label")
                continue
            if value.startswith("mixed:"):
                result.skip("mixed emotion label")
                continue
            if value not in Emotion.__members__:
                result.skip(f"emotion {value!r} not a label")
                continue
            emotion = Emotion(value)
        intents = _intents(record.get(intents_column)) if intents_column else None
        language = str(record.get(language_column) or "") or None if language_column else None
        result.rows.append(LabelledRow(text, emotion, intents, language))
    return result
