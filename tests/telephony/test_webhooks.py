"""The voice and gather webhooks: whole calls in gather mode, stream mode, machines,
unknown callers, hand-off, silence, and failing closed."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from agent.app import create_app
from agent.errors import Unavailable
from agent.store.models import AuditEvent, Call
from tests.conftest import fixed_clock, http_client
from tests.telephony.conftest import (
    CN_PHONE,
    call_params,
    post_signed,
    spoken,
    telephony_settings,
    twiml,
)

VOICE = "/v1/telephony/twilio/voice"
DEBT_WORDS = ("Northwind", "1,240", "debt", "balance")


def _gather(root: ET.Element) -> ET.Element:
    [gather] = list(root)
    assert gather.tag == "Gather"
    assert gather.get("input") == "speech dtmf"
    assert gather.get("speechTimeout") == "auto"
    assert gather.get("method") == "POST"
    assert "/v1/telephony/twilio/gather?call_id=" in (gather.get("action") or "")
    return gather


async def _say_to(
    client: httpx.AsyncClient, root: ET.Element, sid: str, **said: str
) -> httpx.Response:
    """Answer a <Gather> the way the gateway does: post to its action URL."""
    action = urlsplit(_gather(root).get("action") or "")
    path = f"{action.path}?{action.query}"
    return await post_signed(client, path, call_params(sid=sid, **said), signed_base="http://test")


async def test_a_whole_gather_mode_call_en_us(app: FastAPI, client: httpx.AsyncClient) -> None:
    sid = "CA" + "a" * 32
    root = twiml(await post_signed(client, VOICE, call_params(sid=sid)))
    gather = _gather(root)
    assert gather.get("language") == "en-US"
    assert {s.get("language") for s in gather.iter("Say")} == {"en-US"}
    opening = spoken(root)
    assert "automated assistant" in opening and "recorded" in opening
    assert not any(word in opening for word in DEBT_WORDS)

    root = twiml(await _say_to(client, root, sid, SpeechResult="April 12th 1985", Confidence="0.9"))
    said = spoken(root)
    assert "Northwind Bank" in said and "$1,240.50" in said and "attempt to collect a debt" in said
    root = twiml(await _say_to(client, root, sid, SpeechResult="I can pay 200 dollars next Friday"))
    assert "$200.00" in spoken(root) and "December 4, 2026" in spoken(root)
    root = twiml(await _say_to(client, root, sid, SpeechResult="yes that's right"))
    assert [child.tag for child in root][-1] == "Hangup"
    assert root.find("Gather") is None and spoken(root)

    call = await app.state.services.calls.by_sid(sid)
    assert call is not None and call.account_ref == "DEMO-US-001" and call.direction == "inbound"
    transcript = (await client.get(f"/v1/conversations/{call.conversation_id}")).json()
    assert transcript["state"]["ended"] is True
    debtor_said = [t["text"] for t in transcript["turns"] if t["role"] == "debtor"]
    assert debtor_said[0] == "April 12th 1985" and len(debtor_said) == 3


async def test_digits_answer_a_gather(client: httpx.AsyncClient) -> None:
    sid = "CA" + "b" * 32
    root = twiml(await post_signed(client, VOICE, call_params(sid=sid)))
    root = twiml(await _say_to(client, root, sid, Digits="04121985"))
    assert "Northwind Bank" in spoken(root)
    _gather(root)


async def test_a_zh_cn_call_speaks_zh_cn(client: httpx.AsyncClient) -> None:
    sid = "CA" + "c" * 32
    root = twiml(await post_signed(client, VOICE, call_params(sid=sid, From=CN_PHONE)))
    gather = _gather(root)
    assert gather.get("language") == "zh-CN"
    assert {s.get("language") for s in root.iter("Say")} == {"zh-CN"}
    assert "华信" not in spoken(root)
    root = twiml(await _say_to(client, root, sid, SpeechResult="1990年8月8日"))
    assert "华信消费金融" in spoken(root)
    assert {s.get("language") for s in root.iter("Say")} == {"zh-CN"}


async def test_an_unknown_caller_hears_nothing_about_any_debt(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    root = twiml(await post_signed(client, VOICE, call_params(From="+13125550100")))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    said = spoken(root)
    assert "+1 800 555 0100" in said and "Tact Services" in said
    assert not any(word in said for word in (*DEBT_WORDS, "Alex"))
    async with app.state.services.store.read() as session:
        [call] = (await session.execute(select(Call))).scalars().all()
    assert call.account_id is None and call.conversation_id is None


async def test_the_voice_webhook_is_idempotent(app: FastAPI, client: httpx.AsyncClient) -> None:
    first = twiml(await post_signed(client, VOICE, call_params()))
    again = twiml(await post_signed(client, VOICE, call_params()))
    assert spoken(first) == spoken(again)
    async with app.state.services.store.read() as session:
        assert len((await session.execute(select(Call))).scalars().all()) == 1


async def test_an_answering_machine_gets_the_voicemail_only(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    calls = app.state.services.calls
    call = await calls.create_outbound("DEMO-US-001")
    params = call_params(
        sid="CA" + "d" * 32, Direction="outbound-api", AnsweredBy="machine_end_beep"
    )
    root = twiml(await post_signed(client, f"{VOICE}?call_id={call.id}", params))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    said = spoken(root)
    assert said.startswith("Hello, this message is for Alex.") and "+1 800 555 0100" in said
    assert not any(word.lower() in said.lower() for word in DEBT_WORDS)
    stored = await calls.get(call.id)
    assert stored.answered_by == "machine_end_beep" and stored.conversation_id is None
    async with app.state.services.store.read() as session:
        kinds = (await session.execute(select(AuditEvent.kind))).scalars().all()
    assert "call.voicemail" in kinds


async def test_a_fax_gets_silence(app: FastAPI, client: httpx.AsyncClient) -> None:
    call = await app.state.services.calls.create_outbound("DEMO-US-001")
    params = call_params(Direction="outbound-api", AnsweredBy="fax")
    root = twiml(await post_signed(client, f"{VOICE}?call_id={call.id}", params))
    assert [child.tag for child in root] == ["Hangup"]


async def test_silence_reprompts_then_ends(client: httpx.AsyncClient) -> None:
    sid = "CA" + "e" * 32
    root = twiml(await post_signed(client, VOICE, call_params(sid=sid)))
    opening = spoken(root)
    for attempt in (1, 2):
        root = twiml(await _say_to(client, root, sid, SpeechResult=""))
        assert spoken(root) == opening
        assert f"silent={attempt}" in (_gather(root).get("action") or "")
    root = twiml(await _say_to(client, root, sid, SpeechResult=""))
    assert [child.tag for child in root] == ["Say", "Hangup"]
    assert "didn't hear anything" in spoken(root)


@pytest.fixture
async def handoff_app(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[FastAPI]:
    settings = telephony_settings(tmp_path, human_queue_number=request.param)
    application = create_app(settings, clock=fixed_clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.mark.parametrize("handoff_app", ["+18005550199", ""], indirect=True)
async def test_a_request_for_a_person_dials_the_queue(handoff_app: FastAPI) -> None:
    sid = "CA" + "f" * 32
    async with http_client(handoff_app) as client:
        root = twiml(await post_signed(client, VOICE, call_params(sid=sid)))
        root = twiml(await _say_to(client, root, sid, SpeechResult="April 12th 1985"))
        root = twiml(
            await _say_to(client, root, sid, SpeechResult="I want to speak to a real person")
        )
    dial = root.find("Dial")
    if handoff_app.state.services.settings.human_queue_number:
        assert dial is not None and dial.text == "+18005550199"
    else:
        assert dial is None and "+1 800 555 0100" in spoken(root)
    assert [child.tag for child in root][-1] == "Hangup"


async def test_stream_mode_connects_a_media_stream(tmp_path: Path) -> None:
    public = "https://agent.example.com"
    settings = telephony_settings(tmp_path, telephony_mode="stream", public_base_url=public)
    app = create_app(settings, clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        root = twiml(await post_signed(client, VOICE, call_params(), signed_base=public))
        call = await app.state.services.calls.by_sid(call_params()["CallSid"])
    assert call is not None and call.mode == "stream" and call.session_id is None
    stream = root.find("Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://agent.example.com/v1/telephony/twilio/stream"
    [parameter] = stream.findall("Parameter")
    assert parameter.attrib == {"name": "call_id", "value": call.id}


async def test_a_per_call_stream_mode_over_plain_http(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    call = await app.state.services.calls.create_outbound("DEMO-US-001", "stream")
    params = call_params(Direction="outbound-api", AnsweredBy="human")
    root = twiml(await post_signed(client, f"{VOICE}?call_id={call.id}", params))
    stream = root.find("Connect/Stream")
    assert stream is not None and stream.get("url") == "ws://test/v1/telephony/twilio/stream"


async def _boom(*_args: Any, **_kwargs: Any) -> Any:
    raise Unavailable("store_unavailable", "the turn could not be logged; nothing was said")


async def test_pipeline_errors_fail_closed(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sid = "CA" + "9" * 32
    root = twiml(await post_signed(client, VOICE, call_params(sid=sid)))
    monkeypatch.setattr(app.state.services.pipeline, "handle", _boom)
    failed = twiml(await _say_to(client, root, sid, SpeechResult="April 12th 1985"))
    assert [child.tag for child in failed] == ["Say", "Hangup"]
    assert "sorry" in spoken(failed).lower()
    assert not any(word in spoken(failed) for word in DEBT_WORDS)
    assert any(
        r.getMessage() == "call_failed_closed" and r.levelname == "ERROR" for r in caplog.records
    )
    monkeypatch.setattr(app.state.services.pipeline, "start", _boom)
    with caplog.at_level(logging.ERROR):
        fresh = twiml(await post_signed(client, VOICE, call_params(sid="CA" + "8" * 32)))
    assert [child.tag for child in fresh] == ["Say", "Hangup"]
    unknown = twiml(
        await post_signed(client, f"{VOICE}?call_id=no-such-call", call_params(sid="CA" + "7" * 32))
    )
    assert [child.tag for child in unknown] == ["Say", "Hangup"]
