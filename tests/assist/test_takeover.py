"""Human takeover: the bot goes quiet, the person's words are guarded, logged, delivered."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.testclient import WebSocketTestSession

from agent.app import create_app
from agent.assist.idle import PAST_DUE_S
from agent.settings import Settings
from agent.store.models import Conversation
from tests.assist.helpers import (
    PASSWORDS,
    chain_of,
    chain_ok,
    services_of,
    sign_in,
    taken_over_chat,
    verified_chat,
)
from tests.conftest import fixed_clock, http_client
from tests.databases import DATABASES, fresh_database_url

THREAT = "we will have you arrested"


async def test_takeover_silences_the_bot_and_still_logs_the_debtor(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    base = f"/v1/assist/conversations/{chat['conversation_id']}"
    taken = await client.post(base + "/takeover")
    assert taken.json()["controlled_by"] == "agent@demo"

    reply = await client.post(
        f"/v1/chat/sessions/{chat['session_id']}/messages",
        json={"text": "I lost my job and I can't pay anything right now"},
    )
    assert reply.status_code == 200 and reply.json()["messages"] == []
    detail = (await client.get(base)).json()
    assert detail["controlled_by"] == "agent@demo"
    last = detail["turns"][-1]
    assert last["role"] == "debtor" and "lost my job" in last["text"]
    assert last["emotion"] is not None
    kinds = [e.kind for e in await chain_of(app, chat["conversation_id"])]
    assert kinds[-2:] == ["conversation.control", "turn.inbound"]

    assert (await client.post(base + "/handback")).json()["controlled_by"] is None
    reply = await client.post(
        f"/v1/chat/sessions/{chat['session_id']}/messages", json={"text": "yes please"}
    )
    assert reply.json()["messages"], "the bot answers again after the hand-back"
    assert await chain_ok(app)


async def test_a_typed_threat_is_blocked_and_not_sent(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    base = f"/v1/assist/conversations/{chat['conversation_id']}"
    await client.post(base + "/takeover")
    turns_before = len((await client.get(base)).json()["turns"])

    blocked = await client.post(base + "/messages", json={"text": THREAT})
    assert blocked.status_code == 422
    error = blocked.json()["error"]
    assert error["code"] == "blocked_by_guard" and error["rules"]
    detail = (await client.get(base)).json()
    assert len(detail["turns"]) == turns_before, "nothing was said"
    assert "blocked_phrase" in [a["kind"] for a in detail["alerts"]]
    events = await chain_of(app, chat["conversation_id"])
    assert events[-1].kind == "guard.blocked"
    assert events[-1].payload is not None and events[-1].payload["rules"] == error["rules"]
    assert "turn.outbound" not in [e.kind for e in events[-1:]]


async def test_a_suggested_template_can_be_sent_by_id(client: httpx.AsyncClient) -> None:
    await sign_in(client, "supervisor@demo")
    chat = await verified_chat(client)
    base = f"/v1/assist/conversations/{chat['conversation_id']}"
    sent = await client.post(base + "/messages", json={"template_id": "hardship_offer"})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["message"]["role"] == "human"
    assert body["message"]["template_id"] == "hardship_offer" and body["guard"]["allowed"]
    unknown = await client.post(base + "/messages", json={"template_id": "no_such"})
    assert unknown.status_code == 422


@pytest.fixture
def sync_client(settings: Settings) -> Iterator[TestClient]:
    application: FastAPI = create_app(settings, clock=fixed_clock)
    with TestClient(application) as test_client:
        yield test_client


@dataclass(frozen=True)
class TakenOver:
    conversation_id: str
    base: str  # the conversation's assist URL
    csrf: dict[str, str]


@contextmanager
def taken_over_socket(client: TestClient) -> Iterator[tuple[WebSocketTestSession, TakenOver]]:
    """The demo debtor's chat socket, past identity verification, taken over by agent@demo
    (signed in on `client`); with the conversation's ids and the agent's CSRF header."""
    login = client.post(
        "/v1/auth/login", json={"username": "agent@demo", "password": PASSWORDS["agent@demo"]}
    )
    csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
    created = client.post("/v1/chat/sessions", json={"account_ref": "DEMO-US-001"}).json()
    base = f"/v1/assist/conversations/{created['conversation_id']}"
    with client.websocket_connect(f"/v1/chat/sessions/{created['session_id']}/ws") as ws:
        assert ws.receive_json()["type"] == "session"
        ws.send_json({"type": "message", "text": "April 12th 1985"})
        assert ws.receive_json()["type"] == "typing"
        assert ws.receive_json()["state"]["step"] == "offer_options"
        assert client.post(base + "/takeover", headers=csrf).status_code == 200
        yield ws, TakenOver(created["conversation_id"], base, csrf)


def test_human_message_is_logged_in_the_chain_and_reaches_the_chat_socket(
    sync_client: TestClient,
) -> None:
    with taken_over_socket(sync_client) as (ws, chat):
        base, csrf = chat.base, chat.csrf
        text = "Hi, I'm Sam from the accounts team. <b>How</b> can I help?"
        sent = sync_client.post(base + "/messages", json={"text": text}, headers=csrf)
        assert sent.status_code == 200, sent.text
        pushed = ws.receive_json()
        assert pushed["type"] == "reply" and pushed["pushed"] is True
        [message] = pushed["messages"]
        assert message["role"] == "human" and message["text"] == text
        assert message["template_id"] == "human" and message["tone"] == "neutral"
        assert pushed["state"]["step"] == "offer_options"

        # While a person has the conversation the socket's reply carries no bot words.
        ws.send_json({"type": "message", "text": "ok thanks"})
        assert ws.receive_json()["type"] == "typing"
        assert ws.receive_json()["messages"] == []

        blocked = sync_client.post(base + "/messages", json={"text": THREAT}, headers=csrf)
        assert blocked.status_code == 422
    transcript = sync_client.get(f"/v1/conversations/{chat.conversation_id}").json()
    humans = [t for t in transcript["turns"] if t["role"] == "human"]
    assert [t["text"] for t in humans] == [text], "the blocked threat was never logged as said"
    verify = sync_client.get("/v1/audit/verify", headers=csrf).json()
    assert verify["ok"] is True


async def test_a_conversation_someone_holds_is_theirs_until_a_supervisor_steps_in(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    base = f"/v1/assist/conversations/{chat['conversation_id']}"
    async with http_client(app) as supervisor:
        await sign_in(supervisor, "supervisor@demo")
        assert (await supervisor.post(base + "/takeover")).status_code == 200
        chain_before = len(await chain_of(app, chat["conversation_id"]))

        # A collector's (stale) panel can neither take it, hand it back nor speak in it.
        for action, body in (
            ("/takeover", None),
            ("/handback", None),
            ("/messages", {"text": "hi"}),
        ):
            refused = await client.post(base + action, json=body)
            assert refused.status_code == 409, (action, refused.text)
            error = refused.json()["error"]
            assert error["code"] == "controlled_by_other"
            assert error["controlled_by"] == "supervisor@demo"
        assert (await client.get(base)).json()["controlled_by"] == "supervisor@demo"
        assert len(await chain_of(app, chat["conversation_id"])) == chain_before

        # Handed back, the collector takes it; a supervisor may then barge in again.
        assert (await supervisor.post(base + "/handback")).status_code == 200
        assert (await client.post(base + "/takeover")).json()["controlled_by"] == "agent@demo"
        taken = await supervisor.post(base + "/takeover")
        assert taken.json()["controlled_by"] == "supervisor@demo"
    control = [
        e for e in await chain_of(app, chat["conversation_id"]) if e.kind == "conversation.control"
    ]
    assert control[-1].payload == {
        "controlled_by": "supervisor@demo",
        "by": "supervisor@demo",
        "previous": "agent@demo",
    }
    assert await chain_ok(app)


async def test_a_takeover_elsewhere_while_a_message_is_checked_refuses_the_message(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another replica's takeover can land between the first check and the write: the
    message is refused inside the write's row lock and nothing is said or logged."""
    await sign_in(client, "agent@demo")
    chat = await verified_chat(client)
    conversation_id = chat["conversation_id"]
    pipeline = services_of(app).pipeline
    checking = pipeline.facts_for

    async def facts_while_a_supervisor_takes_over(conversation: Conversation) -> Any:
        async with services_of(app).store.write() as session:
            await session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(controlled_by="supervisor@demo")
            )
        return await checking(conversation)

    monkeypatch.setattr(pipeline, "facts_for", facts_while_a_supervisor_takes_over)
    chain_before = len(await chain_of(app, conversation_id))
    base = f"/v1/assist/conversations/{conversation_id}"
    refused = await client.post(base + "/messages", json={"text": "Hello, how can I help?"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["controlled_by"] == "supervisor@demo"
    assert [t for t in (await client.get(base)).json()["turns"] if t["role"] == "human"] == []
    assert len(await chain_of(app, conversation_id)) == chain_before


@asynccontextmanager
async def app_on_a_clock(
    settings: Settings, kind: str, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, list[dt.datetime]]]:
    """The service on a fresh `kind` database, with a clock the test moves (`now[0]`)."""
    now = [fixed_clock()]
    async with fresh_database_url(kind, tmp_path) as url:
        application = create_app(
            settings.model_copy(update={"database_url": url}), clock=lambda: now[0]
        )
        async with application.router.lifespan_context(application):
            yield application, now


@pytest.mark.parametrize("kind", DATABASES)
async def test_a_debtor_left_unanswered_too_long_gets_the_bot_back(
    settings: Settings, kind: str, tmp_path: Path
) -> None:
    """AGENT_TAKEOVER_IDLE_SECONDS: a person who took the chat over and left the debtor's
    message unanswered for longer hands it back, in the debtor's next turn's transaction;
    answering in time keeps it theirs."""
    idle = dt.timedelta(seconds=settings.takeover_idle_seconds)
    async with app_on_a_clock(settings, kind, tmp_path) as (application, now):
        await _unanswered_too_long(application, now, idle)


async def _unanswered_too_long(
    application: FastAPI, now: list[dt.datetime], idle: dt.timedelta
) -> None:
    async with http_client(application) as c:
        chat, base = await taken_over_chat(c)
        said = f"/v1/chat/sessions/{chat['session_id']}/messages"

        async def debtor(text: str, after: dt.timedelta) -> list[Any]:
            now[0] += after
            reply = await c.post(said, json={"text": text})
            assert reply.status_code == 200, reply.text
            return list(reply.json()["messages"])

        assert await debtor("hello?", dt.timedelta(seconds=1)) == []
        # The person answers within the limit: the conversation stays theirs.
        now[0] += idle - dt.timedelta(seconds=5)
        answered = await c.post(base + "/messages", json={"text": "Sorry, one moment please."})
        assert answered.status_code == 200, answered.text
        assert await debtor("ok", idle - dt.timedelta(seconds=1)) == []
        assert await debtor("still there?", dt.timedelta(seconds=2)) == []
        assert (await c.get(base)).json()["controlled_by"] == "agent@demo"

        # "ok" has now waited longer than the limit: the next message gets the bot back.
        assert await debtor("hello??", idle), "the bot answers again"
        assert (await c.get(base)).json()["controlled_by"] is None
        events = await chain_of(application, chat["conversation_id"])
        released = [e for e in events if e.payload and e.payload.get("reason") == "holder_idle"]
        assert [e.payload for e in released] == [
            {
                "controlled_by": None,
                "by": "system",
                "previous": "agent@demo",
                "reason": "holder_idle",
            }
        ]
        kinds = [e.kind for e in events]
        assert kinds[kinds.index("conversation.control", events.index(released[0])) + 1] == (
            "turn.inbound"
        )
        assert await chain_ok(application)


@pytest.mark.parametrize("kind", DATABASES)
async def test_a_debtor_left_waiting_in_silence_gets_the_bot_back_from_the_idle_round(
    settings: Settings, kind: str, tmp_path: Path
) -> None:
    """The idle round (agent/assist/idle.py) gives the chat back and has the bot answer
    the waiting message, without the debtor writing again; a second round finds nothing."""
    idle = dt.timedelta(seconds=settings.takeover_idle_seconds)
    async with app_on_a_clock(settings, kind, tmp_path) as (application, now):
        await _waiting_in_silence(application, now, idle)


async def _waiting_in_silence(
    application: FastAPI, now: list[dt.datetime], idle: dt.timedelta
) -> None:
    idle_round = application.state.idle_round
    async with http_client(application) as c:
        chat, base = await taken_over_chat(c)
        conversation_id = chat["conversation_id"]
        waited = await c.post(
            f"/v1/chat/sessions/{chat['session_id']}/messages", json={"text": "hello?"}
        )
        assert waited.json()["messages"] == []
        asked_at = now[0]
        waiting_seq = (await c.get(base)).json()["turns"][-1]["seq"]

        assert idle_round.pause() == idle_round.every_s
        now[0] += idle - dt.timedelta(seconds=10)
        assert await idle_round.run_once() == []
        # The round wakes just after this debtor comes due, not a whole interval later.
        assert idle_round.pause() == pytest.approx(10 + PAST_DUE_S)
        now[0] += dt.timedelta(seconds=10)  # not longer than the limit yet
        assert await idle_round.run_once() == []
        assert idle_round.pause() == pytest.approx(PAST_DUE_S)
        listed = (await c.get("/v1/assist/conversations")).json()
        [entry] = [e for e in listed["conversations"] if e["conversation_id"] == conversation_id]
        assert entry["waiting_since"] == asked_at.isoformat()
        assert listed["takeover_idle_seconds"] == idle.total_seconds()
        assert listed["now"] == now[0].isoformat()
        assert (await c.get(base)).json()["waiting_since"] == asked_at.isoformat()

        now[0] += dt.timedelta(seconds=1)
        live = services_of(application).events.subscribe("tenant:demo")
        assert await idle_round.run_once() == [conversation_id]
        control = await asyncio.wait_for(anext(live), 5)
        live.close()
        assert control == {
            "type": "control",
            "conversation_id": conversation_id,
            "controlled_by": None,
            "reason": "holder_idle",  # the panel says why the bot has the chat again
        }
        detail = (await c.get(base)).json()
        assert detail["controlled_by"] is None
        assert detail["waiting_since"] is None
        apology, *answer = [t for t in detail["turns"] if t["seq"] > waiting_seq]
        assert apology["role"] == "agent" and apology["template_id"] == "idle_apology"
        assert apology["text"] == "Sorry to keep you waiting."
        assert answer and all(t["role"] == "agent" and t["text"] for t in answer)
        events = await chain_of(application, conversation_id)
        [released] = [
            i
            for i, e in enumerate(events)
            if e.payload and e.payload.get("reason") == "holder_idle"
        ]
        assert events[released].payload == {
            "controlled_by": None,
            "by": "system",
            "previous": "agent@demo",
            "reason": "holder_idle",
        }
        # The hand-back and the bot's answer, after the waiting message, in one go.
        assert events[released - 1].kind == "turn.inbound"
        answer = [e.kind for e in events[released + 1 :]]
        assert answer and set(answer) == {"turn.outbound"}
        assert await idle_round.run_once() == []
        assert idle_round.pause() == idle_round.every_s  # nobody waits now
        assert await chain_ok(application)


async def test_the_bot_taking_back_a_waiting_chat_honours_every_waiting_message(
    settings: Settings,
) -> None:
    """A cease request left unanswered under a later "hello?" still ends the conversation
    when the bot answers: the flags every waiting message raised count, not only the last."""
    now = [fixed_clock()]
    application = create_app(settings, clock=lambda: now[0])
    async with application.router.lifespan_context(application), http_client(application) as c:
        chat, base = await taken_over_chat(c)
        for text in ("please stop contacting me", "hello?"):
            said = await c.post(
                f"/v1/chat/sessions/{chat['session_id']}/messages", json={"text": text}
            )
            assert said.json()["messages"] == []
        now[0] += dt.timedelta(seconds=settings.takeover_idle_seconds + 1)
        assert await application.state.idle_round.run_once() == [chat["conversation_id"]]
        detail = (await c.get(base)).json()
        assert detail["turns"][-1]["template_id"] == "cease_end"
        assert detail["ended"] is True


async def test_the_bot_taking_back_a_waiting_chat_answers_a_promise_made_before_a_hello(
    settings: Settings,
) -> None:
    """The bot answers everything the debtor wrote while waiting, not only the last line: a
    promise under a later "hello?" is read back, and the debtor's yes records it."""
    now = [fixed_clock()]
    application = create_app(settings, clock=lambda: now[0])
    async with application.router.lifespan_context(application), http_client(application) as c:
        chat, base = await taken_over_chat(c)
        messages = f"/v1/chat/sessions/{chat['session_id']}/messages"
        for text in ("I can pay 200 dollars next Friday", "hello?"):
            assert (await c.post(messages, json={"text": text})).json()["messages"] == []
        now[0] += dt.timedelta(seconds=settings.takeover_idle_seconds + 1)
        assert await application.state.idle_round.run_once() == [chat["conversation_id"]]
        detail = (await c.get(base)).json()
        assert detail["turns"][-1]["template_id"] == "confirm_promise"
        assert "$200.00" in detail["turns"][-1]["text"]
        confirmed = (await c.post(messages, json={"text": "yes"})).json()
        assert confirmed["state"]["step"] == "close_promise"
        assert confirmed["state"]["promise"]["amount"] == "200"
        assert confirmed["state"]["promise"]["confirmed"] is True


def test_the_bot_taking_back_a_waiting_chat_pushes_its_answer_to_the_widget(
    settings: Settings,
) -> None:
    now = [fixed_clock()]
    application = create_app(settings, clock=lambda: now[0])
    with TestClient(application) as client, taken_over_socket(client) as (ws, chat):
        ws.send_json({"type": "message", "text": "hello? anyone there?"})
        assert ws.receive_json()["type"] == "typing"
        assert ws.receive_json()["messages"] == []

        now[0] += dt.timedelta(seconds=settings.takeover_idle_seconds + 1)
        assert client.portal is not None
        released = client.portal.call(application.state.idle_round.run_once)
        assert released == [chat.conversation_id]
        transcript = client.get(f"/v1/conversations/{chat.conversation_id}").json()
        answer = [t for t in transcript["turns"] if t["role"] == "agent"][-2:]
        for said in answer:  # the apology for the wait, then the answer: each pushed
            pushed = ws.receive_json()
            assert pushed["type"] == "reply" and pushed["pushed"] is True
            [message] = pushed["messages"]
            assert message["role"] == "agent"
            assert (message["seq"], message["text"]) == (said["seq"], said["text"])
        assert answer[0]["text"] == "Sorry to keep you waiting."


async def test_two_replicas_running_the_idle_round_answer_a_waiting_debtor_once(
    settings: Settings, tmp_path: Path
) -> None:
    """Every replica runs the idle round. Two of them on one PostgreSQL, in the same instant,
    find the same waiting debtor: the conversation row's lock and turn count let exactly
    one of them hand it back and answer; the other leaves it."""
    now = [fixed_clock()]
    async with fresh_database_url("postgres", tmp_path) as url:
        first = create_app(settings.model_copy(update={"database_url": url}), clock=lambda: now[0])
        second = create_app(settings.model_copy(update={"database_url": url}), clock=lambda: now[0])
        async with (
            first.router.lifespan_context(first),
            second.router.lifespan_context(second),
            http_client(first) as c,
        ):
            chat, base = await taken_over_chat(c)
            said = await c.post(
                f"/v1/chat/sessions/{chat['session_id']}/messages", json={"text": "hello?"}
            )
            assert said.json()["messages"] == []
            now[0] += dt.timedelta(seconds=settings.takeover_idle_seconds + 1)

            rounds = await asyncio.gather(
                first.state.idle_round.run_once(), second.state.idle_round.run_once()
            )
            assert sorted(map(len, rounds)) == [0, 1]
            turns = (await c.get(base)).json()["turns"]
            assert [t["template_id"] for t in turns].count("idle_apology") == 1
            events = await chain_of(first, chat["conversation_id"])
            released = [e for e in events if e.payload and e.payload.get("reason") == "holder_idle"]
            assert len(released) == 1
            assert await chain_ok(first)


async def test_the_bot_takes_back_a_waiting_chinese_chat_in_chinese(settings: Settings) -> None:
    now = [fixed_clock()]
    application = create_app(settings, clock=lambda: now[0])
    async with application.router.lifespan_context(application), http_client(application) as c:
        chat, base = await taken_over_chat(c, "DEMO-CN-001")
        said = await c.post(
            f"/v1/chat/sessions/{chat['session_id']}/messages", json={"text": "喂？有人吗"}
        )
        assert said.json()["messages"] == []
        now[0] += dt.timedelta(seconds=settings.takeover_idle_seconds + 1)
        assert await application.state.idle_round.run_once() == [chat["conversation_id"]]
        turns = (await c.get(base)).json()["turns"]
        apology = next(t for t in turns if t["template_id"] == "idle_apology")
        assert apology["text"] == "抱歉让您久等了。"
        assert turns[-1]["role"] == "agent" and turns[-1]["template_id"] != "idle_apology"
