"""A lean inference forward for BERT encoders: the same weights, fewer and fused operations.

On this 2-core CPU one short utterance is a handful of tokens, so a forward pass is ~37
small matmuls plus the Python and dispatch cost of transformers' general `BertModel`
(mask building, attention-interface lookup, per-head reshapes, three separate Q/K/V
projections). This module runs the identical computation with one fused QKV matmul per
layer and `scaled_dot_product_attention`, which cut the single-text forward from ~7.7 to
~5.4 ms in bfloat16 (README, "Classifier"). Results match transformers' eager forward to
float rounding (tests/nlp/test_fast_encoder.py).

Row bucketing: in bfloat16, torch hands each matmul to oneDNN, which JIT-compiles and
caches a kernel per distinct (rows, in, out) shape (~1 MB each with its buffers, in two
caches of 1,024 entries: ideep's and oneDNN's). Rows are the tokens in a pass (batch x
length), so a chat service meets hundreds of shapes and its memory climbed for as long as
it ran (~1 GB once both caches were full, measured). `_linear` pads the rows to a bucket:
a power of two up to 64, then steps of 2^(1/4) rounded up to a multiple of 16 (at most
~25% padding; 27 buckets up to 2,048 rows), and `warm` compiles every bucket the
service can meet once, at load, so memory after start stays flat. Padding rows are
zeros, computed and dropped: a few-token matmul is bound by reading the weights, so they
cost next to nothing there.

Only the architecture it reproduces exactly is accepted (`supports`): BERT with absolute
positions, GELU, no decoder. Any other checkpoint (a lender's XLM-R, say) keeps the
transformers forward: see `ClassifierNet.pool`. Inference only: no dropout, no gradients.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def supports(encoder: PreTrainedModel) -> bool:
    """Whether `encoder` is a plain BERT that `FastBertEncoder` reproduces exactly."""
    config = encoder.config
    return (
        getattr(config, "model_type", "") == "bert"
        and getattr(config, "hidden_act", "") == "gelu"
        and getattr(config, "position_embedding_type", "absolute") == "absolute"
        and not getattr(config, "is_decoder", False)
        and hasattr(encoder, "embeddings")
        and hasattr(encoder, "encoder")
    )


SMALL_ROWS = 64  # up to here rows round up to a power of two
STEP = 2**0.25  # beyond, each bucket is this much larger than the last ...
ALIGN = 16  # ... rounded up to a multiple of this


def bucket(rows: int) -> int:
    """The padded row count for a matmul over `rows` rows (see the module docstring)."""
    if rows <= SMALL_ROWS:
        return 1 << max(0, rows - 1).bit_length()
    size = float(SMALL_ROWS)
    while (padded := -(-math.ceil(size) // ALIGN) * ALIGN) < rows:
        size *= STEP
    return padded


def buckets(max_rows: int) -> list[int]:
    """Every bucket a pass of at most `max_rows` rows can use."""
    return sorted({bucket(rows) for rows in range(1, max_rows + 1)})


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """`F.linear` over the rows of `x` padded to `bucket` rows where oneDNN would cache
    per shape (reduced precision); float32 goes to MKL, which caches nothing."""
    if weight.dtype == torch.float32:
        return F.linear(x, weight, bias)
    flat = x.reshape(-1, x.shape[-1])
    rows = flat.shape[0]
    padded = bucket(rows)
    if padded != rows:
        flat = F.pad(flat, (0, 0, 0, padded - rows))
    return F.linear(flat, weight, bias)[:rows].view(*x.shape[:-1], weight.shape[0])


class _Layer(nn.Module):
    """One transformer block: fused QKV projection, SDPA, two post-norm residuals."""

    def __init__(self, layer: Any, heads: int, eps: float) -> None:
        # `layer` is transformers' BertLayer (untyped submodules, hence Any).
        super().__init__()
        attention = layer.attention
        own = attention.self
        self.heads, self.eps = heads, eps
        # Q, K and V as one [3H, H] matmul: one kernel call and one weight read instead of 3.
        self.qkv = nn.Parameter(
            torch.cat([own.query.weight, own.key.weight, own.value.weight]).detach(),
            requires_grad=False,
        )
        self.qkv_bias = nn.Parameter(
            torch.cat([own.query.bias, own.key.bias, own.value.bias]).detach(),
            requires_grad=False,
        )
        # The other weights are the encoder's own tensors (shared, not copied).
        self.attention_out: nn.Linear = attention.output.dense
        self.attention_norm: nn.LayerNorm = attention.output.LayerNorm
        self.intermediate: nn.Linear = layer.intermediate.dense
        self.output: nn.Linear = layer.output.dense
        self.output_norm: nn.LayerNorm = layer.output.LayerNorm

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        batch, length, hidden = x.shape
        qkv = _linear(x, self.qkv, self.qkv_bias)
        q, k, v = qkv.view(batch, length, 3, self.heads, hidden // self.heads).permute(
            2, 0, 3, 1, 4
        )
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        attended = attended.transpose(1, 2).reshape(batch, length, hidden)
        x = self.attention_norm(self._dense(self.attention_out, attended) + x)
        inner = F.gelu(self._dense(self.intermediate, x))
        out: torch.Tensor = self.output_norm(self._dense(self.output, inner) + x)
        return out

    @staticmethod
    def _dense(layer: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        return _linear(x, layer.weight, layer.bias)


class FastBertEncoder(nn.Module):
    """`BertModel(...)[0]` (the last hidden states) for inference, on the same weights.

    Build it after the encoder has its final dtype (the fused QKV weights are copies).
    """

    def __init__(self, encoder: PreTrainedModel) -> None:
        super().__init__()
        if not supports(encoder):
            raise ValueError(f"not a plain BERT encoder: {type(encoder).__name__}")
        config = encoder.config
        embeddings: Any = encoder.embeddings
        layers: Any = getattr(encoder.encoder, "layer")  # noqa: B009 - untyped submodule
        self.word: nn.Embedding = embeddings.word_embeddings
        # Token type is always 0 here (single sentences): fold its row into the positions.
        positions = (
            embeddings.position_embeddings.weight + embeddings.token_type_embeddings.weight[0]
        )
        self.positions = nn.Parameter(positions.detach(), requires_grad=False)
        self.norm: nn.LayerNorm = embeddings.LayerNorm
        self.layers = nn.ModuleList(
            _Layer(layer, int(config.num_attention_heads), float(config.layer_norm_eps))
            for layer in layers
        )

    def warm(self, max_rows: int) -> None:
        """Compile the matmul kernels of every bucket up to `max_rows` rows now (reduced
        precision only: float32 caches nothing). The caches are shared by all threads and
        keyed by shape and torch's thread count, so this uses one layer's weights under
        the current thread count: call it with the count the passes will run under."""
        layer = cast(_Layer, self.layers[0])
        if layer.qkv.dtype == torch.float32:
            return
        dense: tuple[tuple[torch.Tensor, torch.Tensor], ...] = (
            (layer.qkv, layer.qkv_bias),
            (layer.attention_out.weight, layer.attention_out.bias),
            (layer.intermediate.weight, layer.intermediate.bias),
            (layer.output.weight, layer.output.bias),
        )
        with torch.inference_mode():
            for rows in buckets(max_rows):
                for weight, bias in dense:
                    F.linear(weight.new_zeros(rows, weight.shape[1]), weight, bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        length = input_ids.shape[1]
        x = self.norm(self.word(input_ids) + self.positions[:length])
        # SDPA's boolean mask: True = may attend. No padding (one text, or equal lengths):
        # no mask at all, the fast path.
        mask = None
        if not bool(attention_mask.all()):
            mask = attention_mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, mask)
        hidden: torch.Tensor = x
        return hidden
