"""Asterisk AudioSocket over real TCP, with a client written from the spec
(PROTOCOLS.md): `type:u8 | length:u16be | payload`, PCM16 LE 8 kHz."""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from agent.app import create_app
from agent.services import Services
from agent.telephony.audiosocket import AudioSocketServer
from agent.voice import audio
from bench.gateway_sim import utterance_frames
from tests.conftest import fixed_clock, http_client
from tests.telephony.conftest import telephony_settings

HANGUP, UUID, DTMF, AUDIO, ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF


def packet(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload


class AudioSocketClient:
    """Plays Asterisk's part."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.audio_frames: list[bytes] = []
        self.hung_up = False

    async def send(self, kind: int, payload: bytes = b"") -> None:
        self.writer.write(packet(kind, payload))
        await self.writer.drain()

    async def speak(self, text: str) -> None:
        for frame in utterance_frames(text):
            await self.send(AUDIO, audio.mulaw_to_pcm16(frame))

    async def read_audio(self, frames: int) -> None:
        """Read until `frames` more audio frames came (or the server hung up)."""
        target = len(self.audio_frames) + frames
        async with asyncio.timeout(60):
            while len(self.audio_frames) < target and not self.hung_up:
                kind, length = struct.unpack(">BH", await self.reader.readexactly(3))
                payload = await self.reader.readexactly(length)
                if kind == AUDIO:
                    assert length == audio.PCM_FRAME_BYTES
                    self.audio_frames.append(payload)
                elif kind == HANGUP:
                    self.hung_up = True

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[AudioSocketServer]:
    running = AudioSocketServer(app.state.services, "127.0.0.1", 0)
    await running.start()
    yield running
    await running.close()


async def connect(server: AudioSocketServer, call_id: str) -> AudioSocketClient:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    client = AudioSocketClient(reader, writer)
    await client.send(UUID, uuid.UUID(call_id).bytes)
    return client


async def debtor_texts(services: Services, call_id: str) -> list[str]:
    from agent.store import repository

    call = await services.calls.get(call_id)
    assert call.conversation_id is not None
    async with services.store.read() as session:
        turns = await repository.turns_of(session, call.conversation_id)
    return [t.text for t in turns if t.role == "debtor"]


async def test_a_call_over_audiosocket(app: FastAPI, server: AudioSocketServer) -> None:
    services: Services = app.state.services
    call = await services.calls.create_outbound("DEMO-US-001", "audiosocket")
    client = await connect(server, call.id)
    await client.read_audio(100)  # the greeting, paced by the server
    await client.speak("yes")
    for digit in "04121985#":
        await client.send(DTMF, digit.encode())
    await client.read_audio(50)
    await client.send(HANGUP)
    await client.close()
    for _ in range(200):
        if (await services.calls.get(call.id)).conversation_id and len(
            await debtor_texts(services, call.id)
        ) == 2:
            break
        await asyncio.sleep(0.05)
    assert await debtor_texts(services, call.id) == ["yes", "04121985"]


async def test_unknown_uuid_and_garbage_get_a_hangup(
    app: FastAPI, server: AudioSocketServer
) -> None:
    client = await connect(server, str(uuid.uuid4()))
    await client.read_audio(1)
    assert client.hung_up and client.audio_frames == []
    await client.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    garbage = AudioSocketClient(reader, writer)
    await garbage.send(AUDIO, b"\x00" * 320)  # audio before the UUID
    await garbage.read_audio(1)
    assert garbage.hung_up
    await garbage.close()


async def test_bad_audio_frames_and_early_disconnect_keep_the_turns(
    app: FastAPI, server: AudioSocketServer
) -> None:
    services: Services = app.state.services
    call = await services.calls.create_outbound("DEMO-US-001", "audiosocket")
    client = await connect(server, call.id)
    await client.read_audio(10)
    await client.send(AUDIO, b"\x01" * 321)  # odd length: skipped
    await client.send(0x42, b"??")  # unknown type: skipped
    await client.send(DTMF, b"x")  # not a key: skipped
    await client.speak("yes")
    await client.read_audio(20)  # the reply to "yes"
    client.writer.transport.abort()  # the PBX vanishes without a hang-up frame
    for _ in range(200):
        info = await services.calls.get(call.id)
        if await debtor_texts(services, info.id):
            break
        await asyncio.sleep(0.05)
    assert await debtor_texts(services, call.id) == ["yes"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_calls_api_creates_an_audiosocket_call(tmp_path: Path) -> None:
    settings = telephony_settings(tmp_path, audiosocket_port=free_port())
    application = create_app(settings, clock=fixed_clock)
    async with application.router.lifespan_context(application), http_client(application) as api:
        response = await api.post(
            "/v1/calls", json={"account_ref": "DEMO-US-001", "mode": "audiosocket"}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["mode"] == "audiosocket"
        assert uuid.UUID(body["call_id"])
        missing = await api.post("/v1/calls", json={"account_ref": "NOPE", "mode": "audiosocket"})
        assert missing.status_code == 404
