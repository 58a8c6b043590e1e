"""The fine-tuned classifier: shape, calibration, micro-batching, the lexicon union, CLI.

Uses the built model in AGENT_MODEL_DIR (the session fixture in tests/conftest.py builds
it when this checkout has none; CI has it from scripts/setup).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from agent.domain import AnalysisContext, Emotion, Intent
from agent.nlp.built_model import (
    EMOTIONS,
    INTENTS,
    META_FILE,
    ModelMeta,
    file_sha256,
    load_model,
    trained_on,
)
from agent.nlp.classifier import (
    CRITICAL_INTENTS,
    ModelAnalyzer,
    ModelOutput,
    combine_intents,
    predict,
    shared_model_analyzer,
)
from agent.nlp.commands import majority_emotion
from agent.nlp.lexicon import scan
from agent.nlp.train import TrainConfig, read_rows, train_classifier
from agent.settings import PROJECT_ROOT, Settings

CONTEXT = AnalysisContext(today=dt.date(2026, 11, 28), locale="en-US")
TEST_ROWS = read_rows(PROJECT_ROOT / "data" / "test.jsonl")


@pytest.fixture(scope="module")
def analyzer(model_dir: Path) -> ModelAnalyzer:
    return shared_model_analyzer(Settings(analyzer="model", model_dir=model_dir))


async def test_analysis_shape_labels_and_probabilities(analyzer: ModelAnalyzer) -> None:
    texts = [
        "I can pay 200 dollars next Friday",
        "this is ridiculous, stop calling me",
        "我下个月可以还一半",
        "啥意思啊，我没听懂",
    ]
    results = await analyzer.analyze(texts, CONTEXT)
    assert [r.text for r in results] == texts
    assert [r.language for r in results] == ["en", "en", "zh", "zh"]
    for result in results:
        assert result.source == "model"
        assert set(result.emotion_scores) == set(Emotion)
        assert abs(sum(result.emotion_scores.values()) - 1.0) < 1e-3
        assert all(0.0 <= p <= 1.0 for p in result.emotion_scores.values())
        assert result.emotion == max(result.emotion_scores, key=lambda e: result.emotion_scores[e])
        assert set(result.intents) <= set(Intent)
    assert Intent.promise_to_pay in results[0].intents
    assert results[0].entities.amount is not None
    assert Intent.cease_contact in results[1].intents
    assert results[3].emotion is Emotion.confused


async def test_empty_input_gives_nothing(analyzer: ModelAnalyzer) -> None:
    assert await analyzer.analyze([], CONTEXT) == []


async def test_concurrent_single_calls_are_batched_and_answered_in_order(
    analyzer: ModelAnalyzer,
) -> None:
    texts = [row.text for row in TEST_ROWS[:40]]
    batched = await analyzer.analyze(texts, CONTEXT)
    before = analyzer.forward_batches
    singles = await asyncio.gather(*(analyzer.analyze([t], CONTEXT) for t in texts))
    passes = analyzer.forward_batches - before
    assert passes < len(texts) / 2, f"{passes} forward passes for {len(texts)} concurrent calls"
    for (single,), whole in zip(singles, batched, strict=True):
        assert single.text == whole.text
        assert single.emotion == whole.emotion
        assert single.intents == whole.intents
        for emotion in Emotion:
            assert single.emotion_scores[emotion] == pytest.approx(
                whole.emotion_scores[emotion], abs=2e-3
            )


def test_critical_lexicon_intents_are_kept_when_the_model_misses_them() -> None:
    silent = ModelOutput(
        tuple(1.0 if e is Emotion.calm else 0.0 for e in EMOTIONS), (0.0,) * len(INTENTS)
    )
    cases = {
        "please stop calling me": Intent.cease_contact,
        "talk to my lawyer": Intent.attorney,
        "我已经申请破产了": Intent.bankruptcy,
        "my husband passed away last week": Intent.vulnerability,
        "this is not my debt": Intent.dispute,
    }
    assert set(cases.values()) == CRITICAL_INTENTS
    for text, intent in cases.items():
        lexicon = scan(text, "en" if text.isascii() else "zh")
        assert intent in lexicon.intents, text
        assert intent in combine_intents(silent, lexicon, {}, frozenset()), text
    # A non-critical lexicon hit is not added unless the union list names it.
    lexicon = scan("I can pay 50 dollars on Friday", "en")
    assert Intent.promise_to_pay in lexicon.intents
    assert Intent.promise_to_pay not in combine_intents(silent, lexicon, {}, frozenset())


@pytest.mark.parametrize(
    ("text", "meant"),
    [
        ("没错", Intent.affirm),
        ("对，没错。", Intent.affirm),
        ("好的好的", Intent.affirm),
        ("Yes, that's right!", Intent.affirm),
        ("yep", Intent.affirm),
        ("不是", Intent.deny),
        ("不对不对", Intent.deny),
        ("nope.", Intent.deny),
    ],
)
def test_a_bare_yes_or_no_reply_overrules_the_model(text: str, meant: Intent) -> None:
    opposite = Intent.deny if meant is Intent.affirm else Intent.affirm
    unsure = dict.fromkeys(INTENTS, 0.0) | {opposite: 0.95}
    output = ModelOutput((1.0,) + (0.0,) * (len(EMOTIONS) - 1), tuple(unsure.values()))
    lexicon = scan(text, "en" if text.isascii() else "zh")
    assert combine_intents(output, lexicon, {}, frozenset()) == [meant]


@pytest.mark.parametrize(
    "text", ["是的，但是我现在没钱", "right", "对不对", "no problem", "好吧我想想"]
)
def test_a_reply_with_more_than_yes_or_no_is_left_to_the_model(text: str) -> None:
    silent = ModelOutput((1.0,) + (0.0,) * (len(EMOTIONS) - 1), (0.0,) * len(INTENTS))
    lexicon = scan(text, "en" if text.isascii() else "zh")
    found = combine_intents(silent, lexicon, {}, frozenset())
    assert Intent.affirm not in found and Intent.deny not in found


def _agent(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AGENT_DATA_DIR": str(tmp_path),
        "AGENT_ANALYZER": "model",
        "AGENT_LOG_FORMAT": "console",
        "AGENT_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "agent", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_classify_cli_writes_the_contract_shape_from_the_model(
    tmp_path: Path, model_dir: Path
) -> None:
    result = _agent(
        ["classify", "--details"], tmp_path, stdin="I have a lawyer now\n\n我已经申请破产了\n"
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 2
    contract = {"text", "language", "emotion", "emotion_scores", "intents", "entities"}
    for row in rows:
        assert set(row) == contract | {"cues", "source"}
        assert row["source"] == "model"
        assert row["emotion"] in {e.value for e in Emotion}
        assert abs(sum(row["emotion_scores"].values()) - 1.0) < 0.01
    assert "attorney" in rows[0]["intents"] and rows[0]["language"] == "en"
    assert "bankruptcy" in rows[1]["intents"] and rows[1]["language"] == "zh"


def test_evaluate_cli_maps_columns_and_prints_a_baseline(tmp_path: Path, model_dir: Path) -> None:
    sample = tmp_path / "sample.csv"
    sample.write_text(
        "utterance,label,labels\n"
        "thank you so much that is a huge relief,joy,\n"
        "you people are useless scammers,anger,\n"
        "I'm so scared I can't sleep,fear,\n"
        "what do you mean which account,confusion,ask_details\n"
        "ok see you tomorrow,neutral,\n"
        "不要再给我打电话了,neutral,cease_contact\n"
        "this one is mixed,mixed:anger+joy,\n"
        "no label here,,\n",
        encoding="utf-8",
    )
    args = ["evaluate", str(sample), "--text-column", "utterance", "--emotion-column", "label"]
    args += ["--intents-column", "labels", "--json", str(tmp_path / "scores.json")]
    for pair in ("joy=positive", "anger=angry", "fear=distressed", "confusion=confused"):
        args += ["--map", pair]
    args += ["--map", "neutral=calm"]
    result = _agent(args, tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "6 rows scored" in out
    assert "mixed emotion label" in out and "no emotion label" in out
    assert "== model analyzer" in out
    assert "baseline: majority class (calm)" in out
    assert "baseline: lexicon analyzer" in out
    for label in ("positive", "angry", "distressed", "confused", "calm", "cease_contact"):
        assert any(line.strip().startswith(label) for line in out.splitlines()), label
    assert "macro-F1" in out
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["results"][0]["name"] == "model analyzer"


def _digest(directory: Path) -> str:
    sha = hashlib.sha256()
    for name in ("encoder/model.safetensors", "heads.safetensors", "classifier.int8.onnx"):
        sha.update((directory / name).read_bytes())
    return sha.hexdigest()


def test_the_majority_baseline_is_what_the_model_recorded_where_data_is_absent(
    tmp_path: Path,
) -> None:
    recorded = tmp_path / "model"
    recorded.mkdir()
    meta = ModelMeta(training={"emotion_counts": {"angry": 9, "calm": 2}})
    (recorded / META_FILE).write_text(meta.to_json())
    older = tmp_path / "older"  # built before models recorded their counts
    older.mkdir()
    (older / META_FILE).write_text(ModelMeta().to_json())
    train = tmp_path / "train.jsonl"
    train.write_text('{"emotion": "distressed"}\n{"emotion": "distressed"}\n{"emotion": "calm"}\n')
    absent = tmp_path / "absent.jsonl"
    assert majority_emotion(recorded, absent) is Emotion.angry  # an installed service
    assert majority_emotion(recorded, train) is Emotion.angry
    assert majority_emotion(older, train) is Emotion.distressed
    assert majority_emotion(tmp_path / "no-model", train) is Emotion.distressed
    assert majority_emotion(tmp_path / "no-model", absent) is Emotion.calm


def test_training_is_reproducible_and_writes_card_and_report(tmp_path: Path) -> None:
    test_file = tmp_path / "test.jsonl"
    test_file.write_text(
        "".join(
            json.dumps(
                {"text": r.text, "language": r.language, "emotion": r.emotion.value,
                 "intents": sorted(i.value for i in r.intents)}, ensure_ascii=False
            ) + "\n"
            for r in TEST_ROWS[:24]
        ),
        encoding="utf-8",
    )  # fmt: skip
    config = TrainConfig(epochs=1, limit=40, max_length=16, threads=2, seed=7)
    first = train_classifier(tmp_path / "a", config, test_path=test_file, progress=False)
    second = train_classifier(tmp_path / "b", config, test_path=test_file, progress=False)
    assert _digest(first) == _digest(second)
    meta_a = json.loads((first / "classifier.json").read_text())
    meta_b = json.loads((second / "classifier.json").read_text())
    assert meta_a["temperature"] == meta_b["temperature"]
    assert meta_a["thresholds"] == meta_b["thresholds"]
    trained = read_rows(PROJECT_ROOT / "data" / "train.jsonl", 40)
    assert meta_a["training"]["emotion_counts"] == Counter(r.emotion.value for r in trained)
    card = (first / "MODEL_CARD.md").read_text()
    assert "Base model" in card and "emotion macro-F1" in card and "Limits" in card
    png = first / "evaluation" / "confusion_emotion.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (first / "evaluation" / "report.md").read_text()
    assert "precision" in report and "distressed" in report
    texts = [r.text for r in TEST_ROWS[:10]]
    assert predict(load_model(first), texts) == predict(load_model(second), texts)
    # `agent train --if-missing` keeps a model trained on this very file, and only that.
    assert trained_on(first) == file_sha256(PROJECT_ROOT / "data" / "train.jsonl")
    (first / "classifier.json").write_text(
        json.dumps({**meta_a, "training": {**meta_a["training"], "train_sha256": "other"}})
    )
    assert trained_on(first) == "other"
    kept = _agent(["train", "--if-missing", "--output", str(second)], tmp_path)
    assert kept.returncode == 0 and "already built" in kept.stdout, kept.stderr
