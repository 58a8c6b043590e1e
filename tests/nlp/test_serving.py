"""Serving speed-ups that must not change answers: the lean BERT forward, bfloat16, the
precision choice, the micro-batch wait, and one torch thread for small passes."""

from __future__ import annotations

import queue
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import torch
from transformers import RobertaConfig, RobertaModel

import agent.nlp.classifier as classifier
import agent.nlp.fast_encoder as fast_encoder
from agent.nlp.built_model import (
    EMOTIONS,
    LoadedModel,
    ModelMeta,
    TokenIds,
    load_model,
    native_bf16,
    serving_precision,
)
from agent.nlp.classifier import ModelAnalyzer, ModelOutput, _Request
from agent.nlp.fast_encoder import FastBertEncoder, bucket, buckets, supports
from agent.nlp.model import ClassifierNet, for_inference
from agent.nlp.train import read_rows
from agent.settings import PROJECT_ROOT
from tests.nlp.tiny import tiny_bert

TEST_ROWS = read_rows(PROJECT_ROOT / "data" / "test.jsonl")


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Three rows of different lengths, right-padded with 0."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 120, (3, 9), generator=generator)
    mask = torch.ones_like(ids)
    for row, length in enumerate((9, 5, 2)):
        ids[row, length:] = 0
        mask[row, length:] = 0
    return ids, mask


def test_fast_encoder_matches_the_transformers_forward_on_real_tokens() -> None:
    bert = tiny_bert()
    fast = FastBertEncoder(bert)
    ids, mask = _batch()
    with torch.inference_mode():
        expected = bert(input_ids=ids, attention_mask=mask)[0]
        got = fast(ids, mask)
        single = fast(ids[2:, :2], mask[2:, :2])  # no padding: the unmasked path
    real = mask.bool()
    assert got.shape == expected.shape
    assert torch.allclose(got[real], expected[real], atol=1e-5)
    assert torch.allclose(single[0], expected[2, :2], atol=1e-5)


def test_row_buckets_cover_every_count_with_few_sizes() -> None:
    sizes = [bucket(rows) for rows in range(1, 2049)]
    assert all(rows <= size <= max(1.25 * rows, 2 * rows - 1) for rows, size in enumerate(sizes, 1))
    assert [bucket(n) for n in (1, 2, 3, 12, 33, 64, 65, 129)] == [1, 2, 4, 16, 64, 64, 80, 160]
    assert sorted(set(sizes)) == buckets(2048) and len(buckets(2048)) == 27


def _record_matmuls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(rows, out features) of every `F.linear` the fast encoder calls from now on."""
    shapes: list[tuple[int, int]] = []
    linear = torch.nn.functional.linear

    def recording(x: torch.Tensor, weight: torch.Tensor, bias: Any = None) -> torch.Tensor:
        shapes.append((x.reshape(-1, x.shape[-1]).shape[0], weight.shape[0]))
        return linear(x, weight, bias)

    monkeypatch.setattr(torch.nn.functional, "linear", recording)  # fast_encoder's `F`
    return shapes


def test_bf16_matmuls_see_bucketed_row_counts_and_the_same_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each distinct matmul shape costs oneDNN a cached kernel and weight copy: the
    bf16 forward must present few shapes, and padding must not change real rows."""
    fast = FastBertEncoder(tiny_bert()).to(torch.bfloat16)
    ids, mask = _batch()
    with torch.inference_mode():
        monkeypatch.setattr(fast_encoder, "bucket", lambda rows: rows)
        unpadded = fast(ids, mask)
        monkeypatch.undo()
        shapes = _record_matmuls(monkeypatch)
        padded = fast(ids, mask)
        for batch in range(1, 4):
            for length in range(1, 10):
                fast(ids[:batch, :length], mask[:batch, :length])
    assert torch.equal(padded, unpadded)
    seen = {rows for rows, _ in shapes}
    assert seen <= {1, 2, 4, 8, 16, 32}  # 27 row counts (1..27) seen as 6 shapes


def test_warm_compiles_every_bucket_in_reduced_precision_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shapes = _record_matmuls(monkeypatch)
    FastBertEncoder(tiny_bert()).warm(100)  # float32: MKL caches nothing, nothing to warm
    assert shapes == []
    FastBertEncoder(tiny_bert()).to(torch.bfloat16).warm(100)
    assert (
        sorted({rows for rows, _ in shapes})
        == buckets(100)
        == [1, 2, 4, 8, 16, 32, 64, 80, 96, 112]
    )
    assert len(shapes) == 4 * len(buckets(100))  # QKV, attention out, intermediate, output


def test_only_plain_bert_gets_the_fast_forward() -> None:
    assert supports(tiny_bert())
    roberta = RobertaModel(
        RobertaConfig(
            vocab_size=120,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=4,
            intermediate_size=64,
            max_position_embeddings=40,
        )
    )
    roberta.train(False)
    assert not supports(roberta)
    with pytest.raises(ValueError, match="not a plain BERT"):
        FastBertEncoder(roberta)
    # Another architecture still serves, through the transformers forward.
    net = for_inference(ClassifierNet(roberta), "float32")
    assert net.fast is None
    ids, mask = _batch()
    with torch.inference_mode():
        emotion, intents = net(ids, mask)
    assert emotion.shape == (3, len(EMOTIONS))
    assert torch.isfinite(intents).all()


def test_classifier_net_uses_the_fast_forward_only_for_inference() -> None:
    net = ClassifierNet(tiny_bert())
    ids, mask = _batch()
    with torch.inference_mode():
        reference = net.eval()(ids, mask)
        for_inference(net, "float32")
        assert net.fast is not None
        assert getattr(net.encoder, "pooler", None) is None  # unused: we mean-pool
        fast = net(ids, mask)
    for a, b in zip(reference, fast, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    net.train()  # training never goes through the weight copies of the fused QKV
    calls: list[int] = []
    net.fast.register_forward_hook(lambda *_: calls.append(1))
    net(ids, mask)
    assert calls == []


def test_native_bf16_reads_the_cpu_flags(tmp_path: Path) -> None:
    with_bf16 = tmp_path / "a"
    with_bf16.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
    without = tmp_path / "b"
    without.write_text("flags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert native_bf16(with_bf16)
    assert not native_bf16(without)
    assert not native_bf16(tmp_path / "missing")


def test_serving_precision_resolves_auto_and_rejects_unknown_values() -> None:
    assert serving_precision("float32") == "float32"
    assert serving_precision("bfloat16") == "bfloat16"
    assert serving_precision("auto") == ("bfloat16" if native_bf16() else "float32")
    with pytest.raises(ValueError, match="unknown precision"):
        serving_precision("fp8")


def test_bfloat16_serving_gives_the_float32_labels(model_dir: Path) -> None:
    """bfloat16 (what `auto` serves on CPUs with native bf16) against float32 through
    transformers' own forward: same emotions and intents on the test split's rows."""
    rows = TEST_ROWS[::4]
    texts = [row.text for row in rows]
    reference = load_model(model_dir)
    assert isinstance(reference.net, ClassifierNet)
    reference.net.fast = None  # transformers' forward, float32
    bf16 = load_model(model_dir, precision="bfloat16")
    assert isinstance(bf16.net, ClassifierNet)
    assert bf16.precision == "bfloat16" and bf16.net.fast is not None
    expected = classifier.predict(reference, texts)
    got = classifier.predict(bf16, texts)
    thresholds = reference.meta.thresholds

    def decisions(output: ModelOutput) -> tuple[int, list[bool]]:
        emotion = max(range(len(EMOTIONS)), key=output.emotion.__getitem__)
        pairs = zip(reference.meta.intents, output.intents, strict=True)
        return emotion, [p >= thresholds.get(name, 0.5) for name, p in pairs]

    same = sum(decisions(a) == decisions(b) for a, b in zip(expected, got, strict=True))
    assert same / len(rows) >= 0.99, f"{same}/{len(rows)}"
    worst = max(
        abs(x - y)
        for a, b in zip(expected, got, strict=True)
        for x, y in zip(a.emotion, b.emotion, strict=True)
    )
    assert worst < 0.05


class _RecordingQueue(queue.SimpleQueue[_Request | None]):
    """Records whether the worker ever blocked waiting for company."""

    def __init__(self) -> None:
        super().__init__()
        self.blocking_gets = 0

    def get(self, block: bool = True, timeout: float | None = None) -> _Request | None:
        if block and (timeout is None or timeout > 0):
            self.blocking_gets += 1
        return super().get(block, timeout)


def _request(text: str) -> _Request:
    return _Request([text], Future())


def test_a_lone_call_does_not_wait_for_company_but_a_burst_does(model_dir: Path) -> None:
    analyzer = ModelAnalyzer(load_model(model_dir), wait_ms=50.0)
    analyzer.close()  # drive _collect by hand, without the worker
    recording = _RecordingQueue()
    analyzer._queue = recording
    first = _request("hello")
    batch, stop = analyzer._collect(first)
    assert batch == [first] and not stop
    assert recording.blocking_gets == 0
    second, third = _request("is this a scam"), _request("ok")
    recording.put(second)
    recording.put(third)
    batch, stop = analyzer._collect(first)
    assert batch == [first, second, third] and not stop
    assert recording.blocking_gets >= 1  # it waited for more once a burst was seen


def test_passes_run_on_one_torch_thread_larger_ones_split_across_lanes(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int, int, bool]] = []
    real = classifier.predict

    def recording(
        model: LoadedModel,
        texts: Sequence[str],
        chunk: int = classifier.CHUNK,
        lanes: Executor | None = None,
    ) -> list[ModelOutput]:
        seen.append((len(texts), chunk, torch.get_num_threads(), lanes is not None))
        return real(model, texts, chunk, lanes)

    monkeypatch.setattr(classifier, "predict", recording)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    model = load_model(model_dir, precision="float32")
    analyzer = ModelAnalyzer(model, threads=2)
    try:
        texts = [row.text for row in TEST_ROWS[:12]]
        one = analyzer.predict(texts[:1])
        many = analyzer.predict(texts)
    finally:
        analyzer.close()
        after = torch.get_num_threads()
        torch.set_num_threads(before)
    # one text: one lane; twelve: two lanes of six; always one torch thread, then restored
    assert seen == [(1, 1, 1, False), (12, 6, 1, True)]
    assert after == 2
    # Lanes change where the chunks run, not the answers.
    serial = real(model, texts)
    assert one[0].emotion == pytest.approx(many[0].emotion, abs=2e-3)
    for a, b in zip(many, serial, strict=True):
        assert a.emotion == pytest.approx(b.emotion, abs=2e-3)
        assert a.intents == pytest.approx(b.intents, abs=2e-3)


class _PassRecorder:
    """A `Network` whose logits encode each row's length; it records its passes."""

    def __init__(self, pads: bool) -> None:
        self.pads = pads
        self.passes: list[list[int]] = []

    def logits(self, rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        self.passes.append([len(r) for r in rows])
        lengths = np.array([[float(len(r))] for r in rows])
        return np.hstack([lengths, np.zeros((len(rows), len(EMOTIONS) - 1))]), lengths

    def one_thread(self) -> AbstractContextManager[None]:
        return nullcontext()

    def warm(self, max_rows: int) -> None:
        pass


@pytest.mark.parametrize("pads", [True, False])
def test_chunks_group_texts_of_a_length_only_where_a_pass_pads_them(pads: bool) -> None:
    net = _PassRecorder(pads)
    model = LoadedModel(net, cast(TokenIds, _token_ids), ModelMeta(), Path("."))
    texts = ["x" * n for n in (5, 1, 8, 3, 7, 2, 6, 4)]  # token rows of these lengths
    with ThreadPoolExecutor(2) as lanes:
        outputs = classifier.predict(model, texts, chunk=4, lanes=lanes)
    if pads:  # neighbours in length: the least padding
        assert sorted(net.passes) == [[1, 2, 3, 4], [5, 6, 7, 8]]
    else:  # dealt out in turn: each lane as many long texts as short ones
        assert sorted(net.passes) == [[1, 3, 5, 7], [2, 4, 6, 8]]
    # Either way each answer comes back in the order of the texts.
    expected = [1 / (1 + np.exp(-len(text))) for text in texts]
    assert [o.intents[0] for o in outputs] == pytest.approx(expected)


def _token_ids(texts: Sequence[str]) -> list[list[int]]:
    return [[1] * len(text) for text in texts]


def test_numpy_softmax_is_torchs_and_does_not_overflow() -> None:
    """`predict` turns logits into probabilities in numpy (no torch on the int8 path)."""
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(3)) * 4
    got = classifier.softmax(logits.numpy())
    assert got.dtype.name == "float64"
    assert torch.allclose(torch.from_numpy(got).float(), torch.softmax(logits, dim=-1), atol=1e-6)
    extreme = classifier.softmax(torch.tensor([[1000.0, 0.0, -1000.0]]).numpy())
    assert extreme.tolist() == [[1.0, 0.0, 0.0]]
