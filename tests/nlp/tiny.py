"""A tiny random BERT for tests that need the architecture, not the weights."""

from __future__ import annotations

from typing import Any

import torch
from transformers import BertConfig, BertModel


def tiny_bert() -> BertModel:
    """Seeded, in eval mode, with the attention implementation `load_encoder` asks for."""
    torch.manual_seed(0)
    sizes: dict[str, Any] = {"attn_implementation": "eager"}
    config = BertConfig(
        vocab_size=120,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
        **sizes,
    )
    model = BertModel(config)
    model.train(False)
    return model
