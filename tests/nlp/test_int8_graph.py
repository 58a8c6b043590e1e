"""The int8 ONNX graph (agent/nlp/int8_graph.py): written by training, served by default,
faithful to float32, and the same answer for a text whatever shares its pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from agent.nlp import classifier
from agent.nlp.built_model import EMOTIONS, LoadedModel, load_model
from agent.nlp.int8_graph import (
    GRAPH_FILE,
    Int8Graph,
    export_float_graph,
    fuse_graph,
    write_int8_graph,
)
from agent.nlp.model import ClassifierNet, pad
from agent.nlp.train import read_rows
from agent.settings import PROJECT_ROOT
from tests.nlp.tiny import tiny_bert

TEST_ROWS = read_rows(PROJECT_ROOT / "data" / "test.jsonl")


@pytest.fixture(scope="module")
def int8(model_dir: Path) -> LoadedModel:
    return load_model(model_dir, precision="int8")


def _without_graph(model_dir: Path, target: Path) -> None:
    """`target` becomes `model_dir` as built before the graph existed (links, no copy)."""
    for entry in model_dir.iterdir():
        if entry.name != GRAPH_FILE:
            (target / entry.name).symlink_to(entry)


def _top(emotion: tuple[float, ...]) -> int:
    return max(range(len(EMOTIONS)), key=emotion.__getitem__)


def test_auto_serves_the_graph_and_skips_the_torch_encoder(model_dir: Path) -> None:
    model = load_model(model_dir, precision="auto")
    assert model.precision == "int8" and isinstance(model.net, Int8Graph)


def test_auto_falls_back_to_torch_for_a_model_without_the_graph(
    model_dir: Path, tmp_path: Path
) -> None:
    _without_graph(model_dir, tmp_path)
    model = load_model(tmp_path, precision="auto")
    assert model.precision in ("float32", "bfloat16") and isinstance(model.net, ClassifierNet)
    with pytest.raises(FileNotFoundError, match="agent train"):
        load_model(tmp_path, precision="int8")
    with pytest.raises(ValueError, match="unknown precision"):
        load_model(model_dir, precision="fp8")


def test_int8_agrees_with_float32_on_the_test_split(model_dir: Path, int8: LoadedModel) -> None:
    rows = TEST_ROWS[::3]
    texts = [row.text for row in rows]
    fp32 = classifier.predict(load_model(model_dir, precision="float32"), texts)
    got = classifier.predict(int8, texts)
    thresholds = int8.meta.thresholds
    same_emotion = sum(_top(a.emotion) == _top(b.emotion) for a, b in zip(fp32, got, strict=True))
    same_intents = sum(
        [p >= thresholds.get(n, 0.5) for n, p in zip(int8.meta.intents, a.intents, strict=True)]
        == [p >= thresholds.get(n, 0.5) for n, p in zip(int8.meta.intents, b.intents, strict=True)]
        for a, b in zip(fp32, got, strict=True)
    )
    assert same_emotion / len(rows) >= 0.95, f"{same_emotion}/{len(rows)}"
    assert same_intents / len(rows) >= 0.95, f"{same_intents}/{len(rows)}"


def test_a_texts_result_does_not_depend_on_what_shares_its_call(int8: LoadedModel) -> None:
    texts = [row.text for row in TEST_ROWS[:48]]
    ids = int8.tokenize(texts)
    assert isinstance(int8.net, Int8Graph)
    together = int8.net.logits(ids)
    for k, row in enumerate(ids):  # the logits are bit for bit the same
        alone = int8.net.logits([row])
        assert np.array_equal(together[0][k], alone[0][0])
        assert np.array_equal(together[1][k], alone[1][0])
    # Through `predict` (batched softmax: float rounding only) in any order.
    singles = [classifier.predict(int8, [text])[0] for text in texts]
    for batch in (texts, texts[::-1]):
        got = classifier.predict(int8, batch)
        if batch is not texts:
            got = got[::-1]
        for a, b in zip(singles, got, strict=True):
            assert _top(a.emotion) == _top(b.emotion)
            assert (
                max(
                    abs(x - y)
                    for x, y in zip(a.emotion + a.intents, b.emotion + b.intents, strict=True)
                )
                < 1e-6
            )


def test_one_pass_over_many_texts_would_mix_their_scales(int8: LoadedModel) -> None:
    """Why `predict` runs one text per pass in int8: a shared pass quantises all its rows
    with one activation range, so rows come out differently than alone. If ONNX Runtime
    ever quantises per row, this fails and the per-text passes can go."""
    assert isinstance(int8.net, Int8Graph)
    ids = int8.tokenize([row.text for row in TEST_ROWS[:32]])
    input_ids, mask = pad(ids, 0)
    together = int8.net.session.run(
        ["emotion"], {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()}
    )[0]
    alone = int8.net.logits(ids)[0]
    assert not np.allclose(together, alone, atol=1e-4)


def _tokenize(texts: list[str]) -> list[list[int]]:
    """Just what `write_int8_graph` asks of a tokenizer (`built_model.TokenIds`)."""
    return [[1 + ord(c) % 100 for c in text][:12] for text in texts]


def test_the_exported_graph_is_the_network_and_the_int8_graph_is_reproducible(
    tmp_path: Path,
) -> None:
    net = ClassifierNet(tiny_bert()).eval()
    ids = torch.tensor([[5, 17, 42, 9, 3, 77, 0, 0], [8, 8, 1, 2, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        expected = net(ids, mask)
    exported = export_float_graph(net, _tokenize, tmp_path / "float.onnx")  # type: ignore[arg-type]
    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    for want, have in zip(expected, got, strict=True):  # other lengths than the example's
        assert torch.allclose(torch.from_numpy(have), want, atol=1e-5)
    assert net.fast is None and not net.training  # the net is left as it was

    first = write_int8_graph(net, _tokenize, tmp_path / "a")  # type: ignore[arg-type]
    second = write_int8_graph(net, _tokenize, tmp_path / "b")  # type: ignore[arg-type]
    assert first.name == GRAPH_FILE and first.read_bytes() == second.read_bytes()
    assert any(node.op_type == "MatMulInteger" for node in onnx.load(first).graph.node)
    emotion, intents = Int8Graph(first).logits([[5, 17, 42, 9, 3, 77], [8, 8, 1, 2]])
    assert emotion.shape == expected[0].shape and intents.shape == expected[1].shape


def test_fusing_keeps_the_function_and_fuses_each_layers_tails(tmp_path: Path) -> None:
    net = ClassifierNet(tiny_bert()).eval()
    exported = export_float_graph(net, _tokenize, tmp_path / "float.onnx")  # type: ignore[arg-type]
    fused = fuse_graph(exported, tmp_path / "fused.onnx", heads=4, hidden=32)
    ops = [node.op_type for node in onnx.load(fused).graph.node]
    layers = net.encoder.config.num_hidden_layers
    assert ops.count("BiasGelu") == layers and ops.count("SkipLayerNormalization") == 2 * layers
    assert "Attention" not in ops and "Gelu" not in ops  # attention left unfused on purpose
    ids = torch.tensor([[5, 17, 42, 9, 3, 77, 0, 0], [8, 8, 1, 2, 0, 0, 0, 0]])
    feed = {"input_ids": ids.numpy(), "attention_mask": (ids != 0).long().numpy()}
    before, after = (
        onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"]).run(None, feed)
        for graph in (exported, fused)
    )
    for want, have in zip(before, after, strict=True):
        assert torch.allclose(torch.from_numpy(have), torch.from_numpy(want), atol=1e-5)


def test_a_missing_graph_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="agent train"):
        Int8Graph(tmp_path / GRAPH_FILE)


def test_train_if_missing_rebuilds_a_model_without_the_graph(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from agent import cli
    from agent.nlp import train

    _without_graph(model_dir, tmp_path)
    built: list[Path] = []

    def train_classifier(out: Path, *args: Any, **kwargs: Any) -> Path:
        built.append(out)
        return out

    monkeypatch.setattr(train, "train_classifier", train_classifier)
    result = CliRunner().invoke(cli.app, ["train", "--if-missing", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "predates its int8 graph: rebuilding" in result.output and built == [tmp_path]
