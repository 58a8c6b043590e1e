"""Metrics and labelled-file reading behind `agent evaluate` and `agent train` (no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.domain import Emotion, Intent
from agent.nlp.commands import parse_mapping
from agent.nlp.evaluation import (
    confusion_matrix,
    format_report,
    multi_label_report,
    read_labelled,
    single_label_report,
)


def test_single_label_scores() -> None:
    gold = ["calm", "calm", "angry", "positive"]
    pred = ["calm", "angry", "angry", "calm"]
    report = single_label_report("emotion", gold, pred, ["calm", "angry", "positive", "confused"])
    calm, angry, positive = report.score("calm"), report.score("angry"), report.score("positive")
    assert (calm.precision, calm.recall, calm.support) == (0.5, 0.5, 2)
    assert (angry.precision, angry.recall) == (0.5, 1.0)
    assert positive.f1 == 0.0
    # Macro over the labels present in the reference (confused is absent).
    assert report.macro_f1 == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)
    assert report.accuracy == 0.5 == report.micro_f1
    text = format_report(report)
    assert "calm" in text and "confused" not in text and "macro-F1 0.389" in text


def test_multi_label_micro_scores() -> None:
    gold = [{"affirm"}, {"hardship", "payment_plan"}, set()]
    pred = [{"affirm"}, {"hardship"}, {"deny"}]
    report = multi_label_report(
        "intents", gold, pred, ["affirm", "deny", "hardship", "payment_plan"]
    )
    assert report.micro_precision == pytest.approx(2 / 3)
    assert report.micro_recall == pytest.approx(2 / 3)
    assert report.score("payment_plan").recall == 0.0
    assert report.score("deny").support == 0


def test_confusion_matrix_rows_are_the_reference() -> None:
    matrix = confusion_matrix(["a", "a", "b"], ["a", "b", "b"], ["a", "b"])
    assert matrix == [[1, 1], [0, 1]]


def test_read_labelled_maps_and_skips(tmp_path: Path) -> None:
    path = tmp_path / "set.tsv"
    path.write_text(
        "text\tbucket\tintents\n"
        "thanks a lot\tjoy\taffirm\n"
        "what\tmixed:confused+angry\t\n"
        "hmm\t\t\n"
        "\tcalm\t\n"
        'go away\tangry\t["cease_contact"]\n',
        encoding="utf-8",
    )
    data = read_labelled(
        path,
        emotion_column="bucket",
        intents_column="intents",
        emotion_map=parse_mapping(["joy=positive"]),
    )
    assert [(r.text, r.emotion) for r in data.rows] == [
        ("thanks a lot", Emotion.positive),
        ("go away", Emotion.angry),
    ]
    assert data.rows[0].intents == frozenset({Intent.affirm})
    assert data.rows[1].intents == frozenset({Intent.cease_contact})
    assert data.skipped == {"mixed emotion label": 1, "no emotion label": 1, "empty text": 1}
    with pytest.raises(ValueError, match="no column"):
        read_labelled(path, text_column="utterance")
    with pytest.raises(ValueError, match="SOURCE=TARGET"):
        parse_mapping(["joy"])
