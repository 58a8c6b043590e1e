"""Extending an English base for Chinese: characters and common words as glossed tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from transformers.models.bert.tokenization_bert import BertTokenizer

from agent.nlp.model import (
    common_hanzi,
    extend_tokenizer,
    hanzi_glosses,
    hanzi_words,
    load_encoder,
    load_tokenizer,
    resolve_base_model,
)
from agent.nlp.train import resize_embeddings


@pytest.fixture(scope="module")
def base() -> Path:
    return resolve_base_model("")


def test_word_list_is_glossed_and_ordered_by_frequency() -> None:
    words = hanzi_words()
    glosses = hanzi_glosses()
    assert len(words) == len(set(words)) > 40_000
    assert all(2 <= len(w) <= 4 and glosses[w] for w in words)
    assert words.index("我们") < words.index("担心")  # most frequent first
    assert "worried" in glosses["担心"] and "cry" in glosses["哭"]  # words and characters


def test_a_listed_word_is_one_token_that_starts_near_its_english_gloss(base: Path) -> None:
    tokenizer = load_tokenizer(base)
    old = len(tokenizer)
    added = extend_tokenizer(tokenizer, ["我很担心你"])
    assert "担心" in added
    word_id = tokenizer.convert_tokens_to_ids("担心")
    assert isinstance(word_id, int) and word_id >= old
    # Longest match: the word wins over its characters, anywhere in the text.
    assert word_id in tokenizer("他有点担心", add_special_tokens=False)["input_ids"]

    encoder = load_encoder(base)
    glossed = resize_embeddings(encoder, tokenizer, added)
    assert glossed > 40_000  # characters and words with glosses
    table = encoder.get_input_embeddings()
    assert isinstance(table, nn.Embedding)
    weights = table.weight.detach()

    def english(word: str) -> torch.Tensor:
        ids = [i for i in tokenizer(word, add_special_tokens=False)["input_ids"] if i < old]
        return weights[ids].mean(dim=0)

    row = weights[word_id]
    expected = torch.stack([english(g) for g in hanzi_glosses()["担心"]]).mean(dim=0)
    assert torch.allclose(row, expected, atol=1e-6)
    cosine = nn.functional.cosine_similarity
    assert cosine(row, english("worried"), dim=0) > cosine(row, english("happy"), dim=0)


def test_a_base_that_reads_hanzi_gets_no_words() -> None:
    """A Chinese checkpoint already has the characters: nothing is added, its own
    embeddings are kept."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *common_hanzi(), "你", "我"]
    tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(dict.fromkeys(tokens))})
    before = len(tokenizer)
    assert extend_tokenizer(tokenizer, ["我很担心你"]) == []
    assert len(tokenizer) == before
