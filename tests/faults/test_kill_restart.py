"""`kill -9` of the service mid-conversation, then a restart on the same SQLite file.

A real `agent serve` process (bench/server.py) carries six chat sessions taking turns
as fast as they can and one Media Streams call that has verified the debtor by keypad.
It is killed with SIGKILL while chat requests are in flight, and started again on the
same database. Then:

- chat: every session continues (the same session id answers, still verified);
- the call: the gateway's final status callback ends the conversation cleanly
  (`conversation.ended`, reason `call_completed`) and the call is `completed`;
- no turn lost or duplicated: every line a client got a reply for is a debtor turn
  exactly once, in order, each with its reply logged and one audit event per turn; a
  line whose reply never came (the kill) is stored at most once;
- the hash chain verifies (`agent audit verify`, exit 0).

Run alone: `.venv/bin/pytest tests/faults/test_kill_restart.py -q`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.chat_load import ChatClient, ConversationLog, LoadStats, check_log
from bench.gateway_sim import StreamClient
from bench.server import start_server
from tests.telephony.conftest import TOKEN, call_params, sign

STREAM_PATH = "/v1/telephony/twilio/stream"
# After the date of birth these keep the conversation going on its step.
CLARIFY = ("I'm not sure what you mean", "Sorry, can you explain that again?", "Hmm, what?")
SESSIONS = 6


def server_env() -> dict[str, str]:
    return {
        "AGENT_ANALYZER": "lexicon",  # the proof is about the log; the model is not needed
        "AGENT_TELEPHONY_MODE": "stream",
        "AGENT_TWILIO_AUTH_TOKEN": TOKEN,
        "AGENT_VOICE_PACING": "false",
    }


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


async def open_call(host: str) -> tuple[str, Any, StreamClient]:
    """An inbound call in stream mode, greeted, verified by keypad; the socket stays open."""
    url = f"http://{host}/v1/telephony/twilio/voice"
    params = call_params()
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url, data=params, headers={"X-Twilio-Signature": sign(url, params)}
        )
    assert response.status_code == 200, response.text
    call_id = response.text.split('name="call_id" value="', 1)[1].split('"', 1)[0]
    ws_url = f"ws://{host}{STREAM_PATH}"
    ws = await connect(ws_url, additional_headers={"X-Twilio-Signature": sign(ws_url, {})})
    client = StreamClient(ws)
    await client.start(call_id)
    greeting = await client.until(lambda e: e["event"] == "mark")
    await client.mark(greeting["mark"]["name"])
    await client.dtmf("04121985#")
    # The reply is spoken only after the turn committed: its first frame proves it.
    await client.until(lambda e: e["event"] == "media")
    return call_id, ws, client


async def chat_until_killed(
    host: str, server: subprocess.Popen[bytes], logs: list[ConversationLog]
) -> None:
    """Sessions talk in a loop; the server is SIGKILLed once a dozen turns were answered,
    with requests still in flight."""
    stats = LoadStats()
    async with httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as http:
        chat = ChatClient(http, stats)
        for _ in range(SESSIONS):
            log = await chat.start("DEMO-US-001")
            assert log is not None, stats.errors
            logs.append(log)

        enough = asyncio.Event()

        async def talk(log: ConversationLog) -> None:
            lines = ["April 12th 1985", *CLARIFY * 20]
            for line in lines:
                if log.ended or not await chat.say(log, line):
                    return
                if len(stats.latencies_s) >= 12:
                    enough.set()  # the others are mid-request right now

        async def killer() -> None:
            await enough.wait()
            os.kill(server.pid, signal.SIGKILL)

        await asyncio.gather(killer(), *(talk(log) for log in logs))
    server.wait(timeout=30)
    assert server.returncode == -signal.SIGKILL


async def api(host: str, path: str) -> Any:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"http://{host}{path}")
    assert response.status_code == 200, response.text
    return response.json()


async def test_kill_9_mid_conversation_then_restart_loses_and_duplicates_nothing(
    data_dir: Path,
) -> None:
    log_path = data_dir / "server.log"
    server, host = start_server(data_dir, log_path, server_env())
    logs: list[ConversationLog] = []
    try:
        call_id, ws, _ = await open_call(host)
        try:
            await chat_until_killed(host, server, logs)
            with pytest.raises(ConnectionClosed):  # the gateway sees the socket drop
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()  # frames already sent before the kill, then EOF
        finally:
            await ws.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert sum(len(log.answered) for log in logs) >= 12
    # The kill caught requests in flight (their lines are checked below: at most once).
    assert any(log.unanswered for log in logs)

    server, host = start_server(data_dir, log_path, server_env())
    try:
        # Chat: the same sessions go on where they were (the state lives in the store).
        async with httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as http:
            chat = ChatClient(http, LoadStats())
            for log in logs:
                if log.ended:
                    continue
                assert await chat.say(log, "I can pay 200 dollars next Friday"), chat.stats.errors
                response = await http.get(f"/v1/conversations/{log.conversation_id}")
                assert response.json()["state"]["verified"] is True

        # The call: the gateway reports it completed; the open conversation is closed.
        url = f"http://{host}/v1/telephony/twilio/status"
        params = call_params(CallStatus="completed", CallDuration="30")
        async with httpx.AsyncClient() as http:
            status = await http.post(
                url, data=params, headers={"X-Twilio-Signature": sign(url, params)}
            )
        assert status.status_code == 204, status.text
        call = await api(host, f"/v1/calls/{call_id}")
        assert call["status"] == "completed"
        conversation = await api(host, f"/v1/conversations/{call['conversation_id']}")
        assert [t["text"] for t in conversation["turns"] if t["role"] == "debtor"] == ["04121985"]
        assert conversation["state"]["verified"] is True
        assert conversation["state"]["ended"] is True
        assert (await api(host, "/v1/audit/verify"))["ok"] is True
    finally:
        server.terminate()
        server.wait(timeout=60)

    database_url = f"sqlite+aiosqlite:///{data_dir / 'tact.db'}"
    problems, _, chain_ok = await check_log(database_url, logs, exclusive=False)
    assert problems == []
    assert chain_ok

    verify = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "agent", "audit", "verify"],
        env={**os.environ, "AGENT_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["ok"] is True
