"""What `agent train` writes beside the weights: the model card and the evaluation report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.nlp.built_model import EMOTIONS, ModelMeta
from agent.nlp.evaluation import confusion_matrix, format_report, plot_confusion

if TYPE_CHECKING:
    from agent.nlp.train import Evaluation

EVALUATION_DIR = "evaluation"
CONFUSION_PNG = "confusion_emotion.png"
MODEL_CARD = "MODEL_CARD.md"


def _critical_recall(metrics: dict[str, Any]) -> str:
    labels = metrics["analyzer"]["intents"]["labels"]
    names = ("cease_contact", "attorney", "bankruptcy", "vulnerability", "dispute")
    return ", ".join(f"{n} {labels[n]['recall']:.3f}" for n in names)


def _metrics_table(m: dict[str, Any]) -> str:
    rows = ["| | emotion macro-F1 | emotion accuracy | intent micro-F1 | intent macro-F1 |"]
    rows.append("|---|---:|---:|---:|---:|")
    for key, name in (("analyzer", "analyzer (fp32)"), ("model_only", "model alone (fp32)")):
        e, i = m[key]["emotion"], m[key]["intents"]
        rows.append(
            f"| {name} | {e['macro_f1']:.3f} | {e['accuracy']:.3f} | {i['micro_f1']:.3f} "
            f"| {i['macro_f1']:.3f} |"
        )
    q = m["int8"]
    rows.append(
        f"| analyzer (int8 ONNX graph, served by default) | {q['emotion_macro_f1']:.3f} | "
        f"| {q['intent_micro_f1']:.3f} | |"
    )
    return "\n".join(rows)


def write_reports(
    directory: Path, meta: ModelMeta, combined: Evaluation, model_only: Evaluation, test_path: Path
) -> None:
    evaluation = directory / EVALUATION_DIR
    evaluation.mkdir(parents=True, exist_ok=True)
    labels = [e.value for e in EMOTIONS]
    matrix = confusion_matrix(combined.gold_emotions, combined.predicted_emotions, labels)
    plot_confusion(matrix, labels, evaluation / CONFUSION_PNG, f"emotion on {test_path.name}")
    text = "\n\n".join(
        [
            f"# Evaluation on {test_path.name}",
            "## Analyzer (model + lexicon union, as served)",
            "```\n"
            + format_report(combined.emotion)
            + "\n\n"
            + format_report(combined.intents)
            + "\n```",
            "## Model alone (no lexicon)",
            "```\n"
            + format_report(model_only.emotion)
            + "\n\n"
            + format_report(model_only.intents)
            + "\n```",
            "## Emotion confusion (rows: reference, columns: predicted)",
            "```\n"
            + "\n".join(
                f"{label:<12}" + "".join(f"{v:>6d}" for v in row)
                for label, row in zip(labels, matrix, strict=True)
            )
            + "\n```\n\n"
            + f"![confusion matrix]({CONFUSION_PNG})",
        ]
    )
    (evaluation / "report.md").write_text(text + "\n", encoding="utf-8")
    payload = {"metrics": meta.metrics, "confusion_emotion": {"labels": labels, "matrix": matrix}}
    (evaluation / "report.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    (directory / MODEL_CARD).write_text(model_card(meta, combined, test_path), encoding="utf-8")


def model_card(meta: ModelMeta, combined: Evaluation, test_path: Path) -> str:
    t = meta.training
    m = meta.metrics
    agreement = m["int8"]["emotion_agreement_with_fp32"]
    return f"""# Tact classifier: model card

**What it is.** One transformers encoder with two heads, fine-tuned for debt-collection
conversations in English and Mandarin: `emotion` (softmax over calm, positive, confused,
angry, distressed; calibrated by temperature scaling, T = {meta.temperature}) and `intents`
(18 sigmoid outputs, each at 0.5 but the critical intents, whose thresholds are the
held-out F2 best at or under 0.5). Mean pooling over tokens.
Served by `agent.nlp.classifier.ModelAnalyzer`, which adds the lexicon's critical intents
(cease_contact, attorney, bankruptcy, vulnerability, dispute) and these held-out-chosen
ones: {", ".join(meta.lexicon_union) or "none"}.

**Base model.** `{meta.base_model}` (all-MiniLM-L6-v2 unless `AGENT_CLASSIFIER_BASE_MODEL`
says otherwise). Its tokenizer was extended with {meta.added_tokens} tokens: the characters it
mapped to [UNK] (the 3,755 level-1 hanzi of GB 2312, full-width punctuation, and the
characters of the training data) and, for a base that lacked them, common multi-character
words as whole tokens. {meta.glossed_tokens} of the new embedding rows start at the mean
embedding of the token's English glosses (CC-CEDICT, `agent/nlp/resources/`), the others
at the mean of all old rows.

**Data.** `data/train.jsonl` (sha256 `{t["train_sha256"][:16]}...`): {t["train_rows"]} rows
trained on, {t["heldout_rows"]} held out (stratified by language and emotion) for the
temperature, the thresholds and the lexicon union. Evaluated on `{test_path.name}`
({m["test_rows"]} rows). Written by the team; see data/README.md.

**Training.** {t.get("probe_epochs", 0)} epoch(s) of the heads alone on the frozen
encoder, then {t["epochs"]} epochs of all weights, batch {t["batch_size"]},
AdamW (lr {t["learning_rate"]} encoder, {t["embedding_learning_rate"]} word embeddings,
{t["head_learning_rate"]} heads, weight decay {t["weight_decay"]}, encoder rates times
{t.get("layer_lr_decay", 1.0)} per layer below the top one), linear warm-up
{t["warmup_ratio"]} and decay, {t.get("precision", "float32")} forward and backward
(float32 weights), max length {t["max_length"]} tokens,
label smoothing {t["label_smoothing"]}, class-weighted emotion loss,
each epoch {t.get("code_switch_rows", 0)} of the rows code-switched through the word glosses,
seed {t["seed"]}, torch deterministic algorithms, {t["threads"]} CPU threads, torch
{t["torch"]}. Epoch losses {t["epoch_losses"]}. Fine-tuning took {t["fine_tune_seconds"]} s;
everything (with calibration and evaluation) {t["total_seconds"]} s. Created {t["created"]}.

**Metrics on {test_path.name}** (analyzer = model + lexicon union, as served):

{_metrics_table(m)}

By language: {json.dumps(m["analyzer"]["by_language"])}.
Recall of the critical intents (analyzer): {_critical_recall(m)}.
The int8 graph and float32 agree on the emotion of {agreement:.1%} of the test rows.
Per-label figures and the confusion matrix: `evaluation/report.md`, `evaluation/{CONFUSION_PNG}`.

**Limits.** The test split comes from the same writers and generator as the training
data (see data/README.md, Known weaknesses), so these figures are optimistic for real
calls; measure on outside data with `agent evaluate`. Emotion from text alone misses tone
of voice. Chinese coverage is the characters listed above; rarer characters and
Traditional forms outside them map to [UNK]. Cantonese, pinyin and long multi-topic
messages are barely represented. Intents outside the 18 labels are not recognised. Do
not use the emotion output to make decisions about a person beyond choosing the tone of
a reply; the critical intents rely on the lexicon as well as the model.
"""
