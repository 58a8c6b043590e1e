"""Concurrent real-time calls over Twilio Media Streams against a real server process.

    .venv/bin/python -m bench.voice_calls [--calls 1 4 8 16] [--min-turns 16]

Starts `agent serve` (SQLite in a temporary folder, PocketSphinx, espeak-ng TTS, the
classifier) and, for each N, runs N inbound calls at once over loopback WebSockets.
Every call plays recorded debtor speech (espeak-ng rendered once, telephone band,
mu-law) in real time, 20 ms a frame, as a gateway would: it waits for the greeting,
says "yes", waits for the reply, asks for a person, waits for the reply, hangs up.

Reports per N: end of debtor speech -> first reply audio frame received, p50/p95,
measured by the caller (so it includes the endpointer's silence window), and the
server's own figure (end of turn detected -> first frame sent) from its
`voice_turn_latency` log lines, with the STT/analysis/decision/TTS split; late
frames (server: frames sent over one frame behind schedule; caller: gaps over 60 ms
inside a reply); server CPU per call (% of one core). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect

from agent.voice import audio
from bench.gateway_sim import StreamClient, utterance_frames
from bench.server import machine, percentile, start_server

TOKEN = "bench-token"
DEBTOR_PHONE = "+12125550142"  # DEMO-US-001
LINES = ["yes", "i want to talk to a real person"]
FRAME_S = audio.FRAME_MS / 1000
SPEECH_LEAD_MS = 200  # utterance_frames starts with this much silence


@dataclass
class CallResult:
    latencies_ms: list[float] = field(default_factory=list)
    late_gaps: int = 0
    error: str | None = None


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Reader:
    """Collects the server's events with arrival times."""

    def __init__(self, client: StreamClient) -> None:
        self.client = client
        self.media_times: list[float] = []
        self.marks: list[str] = []
        self.closed = asyncio.Event()
        self.arrived = asyncio.Event()

    async def run(self) -> None:
        try:
            async for raw in self.client.ws:
                event = json.loads(raw)
                if event["event"] == "media":
                    self.media_times.append(time.perf_counter())
                    self.arrived.set()
                elif event["event"] == "mark":
                    self.marks.append(event["mark"]["name"])
        except Exception:
            pass
        finally:
            self.closed.set()

    async def quiet(self, gap_s: float = 0.6, limit_s: float = 90.0) -> None:
        """Wait until the server has been silent for `gap_s` (the reply played out)."""
        async with asyncio.timeout(limit_s):
            while True:
                await asyncio.sleep(0.1)
                last = self.media_times[-1] if self.media_times else 0.0
                if self.media_times and time.perf_counter() - last > gap_s:
                    return

    async def media_after(self, count: int) -> None:
        async with asyncio.timeout(30):
            while len(self.media_times) <= count:
                self.arrived.clear()
                await self.arrived.wait()

    def late_gaps(self) -> int:
        gaps = zip(self.media_times, self.media_times[1:], strict=False)
        return sum(1 for a, b in gaps if 0.06 < b - a < 0.5)


async def _inbound_call(http: httpx.AsyncClient, host: str, index: int) -> str:
    url = f"http://{host}/v1/telephony/twilio/voice"
    params = {
        "CallSid": f"CA{index:032d}",
        "AccountSid": "AC" + "0" * 32,
        "From": DEBTOR_PHONE,
        "To": "+18005550100",
        "CallStatus": "in-progress",
        "Direction": "inbound",
    }
    signature = RequestValidator(TOKEN).compute_signature(url, params)
    response = await http.post(url, data=params, headers={"X-Twilio-Signature": signature})
    response.raise_for_status()
    return response.text.split('name="call_id" value="', 1)[1].split('"', 1)[0]


async def _speak_in_real_time(client: StreamClient, text: str) -> float:
    """Send the line at 20 ms a frame; returns when its speech ended (perf_counter)."""
    frames = utterance_frames(text)
    speech_frames = len(audio.frames(_speech(text), audio.MULAW_FRAME_BYTES))
    speech_end_index = SPEECH_LEAD_MS // audio.FRAME_MS + speech_frames
    started = time.perf_counter()
    speech_end = started
    for index, frame in enumerate(frames):
        due = started + index * FRAME_S
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await client.media(frame)
        if index == speech_end_index - 1:
            speech_end = time.perf_counter() + FRAME_S
    return speech_end


def _speech(text: str) -> bytes:
    from bench.gateway_sim import speech_mulaw

    return speech_mulaw(text)


async def _one_call(host: str, index: int, http: httpx.AsyncClient) -> CallResult:
    result = CallResult()
    try:
        call_id = await _inbound_call(http, host, index)
        url = f"ws://{host}/v1/telephony/twilio/stream"
        signature = RequestValidator(TOKEN).compute_signature(url, {})
        async with connect(url, additional_headers={"X-Twilio-Signature": signature}) as ws:
            client = StreamClient(ws, stream_sid=f"MZ{index:032d}")
            reader = Reader(client)
            reading = asyncio.create_task(reader.run())
            await client.start(call_id)
            await reader.quiet()
            for line in LINES:
                before = len(reader.media_times)
                speech_end = await _speak_in_real_time(client, line)
                await reader.media_after(before)
                result.latencies_ms.append((reader.media_times[before] - speech_end) * 1000)
                await reader.quiet()
            await client.stop()
            await asyncio.wait_for(reader.closed.wait(), 10)
            reading.cancel()
            result.late_gaps = reader.late_gaps()
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _server_latencies(log_path: Path, since: int) -> tuple[list[dict[str, Any]], int]:
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = []
    for line in lines[since:]:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == "voice_turn_latency":
            rows.append(record)
    return rows, len(lines)


def _late_frames(host: str) -> float:
    text = httpx.get(f"http://{host}/metrics").text
    for line in text.splitlines():
        if line.startswith("tact_voice_late_frames_total "):
            return float(line.split()[1])
    return 0.0


async def _run_level(host: str, calls: int, rounds: int, first_index: int) -> list[CallResult]:
    results: list[CallResult] = []
    async with httpx.AsyncClient(timeout=30) as http:
        for round_index in range(rounds):
            base = first_index + round_index * calls
            batch = (_one_call(host, base + i, http) for i in range(calls))
            results += await asyncio.gather(*batch)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--min-turns", type=int, default=16, help="measured turns per level")
    args = parser.parse_args()
    for line in LINES:  # render the recordings before any clock starts
        utterance_frames(line)
    print(f"machine: {machine()}")
    print(
        "| calls | turns | caller: speech end -> reply audio p50 / p95 (ms) | "
        "server: turn end -> first frame p50 / p95 (ms) | STT / analysis / decision / TTS "
        "p50 (ms) | late frames (server / caller) | CPU per call (% of a core) | errors |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server.log"
        env = {
            "AGENT_TWILIO_AUTH_TOKEN": TOKEN,
            "AGENT_TELEPHONY_MODE": "stream",
            "AGENT_LOG_FORMAT": "json",
        }
        server, host = start_server(Path(tmp), log_path, env)
        try:
            _, log_mark = _server_latencies(log_path, 0)
            index = 0
            for calls in args.calls:
                rounds = max(1, math.ceil(args.min_turns / (calls * len(LINES))))
                late_before = _late_frames(host)
                cpu_before, wall_before = _cpu_seconds(server.pid), time.perf_counter()
                results = asyncio.run(_run_level(host, calls, rounds, index))
                cpu_used = _cpu_seconds(server.pid) - cpu_before
                wall = time.perf_counter() - wall_before
                index += calls * rounds
                server_rows, log_mark = _server_latencies(log_path, log_mark)
                caller = [ms for r in results for ms in r.latencies_ms]
                served = [row["response_ms"] for row in server_rows]
                stages = [
                    statistics.median(row.get(f"{s}_ms", 0.0) for row in server_rows)
                    if server_rows
                    else 0.0
                    for s in ("stt", "analysis", "decision", "tts")
                ]
                errors = [r.error for r in results if r.error]
                cpu_per_call = 100 * cpu_used / wall / calls
                print(
                    f"| {calls} | {len(caller)} | {percentile(caller, 0.5):.0f} / "
                    f"{percentile(caller, 0.95):.0f} | {percentile(served, 0.5):.0f} / "
                    f"{percentile(served, 0.95):.0f} | "
                    + " / ".join(f"{s:.0f}" for s in stages)
                    + f" | {_late_frames(host) - late_before:.0f} / "
                    f"{sum(r.late_gaps for r in results)} | {cpu_per_call:.1f} | "
                    f"{len(errors)} |",
                    flush=True,
                )
                for error in errors[:3]:
                    print(f"  error: {error}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
