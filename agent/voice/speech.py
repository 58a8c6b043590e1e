"""The speech adapter seams (ARCHITECTURE.md, Adapters)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Transcript:
    text: str
    is_final: bool
    confidence: float | None = None


class RecognizerStream(Protocol):
    """One utterance-at-a-time recognizer owned by one call; not thread-safe.

    `push` feeds PCM16 at the stream's rate and returns any transcripts ready;
    `finish` ends the utterance and returns its final transcript (then the stream
    is ready for the next utterance)."""

    def push(self, pcm16: bytes) -> list[Transcript]: ...

    def finish(self) -> Transcript: ...


class SpeechToText(Protocol):
    name: str

    def open_stream(self, sample_rate: int, grammar: list[str] | None = None) -> RecognizerStream:
        """A recognizer for one call. `grammar` restricts the words (yes/no, digits)
        where the engine supports it; engines without grammar support ignore it."""
        ...


@dataclass(frozen=True)
class Speech:
    pcm16: bytes
    sample_rate: int


class TextToSpeech(Protocol):
    async def synthesize(self, text: str, voice: str) -> Speech: ...

    async def close(self) -> None: ...
