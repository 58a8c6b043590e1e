"""`ModelAnalyzer`: the fine-tuned transformers classifier behind the `Analyzer` seam.

Loaded once per process (`shared_model_analyzer`, called by `build_services`). Inference
runs on one worker thread, never on the event loop; calls that arrive within
`AGENT_CLASSIFIER_BATCH_WAIT_MS` of each other (or while a forward pass is running) are
micro-batched into one pass. Texts are sorted by length and padded per chunk.

What the `Analysis` holds:
- emotion and emotion_scores: the model's calibrated softmax; where the model is unsure and
  the lexicon heard a strong cue (insult, explicit distress or confusion), the two are
  blended (`blend_emotion`);
- intents: the model's (per-intent thresholds) UNION the lexicon's for the critical set
  (recall first there) and for the intents `agent train` found the union helps on its
  held-out split (`classifier.json: lexicon_union`);
- cues (self_harm, pay_in_full) from the lexicon; entities from `extract_entities`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.domain import Analysis, AnalysisContext, Emotion, Entities, Intent, Language
from agent.heap import HeapTrimmer, libc_malloc_trim
from agent.logs import log_event
from agent.nlp.analyzer import language_for
from agent.nlp.built_model import (
    EMOTIONS,
    INTENTS,
    LoadedModel,
    is_built,
    load_model,
    require_what_loading_needs,
)
from agent.nlp.entities import extract_entities
from agent.nlp.lexicon import BARE_NO, BARE_YES, LexiconResult, scan
from agent.settings import Settings

log = logging.getLogger("agent.nlp.classifier")

# Recall matters more than precision for these: the lexicon's hits are always kept.
CRITICAL_INTENTS: frozenset[Intent] = frozenset(
    {
        Intent.cease_contact,
        Intent.attorney,
        Intent.bankruptcy,
        Intent.vulnerability,
        Intent.dispute,
    }
)
# Who is on the line decides what may be said (ALL-RPC): an explicit lexicon phrase
# ("wrong number", "我是他妻子") is kept too.
RIGHT_PARTY_INTENTS: frozenset[Intent] = frozenset({Intent.wrong_party, Intent.third_party})
# Below this top probability the model counts as unsure about the emotion.
UNSURE = 0.6
# Weight of the lexicon's scores when blending with an unsure model.
LEXICON_WEIGHT = 0.5
# A reply of only yes-words or only no-words (lexicon cue): the intent it means, and the
# one it rules out, whatever the model says.
BARE_REPLIES = (
    (BARE_YES, Intent.affirm, Intent.deny),
    (BARE_NO, Intent.deny, Intent.affirm),
)
# Pairs that never occur together in the labelled data (by definition): keep the one an
# explicit lexicon phrase names, else the likelier.
EXCLUSIVE: tuple[tuple[Intent, Intent], ...] = (
    (Intent.wrong_party, Intent.third_party),
    (Intent.affirm, Intent.deny),
    (Intent.promise_to_pay, Intent.refuse_to_pay),
)
CHUNK = 32  # texts per padded forward pass (sorted by length)
# Every forward runs on ONE torch thread; parallelism comes from "lanes": a larger pass is
# split into one length-sorted chunk per configured thread (AGENT_TORCH_THREADS), run
# concurrently. torch's own intra-op threads meet at an OpenMP barrier after every
# operation (~200 per pass), so on this shared 2-core VM one descheduled thread stalls
# them all: measured with other jobs on the machine, 2 OpenMP threads gave 64-102 utt/s
# batched where 2 lanes of 1 thread gave 306-315, and single-text p50 2-3x worse.
# Passes of at most SMALL_PASS texts stay on one lane: a short utterance is a few-token
# matmul bound by reading the weights, and the other core stays free for the
# lexicon/entities half and the event loop.
SMALL_PASS = 4


@dataclass(frozen=True)
class ModelOutput:
    """Calibrated probabilities for one text, in EMOTIONS / INTENTS order."""

    emotion: tuple[float, ...]
    intents: tuple[float, ...]


def predict(
    model: LoadedModel,
    texts: Sequence[str],
    chunk: int = CHUNK,
    lanes: Executor | None = None,
) -> list[ModelOutput]:
    """One forward pass per chunk of length-sorted texts (per text in int8: a text's
    result must not depend on its neighbours, int8_graph.py); results in input order.

    With `lanes`, the chunks' passes run concurrently on its threads (ONNX Runtime and
    torch release the GIL while they compute).
    """
    if not texts:
        return []
    ids = model.tokenize(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    results: list[ModelOutput | None] = [None] * len(ids)
    temperature = model.meta.temperature

    def run(rows: list[int]) -> None:
        emotion_logits, intent_logits = model.net.logits([ids[i] for i in rows])
        emotion = softmax(emotion_logits / temperature).tolist()
        intents = (1.0 / (1.0 + np.exp(-intent_logits.astype(np.float64)))).tolist()
        for row, e, i in zip(rows, emotion, intents, strict=True):
            results[row] = ModelOutput(tuple(e), tuple(i))

    if model.net.pads:  # neighbours in length share a pass: the least padding
        groups = [order[start : start + chunk] for start in range(0, len(order), chunk)]
    else:
        # One pass per text: the length-sorted texts are dealt out in turn, so each lane
        # gets as many long texts as short ones. In contiguous chunks one lane ran all the
        # long ones while the other sat idle (int8, 64 texts: 308-358 -> 338-408 utt/s).
        count = -(-len(order) // chunk)
        groups = [order[k::count] for k in range(count)]
    if lanes is not None and len(groups) > 1:
        for done in [lanes.submit(run, rows) for rows in groups]:
            done.result()
    else:
        for rows in groups:
            run(rows)
    return [r for r in results if r is not None]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise, in float64 (the shift by the row maximum keeps exp from overflowing)."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=-1, keepdims=True)
    return result


def blend_emotion(model_probs: Sequence[float], lexicon: LexiconResult) -> dict[Emotion, float]:
    """The model's probabilities, blended with the lexicon's where the model is unsure.

    The lexicon counts only when it heard a cue (its dominant emotion is not calm) that the
    model does not already rank first.
    """
    probs = dict(zip(EMOTIONS, model_probs, strict=True))
    top = max(probs, key=lambda e: probs[e])
    lex = lexicon.emotion_scores
    lex_top = max(lex, key=lambda e: lex[e])
    if lex_top is not Emotion.calm and lex_top is not top and probs[top] < UNSURE:
        probs = {
            e: (1 - LEXICON_WEIGHT) * probs[e] + LEXICON_WEIGHT * lex.get(e, 0.0) for e in EMOTIONS
        }
    total = sum(probs.values()) or 1.0
    return {e: round(probs[e] / total, 4) for e in EMOTIONS}


def combine_intents(
    output: ModelOutput,
    lexicon: LexiconResult,
    thresholds: dict[str, float],
    lexicon_union: frozenset[Intent],
) -> list[Intent]:
    found = {
        intent
        for intent, p in zip(INTENTS, output.intents, strict=True)
        if p >= thresholds.get(intent.value, 0.5)
    }
    found |= lexicon.intents & (CRITICAL_INTENTS | RIGHT_PARTY_INTENTS | lexicon_union)
    found -= lexicon.not_claimed  # "a breakdown of the balance" is not a breakdown
    for cue, meant, opposite in BARE_REPLIES:
        if cue in lexicon.cues:
            found.add(meant)
            found.discard(opposite)
    probability = dict(zip(INTENTS, output.intents, strict=True))
    for a, b in EXCLUSIVE:
        if a in found and b in found:
            # An explicit phrase ("我是他妻子", "wrong number") settles it; else the model.
            heard = lexicon.intents & {a, b}
            if len(heard) == 1:
                found.discard(({a, b} - heard).pop())
            else:
                found.discard(a if probability[a] < probability[b] else b)
    return sorted(found, key=lambda i: i.value)


@dataclass(frozen=True)
class _Lexical:
    language: Language
    lexicon: LexiconResult
    entities: Entities


def _lexical(text: str, context: AnalysisContext) -> _Lexical:
    """The rule-based half (language, lexicon, entities): blocking, run off the loop."""
    language = language_for(text, context.locale)
    return _Lexical(language, scan(text, language), extract_entities(text, language, context))


@dataclass
class _Request:
    texts: list[str]
    future: Future[list[ModelOutput]]


class ModelAnalyzer:
    """The Analyzer protocol over a built model; safe to share across event loops."""

    def __init__(
        self, model: LoadedModel, *, threads: int = 1, max_batch: int = 64, wait_ms: float = 2.0
    ) -> None:
        self.model = model
        self.max_batch = max_batch
        self.wait = wait_ms / 1000.0
        self.lexicon_union = frozenset(Intent(i) for i in model.meta.lexicon_union)
        self.forward_batches = 0  # how many micro-batches the worker ran (tests, metrics)
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._threads = threads
        model.net.warm(CHUNK * model.meta.max_length)
        self._lanes = ThreadPoolExecutor(self._threads, thread_name_prefix="classifier-lane")
        self.heap = HeapTrimmer(libc_malloc_trim())
        self._worker = threading.Thread(target=self._run, name="classifier-worker", daemon=True)
        self._worker.start()

    # -- the Analyzer protocol --

    async def analyze(self, texts: Sequence[str], context: AnalysisContext) -> list[Analysis]:
        if not texts:
            return []
        texts = list(texts)
        future: Future[list[ModelOutput]] = Future()
        self._queue.put(_Request(texts, future))
        lexical = asyncio.to_thread(lambda: [_lexical(t, context) for t in texts])
        outputs, found = await asyncio.gather(asyncio.wrap_future(future), lexical)
        return [
            self._analysis(t, o, x, context) for t, o, x in zip(texts, outputs, found, strict=True)
        ]

    def analyze_sync(self, texts: Sequence[str], context: AnalysisContext) -> list[Analysis]:
        """The same, for callers without an event loop (scripts, evaluation)."""
        outputs = self.predict(texts)
        found = [_lexical(t, context) for t in texts]
        return [
            self._analysis(t, o, x, context) for t, o, x in zip(texts, outputs, found, strict=True)
        ]

    def predict(self, texts: Sequence[str]) -> list[ModelOutput]:
        """Model outputs through the worker (blocking; do not call on the event loop)."""
        if not texts:
            return []
        future: Future[list[ModelOutput]] = Future()
        self._queue.put(_Request(list(texts), future))
        return future.result()

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=10)
        self._lanes.shutdown(wait=False)

    # -- internals --

    def _analysis(
        self, text: str, output: ModelOutput, lexical: _Lexical, context: AnalysisContext
    ) -> Analysis:
        scores = blend_emotion(output.emotion, lexical.lexicon)
        return Analysis(
            text=text,
            language=lexical.language,
            emotion=max(scores, key=lambda e: scores[e]),
            emotion_scores=scores,
            intents=combine_intents(
                output, lexical.lexicon, self.model.meta.thresholds, self.lexicon_union
            ),
            entities=lexical.entities,
            cues=sorted(lexical.lexicon.cues),
            source="model",
        )

    def _collect(self, first: _Request) -> tuple[list[_Request], bool]:
        """The first request plus whatever is queued or arrives within the wait (up to
        max_batch texts).

        The wait only applies when another request is already queued (a burst of concurrent
        calls is arriving): a lone call would otherwise pay the whole wait for nobody, and
        calls arriving during its forward pass still share the next one.
        """
        batch, size, stop = [first], len(first.texts), False
        wait = self.wait if not self._queue.empty() else 0.0
        deadline = time.monotonic() + wait
        while size < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            batch.append(item)
            size += len(item.texts)
        return batch, stop

    def _forward(self, texts: list[str]) -> list[ModelOutput]:
        if self._threads == 1:
            return predict(self.model, texts)
        lanes = 1 if len(texts) <= SMALL_PASS else self._threads
        chunk = min(CHUNK, -(-len(texts) // lanes))  # every lane gets a share
        with self.model.net.one_thread():
            return predict(self.model, texts, chunk, self._lanes if lanes > 1 else None)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.heap.interval)
            except queue.Empty:
                self.heap.maybe_trim()  # idle: give the last passes' freed memory back
                continue
            if first is None:
                return
            batch, stop = self._collect(first)
            live = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if live:
                texts = [t for r in live for t in r.texts]
                try:
                    outputs = self._forward(texts)
                except Exception as exc:  # pragma: no cover - surfaced to every caller
                    for request in live:
                        request.future.set_exception(exc)
                else:
                    self.forward_batches += 1
                    self.heap.worked()
                    offset = 0
                    for request in live:
                        request.future.set_result(outputs[offset : offset + len(request.texts)])
                        offset += len(request.texts)
            if stop:
                return
            if self._queue.empty():
                self.heap.maybe_trim()


# -- building and sharing --

_SHARED: dict[tuple[object, ...], ModelAnalyzer] = {}
_SHARED_LOCK = threading.Lock()


def ensure_model(settings: Settings, *, progress: bool = True) -> Path:
    """The model directory; trains the model there first if it is not built yet."""
    directory = settings.model_dir
    if not is_built(directory):
        require_what_loading_needs(directory, settings.classifier_precision)
        from agent.nlp.train import TrainConfig, train_classifier

        log_event(log, "classifier_missing_training", model_dir=str(directory))
        config = TrainConfig(
            base_model=settings.classifier_base_model, threads=settings.torch_threads
        )
        train_classifier(directory, config, progress=progress)
    return directory


def load_model_analyzer(settings: Settings) -> ModelAnalyzer:
    """A new analyzer over the built model (trained first if missing)."""
    directory = ensure_model(settings)
    started = time.perf_counter()
    # `auto`: the int8 ONNX graph (README "Classifier": 2-3x faster than torch float32 on
    # the CPU measured, same accuracy); float32/bfloat16 serve the torch forward.
    model = load_model(directory, precision=settings.classifier_precision)
    if model.precision != "int8":
        import torch  # loaded already by the torch forward; the int8 path never imports it

        torch.set_num_threads(settings.torch_threads)  # process-wide; passes use one (lanes)
    log_event(
        log,
        "classifier_loaded",
        model_dir=str(directory),
        precision=model.precision,
        threads=settings.torch_threads,
        seconds=round(time.perf_counter() - started, 2),
    )
    return ModelAnalyzer(
        model,
        threads=settings.torch_threads,
        max_batch=settings.classifier_max_batch,
        wait_ms=settings.classifier_batch_wait_ms,
    )


def shared_model_analyzer(settings: Settings) -> ModelAnalyzer:
    """One analyzer per model directory and options, per process (models load once)."""
    key = (
        settings.model_dir.resolve(),
        settings.classifier_precision,
        settings.torch_threads,
        settings.classifier_max_batch,
        settings.classifier_batch_wait_ms,
    )
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = load_model_analyzer(settings)
        return _SHARED[key]
