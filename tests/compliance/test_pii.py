"""Planted PII in a whole conversation never reaches the database, the API or the logs."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.compliance.test_redact import cn_id, example_phone, luhn

CARD = luhn("411111111111111")
CN_ID = cn_id("11010519491231002")
SSN = "219-09-9999"
US_PHONE = example_phone("US", 0, 0)


async def test_planted_pii_is_redacted_everywhere(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    lines = [
        f"my card number is {CARD} and my ssn is {SSN}",
        f"call me on {US_PHONE}, my id is {CN_ID}",
    ]
    replies, transcripts = [], []
    # One conversation per line: what the classifier makes of a line full of digits
    # (it may end the conversation) is not what this test is about.
    for line in lines:
        session = (
            await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        ).json()
        for said in ("April 12 1985", line):
            response = await client.post(
                f"/v1/chat/sessions/{session['session_id']}/messages", json={"text": said}
            )
            assert response.status_code == 200, response.text
            replies.append(response.text)
        transcripts.append(
            (await client.get(f"/v1/conversations/{session['conversation_id']}")).text
        )
    transcript = "\n".join(transcripts)
    async with app.state.services.store.read() as db:
        dump = []
        for table in ("turns", "conversations", "audit_events", "account_flags"):
            rows = (await db.execute(text(f"SELECT * FROM {table}"))).all()
            dump.append(json.dumps([list(map(str, row)) for row in rows], ensure_ascii=False))
    everything = "\n".join([*replies, transcript, *dump, caplog.text])
    digits = "".join(ch for ch in everything if ch.isdigit() or ch.isspace())
    for raw in (CARD, SSN, CN_ID, US_PHONE):
        assert raw not in everything
        assert "".join(ch for ch in raw if ch.isdigit()) not in digits.replace(" ", "")
    assert "[CARD]" in transcript and "[SSN]" in transcript and "[CN ID]" in transcript
    assert "[PHONE]" in transcript
