"""Any Hugging Face checkpoint directory works as the base (`AGENT_CLASSIFIER_BASE_MODEL`):
here a tiny random RoBERTa with its own byte-level BPE tokenizer, nothing like the
default MiniLM and its WordPiece, is trained, written as an int8 graph and served."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

from agent.nlp.built_model import DATA_DIR, ENCODER_DIR, TokenIds, load_model
from agent.nlp.classifier import predict
from agent.nlp.int8_graph import Int8Graph
from agent.nlp.model import ClassifierNet, load_tokenizer
from agent.nlp.train import TrainConfig, read_rows, train_classifier

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # the BPE trainer gives them ids 0-3
BOS, PAD, EOS = 0, 1, 2


def _roberta_base(directory: Path) -> Path:
    """A 2-layer RoBERTa and a byte-level BPE tokenizer trained on the training texts."""
    texts = [row.text for row in read_rows(DATA_DIR / "train.jsonl", 2000)]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIALS))
    bpe.post_processor = processors.RobertaProcessing(("</s>", EOS), ("<s>", BOS))
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        cls_token="<s>",
        sep_token="</s>",
    )
    torch.manual_seed(0)
    config = RobertaConfig(
        vocab_size=bpe.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=80,  # max_length 64 + RoBERTa's offset of pad id + 1
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    RobertaModel(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = _roberta_base(tmp_path_factory.mktemp("roberta-base"))
    config = TrainConfig(base_model=str(base), epochs=1, limit=300, threads=1)
    return train_classifier(
        tmp_path_factory.mktemp("built") / "classifier", config, test_limit=60, progress=False
    )


def test_another_architecture_and_tokenizer_train_and_serve_in_int8_and_float32(
    built: Path,
) -> None:
    texts = [row.text for row in read_rows(DATA_DIR / "test.jsonl", 40)]
    int8, fp32 = load_model(built, precision="auto"), load_model(built, precision="float32")
    assert isinstance(int8.net, Int8Graph) and isinstance(fp32.net, ClassifierNet)
    assert fp32.net.fast is None  # the lean forward is for plain BERT only
    assert fp32.net.pad_id == load_tokenizer(built / ENCODER_DIR).pad_token_id == PAD
    quantised, reference = predict(int8, texts), predict(fp32, texts)
    for a, b in zip(quantised, reference, strict=True):
        assert sum(a.emotion) == pytest.approx(1.0)
        assert max(abs(x - y) for x, y in zip(a.emotion, b.emotion, strict=True)) < 0.05


def test_its_token_ids_are_its_own_tokenizers(built: Path) -> None:
    texts = [row.text for row in read_rows(DATA_DIR / "test.jsonl", 200)]
    expected = load_tokenizer(built / ENCODER_DIR)(texts, truncation=True, max_length=64)
    ids = TokenIds.read(built / ENCODER_DIR, 64)(texts)
    assert ids == expected["input_ids"]
    assert all(row[0] == BOS and row[-1] == EOS for row in ids)
