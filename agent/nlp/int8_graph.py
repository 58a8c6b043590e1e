"""The classifier as an int8 ONNX graph run by ONNX Runtime: the default way it is served.

Why: a single short utterance is bound by reading the encoder's weights and by per-op
dispatch, not by arithmetic. ONNX Runtime's int8 kernels read a quarter of float32's
weight bytes and run the whole graph in C++, so on the 2-core AVX2-only AMD EPYC, where
torch has no native bfloat16 and serves float32, one utterance's forward pass went from
~11-16 ms (torch, float32) to ~3.5-5.5 ms (README, "Classifier").

Why dynamic quantisation, and one text per pass: weights get fixed int8 scales, per
output channel; activations are quantised with the range of the tensor at hand. That kept
accuracy (test split, analyzer: emotion macro-F1 0.854 and intent micro-F1 0.911, as in
float32) where static scales fitted on training texts cost 0.014 emotion macro-F1. But one
range per tensor means a text's result depends on the other texts in its pass (14 of the
1,234 test texts got another emotion in passes of 32 than alone), so the analyzer runs
each text as its own pass in int8 (`classifier.predict`): a text gets the same answer
whatever else arrives with it, and single passes need no padding.

The graph is `ClassifierNet`'s own transformers forward (any Hugging Face encoder the
TorchScript exporter handles), its bias+GELU and residual+LayerNorm steps fused
(`fuse_graph`), inputs `input_ids` and `attention_mask` (batch x tokens,
int64), outputs the emotion and intent logits. MatMul weights are int8 per output channel,
the embedding table int8 too, activations uint8 per pass; the two heads are MatMuls as
well, so int8 too (their bias adds stay float32). A session runs on the calling thread
only (one intra-op thread): parallelism comes from the analyzer's lanes, as for torch
(`classifier.CHUNK`).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime

if TYPE_CHECKING:
    import torch

    from agent.nlp.built_model import TokenIds
    from agent.nlp.model import ClassifierNet

GRAPH_FILE = "classifier.int8.onnx"
OPSET = 17
INPUTS = ("input_ids", "attention_mask")
OUTPUTS = ("emotion", "intents")


def _example(net: ClassifierNet, tokenize: TokenIds) -> tuple[torch.Tensor, ...]:
    from agent.nlp.model import pad

    return pad(tokenize(["hello there", "你好"]), net.pad_id)


def export_float_graph(net: ClassifierNet, tokenize: TokenIds, path: Path) -> Path:
    """`net`'s float32 forward (transformers', which traces cleanly) as an ONNX graph."""
    import torch  # only building a graph needs torch; serving one does not

    fast, net.fast = net.fast, None
    was_training = net.training
    net.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The TorchScript exporter warns about traced shape arithmetic in transformers'
            # mask code; the axes below are declared dynamic.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,  # eval mode: forward gives both heads' logits, no dropout
                _example(net, tokenize),
                str(path),
                input_names=list(INPUTS),
                output_names=list(OUTPUTS),
                dynamic_axes={
                    **{name: {0: "batch", 1: "tokens"} for name in INPUTS},
                    **{name: {0: "batch"} for name in OUTPUTS},
                },
                opset_version=OPSET,
                dynamo=False,
            )
    finally:
        net.fast = fast
        net.train(was_training)
    return path


def quantize_graph(float_graph: Path, target: Path) -> Path:
    """The int8 graph of a float32 one: MatMul and embedding weights int8 per channel,
    activations quantised per pass (see the module docstring)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(float_graph),
        str(target),
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=["MatMul", "Gather"],
        # Shapes are dynamic, so ONNX shape inference cannot type every tensor.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return target


def fuse_graph(float_graph: Path, target: Path, heads: int, hidden: int) -> Path:
    """The float graph with each layer's element-wise tails fused (bias + GELU ->
    BiasGelu, residual + LayerNorm -> SkipLayerNormalization), before quantisation.

    Measured on the shipped build (AVX2 EPYC, one thread): 4.0 instead of 4.7 ms of CPU a
    text, the same test-split scores. Attention stays unfused: fused, its QKV projection
    either stays float32 (5.0 ms) or becomes QAttention (emotion macro-F1 0.850, not 0.855).
    """
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    options.enable_attention = False
    options.enable_embed_layer_norm = False  # keeps the embedding Gather quantisable
    fused = optimize_model(
        str(float_graph),
        model_type="bert",
        num_heads=heads,
        hidden_size=hidden,
        optimization_options=options,
        opt_level=0,  # these fusions only; the session applies ONNX Runtime's own at load
    )
    fused.save_model_to_file(str(target))
    return target


def write_int8_graph(net: ClassifierNet, tokenize: TokenIds, directory: Path) -> Path:
    """Writes `net`'s int8 graph into `directory` (`GRAPH_FILE`). Deterministic for the
    same weights."""
    directory.mkdir(parents=True, exist_ok=True)
    config = net.encoder.config
    with tempfile.TemporaryDirectory(prefix="tact-onnx-") as scratch:
        float_graph = export_float_graph(net, tokenize, Path(scratch) / "classifier.onnx")
        fused = fuse_graph(
            float_graph,
            Path(scratch) / "classifier.fused.onnx",
            config.num_attention_heads,
            config.hidden_size,
        )
        return quantize_graph(fused, directory / GRAPH_FILE)


class Int8Graph:
    """The graph in an ONNX Runtime session (thread-safe; it releases the GIL while it
    computes): a `built_model.Network`, one pass per text."""

    pads = False

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"no int8 graph at {path} (rebuild with `agent train`)")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def logits(self, rows: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """One pass per text (no padding; same result whatever texts come with it), the
        logits stacked in order."""
        emotions, intents = [], []
        for ids in rows:
            input_ids = np.asarray([ids], dtype=np.int64)
            emotion, intent = self.session.run(
                list(OUTPUTS), {"input_ids": input_ids, "attention_mask": np.ones_like(input_ids)}
            )
            emotions.append(emotion)
            intents.append(intent)
        return np.concatenate(emotions), np.concatenate(intents)

    def one_thread(self) -> AbstractContextManager[None]:
        return nullcontext()  # the session runs on the calling thread only (__init__)

    def warm(self, max_rows: int) -> None:
        """Nothing to prepare: ONNX Runtime plans the graph when the session loads."""
