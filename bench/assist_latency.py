"""Assist panel latency: how soon a logged debtor turn reaches the panel's live stream.

    .venv/bin/python -m bench.assist_latency [--messages 100] [--redis redis://127.0.0.1:6379/0]

Starts the service (`python -m agent serve`, a fresh SQLite file), signs in as agent@demo,
opens GET /v1/assist/events (SSE) and sends debtor messages over HTTP, one at a time.
The turn is committed before the HTTP reply and published right after the commit, so
for each message it prints, over all messages:

- reply -> event: SSE arrival minus HTTP reply arrival (negative: the panel saw the turn
  before the debtor's own reply arrived);
- request -> event: SSE arrival minus the moment the request was sent (an upper bound
  on commit -> panel, including the classifier and the dialogue).

Prints figures and the machine; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from collections import defaultdict, deque
from pathlib import Path

import httpx

from bench.server import machine, percentile, start_server

# Messages that keep the conversation on its step (the bot clarifies and asks again).
LINES = ("I'm not sure what you mean", "Sorry, can you explain that again?", "Hmm, what?")


def start(data_dir: Path, redis_url: str) -> tuple[subprocess.Popen[bytes], str]:
    env = {"AGENT_LOG_LEVEL": "WARNING", "AGENT_REDIS_URL": redis_url}
    return start_server(data_dir, data_dir / "server.log", env)


async def measure(host: str, messages: int) -> tuple[list[float], list[float]]:
    arrivals: dict[str, deque[float]] = defaultdict(deque)
    arrived = asyncio.Event()
    async with (
        httpx.AsyncClient(base_url=f"http://{host}", timeout=60) as panel,
        httpx.AsyncClient(base_url=f"http://{host}", timeout=60) as debtor,
    ):
        login = await panel.post(
            "/v1/auth/login", json={"username": "agent@demo", "password": "demo-agent-pass"}
        )
        login.raise_for_status()

        async with panel.stream("GET", "/v1/assist/events") as stream:
            lines = stream.aiter_lines()
            assert await anext(lines) == ": connected"

            async def read() -> None:
                async for line in lines:
                    if line.startswith("data: "):
                        event = json.loads(line[6:])
                        if event.get("type") == "turn" and event.get("role") == "debtor":
                            arrivals[event["conversation_id"]].append(time.perf_counter())
                            arrived.set()

            reader = asyncio.create_task(read())
            after_reply: list[float] = []
            after_request: list[float] = []
            session = conversation = ""
            ended = True
            try:
                for index in range(messages):
                    if ended:
                        created = (
                            await debtor.post(
                                "/v1/chat/sessions", json={"account_ref": "DEMO-US-001"}
                            )
                        ).json()
                        session, conversation = created["session_id"], created["conversation_id"]
                        say = f"/v1/chat/sessions/{session}/messages"
                        await debtor.post(say, json={"text": "April 12th 1985"})
                        async with asyncio.timeout(10):
                            while not arrivals[conversation]:
                                arrived.clear()
                                await arrived.wait()
                        arrivals[conversation].clear()  # the DOB turn is not measured
                    sent = time.perf_counter()
                    reply = await debtor.post(say, json={"text": LINES[index % len(LINES)]})
                    replied = time.perf_counter()
                    reply.raise_for_status()
                    ended = bool(reply.json()["state"]["ended"])
                    async with asyncio.timeout(10):
                        while not arrivals[conversation]:
                            arrived.clear()
                            await arrived.wait()
                    at = arrivals[conversation].popleft()
                    after_reply.append((at - replied) * 1000)
                    after_request.append((at - sent) * 1000)
            finally:
                reader.cancel()
    return after_reply, after_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--redis", default="", help="AGENT_REDIS_URL for the server")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as directory:
        server, host = start(Path(directory), args.redis)
        try:
            after_reply, after_request = asyncio.run(measure(host, args.messages))
        finally:
            server.terminate()
            server.wait(timeout=30)
    bus = f"redis ({args.redis})" if args.redis else "in-process"
    print(f"{len(after_reply)} debtor turns over HTTP, SSE subscriber agent@demo, event bus {bus}")
    for name, values in (("reply -> event", after_reply), ("request -> event", after_request)):
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        print(f"{name:>17}: p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  max {max(values):7.2f} ms")


if __name__ == "__main__":
    main()
