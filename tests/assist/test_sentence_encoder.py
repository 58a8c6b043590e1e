"""The suggestion encoder in numpy (agent/assist/sentence_encoder.py): the same vectors as
transformers' BertModel on the same checkpoint, without importing torch."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agent.assist.sentence_encoder import MAX_TOKENS, SentenceEncoder, erf
from agent.nlp.built_model import default_base_model
from agent.nlp.model import load_encoder, load_tokenizer

TEXTS = [
    "I lost my job last month and I honestly can't afford anything",
    "ok",  # short: padded beside the others
    "我真的没钱了 please stop calling",  # mostly [UNK] for this English checkpoint
    "stop " * 300,  # truncated to MAX_TOKENS
]


def _transformers_vectors(texts: list[str]) -> np.ndarray:
    directory = default_base_model()
    tokenizer, model = load_tokenizer(directory), load_encoder(directory)
    model.train(False)  # inference: no dropout
    with torch.inference_mode():
        batch = tokenizer(
            texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        )
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        vectors: np.ndarray = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return vectors


def test_vectors_match_transformers_on_the_same_checkpoint() -> None:
    ours = SentenceEncoder().encode(TEXTS)
    expected = _transformers_vectors(TEXTS)
    assert ours.shape == expected.shape == (len(TEXTS), 384)
    assert np.abs(ours - expected).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-6)
    # A text's vector does not depend on the padding its batch needed.
    alone = SentenceEncoder().encode(TEXTS[1:2])[0]
    assert np.abs(alone - ours[1]).max() < 1e-5


def test_erf_is_exact_to_float32() -> None:
    xs = np.linspace(-6.0, 6.0, 4001)
    expected = np.array([math.erf(x) for x in xs])
    assert np.abs(erf(xs) - expected).max() < 2e-7


def test_only_a_bert_checkpoint_is_accepted(tmp_path: Path) -> None:
    config = json.loads((default_base_model() / "config.json").read_text(encoding="utf-8"))
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "roberta"}))
    with pytest.raises(ValueError, match="BERT"):
        SentenceEncoder(tmp_path)


def test_encoding_imports_neither_torch_nor_transformers() -> None:
    script = (
        "import sys\n"
        "from agent.assist.suggestions import Suggester\n"
        "from agent.assist.sentence_encoder import SentenceEncoder\n"
        "SentenceEncoder().encode(['I cannot pay this month'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
