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
        try:
            event = json.loads(raw)
        except json.JSONDecodeError:
            self._skip("bad_json")
            return True
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            self._skip("no_event")
            return True
        kind = event["event"]
        if not self._in_order(event, kind):
            return True
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
            digit = _field(event, "dtmf", "digit")
            if isinstance(digit, str) and len(digit) == 1 and digit in "0123456789*#":
                await self.call.dtmf(digit)
            else:
                self._skip("bad_dtmf")
        elif kind == "mark":
            name = _field(event, "mark", "name")
            if isinstance(name, str):
                await self.call.mark(name)
        else:
            self._skip("unknown_event", kind=kind[:32])
        return True

    def _in_order(self, event: dict[str, Any], kind: str) -> bool:
        sequence = event.get("sequenceNumber")
        if sequence is None:
            return True
        try:
            number = int(sequence)
        except (TypeError, ValueError):
            self._skip("bad_sequence", kind=kind)
            return False
        if number <= self._last_sequence:
            self._skip("out_of_order", kind=kind, sequence=number, last=self._last_sequence)
            return False
        self._last_sequence = number
        return True

    async def _start(self, event: dict[str, Any]) -> None:
        if self.call is not None:
            self._skip("second_start")
            return
        start = event.get("start")
        if not isinstance(start, dict):
            self._skip("start_without_body")
            return
        params = start.get("customParameters")
        call_id = params.get("call_id") if isinstance(params, dict) else None
        if not isinstance(call_id, str):
            self._skip("start_without_call_id")
            return
        self.gateway.stream_sid = str(start.get("streamSid") or event.get("streamSid") or "")
        try:
            self.call = await open_call(self.services, call_id, self.gateway)
        except ServiceError as exc:
            log_event(log, "stream_call_refused", logging.WARNING, error=exc.code)
            await self.gateway.hangup()

    async def _media(self, event: dict[str, Any]) -> None:
        assert self.call is not None
        track = _field(event, "media", "track")
        if track not in (None, "inbound", "inbound_track"):
            return
        payload = _field(event, "media", "payload")
        if not isinstance(payload, str):
            self._skip("media_without_payload")
            return
        try:
            mulaw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            self._skip("bad_base64")
            return
        if not mulaw or len(mulaw) > MAX_PAYLOAD_BYTES:
            self._skip("bad_frame_size", size=len(mulaw))
            return
        # Re-frame to exact 20 ms frames whatever size arrives.
        self._buffer += audio.mulaw_to_pcm16(mulaw)
        while len(self._buffer) >= audio.PCM_FRAME_BYTES:
            frame = self._buffer[: audio.PCM_FRAME_BYTES]
            self._buffer = self._buffer[audio.PCM_FRAME_BYTES :]
            await self.call.audio(frame)


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
