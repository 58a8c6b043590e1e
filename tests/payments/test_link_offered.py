"""The tenant's payment link offered after a promise: shown in chat, texted on a call
(through the contact rules, with no debt in the text)."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from agent.app import create_app
from agent.store.models import ContactAttempt
from tests.conftest import fixed_clock, http_client
from tests.telephony.conftest import call_params, post_signed, spoken, telephony_settings, twiml
from tests.telephony.fake_twilio import fake_twilio

LINKS = {"demo": "https://pay.example.com/{account_ref}"}
PROMISE = ["April 12th 1985", "I can pay 200 dollars next Friday", "yes that's right"]


async def test_chat_shows_the_payment_link_after_a_promise(tmp_path: Path) -> None:
    settings = telephony_settings(tmp_path, payment_link_templates=LINKS)
    app = create_app(settings, clock=fixed_clock)
    async with app.router.lifespan_context(app), http_client(app) as client:
        session = await client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"})
        session_id = session.json()["session_id"]
        replies = []
        for text in PROMISE:
            reply = await client.post(
                f"/v1/chat/sessions/{session_id}/messages", json={"text": text}
            )
            assert reply.status_code == 200, reply.text
            replies.append(" ".join(m["text"] for m in reply.json()["messages"]))
    assert "https://pay.example.com" not in " ".join(replies[:2])
    assert "You can pay securely here: https://pay.example.com/DEMO-US-001" in replies[2]


async def _say(client: httpx.AsyncClient, root: ET.Element, sid: str, text: str) -> ET.Element:
    [gather] = [child for child in root if child.tag == "Gather"]
    action = urlsplit(gather.get("action") or "")
    params = call_params(sid=sid, SpeechResult=text, Confidence="0.9")
    return twiml(await post_signed(client, f"{action.path}?{action.query}", params))


async def test_a_call_texts_the_link_through_the_contact_rules(tmp_path: Path) -> None:
    with fake_twilio() as twilio:
        twilio.unique_sids = True
        settings = telephony_settings(
            tmp_path, payment_link_templates=LINKS, twilio_api_base=twilio.base_url
        )
        app = create_app(settings, clock=fixed_clock)
        async with app.router.lifespan_context(app), http_client(app) as client:
            sid = "CA" + "b" * 32
            root = twiml(
                await post_signed(client, "/v1/telephony/twilio/voice", call_params(sid=sid))
            )
            for text in PROMISE[:2]:
                root = await _say(client, root, sid, text)
            said_before = spoken(root)
            root = await _say(client, root, sid, PROMISE[2])
            assert "I'll also text you a secure link to pay" in spoken(root)
            assert "text you" not in said_before and "https://" not in spoken(root)
            await asyncio.gather(*app.state.services.pipeline._texts)
            async with app.state.services.store.read() as session:
                attempts = list((await session.execute(select(ContactAttempt))).scalars())
    [message] = twilio.texts()
    assert message.form["To"] == "+12125550142"
    assert "https://pay.example.com/DEMO-US-001" in message.form["Body"]
    for secret in ("debt", "200", "Northwind", "balance"):
        assert secret not in message.form["Body"]
    [sms] = [a for a in attempts if a.channel == "sms"]
    assert sms.purpose == "payment_link" and sms.outcome == "sent"


async def test_no_text_is_promised_when_texts_are_refused(tmp_path: Path) -> None:
    """An opt-out of texts: the call neither promises nor sends a link."""
    with fake_twilio() as twilio:
        settings = telephony_settings(
            tmp_path, payment_link_templates=LINKS, twilio_api_base=twilio.base_url
        )
        app = create_app(settings, clock=fixed_clock)
        async with app.router.lifespan_context(app), http_client(app) as client:
            from agent.store import repository
            from agent.store.models import AccountFlag

            async with app.state.services.store.write() as session:
                account, _ = await repository.require_account(session, "DEMO-US-001")
                session.add(
                    AccountFlag(
                        account_id=account.id,
                        flag="optout_sms",
                        set_at=fixed_clock(),
                        source="test",
                        details={},
                    )
                )
            sid = "CA" + "c" * 32
            root = twiml(
                await post_signed(client, "/v1/telephony/twilio/voice", call_params(sid=sid))
            )
            for text in PROMISE:
                root = await _say(client, root, sid, text)
            await asyncio.gather(*app.state.services.pipeline._texts)
    closing = spoken(root)
    assert "I've recorded your payment" in closing and "text you" not in closing
    assert twilio.texts() == []
