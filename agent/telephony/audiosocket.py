"""Asterisk AudioSocket: a TCP server speaking `type:u8 | length:u16be | payload`.

0x01 the call's 16-byte UUID (first), 0x10 audio (PCM16 LE, 8 kHz mono, 20 ms =
320 bytes), 0x03 one DTMF digit, 0x00 hang-up, 0xff error. The UUID is the
`call_id` of a call created through `POST /v1/calls` (the dialplan passes it to
`AudioSocket(uuid, host:port)`); an unknown UUID is hung up on. The call loop is the
one Media Streams use; this side paces its own audio, so a mark counts as played
once the frames before it are out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import uuid
from dataclasses import dataclass
from typing import Literal

from agent.errors import ServiceError
from agent.logs import log_event
from agent.services import Services
from agent.telephony.media_stream import open_call
from agent.voice import audio
from agent.voice.call import CallSession

log = logging.getLogger("agent.telephony.audiosocket")

HANGUP, UUID, DTMF, AUDIO, ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
HEADER = struct.Struct(">BH")
MAX_AUDIO_BYTES = audio.SAMPLE_RATE * 2  # one second; more is a broken peer
DTMF_DIGITS = "0123456789*#"


def frame(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


class AudioSocketGateway:
    name = "audiosocket"
    echoes_marks = False

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.closed = False

    async def _write(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            self.closed = True

    async def send_audio(self, pcm16_frame: bytes) -> None:
        await self._write(frame(AUDIO, pcm16_frame))

    async def send_mark(self, name: str) -> None:
        return None  # no marks in AudioSocket; see `echoes_marks`

    async def clear(self) -> None:
        return None  # nothing is queued on the far side: stopping playback is enough

    async def hangup(self) -> None:
        await self._write(frame(HANGUP))
        self.closed = True


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame; IncompleteReadError when the peer goes away mid-frame (or before)."""
    kind, length = HEADER.unpack(await reader.readexactly(HEADER.size))
    return kind, await reader.readexactly(length) if length else b""


# -- what a frame asks for: a pure function of the frame, so it can be fuzzed on its own --
@dataclass(frozen=True)
class Inbound:
    """One frame, read: `action` says what to do with it."""

    action: Literal["start", "no_uuid", "audio", "bad_audio", "dtmf", "hangup", "error", "skip"]
    call_id: str = ""  # start
    data: bytes = b""  # audio: PCM16; error: the peer's error payload
    digit: str = ""  # dtmf


def interpret(kind: int, payload: bytes, started: bool) -> Inbound:
    """Read a frame. Before the call has started only the 16-byte UUID frame is valid."""
    if not started:
        if kind != UUID or len(payload) != 16:
            return Inbound("no_uuid")
        return Inbound("start", call_id=str(uuid.UUID(bytes=payload)))
    if kind == AUDIO:
        if len(payload) > MAX_AUDIO_BYTES or len(payload) % 2:
            return Inbound("bad_audio")
        return Inbound("audio", data=payload)
    if kind == DTMF and len(payload) == 1 and chr(payload[0]) in DTMF_DIGITS:
        return Inbound("dtmf", digit=chr(payload[0]))
    if kind == HANGUP:
        return Inbound("hangup")
    if kind == ERROR:
        return Inbound("error", data=payload)
    return Inbound("skip")


class AudioSocketServer:
    def __init__(self, services: Services, host: str, port: int) -> None:
        self.services = services
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log_event(log, "audiosocket_listening", host=self.host, port=self.port)
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._connections):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        gateway = AudioSocketGateway(writer)
        call: CallSession | None = None
        reason = "hangup"
        buffer = b""
        try:
            while not gateway.closed:
                kind, payload = await read_frame(reader)
                frame_in = interpret(kind, payload, started=call is not None)
                if frame_in.action == "no_uuid":
                    log_event(log, "audiosocket_no_uuid", logging.WARNING, kind=kind)
                    await gateway.hangup()
                    return
                if frame_in.action == "start":
                    try:
                        call = await open_call(self.services, frame_in.call_id, gateway)
                    except ServiceError as exc:
                        log_event(log, "audiosocket_call_refused", logging.WARNING, error=exc.code)
                        await gateway.hangup()
                        return
                    continue
                assert call is not None
                if frame_in.action == "bad_audio":
                    log_event(log, "audiosocket_bad_audio", logging.WARNING, size=len(payload))
                elif frame_in.action == "audio":
                    buffer += frame_in.data
                    while len(buffer) >= audio.PCM_FRAME_BYTES:
                        await call.audio(buffer[: audio.PCM_FRAME_BYTES])
                        buffer = buffer[audio.PCM_FRAME_BYTES :]
                elif frame_in.action == "dtmf":
                    await call.dtmf(frame_in.digit)
                elif frame_in.action == "hangup":
                    return
                elif frame_in.action == "error":
                    log_event(log, "audiosocket_peer_error", logging.WARNING, payload=payload.hex())
                    reason = "peer_error"
                    return
                else:
                    log_event(log, "audiosocket_frame_skipped", logging.WARNING, kind=kind)
            reason = "agent_hung_up"
        except asyncio.IncompleteReadError:
            reason = "disconnected"
        finally:
            if call is not None:
                await call.stop(reason)
