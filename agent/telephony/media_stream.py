"""Twilio Media Streams: the WebSocket the gateway opens for `<Connect><Stream>`.

JSON text frames (PROTOCOLS.md): `connected`, `start` (customParameters carry our
call_id), `media` (base64 mu-law, 20 ms), `dtmf`, `mark` (echo of ours), `stop`.
Bad input never ends the call: an unparseable frame, bad base64, an odd frame size,
an unknown or out-of-order event is logged and skipped. Only `stop` or a disconnect
ends it, and every turn taken so far is already logged.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState
from twilio.request_validator import RequestValidator

from agent.errors import ServiceError
from agent.logs import log_event
from agent.services import Services
from agent.settings import Settings
from agent.telephony.twilio_signature import SIGNATURE_HEADER
from agent.voice import audio
from agent.voice.call import CallContext, CallSession

log = logging.getLogger("agent.telephony.stream")
router = APIRouter()

# Twilio sends 160-byte frames; anything up to a second is re-framed, more is refused.
MAX_PAYLOAD_BYTES = audio.SAMPLE_RATE
DTMF_DIGITS = "0123456789*#"


class TwilioGateway:
    name = "twilio"
    echoes_marks = True

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.stream_sid = ""
        self.closed = False

    async def _send(self, event: dict[str, Any]) -> None:
        if self.closed or self.websocket.client_state != WebSocketState.CONNECTED:
            return
        try:
            await self.websocket.send_text(json.dumps(event))
        except (WebSocketDisconnect, RuntimeError):
            self.closed = True

    async def send_audio(self, pcm16_frame: bytes) -> None:
        payload = base64.b64encode(audio.pcm16_to_mulaw(pcm16_frame)).decode()
        await self._send(
            {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
        )

    async def send_mark(self, name: str) -> None:
        await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def clear(self) -> None:
        await self._send({"event": "clear", "streamSid": self.stream_sid})

    async def hangup(self) -> None:
        # Closing the stream ends <Connect>; with no TwiML after it the call ends.
        if not self.closed:
            self.closed = True
            await self.websocket.close()


class StreamHandler:
    """One Media Streams connection: events in order, then the call loop."""

    def __init__(self, services: Services, gateway: TwilioGateway) -> None:
        self.services = services
        self.gateway = gateway
        self.call: CallSession | None = None
        self._buffer = b""
        self._last_sequence = 0
        self.skipped = 0

    def _skip(self, reason: str, **fields: Any) -> None:
        self.skipped += 1
        log_event(log, "stream_event_skipped", logging.WARNING, reason=reason, **fields)

    async def handle(self, raw: str) -> bool:
        """Handle one frame; False once the stream is over."""
        event = parse_frame(raw)
        if isinstance(event, Skip):
            self._skip(event.reason)
            return True
        kind = event["event"]
        sequence = sequence_number(event, self._last_sequence)
        if isinstance(sequence, Skip):
            self._skip(sequence.reason, kind=kind, **sequence.fields)
            return True
        if sequence is not None:
            self._last_sequence = sequence
        if kind == "connected":
            return True
        if kind == "start":
            await self._start(event)
            return True
        if kind == "stop":
            return False
        if self.call is None:
            self._skip("before_start", kind=kind)
            return True
        if kind == "media":
            await self._media(event)
        elif kind == "dtmf":
            digit = dtmf_digit(event)
            if isinstance(digit, Skip):
                self._skip(digit.reason)
            else:
                await self.call.dtmf(digit)
        elif kind == "mark":
            name = _field(event, "mark", "name")
            if isinstance(name, str):
                await self.call.mark(name)
        else:
            self._skip("unknown_event", kind=kind[:32])
        return True

    async def _start(self, event: dict[str, Any]) -> None:
        if self.call is not None:
            self._skip("second_start")
            return
        start = start_params(event)
        if isinstance(start, Skip):
            self._skip(start.reason)
            return
        call_id, self.gateway.stream_sid = start
        try:
            self.call = await open_call(self.services, call_id, self.gateway)
        except ServiceError as exc:
            log_event(log, "stream_call_refused", logging.WARNING, error=exc.code)
            await self.gateway.hangup()

    async def _media(self, event: dict[str, Any]) -> None:
        assert self.call is not None
        mulaw = media_payload(event)
        if mulaw is None:
            return  # another track (our own audio echoed back)
        if isinstance(mulaw, Skip):
            self._skip(mulaw.reason, **mulaw.fields)
            return
        # Re-frame to exact 20 ms frames whatever size arrives.
        self._buffer += audio.mulaw_to_pcm16(mulaw)
        while len(self._buffer) >= audio.PCM_FRAME_BYTES:
            frame = self._buffer[: audio.PCM_FRAME_BYTES]
            self._buffer = self._buffer[audio.PCM_FRAME_BYTES :]
            await self.call.audio(frame)


# -- the frame parser: pure functions of the frame, so they can be fuzzed on their own --
@dataclass(frozen=True)
class Skip:
    """Why a frame (or part of one) is not acted on; logged as `stream_event_skipped`."""

    reason: str
    fields: dict[str, Any] = field(default_factory=dict)


def parse_frame(raw: str) -> dict[str, Any] | Skip:
    """The frame's JSON object, which names its `event` in a string; never raises."""
    try:
        event = json.loads(raw)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and integers past Python's digit limit;
        # RecursionError a frame nested deeper than the parser goes.
        return Skip("bad_json")
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return Skip("no_event")
    return event


def sequence_number(event: dict[str, Any], last: int) -> int | Skip | None:
    """The frame's `sequenceNumber` when it comes after `last`; None when it has none."""
    sequence = event.get("sequenceNumber")
    if sequence is None:
        return None
    try:
        number = int(sequence)
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity
        return Skip("bad_sequence")
    if number <= last:
        return Skip("out_of_order", {"sequence": number, "last": last})
    return number


def start_params(event: dict[str, Any]) -> tuple[str, str] | Skip:
    """(call_id, streamSid) of a `start` frame; our call_id rides in customParameters."""
    start = event.get("start")
    if not isinstance(start, dict):
        return Skip("start_without_body")
    params = start.get("customParameters")
    call_id = params.get("call_id") if isinstance(params, dict) else None
    if not isinstance(call_id, str):
        return Skip("start_without_call_id")
    stream_sid = start.get("streamSid") or event.get("streamSid") or ""
    return call_id, stream_sid if isinstance(stream_sid, str) else str(stream_sid)


def media_payload(event: dict[str, Any]) -> bytes | Skip | None:
    """The mu-law bytes of an inbound `media` frame; None for another track."""
    track = _field(event, "media", "track")
    if track not in (None, "inbound", "inbound_track"):
        return None
    payload = _field(event, "media", "payload")
    if not isinstance(payload, str):
        return Skip("media_without_payload")
    try:
        mulaw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return Skip("bad_base64")
    if not mulaw or len(mulaw) > MAX_PAYLOAD_BYTES:
        return Skip("bad_frame_size", {"size": len(mulaw)})
    return mulaw


def dtmf_digit(event: dict[str, Any]) -> str | Skip:
    digit = _field(event, "dtmf", "digit")
    if isinstance(digit, str) and len(digit) == 1 and digit in DTMF_DIGITS:
        return digit
    return Skip("bad_dtmf")


def _field(event: dict[str, Any], section: str, key: str) -> Any:
    body = event.get(section)
    return body.get(key) if isinstance(body, dict) else None


async def open_call(services: Services, call_id: str, gateway: TwilioGateway | Any) -> CallSession:
    """Start (or resume) the conversation of a call we know and run its loop."""
    registry = services.calls
    call = await registry.get(call_id)
    outcome = await registry.start_conversation(call_id)
    stt = await services.voice.stt_for(call.locale)
    session = CallSession(
        services.pipeline,
        stt,
        services.voice.tts,
        gateway,
        CallContext(
            outcome.conversation_id,
            outcome.session_id,
            call.locale,
            services.voice.voice_for(call.locale),
        ),
        end_of_speech_ms=services.settings.end_of_speech_ms,
        dtmf_timeout_ms=services.settings.dtmf_timeout_ms,
        pacing=services.settings.voice_pacing,
        grammar=services.settings.stt_grammars.get(call.locale) or None,
    )
    await session.begin(outcome.messages)
    log_event(log, "call_stream_started", call_id=call_id, gateway=gateway.name)
    return session


def stream_signature_ok(websocket: WebSocket, settings: Settings) -> bool:
    """The gateway signs the stream's handshake like a webhook: the wss:// URL it
    opened, with no parameters."""
    signature = websocket.headers.get(SIGNATURE_HEADER, "")
    if settings.public_base_url:
        base = settings.public_base_url.rstrip("/")
        base = "ws" + base[4:] if base.startswith("http") else base
        url = base + websocket.url.path
    else:
        url = str(websocket.url)
    ok = bool(settings.twilio_auth_token and signature) and RequestValidator(
        settings.twilio_auth_token
    ).validate(url, {}, signature)
    if not ok:
        log_event(
            log,
            "twilio_signature_rejected",
            logging.WARNING,
            reason="bad_or_missing_signature" if settings.twilio_auth_token else "no_auth_token",
            path=websocket.url.path,
        )
    return ok


@router.websocket("/v1/telephony/twilio/stream")
async def twilio_stream(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    if not stream_signature_ok(websocket, services.settings):
        await websocket.close(code=1008)  # before accept: the handshake gets a 403
        return
    await websocket.accept()
    gateway = TwilioGateway(websocket)
    handler = StreamHandler(services, gateway)
    reason = "stop"
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                reason = "disconnected"
                break
            raw = message.get("text")
            if raw is None:
                handler._skip("binary_frame")
                continue
            if not await handler.handle(raw):
                break
            if gateway.closed:
                reason = "agent_hung_up"
                break
    except WebSocketDisconnect:
        reason = "disconnected"
    finally:
        if handler.call is not None:
            await handler.call.stop(reason)
        if not gateway.closed:
            gateway.closed = True
            if websocket.client_state == WebSocketState.CONNECTED:
                await websocket.close()
