"""Every benchmark in one command, written up as a Markdown report.

    .venv/bin/python -m bench [--quick] [--out bench/report.md] [--only chat classifier ...]

Runs, in order: chat turn latency and throughput at 1, 10, 50 and 100 concurrent
sessions over loopback HTTP (`bench.chat_load`), the classifier against a plain
`transformers.pipeline` (`bench.classifier`), concurrent voice calls over Media Streams
(`bench.voice_calls`), the audit append rate on SQLite and PostgreSQL
(`bench.audit_append`) and the dialer's throughput (`bench.dialer`).
`--quick` uses smaller sizes (minutes instead of tens of minutes). A benchmark that
fails is reported as failed in its section; the others still run. Each one also runs
alone (`python -m bench.<name> --help`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench import dialer
from bench.server import machine

DEFAULT_OUT = Path(__file__).parent / "report.md"
SECTIONS = ("chat", "classifier", "voice", "audit", "dialer")


def machine_facts() -> list[str]:
    cpu = machine().split(",", 1)[0]
    memory = next(
        (
            int(line.split()[1]) / 1024 / 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0.0,
    )
    try:
        import torch

        torch_version = str(torch.__version__)
    except ImportError:
        torch_version = "not installed"
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores",
        f"- RAM: {memory:.1f} GiB",
        f"- Python {platform.python_version()}, torch {torch_version}, {platform.platform()}",
    ]


def chat_section(quick: bool) -> list[str]:
    from bench.chat_load import levels_table, run_levels

    turns, min_turns = (4, 40) if quick else (8, 200)
    lines = [
        f"Each client runs demo conversations back to back with no think time ({turns} "
        f"debtor turns per client, at least {min_turns} turns per level), over loopback "
        "HTTP against `agent serve` (uvicorn, SQLite, the default model analyzer). "
        "Latency is one `POST /v1/chat/sessions/{id}/messages`, measured by the client; "
        "turns/s is answered debtor turns per second of wall time (each conversation also "
        "opens a session, which is load but not counted as a turn).",
        "",
    ]
    return lines + levels_table(run_levels([1, 10, 50, 100], turns, min_turns=min_turns))


def classifier_section(quick: bool) -> list[str]:
    from agent.nlp.built_model import load_model
    from agent.nlp.classifier import ModelAnalyzer
    from agent.nlp.train import read_rows
    from agent.settings import Settings
    from bench.classifier import TEST_FILE, Idle, bench_analyzer, bench_pipeline

    settings = Settings()
    texts = [r.text for r in read_rows(TEST_FILE)]
    singles = 60 if quick else 300
    idle = Idle(20 if quick else 100, 0.05)
    if quick:
        texts = texts[:320]
    model = load_model(settings.model_dir, precision=settings.classifier_precision)
    analyzer = ModelAnalyzer(
        model,
        threads=settings.torch_threads,
        max_batch=settings.classifier_max_batch,
        wait_ms=settings.classifier_batch_wait_ms,
    )
    try:
        ours = bench_analyzer(analyzer, texts, singles, idle)
    finally:
        analyzer.close()
    plain = bench_pipeline(settings.model_dir, texts, singles, idle)
    return [
        f"{len(texts)} texts of `data/test.jsonl`, {singles} timed single calls, "
        f"{settings.torch_threads} torch threads, encoder in {model.precision} (as served). "
        "ModelAnalyzer includes the lexicon "
        "and entities; the pipeline is `transformers.pipeline('text-classification')` on "
        f"the same encoder weights with the emotion head. After idle: {idle.calls} single "
        f"calls, each after {idle.seconds * 1000:.0f} ms with nothing to do.",
        "",
        "| | single p50 (ms) | single p95 (ms) | single p50 after idle (ms) | batched (utt/s) |",
        "|---|---|---|---|---|",
        f"| ModelAnalyzer | {ours['p50_ms']:.1f} | {ours['p95_ms']:.1f} | "
        f"{ours['idle_p50_ms']:.1f} | {ours['batched_utt_s']:.0f} |",
        f"| plain pipeline | {plain['p50_ms']:.1f} | {plain['p95_ms']:.1f} | "
        f"{plain['idle_p50_ms']:.1f} | {plain['batched_utt_s']:.0f} |",
        f"| **ratio** (ModelAnalyzer vs pipeline) | {plain['p50_ms'] / ours['p50_ms']:.2f}x "
        f"faster | {plain['p95_ms'] / ours['p95_ms']:.2f}x faster | "
        f"{plain['idle_p50_ms'] / ours['idle_p50_ms']:.2f}x faster | "
        f"{ours['batched_utt_s'] / plain['batched_utt_s']:.2f}x the throughput |",
    ]


def voice_section(quick: bool) -> list[str]:
    levels = ["1", "4"] if quick else ["1", "4", "8", "16"]
    min_turns = "2" if quick else "16"
    command = [sys.executable, "-m", "bench.voice_calls", "--calls", *levels]
    command += ["--min-turns", min_turns]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.voice_calls exited {done.returncode}: {done.stderr[-2000:]}")
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    notes = [f"  {line.strip()}" for line in done.stdout.splitlines() if "error:" in line]
    return [
        f"Concurrent inbound calls over Twilio Media Streams, real-time audio (`python -m "
        f"bench.voice_calls --calls {' '.join(levels)} --min-turns {min_turns}`).",
        "",
        *table,
        *(["", "Errors:", *notes] if notes else []),
    ]


def audit_section(quick: bool) -> list[str]:
    from bench.audit_append import run, table

    events = 300 if quick else 2000
    results, skipped = run(["sqlite", "postgres"], events=events, writers=8)
    lines = [
        f"`AuditChain` appends on a fresh database, {events} events per measurement "
        "(a commit per transaction; SQLite with synchronous=FULL; PostgreSQL at "
        "`AGENT_TEST_POSTGRES_URL`).",
        "",
        *table(results),
    ]
    return lines + [f"- skipped {reason}" for reason in skipped]


def dialer_section(quick: bool) -> list[str]:
    return [
        "Contacts placed per second by 2 procrastinate workers beside 2 API replicas on the "
        "local PostgreSQL (bench/dialer.py; one campaign pass, pacing out of the way, "
        "0.1 s fake calls), with the drill's checks (caps, overlaps, log, chain).",
        "",
        *dialer.report_lines(quick),
    ]


RUNNERS: dict[str, tuple[str, Callable[[bool], list[str]]]] = {
    "chat": ("Chat turns under concurrency", chat_section),
    "classifier": ("Classifier vs a plain transformers pipeline", classifier_section),
    "voice": ("Concurrent voice calls", voice_section),
    "audit": ("Audit append rate", audit_section),
    "dialer": ("Dialer throughput", dialer_section),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args()
    started = time.perf_counter()
    report = [
        f"# Benchmark report ({'quick' if args.quick else 'full'})",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC with `python -m bench"
        f"{' --quick' if args.quick else ''}`.",
        "",
        "## Machine",
        "",
        *machine_facts(),
    ]
    failed = []
    for name in args.only:
        title, runner = RUNNERS[name]
        print(f"bench: {name} ...", flush=True)
        section_started = time.perf_counter()
        try:
            body = runner(args.quick)
        except Exception as exc:  # one failed benchmark must not lose the others
            failed.append(name)
            body = [f"**Failed**: {type(exc).__name__}: {exc}"]
        took = time.perf_counter() - section_started
        report += ["", f"## {title}", "", *body, "", f"_({took:.0f} s)_"]
        print("\n".join(body), flush=True)
    report += ["", f"Total: {time.perf_counter() - started:.0f} s.", ""]
    args.out.write_text("\n".join(report), encoding="utf-8")
    print(f"bench: report written to {args.out}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
