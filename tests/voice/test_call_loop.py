"""The shared call loop with real parts: espeak-ng speech, PocketSphinx, the endpointer,
the pipeline and the store; only the gateway is a recorder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from agent.services import Services
from agent.store.models import AuditEvent, Turn
from agent.voice import audio
from agent.voice.call import CallContext, CallSession
from bench.gateway_sim import utterance_frames


class RecordingGateway:
    name = "test"

    def __init__(self, echoes_marks: bool = True) -> None:
        self.echoes_marks = echoes_marks
        self.events: list[tuple[str, object]] = []
        self.hung_up = False

    async def send_audio(self, pcm16_frame: bytes) -> None:
        assert len(pcm16_frame) == audio.PCM_FRAME_BYTES
        self.events.append(("audio", len(pcm16_frame)))

    async def send_mark(self, name: str) -> None:
        self.events.append(("mark", name))

    async def clear(self) -> None:
        self.events.append(("clear", None))

    async def hangup(self) -> None:
        self.hung_up = True

    def count(self, kind: str) -> int:
        return sum(1 for k, _ in self.events if k == kind)

    def marks(self) -> list[str]:
        return [str(v) for k, v in self.events if k == "mark"]


async def eventually(check: Callable[[], bool], what: str, limit_s: float = 30.0) -> None:
    """Wait for the loop to get somewhere (a guard against hanging, not a timing test)."""
    for _ in range(int(limit_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def feed(call: CallSession, text: str) -> None:
    for frame in utterance_frames(text):
        await call.audio(audio.mulaw_to_pcm16(frame))


async def audit_kinds(services: Services, conversation_id: str) -> list[str]:
    async with services.store.read() as session:
        rows = await session.execute(
            select(AuditEvent.kind)
            .where(AuditEvent.conversation_id == conversation_id)
            .order_by(AuditEvent.seq)
        )
        return list(rows.scalars())


async def debtor_turns(services: Services, conversation_id: str) -> list[str]:
    async with services.store.read() as session:
        rows = await session.execute(
            select(Turn.text)
            .where(Turn.conversation_id == conversation_id, Turn.role == "debtor")
            .order_by(Turn.seq)
        )
        return list(rows.scalars())


@pytest.fixture
async def services(app: FastAPI) -> AsyncIterator[Services]:
    yield app.state.services


async def open_session(
    services: Services, gateway: RecordingGateway, pacing: bool
) -> tuple[CallSession, str]:
    outcome = await services.pipeline.start("DEMO-US-001", "en-US", "voice")
    stt = await services.voice.stt_for("en-US")
    call = CallSession(
        services.pipeline,
        stt,
        services.voice.tts,
        gateway,
        CallContext(outcome.conversation_id, outcome.session_id, "en-US", "en-us"),
        pacing=pacing,
    )
    await call.begin(outcome.messages)
    return call, outcome.conversation_id


async def test_speech_and_keyed_birth_date_make_turns_and_marks_prove_disclosures(
    services: Services,
) -> None:
    gateway = RecordingGateway()
    call, conversation_id = await open_session(services, gateway, pacing=False)
    # The greeting gives the AI and recording disclosures: a mark follows its audio.
    await eventually(lambda: gateway.marks() == ["disclosure-1"], "greeting mark")
    assert gateway.count("audio") > 100  # several seconds of 20 ms frames
    await call.mark("disclosure-1")

    await feed(call, "yes")
    await eventually(lambda: call.transcripts == ["yes"], "the spoken 'yes'")
    for digit in "04121985#":
        await call.dtmf(digit)
    await eventually(lambda: len(gateway.marks()) == 2, "mini-Miranda mark")
    await call.mark(gateway.marks()[1])
    await call.stop("stop")

    assert await debtor_turns(services, conversation_id) == ["yes", "04121985"]
    kinds = await audit_kinds(services, conversation_id)
    assert kinds.count("call.disclosure_played") == 2
    assert kinds[-1] == "conversation.ended"
    async with services.store.read() as session:
        from agent.store import repository

        conversation = await repository.conversation_by_session(session, call.context.session_id)
        assert conversation is not None
        assert conversation.state["verified"] is True


async def test_barge_in_clears_playback_and_repeats_the_cut_disclosure(
    services: Services,
) -> None:
    gateway = RecordingGateway()
    call, conversation_id = await open_session(services, gateway, pacing=True)
    await eventually(lambda: gateway.count("audio") >= 25, "half a second of greeting")
    await feed(call, "i have a lawyer")
    await eventually(lambda: gateway.count("clear") == 1, "clear on barge-in")
    await eventually(lambda: call.transcripts != [], "the barge-in utterance")
    await eventually(lambda: "disclosure-1" in gateway.marks(), "the repeated greeting")
    await call.stop("stop")

    kinds = await audit_kinds(services, conversation_id)
    assert "call.barge_in" in kinds
    # The cut greeting (AI + recording) is said again before the reply to the debtor.
    assert kinds.index("call.disclosure_repeated") > kinds.index("call.barge_in")
    clear_at = gateway.events.index(("clear", None))
    assert gateway.marks() == ["disclosure-1"]
    assert gateway.events.index(("mark", "disclosure-1")) > clear_at
    assert "lawyer" in call.transcripts[0]


async def test_gateway_without_marks_counts_paced_audio_as_played(services: Services) -> None:
    gateway = RecordingGateway(echoes_marks=False)
    call, conversation_id = await open_session(services, gateway, pacing=False)
    await eventually(lambda: gateway.marks() == ["disclosure-1"], "greeting")
    # The loop confirms the mark itself once the frames before it are out.
    for _ in range(600):
        if "call.disclosure_played" in await audit_kinds(services, conversation_id):
            break
        await asyncio.sleep(0.05)
    await call.stop("hangup")
    assert "call.disclosure_played" in await audit_kinds(services, conversation_id)
