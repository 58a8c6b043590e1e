"""`agent train`: fine-tunes the classifier on data/train.jsonl, reproducibly, on CPU.

Steps: seed everything and switch torch to deterministic algorithms; hold out a stratified
split of train (language x emotion) for calibration; extend the base tokenizer with common
Chinese characters and words and those of the training data, resize the embeddings (a new
row starts at the mean embedding of its English glosses); fine-tune encoder and both heads
(length-bucketed batches, AdamW (optionally with layer-wise learning-rate decay), linear
warm-up and decay, float32 or bfloat16 autocast, class-weighted label-smoothed cross-entropy
for emotion plus binary cross-entropy for intents); then on the held-out split fit the
emotion temperature, the critical intents' thresholds and which lexicon intents to union in;
write the int8 ONNX graph (`int8_graph`); score data/test.jsonl (report, confusion
matrix, torch float32 vs the int8 graph) and write the model card.
The model is written to a temporary sibling directory and moved into place at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import random
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm
from transformers import PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from agent.domain import Emotion, Intent
from agent.nlp.analyzer import language_for
from agent.nlp.built_model import (
    DATA_DIR,
    EMOTIONS,
    INTENTS,
    LoadedModel,
    ModelMeta,
    TokenIds,
    file_sha256,
    serving_precision,
)
from agent.nlp.classifier import (
    CRITICAL_INTENTS,
    ModelOutput,
    blend_emotion,
    combine_intents,
    predict,
)
from agent.nlp.codeswitch import Dictionary, switch
from agent.nlp.evaluation import Report, multi_label_report, single_label_report
from agent.nlp.int8_graph import Int8Graph, write_int8_graph
from agent.nlp.lexicon import LexiconResult, scan
from agent.nlp.model import (
    ClassifierNet,
    extend_tokenizer,
    hanzi_glosses,
    hanzi_words,
    load_encoder,
    load_tokenizer,
    pad,
    resolve_base_model,
    save_model,
)

# Non-critical intents whose lexicon hits may be unioned in, if the held-out split agrees.
UNION_CANDIDATES: tuple[Intent, ...] = (
    Intent.affirm,
    Intent.deny,
    Intent.promise_to_pay,
    Intent.wrong_party,
    Intent.payment_plan,
    Intent.already_paid,
    Intent.ask_if_bot,
    Intent.request_human,
)


@dataclass(frozen=True)
class TrainConfig:
    base_model: str = ""  # a checkpoint directory; empty = the installed package
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 2e-4
    head_learning_rate: float = 2e-3
    embedding_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_length: int = 64
    label_smoothing: float = 0.05
    # Each epoch this share of rows is seen code-switched (`codeswitch`), with each
    # dictionary word in them translated with probability `code_switch_words`.
    code_switch_rows: float = 0.3
    code_switch_words: float = 0.5
    class_weight_power: float = 0.5
    # The next three are off by default: across seeds none moved CPED or the own test
    # beyond the seed spread, and each retrain is a new draw (docs/classifier-experiments.md).
    # Learning-rate factor per encoder layer below the top one (1: one rate), so the lower,
    # more general layers move least.
    layer_lr_decay: float = 1.0
    # Forward and backward precision (`auto`: bfloat16 where the CPU has it natively, as for
    # serving); weights, gradients and optimizer state stay float32. 1.4x faster here.
    precision: str = "float32"
    # Epochs of training the heads alone on the frozen encoder before fine-tuning it all
    # ("LP-FT", Kumar et al. 2022): heads that start sensible distort the encoder less.
    probe_epochs: int = 0
    intent_loss_weight: float = 1.0
    heldout_fraction: float = 0.1
    seed: int = 13
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    limit: int | None = None  # train on the first N rows only (tests)


@dataclass(frozen=True)
class Row:
    text: str
    language: str
    emotion: Emotion
    intents: frozenset[Intent]


def read_rows(path: Path, limit: int | None = None) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            raw = json.loads(line)
            rows.append(
                Row(
                    raw["text"],
                    raw.get("language", ""),
                    Emotion(raw["emotion"]),
                    frozenset(Intent(i) for i in raw.get("intents", [])),
                )
            )
            if limit is not None and len(rows) >= limit:
                break
    return rows


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def stratified_split(
    rows: Sequence[Row], fraction: float, seed: int
) -> tuple[list[Row], list[Row]]:
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.language, row.emotion.value), []).append(row)
    train, heldout = [], []
    for key in sorted(groups):
        group = groups[key][:]
        rng.shuffle(group)
        cut = round(len(group) * fraction) if len(group) >= 5 else 0
        heldout.extend(group[:cut])
        train.extend(group[cut:])
    return train, heldout


def length_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (pools of 50 batches sorted by length)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _targets(rows: Sequence[Row]) -> tuple[torch.Tensor, torch.Tensor]:
    emotion = torch.tensor([EMOTIONS.index(r.emotion) for r in rows], dtype=torch.long)
    intents = torch.tensor([[float(i in r.intents) for i in INTENTS] for r in rows])
    return emotion, intents


def _layer_scale(name: str, layers: int, decay: float) -> float:
    """Learning-rate factor of an encoder parameter: `decay` per layer below the top one
    (embeddings count as the lowest), so the lower, more general layers move least."""
    match = re.search(r"\.layers?\.(\d+)\.", name)
    if match:
        return float(decay ** (layers - 1 - int(match.group(1))))
    return float(decay**layers) if ".embeddings." in name else 1.0


def _optimizer(net: ClassifierNet, config: TrainConfig) -> torch.optim.Optimizer:
    word = net.encoder.get_input_embeddings().weight
    layers = int(net.encoder.config.num_hidden_layers)
    groups: dict[tuple[float, float], list[nn.Parameter]] = {}
    for name, param in net.named_parameters():
        if param is word:
            key = (config.embedding_learning_rate, 0.0)  # no decay: `SeenRows` relies on it
        elif not name.startswith("encoder."):
            key = (config.head_learning_rate, config.weight_decay)
        else:
            lr = config.learning_rate * _layer_scale(name, layers, config.layer_lr_decay)
            no_decay = param.ndim < 2 or "norm" in name.lower()
            key = (lr, 0.0 if no_decay else config.weight_decay)
        groups.setdefault(key, []).append(param)
    return torch.optim.AdamW(
        [{"params": params, "lr": lr, "weight_decay": wd} for (lr, wd), params in groups.items()],
        fused=True,
    )


def _schedule(
    optimizer: torch.optim.Optimizer, total: int, warmup: int
) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def resize_embeddings(
    encoder: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, added: Sequence[str]
) -> int:
    """Grows the input embeddings for the `added` tokens; returns how many were glossed.

    A new row starts as the mean of the base embeddings of its English glosses
    (`hanzi_glosses`, so 哭 starts near "cry; weep"): the encoder's English knowledge then
    carries over to Chinese. Rows without a gloss start at the mean of all old rows, a
    neutral token, rather than at a random point that reads like some unrelated word.
    """
    embeddings = encoder.get_input_embeddings()
    assert isinstance(embeddings, nn.Embedding)
    old = embeddings.num_embeddings
    glosses = hanzi_glosses()
    # Every gloss tokenized in one call and averaged once (~96,000 glosses, many shared):
    # the same arithmetic as one gloss at a time, so the same rows, in ~8 s instead of ~20.
    wanted = sorted({gloss for token in added for gloss in glosses.get(token, [])})
    gloss_ids = tokenizer(wanted, add_special_tokens=False)["input_ids"] if wanted else []
    with torch.no_grad():
        mean = embeddings.weight.mean(dim=0).clone()
        vector_of: dict[str, torch.Tensor] = {}
        for gloss, ids in zip(wanted, gloss_ids, strict=True):
            if known := [i for i in ids if i < old]:
                vector_of[gloss] = embeddings.weight[known].mean(dim=0)
        starts = []
        for token in added:
            vectors = [vector_of[g] for g in glosses.get(token, []) if g in vector_of]
            starts.append(torch.stack(vectors).mean(dim=0) if vectors else None)
    encoder.resize_token_embeddings(max(old, len(tokenizer)), mean_resizing=False)
    resized = encoder.get_input_embeddings()
    assert isinstance(resized, nn.Embedding)
    with torch.no_grad():
        resized.weight[old:] = mean
        for token, start in zip(added, starts, strict=True):
            row = tokenizer.convert_tokens_to_ids(token)
            if isinstance(row, int) and row >= old:
                resized.weight[row] = mean if start is None else start
    return sum(start is not None for start in starts)


class SeenRows:
    """Fine-tunes only the word-embedding rows the training ids use: the same result, faster.

    The table has a row for every token (83,640 with the Chinese ones), but one training
    run uses about a tenth of them. A row that never appears gets a zero gradient at every
    step, and AdamW without weight decay (`_optimizer` gives the word embeddings none) never
    moves it: its moments stay 0. Yet the whole table costs every step a gradient its size,
    its part of the clipping norm and an optimizer pass (about a sixth of a step on a
    2-core AVX2 CPU). So during fine-tuning the encoder reads a compact table of the rows
    used, the ids are renumbered into it, and afterwards the trained rows go back in place:
    the weights come out bit for bit as with the whole table (tests/nlp/test_training_recipe.py;
    on the full build, README "Build").
    An embedding of another class than nn.Embedding (it may do more than look rows up) is
    left whole.
    """

    def __init__(self, encoder: PreTrainedModel, encodings: Sequence[list[list[int]]], pad_id: int):
        self.encoder = encoder
        table = encoder.get_input_embeddings()
        self.full = table if type(table) is nn.Embedding else None
        used = {token for ids in encodings for row in ids for token in row} | {pad_id}
        self.used = sorted(used) if self.full is not None else []
        self.index = {token: i for i, token in enumerate(self.used)}
        self.pad_id = self.index.get(pad_id, pad_id)
        self.compact: nn.Embedding | None = None
        if self.full is not None:
            padding = self.full.padding_idx
            # from_pretrained draws no random numbers (a new nn.Embedding would, and so
            # shift every dropout mask after it).
            self.compact = nn.Embedding.from_pretrained(  # type: ignore[no-untyped-call]
                self.full.weight.detach()[self.used].clone(),
                freeze=False,
                padding_idx=None if padding is None else self.index.get(padding),
            )

    def renumber(self, ids: list[list[int]]) -> list[list[int]]:
        if self.full is None:
            return ids
        return [[self.index[token] for token in row] for row in ids]

    def __enter__(self) -> SeenRows:
        if self.compact is not None:
            self.encoder.set_input_embeddings(self.compact)
        return self

    def __exit__(self, *_: object) -> None:
        if self.full is None or self.compact is None:
            return
        with torch.no_grad():
            self.full.weight[self.used] = self.compact.weight
        self.encoder.set_input_embeddings(self.full)


def code_switched(rows: Sequence[Row], config: TrainConfig) -> list[str]:
    """Each row's text with dictionary words translated (seeded; see `codeswitch`)."""
    dictionary = Dictionary.from_glosses(hanzi_words(), hanzi_glosses())
    rng = random.Random(config.seed)
    return [switch(r.text, r.language, dictionary, rng, config.code_switch_words) for r in rows]


def _class_weights(rows: Sequence[Row], power: float) -> torch.Tensor:
    """Inverse class frequency to the given power (0: none, 0.5: square root, 1: full)."""
    counts = Counter(r.emotion for r in rows)
    weights = [(len(rows) / (len(EMOTIONS) * max(1, counts[e]))) ** power for e in EMOTIONS]
    mean = sum(weights) / len(weights)
    return torch.tensor([w / mean for w in weights])


@dataclass
class Objective:
    """The loss of one batch: the (class-weighted, smoothed) emotion cross-entropy plus
    `intent_weight` x the intents' binary cross-entropy, summed over intents and averaged
    over the batch. Under `autocast` the forward runs in bfloat16, the losses in float32."""

    emotion_loss: nn.Module
    emotion_target: torch.Tensor
    intent_target: torch.Tensor
    intent_weight: float
    pad_id: int
    autocast: bool = False

    def __call__(self, net: ClassifierNet, ids: list[list[int]], batch: list[int]) -> torch.Tensor:
        input_ids, mask = pad([ids[i] for i in batch], self.pad_id)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast):
            emotion_logits, intent_logits = net(input_ids, mask)
        index = torch.tensor(batch)
        loss: torch.Tensor = self.emotion_loss(emotion_logits.float(), self.emotion_target[index])
        intents = nn.functional.binary_cross_entropy_with_logits(
            intent_logits.float(), self.intent_target[index], reduction="sum"
        )
        return loss + self.intent_weight * intents / len(batch)


def fine_tune(
    net: ClassifierNet,
    ids: list[list[int]],
    rows: Sequence[Row],
    pad_id: int,
    config: TrainConfig,
    progress: bool,
    switched: list[list[int]] | None = None,
) -> list[float]:
    """Trains `net` in place (first the heads alone for `probe_epochs`); returns the mean
    loss per epoch. `switched` holds each row's code-switched encoding, used instead of
    `ids[i]` for `code_switch_rows` of the rows, drawn afresh each epoch."""
    rng = random.Random(config.seed)
    original = ids
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total = steps_per_epoch * config.epochs
    optimizer = _optimizer(net, config)
    schedule = _schedule(optimizer, total, max(1, round(total * config.warmup_ratio)))
    objective = Objective(
        nn.CrossEntropyLoss(
            weight=_class_weights(rows, config.class_weight_power),
            label_smoothing=config.label_smoothing,
        ),
        *_targets(rows),
        config.intent_loss_weight,
        pad_id,
        autocast=serving_precision(config.precision) == "bfloat16",
    )
    losses: list[float] = []
    bar = tqdm(
        total=total + steps_per_epoch * config.probe_epochs,
        desc="train",
        unit="step",
        disable=not progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        if config.probe_epochs > 0:
            probe_heads(net, ids, objective, config, rng, bar)
        net.train()
        for epoch in range(config.epochs):
            if switched is not None:
                ids = [
                    s if rng.random() < config.code_switch_rows else o
                    for o, s in zip(original, switched, strict=True)
                ]
            lengths = [len(x) for x in ids]
            running = 0.0
            for step, batch in enumerate(length_batches(lengths, config.batch_size, rng), start=1):
                loss = objective(net, ids, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]  # unannotated in torch
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                running += loss.item()
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{running / step:.3f}")
            losses.append(running / steps_per_epoch)
    finally:
        bar.close()
    net.eval()
    return losses


def probe_heads(
    net: ClassifierNet,
    ids: list[list[int]],
    objective: Objective,
    config: TrainConfig,
    rng: random.Random,
    bar: tqdm[Any] | None = None,
) -> None:
    """Trains the heads alone for `probe_epochs` with the encoder frozen (constant rate)."""
    heads = [p for name, p in net.named_parameters() if not name.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        heads, lr=config.head_learning_rate, weight_decay=config.weight_decay
    )
    net.encoder.requires_grad_(False)
    net.train()
    try:
        for _ in range(config.probe_epochs):
            for batch in length_batches([len(x) for x in ids], config.batch_size, rng):
                loss = objective(net, ids, batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # type: ignore[no-untyped-call]
                optimizer.step()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(epoch="probe", loss=f"{loss.item():.3f}")
    finally:
        net.encoder.requires_grad_(True)


# -- calibration on the held-out split --


def fit_temperature(logits: torch.Tensor, target: torch.Tensor) -> float:
    """The temperature minimising held-out negative log-likelihood (grid, then refined)."""
    if len(target) == 0:
        return 1.0
    loss = nn.CrossEntropyLoss()

    def nll(t: float) -> float:
        return float(loss(logits / t, target))

    grid = [math.exp(float(x)) for x in np.linspace(math.log(0.25), math.log(8.0), 61)]
    best = min(grid, key=nll)
    fine = [best * math.exp(float(x)) for x in np.linspace(-0.06, 0.06, 25)]
    refined: float = min(fine, key=nll)
    return round(refined, 4)


def fit_thresholds(probs: np.typing.NDArray[np.float64], rows: Sequence[Row]) -> dict[str, float]:
    """0.5 for most intents; for the critical ones the held-out F2-best threshold, at most 0.5.

    A critical miss costs more than a false alarm, so recall counts twice there (F2) and
    the threshold may only go down. The other intents keep 0.5, the point the binary
    cross-entropy is trained for: the held-out rows are drawn row by row, so near copies of
    them (the same seed's typo or ASR variant) are in training, and thresholds fitted on
    them came out at 0.8-0.9 for several intents and cost 0.012 of test micro-F1.
    """
    thresholds = {intent.value: 0.5 for intent in INTENTS}
    candidates = [round(float(x), 2) for x in np.arange(0.1, 0.51, 0.05)]
    for j, intent in enumerate(INTENTS):
        gold = np.array([intent in r.intents for r in rows])
        if intent not in CRITICAL_INTENTS or gold.sum() < 5:
            continue

        def f2(threshold: float, column: int = j, truth: Any = gold) -> tuple[float, float]:
            pred = probs[:, column] >= threshold
            tp = float((pred & truth).sum())
            fp, fn = float((pred & ~truth).sum()), float((~pred & truth).sum())
            denominator = 5 * tp + 4 * fn + fp
            return (5 * tp / denominator if denominator else 0.0, threshold)

        thresholds[intent.value] = max(candidates, key=f2)
    return thresholds


def choose_lexicon_union(
    outputs: Sequence[ModelOutput],
    lexicons: Sequence[LexiconResult],
    rows: Sequence[Row],
    thresholds: dict[str, float],
) -> list[str]:
    """The non-critical intents whose lexicon hits raise held-out F1 when unioned in."""
    chosen = []
    for intent in UNION_CANDIDATES:

        def f1(union: frozenset[Intent], target: Intent = intent) -> float:
            pred = [
                target in combine_intents(o, lex, thresholds, union)
                for o, lex in zip(outputs, lexicons, strict=True)
            ]
            gold = [target in r.intents for r in rows]
            tp = sum(p and g for p, g in zip(pred, gold, strict=True))
            denominator = sum(pred) + sum(gold)
            return 2 * tp / denominator if denominator else 0.0

        if f1(frozenset({intent})) > f1(frozenset()) + 0.002:
            chosen.append(intent.value)
    return chosen


def _logits(
    net: ClassifierNet, ids: list[list[int]], pad_id: int, chunk: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    emotion, intents = [], []
    with torch.inference_mode():
        for start in range(0, len(ids), chunk):
            input_ids, mask = pad(ids[start : start + chunk], pad_id)
            e, i = net(input_ids, mask)
            emotion.append(e)
            intents.append(i)
    return torch.cat(emotion), torch.cat(intents)


# -- evaluation on the test split --


@dataclass
class Evaluation:
    emotion: Report
    intents: Report
    predicted_emotions: list[str]
    gold_emotions: list[str]
    by_language: dict[str, dict[str, float]] = field(default_factory=dict)


def evaluate_rows(
    model: LoadedModel,
    rows: Sequence[Row],
    *,
    combined: bool = True,
    lexicons: Sequence[LexiconResult] | None = None,
    outputs: Sequence[ModelOutput] | None = None,
) -> Evaluation:
    """Scores the model (with the lexicon combination the analyzer applies, if `combined`);
    `outputs` are the model's for `rows` if the caller has them already."""
    if outputs is None:
        outputs = predict(model, [r.text for r in rows])
    lexicons = lexicons or [scan(r.text, language_for(r.text, "en-US")) for r in rows]
    empty = LexiconResult(
        frozenset(), frozenset(), {e: (1.0 if e is Emotion.calm else 0.0) for e in Emotion}
    )
    union = frozenset(Intent(i) for i in model.meta.lexicon_union)
    emotions, intents = [], []
    for output, lexicon in zip(outputs, lexicons, strict=True):
        used = lexicon if combined else empty
        scores = blend_emotion(output.emotion, used)
        emotions.append(max(scores, key=lambda e: scores[e]).value)
        if combined:
            found = combine_intents(output, used, model.meta.thresholds, union)
        else:
            found = combine_intents(output, empty, model.meta.thresholds, frozenset())
        intents.append({i.value for i in found})
    gold_emotions = [r.emotion.value for r in rows]
    gold_intents = [{i.value for i in r.intents} for r in rows]
    labels_e, labels_i = [e.value for e in EMOTIONS], [i.value for i in INTENTS]
    result = Evaluation(
        single_label_report("emotion", gold_emotions, emotions, labels_e),
        multi_label_report("intents", gold_intents, intents, labels_i),
        emotions,
        gold_emotions,
    )
    for language in sorted({r.language for r in rows}):
        keep = [k for k, r in enumerate(rows) if r.language == language]
        e = single_label_report(
            "emotion", [gold_emotions[k] for k in keep], [emotions[k] for k in keep], labels_e
        )
        i = multi_label_report(
            "intents", [gold_intents[k] for k in keep], [intents[k] for k in keep], labels_i
        )
        result.by_language[language] = {
            "emotion_macro_f1": round(e.macro_f1, 4),
            "intent_micro_f1": round(i.micro_f1, 4),
        }
    return result


def train_classifier(
    out_dir: Path,
    config: TrainConfig | None = None,
    *,
    train_path: Path = DATA_DIR / "train.jsonl",
    test_path: Path = DATA_DIR / "test.jsonl",
    test_limit: int | None = None,
    progress: bool = True,
) -> Path:
    """Trains, calibrates, evaluates and writes the model into `out_dir` (replacing it)."""
    from agent.nlp.report import write_reports

    config = config or TrainConfig()
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True)
    seed_everything(config.seed)
    base = resolve_base_model(config.base_model)
    staging = out_dir.parent / f".{out_dir.name}.building-{os.getpid()}"
    try:
        rows = read_rows(train_path, config.limit)
        test_rows = read_rows(test_path, test_limit)
        train_rows, heldout_rows = stratified_split(rows, config.heldout_fraction, config.seed)
        tokenizer = load_tokenizer(base)
        added = extend_tokenizer(tokenizer, (r.text for r in rows))
        encoder = load_encoder(base)
        glossed = resize_embeddings(encoder, tokenizer, added)
        net = ClassifierNet(encoder)
        pad_id = net.pad_id  # the encoder's own, as serving and the graph export use
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:  # serving reads token ids with `tokenizers` alone (built_model.py)
            raise ValueError(f"{base}: its tokenizer has no fast version (tokenizer.json)")
        tokenize = TokenIds.copy_of(backend, config.max_length)
        train_ids = tokenize([r.text for r in train_rows])
        switched_ids = (
            tokenize(code_switched(train_rows, config)) if config.code_switch_rows > 0 else None
        )
        with SeenRows(encoder, [train_ids, switched_ids or []], pad_id) as seen:
            losses = fine_tune(
                net,
                seen.renumber(train_ids),
                train_rows,
                seen.pad_id,
                config,
                progress,
                switched=seen.renumber(switched_ids) if switched_ids is not None else None,
            )
        trained_at = time.perf_counter()

        heldout_ids = tokenize([r.text for r in heldout_rows])
        if heldout_rows:
            emotion_logits, intent_logits = _logits(net, heldout_ids, pad_id)
            emotion_target = torch.tensor([EMOTIONS.index(r.emotion) for r in heldout_rows])
            temperature = fit_temperature(emotion_logits, emotion_target)
            thresholds = fit_thresholds(torch.sigmoid(intent_logits).double().numpy(), heldout_rows)
        else:
            temperature, thresholds = 1.0, {i.value: 0.5 for i in INTENTS}
        meta = ModelMeta(
            temperature=temperature,
            thresholds=thresholds,
            max_length=config.max_length,
            base_model=str(base),
            added_tokens=len(added),
            glossed_tokens=glossed,
        )
        model = LoadedModel(net, tokenize, meta, staging)
        heldout_lexicons = [scan(r.text, language_for(r.text, "en-US")) for r in heldout_rows]
        if heldout_rows:
            outputs = predict(model, [r.text for r in heldout_rows])
            meta.lexicon_union = choose_lexicon_union(
                outputs, heldout_lexicons, heldout_rows, thresholds
            )

        test_lexicons = [scan(r.text, language_for(r.text, "en-US")) for r in test_rows]
        test_texts = [r.text for r in test_rows]
        test_outputs = predict(model, test_texts)
        combined = evaluate_rows(model, test_rows, lexicons=test_lexicons, outputs=test_outputs)
        model_only = evaluate_rows(
            model, test_rows, combined=False, lexicons=test_lexicons, outputs=test_outputs
        )
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        graph = write_int8_graph(net, tokenize, staging)
        int8 = LoadedModel(Int8Graph(graph), tokenize, meta, staging, precision="int8")
        with ThreadPoolExecutor(config.threads) as lanes:  # int8 runs one text per pass
            int8_outputs = predict(int8, test_texts, lanes=lanes)
        quantized = evaluate_rows(int8, test_rows, lexicons=test_lexicons, outputs=int8_outputs)
        agreement = sum(
            a == b
            for a, b in zip(combined.predicted_emotions, quantized.predicted_emotions, strict=True)
        )
        finished = time.perf_counter()
        meta.training = {
            **{k: v for k, v in asdict(config).items() if k != "base_model"},
            "train_rows": len(train_rows),
            "heldout_rows": len(heldout_rows),
            "train_sha256": file_sha256(train_path),
            # `agent evaluate`'s majority baseline reads these where data/ is not installed.
            "emotion_counts": dict(sorted(Counter(r.emotion.value for r in rows).items())),
            "epoch_losses": [round(x, 4) for x in losses],
            "fine_tune_seconds": round(trained_at - started, 1),
            "total_seconds": round(finished - started, 1),
            "precision": serving_precision(config.precision),
            "torch": torch.__version__,
            "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        }
        meta.metrics = {
            "test_rows": len(test_rows),
            "analyzer": {
                "emotion": combined.emotion.as_dict(),
                "intents": combined.intents.as_dict(),
                "by_language": combined.by_language,
            },
            "model_only": {
                "emotion": model_only.emotion.as_dict(),
                "intents": model_only.intents.as_dict(),
            },
            "int8": {
                "emotion_macro_f1": round(quantized.emotion.macro_f1, 4),
                "intent_micro_f1": round(quantized.intents.micro_f1, 4),
                "emotion_agreement_with_fp32": round(agreement / max(1, len(test_rows)), 4),
            },
        }
        save_model(staging, net, tokenizer, meta)
        write_reports(staging, meta, combined, model_only, test_path)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(out_dir)
        return out_dir
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        torch.use_deterministic_algorithms(previous_deterministic)
        torch.set_num_threads(previous_threads)
