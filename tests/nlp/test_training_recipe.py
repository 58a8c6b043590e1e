"""The fine-tuning recipe: layer-wise learning rates, bfloat16 autocast, probing first."""

from __future__ import annotations

import dataclasses
import random
from typing import Any, cast

import numpy as np
import pytest
import torch
from torch import nn
from transformers import BertConfig, BertModel

from agent.domain import Emotion, Intent
from agent.nlp.built_model import INTENTS
from agent.nlp.model import ClassifierNet
from agent.nlp.train import (
    Objective,
    Row,
    SeenRows,
    TrainConfig,
    _layer_scale,
    _optimizer,
    _targets,
    fine_tune,
    fit_thresholds,
    probe_heads,
)


def _tiny_net(layers: int = 3) -> ClassifierNet:
    torch.manual_seed(0)
    sizes: dict[str, Any] = {"attn_implementation": "eager"}
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=20,
        **sizes,
    )
    return ClassifierNet(BertModel(config))


def test_layer_scale_decays_from_the_top_layer_down_to_the_embeddings() -> None:
    assert _layer_scale("encoder.encoder.layer.5.attention.self.query.weight", 6, 0.8) == 1.0
    assert _layer_scale("encoder.encoder.layer.4.output.dense.bias", 6, 0.8) == pytest.approx(0.8)
    assert _layer_scale("encoder.encoder.layer.0.output.dense.weight", 6, 0.8) == pytest.approx(
        0.8**5
    )
    assert _layer_scale("encoder.embeddings.LayerNorm.weight", 6, 0.8) == pytest.approx(0.8**6)
    # Other architectures name their blocks `layers.N`; anything else is not scaled.
    assert _layer_scale("encoder.layers.1.mlp.weight", 2, 0.5) == 1.0
    assert _layer_scale("encoder.layers.0.mlp.weight", 2, 0.5) == pytest.approx(0.5)
    assert _layer_scale("encoder.pooler.dense.weight", 6, 0.8) == 1.0
    assert _layer_scale("encoder.encoder.layer.0.output.dense.weight", 6, 1.0) == 1.0


def _learning_rates(net: ClassifierNet, config: TrainConfig) -> dict[str, tuple[float, float]]:
    optimizer = _optimizer(net, config)
    by_tensor = {
        id(param): (group["lr"], group["weight_decay"])
        for group in optimizer.param_groups
        for param in group["params"]
    }
    return {name: by_tensor[id(param)] for name, param in net.named_parameters()}


def test_optimizer_gives_each_part_its_rate_and_decay() -> None:
    net = _tiny_net(layers=3)
    config = TrainConfig(
        learning_rate=1e-3, embedding_learning_rate=5e-3, head_learning_rate=2e-2,
        weight_decay=0.01, layer_lr_decay=0.5,
    )  # fmt: skip
    rates = _learning_rates(net, config)
    assert rates["encoder.encoder.layer.2.attention.self.query.weight"] == (1e-3, 0.01)
    assert rates["encoder.encoder.layer.1.attention.self.query.weight"] == (5e-4, 0.01)
    assert rates["encoder.encoder.layer.0.attention.self.query.weight"] == (2.5e-4, 0.01)
    # Biases and norms are not decayed; position embeddings sit below the lowest layer.
    assert rates["encoder.encoder.layer.0.output.LayerNorm.weight"] == (2.5e-4, 0.0)
    assert rates["encoder.embeddings.position_embeddings.weight"] == (1.25e-4, 0.01)
    # The word embeddings (the glossed Chinese rows) and the heads keep their own rates.
    assert rates["encoder.embeddings.word_embeddings.weight"] == (5e-3, 0.0)
    assert rates["emotion.weight"] == (2e-2, 0.01)
    assert rates["intents.bias"] == (2e-2, 0.01)
    flat = _learning_rates(net, dataclasses.replace(config, layer_lr_decay=1.0))
    assert flat["encoder.encoder.layer.0.attention.self.query.weight"] == (1e-3, 0.01)


ROWS = [
    Row("fine thanks", "en", Emotion.calm, frozenset()),
    Row("this is outrageous", "en", Emotion.angry, frozenset()),
    Row("i can pay on friday", "en", Emotion.calm, frozenset({Intent.promise_to_pay})),
    Row("i am so scared", "en", Emotion.distressed, frozenset()),
]
IDS = [[2, 5, 7, 3], [2, 9, 11, 13, 3], [2, 4, 6, 8, 10, 3], [2, 12, 14, 3]]


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_fine_tuning_keeps_float32_weights_in_either_precision(precision: str) -> None:
    net = _tiny_net()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    config = TrainConfig(epochs=2, batch_size=2, precision=precision, seed=3)
    losses = fine_tune(net, IDS, ROWS, 0, config, progress=False)
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    for name, param in net.named_parameters():
        assert param.dtype == torch.float32, name
    moved = [n for n, p in net.named_parameters() if not torch.equal(p, before[n])]
    assert "emotion.weight" in moved
    assert "encoder.encoder.layer.0.attention.self.query.weight" in moved


def test_bfloat16_fine_tuning_is_reproducible() -> None:
    config = TrainConfig(epochs=1, batch_size=2, precision="bfloat16", seed=5)
    first, second = _tiny_net(), _tiny_net()
    for net in (first, second):
        torch.manual_seed(5)  # dropout draws from torch's generator (`seed_everything`)
        fine_tune(net, IDS, ROWS, 0, config, progress=False)
    for (name, a), b in zip(first.named_parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="precision"):
        fine_tune(_tiny_net(), IDS, ROWS, 0, TrainConfig(precision="fp8"), progress=False)


def test_probing_trains_the_heads_and_leaves_the_encoder_alone() -> None:
    net = _tiny_net()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    config = TrainConfig(probe_epochs=2, batch_size=2, seed=3)
    objective = Objective(torch.nn.CrossEntropyLoss(), *_targets(ROWS), 1.0, pad_id=0)
    probe_heads(net, IDS, objective, config, random.Random(3))
    moved = {n for n, p in net.named_parameters() if not torch.equal(p, before[n])}
    assert moved == {"emotion.weight", "emotion.bias", "intents.weight", "intents.bias"}
    # The encoder is trainable again for the fine-tuning that follows.
    assert all(p.requires_grad for p in net.encoder.parameters())


def test_fine_tuning_with_a_probe_first_differs_from_without() -> None:
    nets = {}
    for probe in (0, 1):
        net = _tiny_net()
        torch.manual_seed(5)
        config = TrainConfig(epochs=1, batch_size=2, seed=5, probe_epochs=probe)
        fine_tune(net, IDS, ROWS, 0, config, progress=False)
        nets[probe] = net
    assert not torch.equal(nets[0].emotion.weight, nets[1].emotion.weight)


# The same rows code-switched: some of their tokens differ (as a Chinese word's English gloss).
SWITCHED = [[2, 5, 17, 3], [2, 9, 11, 19, 3], [2, 4, 6, 8, 10, 3], [2, 21, 14, 3]]


def _word_table(net: ClassifierNet) -> torch.Tensor:
    return cast(nn.Embedding, net.encoder.get_input_embeddings()).weight.detach()


def test_training_only_the_seen_embedding_rows_gives_the_same_weights() -> None:
    config = TrainConfig(epochs=3, batch_size=2, seed=5, code_switch_rows=0.5)
    whole, compact = _tiny_net(), _tiny_net()
    before = _word_table(compact).clone()
    torch.manual_seed(5)
    fine_tune(whole, IDS, ROWS, 0, config, progress=False, switched=SWITCHED)
    torch.manual_seed(5)
    with SeenRows(compact.encoder, [IDS, SWITCHED], pad_id=0) as seen:
        assert _word_table(compact).shape == (17, 16)  # the rows the ids use
        fine_tune(
            compact, seen.renumber(IDS), ROWS, seen.pad_id, config,
            progress=False, switched=seen.renumber(SWITCHED),
        )  # fmt: skip
    table = _word_table(compact)
    assert table.shape == (50, 16)  # the whole table is back
    for (name, a), b in zip(whole.named_parameters(), compact.parameters(), strict=True):
        assert torch.equal(a, b), name
    moved = {i for i in range(50) if not torch.equal(table[i], before[i])}
    # Only rows the ids use moved (not the padding row); the rest are as they started.
    assert len(moved) > 10 and moved <= set(seen.used) - {0}


class _ScaledEmbedding(nn.Embedding):
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return super().forward(input) * 2.0


def test_an_embedding_that_does_more_than_look_rows_up_is_left_whole() -> None:
    net = _tiny_net()
    scaled = _ScaledEmbedding(50, 16, padding_idx=0)
    net.encoder.set_input_embeddings(scaled)
    with SeenRows(net.encoder, [IDS], pad_id=0) as seen:
        assert net.encoder.get_input_embeddings() is scaled
        assert seen.renumber(IDS) == IDS and seen.pad_id == 0
    assert net.encoder.get_input_embeddings() is scaled


def test_only_critical_intents_get_a_fitted_threshold_and_never_above_half() -> None:
    # 20 held-out rows: cease_contact on the first 10, hardship on the first 10 too.
    rows = [
        Row(f"r{i}", "en", Emotion.calm, frozenset({Intent.cease_contact, Intent.hardship}))
        if i < 10
        else Row(f"r{i}", "en", Emotion.calm, frozenset())
        for i in range(20)
    ]
    probs = np.full((20, len(INTENTS)), 0.05)
    cease, hardship = INTENTS.index(Intent.cease_contact), INTENTS.index(Intent.hardship)
    # cease: true rows score 0.3 (0.5 would miss them all); hardship: true rows 0.95,
    # false rows 0.7, so the held-out F1-best threshold would be 0.75, yet 0.5 is kept
    probs[:10, cease] = 0.3
    probs[:10, hardship], probs[10:, hardship] = 0.95, 0.7
    thresholds = fit_thresholds(probs, rows)
    assert thresholds[Intent.cease_contact.value] == 0.3
    assert thresholds[Intent.hardship.value] == 0.5
    assert set(thresholds) == {i.value for i in INTENTS}
    probs[:10, cease] = 0.9  # separable far above 0.5: the threshold stays at 0.5
    assert fit_thresholds(probs, rows)[Intent.cease_contact.value] == 0.5
