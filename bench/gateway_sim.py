"""A simulated telephony gateway for benchmarks and tests: debtor speech rendered by
espeak-ng through the telephone band and G.711 mu-law, exactly as a gateway delivers
it, and the gateway's side of a Twilio Media Stream written from PROTOCOLS.md."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import subprocess
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from agent.voice import audio

# A female voice: PocketSphinx's acoustic model recognises it far better than espeak's
# default male voice over the telephone band.
DEBTOR_VOICE = "en-us+f2"


@functools.lru_cache(maxsize=64)
def speech_mulaw(text: str, voice: str = DEBTOR_VOICE) -> bytes:
    wav = subprocess.run(
        ["espeak-ng", "-v", voice, "--stdout", text], capture_output=True, check=True
    ).stdout
    pcm, rate = audio.read_wav_pcm16(wav)
    return audio.pcm16_to_mulaw(audio.resample(pcm, rate, audio.SAMPLE_RATE))


def silence_mulaw(ms: int) -> bytes:
    return bytes([audio.MULAW_SILENCE]) * (audio.SAMPLE_RATE * ms // 1000)


def utterance_frames(text: str, voice: str = DEBTOR_VOICE, pause_ms: int = 800) -> list[bytes]:
    """20 ms mu-law frames: a little silence, the line, then enough silence for the
    endpointer to call the end of the turn."""
    data = silence_mulaw(200) + speech_mulaw(text, voice) + silence_mulaw(pause_ms)
    return audio.frames(data, audio.MULAW_FRAME_BYTES, pad=audio.MULAW_SILENCE)


class StreamClient:
    """The gateway's side of a Media Stream, written from PROTOCOLS.md."""

    def __init__(self, ws: ClientConnection, stream_sid: str = "MZ" + "a" * 32) -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self.sequence = 0
        self.chunk = 0
        self.received: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any], numbered: bool = True) -> None:
        if numbered:
            self.sequence += 1
            event = {"sequenceNumber": str(self.sequence), **event}
        await self.ws.send(json.dumps(event))

    async def start(self, call_id: str) -> None:
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"}, False)
        await self.send(
            {
                "event": "start",
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": "AC" + "0" * 32,
                    "streamSid": self.stream_sid,
                    "callSid": "CA" + "1" * 32,
                    "tracks": ["inbound"],
                    "customParameters": {"call_id": call_id},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )

    async def media(self, mulaw: bytes) -> None:
        self.chunk += 1
        await self.send(
            {
                "event": "media",
                "streamSid": self.stream_sid,
                "media": {
                    "track": "inbound",
                    "chunk": str(self.chunk),
                    "timestamp": str(self.chunk * 20),
                    "payload": base64.b64encode(mulaw).decode(),
                },
            }
        )

    async def frames(self, frames: list[bytes]) -> None:
        for frame in frames:
            await self.media(frame)

    async def dtmf(self, digits: str) -> None:
        for digit in digits:
            await self.send(
                {
                    "event": "dtmf",
                    "streamSid": self.stream_sid,
                    "dtmf": {"track": "inbound_track", "digit": digit},
                }
            )

    async def mark(self, name: str) -> None:
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    async def stop(self) -> None:
        await self.send(
            {
                "event": "stop",
                "streamSid": self.stream_sid,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": "CA" + "1" * 32},
            }
        )

    async def until(
        self, check: Callable[[dict[str, Any]], bool], limit_s: float = 60.0
    ) -> dict[str, Any]:
        """Read events until one passes `check` (the timeout only guards against hangs)."""
        async with asyncio.timeout(limit_s):
            while True:
                event: dict[str, Any] = json.loads(await self.ws.recv())
                self.received.append(event)
                if check(event):
                    return event

    def count(self, kind: str) -> int:
        return sum(1 for e in self.received if e["event"] == kind)
