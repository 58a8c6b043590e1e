"""The classifier network in torch: one transformers encoder, mean pooling, two heads.

`emotion` is a softmax over the five emotions (calibrated with a temperature fitted on a
held-out split); `intents` is one sigmoid per intent with per-intent thresholds. What a
built model directory holds, and loading one for inference: `built_model.py` (which
imports this module only for the torch forward). Training extends the base tokenizer
and grows the embeddings here too.
Nothing is ever downloaded: every load is `local_files_only` with the hub offline.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoTokenizer
from transformers.tokenization_utils_base import PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

from agent.nlp.built_model import (
    EMOTIONS,
    ENCODER_DIR,
    HEADS_FILE,
    INTENTS,
    META_FILE,
    Logits,
    ModelMeta,
    default_base_model,
)
from agent.nlp.fast_encoder import FastBertEncoder
from agent.nlp.fast_encoder import supports as supports_fast

if TYPE_CHECKING:
    from transformers import PreTrainedModel

hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

COMMON_HANZI = Path(__file__).resolve().parent / "resources" / "common_hanzi.txt"
HANZI_GLOSSES = Path(__file__).resolve().parent / "resources" / "hanzi_glosses.tsv"
HANZI_WORDS = Path(__file__).resolve().parent / "resources" / "hanzi_words.tsv"


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

    pads = True  # `built_model.Network`: a pass pads its rows to the longest

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

    # -- `built_model.Network`: how the analyzer runs it --

    @property
    def pad_id(self) -> int:
        # Padded positions are masked out of attention and pooling: the id only has to exist.
        return int(getattr(self.encoder.config, "pad_token_id", None) or 0)

    def logits(self, rows: Sequence[Sequence[int]]) -> Logits:
        """One padded pass over `rows` (the caller sorts them by length)."""
        with torch.inference_mode():  # thread-local: entered on the calling lane's thread
            emotion, intents = self(*pad(rows, self.pad_id))
            return emotion.float().numpy(), intents.float().numpy()

    @contextmanager
    def one_thread(self) -> Iterator[None]:
        # torch's thread count is process-wide (sub-microsecond to change): one thread for
        # these passes, then back, so other torch users in the process see the setting.
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def warm(self, max_rows: int) -> None:
        if self.fast is not None:
            # Every matmul shape a pass can present, compiled now under the one thread
            # passes run on: memory stays flat afterwards (fast_encoder.py).
            with self.one_thread():
                self.fast.warm(max_rows)

    def heads_state(self) -> dict[str, torch.Tensor]:
        return {
            f"{name}.{key}": value.detach().contiguous()
            for name in ("emotion", "intents")
            for key, value in getattr(self, name).state_dict().items()
        }


def save_model(
    directory: Path, net: ClassifierNet, tokenizer: PreTrainedTokenizerBase, meta: ModelMeta
) -> None:
    """Writes encoder, tokenizer and heads; `classifier.json` last."""
    directory.mkdir(parents=True, exist_ok=True)
    net.encoder.save_pretrained(str(directory / ENCODER_DIR), safe_serialization=True)
    tokenizer.save_pretrained(str(directory / ENCODER_DIR))
    save_file(net.heads_state(), str(directory / HEADS_FILE))
    (directory / META_FILE).write_text(meta.to_json(), encoding="utf-8")


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


def load_torch_net(directory: Path, precision: str) -> ClassifierNet:
    """A built model's torch net for inference (`for_inference`) in `precision`
    (float32 or bfloat16)."""
    net = ClassifierNet(load_encoder(directory / ENCODER_DIR))
    heads = load_file(str(directory / HEADS_FILE))
    for name in ("emotion", "intents"):
        head: nn.Module = getattr(net, name)
        prefix = f"{name}."
        head.load_state_dict(
            {key[len(prefix) :]: value for key, value in heads.items() if key.startswith(prefix)}
        )
    return for_inference(net, precision)


def pad(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(row) for row in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, tokens in enumerate(ids):
        input_ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        mask[row, : len(tokens)] = 1
    return input_ids, mask
