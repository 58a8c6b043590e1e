"""Classifier benchmark: latency, throughput, memory, load time, fp32/bf16/int8, vs a pipeline.

    .venv/bin/python -m bench.classifier [--model-dir DIR] [--threads N] [--singles N]
        [--idle-singles N] [--idle-ms MS]

Prints figures; asserts nothing. Single-utterance latency is one `ModelAnalyzer.analyze`
call with one text (model + lexicon + entities, through the worker thread), timed back to
back and, separately, each after MS milliseconds of idleness (how turns really arrive:
on a shared host the weights leave the cache in the gap, README "Classifier"); batched
throughput sends the test split in calls of 64 texts. Each encoder precision is measured:
torch fp32, torch bf16 (native on CPUs with AVX512-BF16 or AMX, emulated and slow
elsewhere) and the int8 ONNX graph (what the service runs by default, one text per pass),
each with its test-split scores and its agreement with fp32. The plain baseline is
`transformers.pipeline("text-classification")` over the same fine-tuned encoder weights
with the emotion head copied in (its sequence-classification head pools the [CLS] token
through BERT's pooler instead of mean pooling: the same compute, not the same scores).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.domain import AnalysisContext
from agent.settings import PROJECT_ROOT, Settings

TEST_FILE = PROJECT_ROOT / "data" / "test.jsonl"
BATCH = 64


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Idle:
    """Single calls each made after `seconds` of idleness, as a chat or call turn arrives:
    back-to-back calls keep the weights in cache and the CPU awake; these do not."""

    calls: int
    seconds: float


def positive(value: str) -> int:
    """argparse type: an integer of at least 1 (a median of no calls is undefined)."""
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_analyzer(analyzer: Any, texts: list[str], singles: int, idle: Idle) -> dict[str, float]:
    context = AnalysisContext(today=dt.date(2026, 11, 28), locale="en-US")

    async def run() -> dict[str, float]:
        for text in texts[:20]:  # warm-up
            await analyzer.analyze([text], context)
        latencies = []
        for text in texts[:singles]:
            started = time.perf_counter()
            await analyzer.analyze([text], context)
            latencies.append(time.perf_counter() - started)
        after_idle = []
        for text in texts[: idle.calls]:
            await asyncio.sleep(idle.seconds)
            started = time.perf_counter()
            await analyzer.analyze([text], context)
            after_idle.append(time.perf_counter() - started)
        started = time.perf_counter()
        for start in range(0, len(texts), BATCH):
            await analyzer.analyze(texts[start : start + BATCH], context)
        batched = len(texts) / (time.perf_counter() - started)
        started = time.perf_counter()
        await asyncio.gather(*(analyzer.analyze([t], context) for t in texts[:BATCH]))
        concurrent = BATCH / (time.perf_counter() - started)
        return {
            "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * percentile(latencies, 0.95),
            "idle_p50_ms": 1000 * statistics.median(after_idle),
            "batched_utt_s": batched,
            "concurrent_singles_utt_s": concurrent,
        }

    return asyncio.run(run())


def bench_model_only(model: Any, texts: list[str], singles: int) -> dict[str, float]:
    from agent.nlp.classifier import predict

    for text in texts[:20]:
        predict(model, [text])
    latencies = []
    for text in texts[:singles]:
        started = time.perf_counter()
        predict(model, [text])
        latencies.append(time.perf_counter() - started)
    started = time.perf_counter()
    for start in range(0, len(texts), BATCH):
        predict(model, texts[start : start + BATCH])
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "batched_utt_s": len(texts) / (time.perf_counter() - started),
    }


def bench_pipeline(model_dir: Path, texts: list[str], singles: int, idle: Idle) -> dict[str, float]:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification, pipeline

    from agent.nlp.built_model import EMOTIONS, ENCODER_DIR, HEADS_FILE
    from agent.nlp.model import load_tokenizer

    labels = [e.value for e in EMOTIONS]
    model = AutoModelForSequenceClassification.from_pretrained(
        str(model_dir / ENCODER_DIR),
        local_files_only=True,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    ).eval()
    heads = load_file(str(model_dir / HEADS_FILE))
    with torch.no_grad():
        model.classifier.weight.copy_(heads["emotion.weight"])
        model.classifier.bias.copy_(heads["emotion.bias"])
    classify = pipeline(  # type: ignore[call-overload]  # (the stubs want a fast tokenizer type)
        "text-classification", model=model, tokenizer=load_tokenizer(model_dir / ENCODER_DIR)
    )
    for text in texts[:20]:
        classify(text)
    latencies = []
    for text in texts[:singles]:
        started = time.perf_counter()
        classify(text)
        latencies.append(time.perf_counter() - started)
    after_idle = []
    for text in texts[: idle.calls]:
        time.sleep(idle.seconds)
        started = time.perf_counter()
        classify(text)
        after_idle.append(time.perf_counter() - started)
    started = time.perf_counter()
    classify(texts, batch_size=BATCH)
    return {
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "idle_p50_ms": 1000 * statistics.median(after_idle),
        "batched_utt_s": len(texts) / (time.perf_counter() - started),
    }


CRITICAL = ("cease_contact", "attorney", "bankruptcy", "vulnerability")


def accuracy(model: Any, rows: Any) -> dict[str, Any]:
    from agent.nlp.classifier import predict
    from agent.nlp.train import evaluate_rows

    result = evaluate_rows(model, rows)
    outputs = predict(model, [r.text for r in rows])
    return {
        "emotion_macro_f1": result.emotion.macro_f1,
        "intent_micro_f1": result.intents.micro_f1,
        **{f"recall_{k}": result.intents.score(k).recall for k in CRITICAL},
        "emotions": result.predicted_emotions,
        # the model's own intent decisions (thresholds), before the lexicon union
        "intent_sets": [
            tuple(
                p >= model.meta.thresholds.get(name, 0.5)
                for name, p in zip(model.meta.intents, o.intents, strict=True)
            )
            for o in outputs
        ],
    }


VARIANTS = (("fp32", "float32"), ("bf16", "bfloat16"), ("int8", "int8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    settings = Settings()
    parser.add_argument("--model-dir", type=Path, default=settings.model_dir)
    parser.add_argument("--threads", type=int, default=settings.torch_threads)
    parser.add_argument("--singles", type=int, default=300, help="single-text calls to time")
    parser.add_argument(
        "--idle-singles", type=positive, default=100, help="single calls timed after an idle gap"
    )
    parser.add_argument("--idle-ms", type=float, default=50.0, help="that gap")
    args = parser.parse_args()
    idle = Idle(args.idle_singles, args.idle_ms / 1000)

    base_rss = rss_mib()
    started = time.perf_counter()
    from agent.nlp.built_model import load_model, native_bf16
    from agent.nlp.classifier import ModelAnalyzer

    served_import_s = time.perf_counter() - started
    served_rss = rss_mib()
    started = time.perf_counter()
    import torch

    import agent.nlp.model  # noqa: F401 - the torch forward, for fp32 and bf16
    from agent.nlp.train import read_rows

    torch.set_num_threads(args.threads)
    import_s = time.perf_counter() - started
    after_import = rss_mib()
    rows = read_rows(TEST_FILE)
    texts = [r.text for r in rows]
    print(
        f"classifier bench: {len(texts)} test texts, torch {torch.__version__}, "
        f"{args.threads} threads, {args.model_dir}"
    )
    print(
        f"import the analyzer (all the int8 path needs): {served_import_s:.2f} s, "
        f"RSS +{served_rss - base_rss:.0f} MiB; then torch+transformers (fp32, bf16): "
        f"{import_s:.2f} s, RSS +{after_import - served_rss:.0f} MiB"
    )
    print(f"CPU has native bfloat16 (avx512_bf16/amx_bf16): {native_bf16()}")
    results: dict[str, dict[str, Any]] = {}
    for name, precision in VARIANTS:
        gc.collect()
        before = rss_mib()
        started = time.perf_counter()
        model = load_model(args.model_dir, precision=precision)
        analyzer = ModelAnalyzer(  # includes compiling the bf16 kernels (fast_encoder.warm)
            model,
            threads=args.threads,
            max_batch=settings.classifier_max_batch,
            wait_ms=settings.classifier_batch_wait_ms,
        )
        load_s = time.perf_counter() - started
        loaded = rss_mib() - before
        figures = bench_analyzer(analyzer, texts, args.singles, idle)
        analyzer.close()
        only = bench_model_only(model, texts, args.singles)
        scores = accuracy(model, rows)
        results[name] = {
            **figures,
            "load_s": load_s,
            "rss_mib": loaded,
            **{f"model_{k}": v for k, v in only.items()},
            **scores,
        }
        print(
            f"{name}: load {load_s:.2f} s, RSS +{loaded:.0f} MiB | analyzer single p50 "
            f"{figures['p50_ms']:.1f} ms p95 {figures['p95_ms']:.1f} ms, after "
            f"{args.idle_ms:.0f} ms idle p50 {figures['idle_p50_ms']:.1f} ms | batched({BATCH}) "
            f"{figures['batched_utt_s']:.0f} utt/s | {BATCH} concurrent single calls "
            f"{figures['concurrent_singles_utt_s']:.0f} utt/s"
        )
        print(
            f"{name}: model forward only: single p50 {only['p50_ms']:.1f} ms p95 "
            f"{only['p95_ms']:.1f} ms | batched {only['batched_utt_s']:.0f} utt/s"
        )
        recalls = ", ".join(f"{k} {scores['recall_' + k]:.3f}" for k in CRITICAL)
        print(
            f"{name}: test split emotion macro-F1 {scores['emotion_macro_f1']:.3f}, "
            f"intent micro-F1 {scores['intent_micro_f1']:.3f}; recall {recalls}"
        )
        del model
    for name in ("bf16", "int8"):
        same = sum(
            a == b
            for a, b in zip(results["fp32"]["emotions"], results[name]["emotions"], strict=True)
        )
        same_intents = sum(
            a == b
            for a, b in zip(
                results["fp32"]["intent_sets"], results[name]["intent_sets"], strict=True
            )
        )
        print(
            f"{name} vs fp32: same emotion on {same}/{len(rows)} test rows "
            f"({same / len(rows):.1%}), same model intents on {same_intents}/{len(rows)}"
        )

    gc.collect()
    before = rss_mib()
    started = time.perf_counter()
    plain = bench_pipeline(args.model_dir, texts, args.singles, idle)
    print(
        f"plain transformers pipeline (fp32, same encoder weights + emotion head): single p50 "
        f"{plain['p50_ms']:.1f} ms p95 {plain['p95_ms']:.1f} ms, after {args.idle_ms:.0f} ms "
        f"idle p50 {plain['idle_p50_ms']:.1f} ms | batched({BATCH}) "
        f"{plain['batched_utt_s']:.0f} utt/s | RSS +{rss_mib() - before:.0f} MiB"
    )
    for name, _ in VARIANTS:
        r = results[name]
        print(
            f"ModelAnalyzer {name} / pipeline: single p50 "
            f"{plain['p50_ms'] / r['p50_ms']:.2f}x faster (after idle "
            f"{plain['idle_p50_ms'] / r['idle_p50_ms']:.2f}x), batched "
            f"{r['batched_utt_s'] / plain['batched_utt_s']:.2f}x the throughput"
        )
    print(
        json.dumps(
            {
                k: {m: round(v, 3) for m, v in r.items() if m not in ("emotions", "intent_sets")}
                for k, r in results.items()
            }
            | {"pipeline": {k: round(v, 3) for k, v in plain.items()}}
        )
    )


if __name__ == "__main__":
    main()
