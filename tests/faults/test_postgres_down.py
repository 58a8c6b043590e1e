"""PostgreSQL stopped under load, then started again, with the service left running.

A private PostgreSQL (tests/faults/private_postgres.py; the shared one is never
touched) backs a real `agent serve` process. Chat sessions take turns continuously;
the database is stopped with `pg_ctl stop -m immediate` (a crash, as clients see it):

- requests fail closed: every answer is either a 200 whose turn is logged, or a 503
  `{"error": {"code": "store_unavailable"}}` (JSON, never a bare 500, never a hang);
- after PostgreSQL starts again the service recovers by itself: the next turn of every
  session succeeds without restarting the service;
- every turn a client got a reply for is in the log exactly once, and the chain verifies.

Run alone: `.venv/bin/pytest tests/faults/test_postgres_down.py -q`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from bench.chat_load import ChatClient, ConversationLog, LoadStats, check_log
from bench.server import start_server
from tests.faults.private_postgres import private_postgres, why_not_available

pytestmark = pytest.mark.skipif(
    why_not_available() is not None, reason=f"private PostgreSQL: {why_not_available()}"
)

CLARIFY = ("I'm not sure what you mean", "Sorry, can you explain that again?", "Hmm, what?")
SESSIONS = 4


async def test_postgres_crash_fails_closed_and_the_service_recovers_by_itself(
    tmp_path: Path,
) -> None:
    with private_postgres() as postgres:
        env = {"AGENT_DATABASE_URL": postgres.url, "AGENT_ANALYZER": "lexicon"}
        server, host = start_server(tmp_path, tmp_path / "server.log", env)
        try:
            stats = LoadStats()
            statuses: list[tuple[str, int, str]] = []  # phase, status, error code
            phase = "up"
            async with httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as http:
                chat = ChatClient(http, stats)
                logs: list[ConversationLog] = []
                for _ in range(SESSIONS):
                    log = await chat.start("DEMO-UK-001")
                    assert log is not None, stats.errors
                    assert await chat.say(log, "30/11/1979"), stats.errors
                    logs.append(log)

                stop = asyncio.Event()

                async def talk(log: ConversationLog) -> None:
                    index = 0
                    while not stop.is_set() and not log.ended:
                        text = CLARIFY[index % len(CLARIFY)]
                        index += 1
                        before = len(stats.errors)
                        answered = await chat.say(log, text)
                        code = ""
                        if not answered:
                            code = stats.errors[before] if len(stats.errors) > before else ""
                        statuses.append((phase, 200 if answered else 503, code))
                        await asyncio.sleep(0.05)

                talkers = [asyncio.create_task(talk(log)) for log in logs]
                await asyncio.sleep(1.0)
                phase = "down"
                await asyncio.to_thread(postgres.stop)
                await asyncio.sleep(2.0)
                phase = "restarting"
                await asyncio.to_thread(postgres.start)
                phase = "back"
                await asyncio.sleep(1.0)
                stop.set()
                await asyncio.gather(*talkers)

                # With PostgreSQL back, the next turn of every session succeeds.
                for log in logs:
                    if not log.ended:
                        assert await chat.say(log, "I can pay 50 pounds next Friday"), stats.errors
                verify = (await http.get("/v1/audit/verify")).json()
        finally:
            server.terminate()
            server.wait(timeout=60)
            log_text = (tmp_path / "server.log").read_text()

        # While it was down: failed closed, as JSON 503s naming the store.
        down = [s for s in statuses if s[0] == "down"]
        assert any(status == 503 for _, status, _ in down), statuses
        for error in stats.errors:
            assert error.split(": ", 1)[1].startswith("503 "), error
            assert '"code":"store_unavailable"' in error, error
        assert "Traceback" not in log_text
        # Recovered by itself: the talkers' last turns after the restart succeeded too.
        assert [s for s in statuses if s[0] == "back"][-SESSIONS:] == [("back", 200, "")] * SESSIONS

        assert verify["ok"] is True
        problems, _, chain_ok = await check_log(postgres.url, logs)
        assert problems == []
        assert chain_ok
