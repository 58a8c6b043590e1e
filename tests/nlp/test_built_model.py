"""Loading a built model for serving (agent/nlp/built_model.py): the same token ids as
transformers' tokenizer, and the default int8 path without torch or transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from agent.nlp.built_model import ENCODER_DIR, TOKENIZER_FILE, TokenIds, load_model
from agent.nlp.model import load_tokenizer
from agent.nlp.train import DATA_DIR, read_rows

EDGE_CASES = [
    "",
    " \t\n",
    "ok",
    "I'LL PAY £200 ON FRIDAY!!!",
    "wo zhen de mei qian 真的没钱了 ok",
    "ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３",
    "😀🙏 emoji and \u200b zero width \x00 nul",
    "stop " * 200,  # truncated
    "你" * 300,  # truncated, one token a character
    "担心担心担心",  # added word tokens, longest first
]


def test_token_ids_are_transformers_ids_for_every_training_and_test_text(
    model_dir: Path,
) -> None:
    texts = [r.text for name in ("train.jsonl", "test.jsonl") for r in read_rows(DATA_DIR / name)]
    texts += EDGE_CASES
    max_length = 64
    transformers_ids = load_tokenizer(model_dir / ENCODER_DIR)(
        texts, truncation=True, max_length=max_length, add_special_tokens=True
    )["input_ids"]
    ours = TokenIds.read(model_dir / ENCODER_DIR, max_length)(texts)
    differ = [t for t, a, b in zip(texts, ours, transformers_ids, strict=True) if a != b]
    assert not differ, differ[:5]
    assert max(len(row) for row in ours) == max_length  # the long ones were cut


def test_a_live_tokenizer_is_copied_not_changed(model_dir: Path) -> None:
    tokenizer = load_tokenizer(model_dir / ENCODER_DIR)
    backend = tokenizer.backend_tokenizer
    before = backend.truncation
    short = TokenIds.copy_of(backend, 4)
    assert backend.truncation == before
    assert len(short(["a much longer sentence than four tokens"])[0]) == 4


def test_a_model_without_its_tokenizer_file_is_refused_clearly(
    model_dir: Path, tmp_path: Path
) -> None:
    for entry in model_dir.iterdir():
        if entry.name != ENCODER_DIR:
            (tmp_path / entry.name).symlink_to(entry)
    (tmp_path / ENCODER_DIR).mkdir()
    for entry in (model_dir / ENCODER_DIR).iterdir():
        if entry.name != TOKENIZER_FILE:
            (tmp_path / ENCODER_DIR / entry.name).symlink_to(entry)
    with pytest.raises(FileNotFoundError, match="agent train"):
        load_model(tmp_path, precision="int8")


SERVE_INT8 = """
import datetime, json, sys
from agent.domain import AnalysisContext
from agent.nlp.classifier import load_model_analyzer
from agent.settings import Settings

settings = Settings(analyzer="model", model_dir=sys.argv[1], classifier_precision="auto")
analyzer = load_model_analyzer(settings)
context = AnalysisContext(today=datetime.date(2026, 12, 1), locale="en-US")
[analysis] = analyzer.analyze_sync(["I lost my job and can't pay"], context)
analyzer.close()
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers"})
intents = [i.value for i in analysis.intents]
print(json.dumps({"precision": analyzer.model.precision, "intents": intents, "heavy": heavy}))
"""


def test_serving_the_int8_graph_imports_neither_torch_nor_transformers(model_dir: Path) -> None:
    """Why: together they cost a served process seconds of start-up and ~400 MiB."""
    done = subprocess.run(
        [sys.executable, "-c", SERVE_INT8, str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["precision"] == "int8"
    assert result["intents"] == ["hardship"]
    assert result["heavy"] == []
