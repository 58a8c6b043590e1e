"""Planted PII: a whole chat conversation through the real app (verification, a promise,
and debtor messages carrying a card number, an SSN, a Chinese ID number, an email and a
phone number), then every log line the service wrote (DEBUG and up) and every text/JSON
value of every table, plus the SQLite file's raw bytes, are searched for the raw values.
None may appear."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine

from agent.app import create_app
from agent.compliance.redact import redact
from agent.logs import JsonFormatter
from agent.settings import Settings
from tests.conftest import fixed_clock, http_client
from tests.databases import fresh_database_url

# Each planted value, as the debtor types it.
CARD = "4111 1111 1111 1111"  # Visa's Luhn-valid test number
SSN = "123-45-6789"
CN_ID = "11010519491231002X"  # GB 11643 checksum holds
EMAIL = "alex.morgan.private@example.org"
PHONE = "+1 212-555-0187"
PLANTED = {"card": CARD, "ssn": SSN, "cn_id": CN_ID, "email": EMAIL, "phone": PHONE}

CONVERSATION = [
    "April 12th 1985",
    f"my card number is {CARD}, can you take it from there?",
    f"my social security number is {SSN} if you need it",
    f"my identity card is {CN_ID}",
    f"my email address is {EMAIL} and my phone number is {PHONE}",
    "I can pay 200 dollars next Friday",
    "yes",
]


def forms(value: str) -> set[str]:
    """The value as typed, and its bare digits (what a store might normalise it to)."""
    bare = re.sub(r"[^0-9A-Za-z@.]", "", value)
    return {value, bare, bare.lstrip("1") if value.startswith("+1") else bare}


def test_the_planted_values_are_ones_the_redactor_covers() -> None:
    # Otherwise the scan below would test nothing about the redactor's reach.
    for value in PLANTED.values():
        assert value not in redact(f"here: {value} ok", "US")


@contextlib.asynccontextmanager
async def database(kind: str, directory: Path) -> AsyncIterator[str]:
    async with fresh_database_url(kind, directory) as url:
        yield url


async def every_stored_value(engine: AsyncEngine) -> list[tuple[str, str]]:
    """(table.column, text) for every non-null value of every table, JSON as written."""
    metadata = MetaData()
    async with engine.connect() as connection:
        await connection.run_sync(metadata.reflect)
        found: list[tuple[str, str]] = []
        for table in metadata.sorted_tables:
            for row in (await connection.execute(select(table))).mappings():
                for column, value in row.items():
                    if value is None:
                        continue
                    text = (
                        json.dumps(value, ensure_ascii=False, default=str)
                        if isinstance(value, dict | list)
                        else str(value)
                    )
                    found.append((f"{table.name}.{column}", text))
    return found


def sqlite_bytes(database_url: str) -> bytes:
    """The database file and its journals, byte for byte (free pages included)."""
    base = database_url.split("///", 1)[1]
    paths = [Path(base + suffix) for suffix in ("", "-wal", "-journal")]
    return b"".join(path.read_bytes() for path in paths if path.exists())


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_no_planted_pii_in_logs_or_database(
    kind: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with database(kind, tmp_path) as url:
        settings = Settings(
            data_dir=tmp_path,
            database_url=url,
            environment="test",
            log_level="DEBUG",  # everything the service can log
            log_format="json",
        )
        app = create_app(settings, clock=fixed_clock)
        caplog.set_level(logging.DEBUG)
        async with app.router.lifespan_context(app), http_client(app) as client:
            created = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
            assert created.status_code == 201
            session = created.json()["session_id"]
            states: list[dict[str, Any]] = []
            for text in CONVERSATION:
                reply = await client.post(
                    f"/v1/chat/sessions/{session}/messages", json={"text": text}
                )
                assert reply.status_code == 200, reply.text
                states.append(reply.json()["state"])
                # What the API hands back is the redacted text too.
                for value in PLANTED.values():
                    assert value not in reply.text
            transcript = await client.get(f"/v1/conversations/{created.json()['conversation_id']}")
            stored = await every_stored_value(app.state.services.store.engine)
        # The conversation really ran: verified, and the promise confirmed.
        assert states[0]["verified"] is True
        promise = states[-1]["promise"]
        assert (promise["amount"], promise["confirmed"]) == ("200", True)
        # The debtor's turns were stored, redacted, with their placeholders.
        debtor_turns = [t for t in transcript.json()["turns"] if t["role"] == "debtor"]
        assert len(debtor_turns) == len(CONVERSATION)
        # The analyzer saw the redacted text: no digits of a card or phone became an amount.
        for turn in debtor_turns[1:5]:
            assert turn["analysis"]["entities"]["amount"] is None, turn
        stored_text = "\n".join(text for _, text in stored)
        for placeholder in ("[CARD]", "[SSN]", "[CN ID]", "[EMAIL]", "[PHONE]"):
            assert placeholder in stored_text

    formatter = JsonFormatter()
    log_text = "\n".join(
        formatter.format(record) + " " + repr(record.__dict__) for record in caplog.records
    )
    stderr = capsys.readouterr().err
    assert len(caplog.records) > 20 and '"event": "turn"' in stderr  # the logs were captured
    raw_db = sqlite_bytes(settings.database_url) if kind == "sqlite" else b""

    leaks: list[str] = []
    for name, value in PLANTED.items():
        for form in forms(value):
            if form in log_text or form in stderr:
                leaks.append(f"{name} {form!r} in the logs")
            leaks += [f"{name} {form!r} in {where}" for where, text in stored if form in text]
            if form.encode() in raw_db:
                leaks.append(f"{name} {form!r} in the SQLite file")
    assert leaks == []
