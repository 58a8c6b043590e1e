"""all-MiniLM-L6-v2 as a sentence encoder, in numpy: tokens -> BERT -> mean pooling over
real tokens -> unit vector (the way the checkpoint was trained).

Why numpy and not torch: with the classifier served as an int8 ONNX graph, this encoder
was the last user of torch in a served process, so the assist panel's first suggestion
imported torch and transformers (~5 s, ~400 MiB). The checkpoint is small (6 layers, 384
wide, 90 MB of float32 weights) and a suggestion encodes two short texts, so plain numpy
matmuls are enough. It reads the checkpoint's own safetensors weights and tokenizer and
matches transformers' `BertModel` to float rounding (tests/assist/test_sentence_encoder.py).
Only BERT checkpoints are accepted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from agent.nlp.built_model import TokenIds, default_base_model

MAX_TOKENS = 128
# Abramowitz & Stegun 7.1.26: erf with |error| < 1.5e-7, below float32's resolution of
# GELU's output; numpy has no erf of its own.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


_SQRT_HALF = 0.7071067811865476  # a Python float: numpy scalars would promote to float64


def erf(x: np.ndarray) -> np.ndarray:
    magnitude = np.abs(x)
    t = 1.0 / (1.0 + _ERF_P * magnitude)
    polynomial = np.zeros_like(t)
    for coefficient in reversed(_ERF_A):
        polynomial = (polynomial + coefficient) * t
    result: np.ndarray = np.sign(x) * (1.0 - polynomial * np.exp(-magnitude * magnitude))
    return result


def gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact GELU (`hidden_act: gelu`), not the tanh approximation."""
    result: np.ndarray = 0.5 * x * (1.0 + erf(x * _SQRT_HALF))
    return result


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = np.square(x - mean).mean(axis=-1, keepdims=True)
    result: np.ndarray = (x - mean) / np.sqrt(variance + eps) * weight + bias
    return result


class _Linear:
    """y = x W^T + b, with W stored transposed once at load."""

    def __init__(self, weights: dict[str, np.ndarray], name: str) -> None:
        self.weight = np.ascontiguousarray(weights[f"{name}.weight"].T)
        self.bias = weights[f"{name}.bias"]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        result: np.ndarray = x @ self.weight + self.bias
        return result


class SentenceEncoder:
    """Unit sentence vectors from a BERT checkpoint directory (default: the installed
    all-MiniLM-L6-v2). Stateless after loading, so safe to call from several threads."""

    def __init__(self, path: Path | None = None) -> None:
        directory = path or default_base_model()
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise ValueError(f"{directory}: a BERT checkpoint with GELU is needed for suggestions")
        self.tokenize = TokenIds.read(directory, MAX_TOKENS)
        weights = {
            key.removeprefix("bert."): value
            for key, value in load_file(str(directory / "model.safetensors")).items()
        }
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.words = weights["embeddings.word_embeddings.weight"]
        self.positions = weights["embeddings.position_embeddings.weight"]
        self.token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self.embedding_norm = (
            weights["embeddings.LayerNorm.weight"],
            weights["embeddings.LayerNorm.bias"],
        )
        self.layers = [
            _Layer(weights, f"encoder.layer.{i}") for i in range(config["num_hidden_layers"])
        ]

    def encode(self, texts: list[str]) -> np.ndarray:
        """One unit vector (float32) per text, in order."""
        ids = self.tokenize(texts)
        width = max(len(row) for row in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.float32)
        for row, tokens in enumerate(ids):
            input_ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1.0
        x = self.words[input_ids] + self.positions[:width] + self.token_type
        x = layer_norm(x, *self.embedding_norm, self.eps)
        # Padded keys get the most negative float32, as transformers does: no attention.
        blocked = (1.0 - mask)[:, None, None, :] * np.finfo(np.float32).min
        for layer in self.layers:
            x = layer(x, blocked, self.heads, self.eps)
        pooled = (x * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)[:, None]
        norms = np.maximum(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12)
        result: np.ndarray = (pooled / norms).astype(np.float32)
        return result


class _Layer:
    """One BERT layer: self-attention, then the feed-forward block, each with its residual
    and LayerNorm (post-norm)."""

    def __init__(self, weights: dict[str, np.ndarray], prefix: str) -> None:
        self.query = _Linear(weights, f"{prefix}.attention.self.query")
        self.key = _Linear(weights, f"{prefix}.attention.self.key")
        self.value = _Linear(weights, f"{prefix}.attention.self.value")
        self.attention_out = _Linear(weights, f"{prefix}.attention.output.dense")
        self.attention_norm = (
            weights[f"{prefix}.attention.output.LayerNorm.weight"],
            weights[f"{prefix}.attention.output.LayerNorm.bias"],
        )
        self.intermediate = _Linear(weights, f"{prefix}.intermediate.dense")
        self.output = _Linear(weights, f"{prefix}.output.dense")
        self.output_norm = (
            weights[f"{prefix}.output.LayerNorm.weight"],
            weights[f"{prefix}.output.LayerNorm.bias"],
        )

    def __call__(self, x: np.ndarray, blocked: np.ndarray, heads: int, eps: float) -> np.ndarray:
        rows, tokens, hidden = x.shape
        size = hidden // heads

        def split(t: np.ndarray) -> np.ndarray:  # (rows, heads, tokens, size), contiguous
            # so that matmul hands each (tokens x size) block to BLAS
            return np.ascontiguousarray(t.reshape(rows, tokens, heads, size).transpose(0, 2, 1, 3))

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(0, 1, 3, 2) * (1.0 / float(size) ** 0.5) + blocked
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = scores / scores.sum(axis=-1, keepdims=True)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(rows, tokens, hidden)
        x = layer_norm(self.attention_out(context) + x, *self.attention_norm, eps)
        return layer_norm(self.output(gelu(self.intermediate(x))) + x, *self.output_norm, eps)
