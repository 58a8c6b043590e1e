"""The call loop both gateways share (Twilio Media Streams, Asterisk AudioSocket).

Audio in: 20 ms PCM16 frames at 8 kHz -> endpointer (WebRTC VAD inside PocketSphinx)
-> the call's recognizer, fed in order from a worker thread -> at end of speech, the
final transcript goes through the same turn pipeline as chat (logged before any
reply) -> the reply is synthesised and paced out at one frame per 20 ms.

Speech while the agent talks is a barge-in: playback stops, the gateway is told to
`clear`, and how much of the message was heard is logged. A message that carried a
required disclosure counts as given only once its mark comes back; one cut off
is said again before the next reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from pocketsphinx import Endpointer

from agent.domain import Message
from agent.errors import ServiceError
from agent.logs import log_event
from agent.pipeline import TurnPipeline
from agent.voice import audio, metrics
from agent.voice.speech import RecognizerStream, SpeechToText, TextToSpeech, Transcript
from agent.voice.tts import to_mulaw_8k

log = logging.getLogger("agent.voice.call")

Sleep = Callable[[float], Awaitable[None]]


class Gateway(Protocol):
    """The telephony side of one call."""

    name: str
    # False where the gateway cannot echo marks (AudioSocket): audio paced out is
    # audio played, so a mark counts as echoed once the frames before it are sent.
    echoes_marks: bool

    async def send_audio(self, pcm16_frame: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def clear(self) -> None: ...

    async def hangup(self) -> None: ...


@dataclass(frozen=True)
class CallContext:
    conversation_id: str
    session_id: str
    locale: str
    voice: str


@dataclass
class _Utterance:
    """End of one debtor utterance, as queued for the recognizer worker."""

    detected_at: float


@dataclass
class _Keyed:
    """Digits keyed on the phone: a turn, queued in order with the speech around it."""

    digits: str


@dataclass
class _Playing:
    message: Message
    started_at: float
    sent_frames: int = 0
    total_frames: int = 0


@dataclass
class _Turn:
    eos_at: float
    stt_seconds: float = 0.0
    first_audio_sent: bool = False
    timings: dict[str, float] = field(default_factory=dict)


def _push_frames(recognizer: RecognizerStream, frames: list[bytes]) -> None:
    # Frame by frame: decoders hold the GIL while they work, and short calls let the
    # event loop (pacing every call's audio) in between.
    for frame in frames:
        recognizer.push(frame)


class CallSession:
    def __init__(
        self,
        pipeline: TurnPipeline,
        stt: SpeechToText,
        tts: TextToSpeech,
        gateway: Gateway,
        context: CallContext,
        *,
        end_of_speech_ms: int = 300,
        dtmf_timeout_ms: int = 3000,
        pacing: bool = True,
        grammar: list[str] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.pipeline = pipeline
        self.stt = stt
        self.tts = tts
        self.gateway = gateway
        self.context = context
        self.pacing = pacing
        self.grammar = grammar
        self.sleep = sleep
        self.dtmf_timeout = dtmf_timeout_ms / 1000
        self.endpointer = Endpointer(
            window=end_of_speech_ms / 1000,
            ratio=0.9,
            sample_rate=audio.SAMPLE_RATE,
            frame_length=audio.FRAME_MS / 1000,
        )
        self._recognizer: RecognizerStream | None = None
        # Audio and end-of-utterance markers for the recognizer worker, in order.
        self._inbox: deque[bytes | _Utterance | _Keyed | None] = deque()
        self._inbox_ready = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._playback: asyncio.Task[None] | None = None
        self._playing: _Playing | None = None
        self._pending_marks: dict[str, Message] = {}
        self._to_repeat: list[Message] = []
        self._mark_count = 0
        self._in_speech = False
        self._digits = ""
        self._dtmf_timer: asyncio.Task[None] | None = None
        self._turn: _Turn | None = None
        self.ended = False
        self.transcripts: list[str] = []

    # -- lifecycle ------------------------------------------------------------------

    async def begin(self, opening: list[Message]) -> None:
        self._recognizer = await asyncio.to_thread(
            self.stt.open_stream, audio.SAMPLE_RATE, self.grammar
        )
        self._worker = asyncio.create_task(self._recognize())
        metrics.CALLS.labels(self.gateway.name).inc()
        self._speak(opening)

    async def stop(self, reason: str) -> None:
        """The call is over (stop event, hang-up, disconnect): end the conversation;
        every turn taken so far is already in the log."""
        if self._worker is not None:
            self._enqueue(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for task in (self._playback, self._dtmf_timer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            await self.pipeline.end(self.context.session_id, reason)
        except ServiceError as exc:
            log_event(log, "call_end_not_logged", logging.ERROR, error=exc.code)
        log_event(log, "call_stopped", conversation_id=self.context.conversation_id, reason=reason)

    # -- inbound events -------------------------------------------------------------

    async def audio(self, pcm16_frame: bytes) -> None:
        """One 20 ms frame of the debtor's audio."""
        speech = self.endpointer.process(pcm16_frame)
        if self.endpointer.in_speech and not self._in_speech:
            self._in_speech = True
            if self._is_speaking():
                await self._barge_in()
        if speech is not None:
            self._enqueue(speech)
        if self._in_speech and not self.endpointer.in_speech:
            self._in_speech = False
            self._enqueue(_Utterance(time.perf_counter()))

    async def dtmf(self, digit: str) -> None:
        """Keyed digits (a date of birth, a menu choice) end with '#' or a pause."""
        if self._dtmf_timer is not None:
            self._dtmf_timer.cancel()
        if digit == "#":
            await self._submit_digits()
            return
        if digit == "*":
            self._digits = ""
            return
        self._digits += digit
        self._dtmf_timer = asyncio.create_task(self._digits_after_pause())

    async def mark(self, name: str) -> None:
        message = self._pending_marks.pop(name, None)
        if message is None:
            return  # a mark we cleared (barge-in) or never sent
        await self._record("call.disclosure_played", {"disclosures": message.discloses})

    # -- recognition and turns ------------------------------------------------------

    def _enqueue(self, item: bytes | _Utterance | _Keyed | None) -> None:
        self._inbox.append(item)
        self._inbox_ready.set()

    async def _recognize(self) -> None:
        """Feed the recognizer in order, off the event loop; one utterance at a time.
        Frames that queued up while the thread was busy go over in one hop."""
        assert self._recognizer is not None
        recognizer = self._recognizer
        while True:
            if not self._inbox:
                self._inbox_ready.clear()
                await self._inbox_ready.wait()
                continue
            item = self._inbox.popleft()
            if item is None:
                return
            if isinstance(item, bytes):
                chunk = [item]
                while self._inbox and isinstance(self._inbox[0], bytes):
                    chunk.append(self._inbox.popleft())  # type: ignore[arg-type]
                await asyncio.to_thread(_push_frames, recognizer, chunk)
                continue
            if isinstance(item, _Keyed):
                await self._take_turn(item.digits, _Turn(time.perf_counter()))
                continue
            started = time.perf_counter()
            final: Transcript = await asyncio.to_thread(recognizer.finish)
            turn = _Turn(item.detected_at, stt_seconds=time.perf_counter() - started)
            if final.text.strip():
                await self._take_turn(final.text.strip(), turn)

    async def _take_turn(self, text: str, turn: _Turn) -> None:
        if self.ended:
            return
        self.transcripts.append(text)
        started = time.perf_counter()
        try:
            outcome = await self.pipeline.handle(self.context.session_id, text)
        except ServiceError as exc:
            # Fail closed: nothing is said that was not logged.
            log_event(log, "voice_turn_failed", logging.ERROR, error=exc.code)
            if exc.code in ("store_unavailable", "conversation_ended"):
                await self._hang_up()
            return
        decided = time.perf_counter() - started
        turn.timings = {
            "stt": turn.stt_seconds,
            "analysis": outcome.analysis_seconds,
            "decision": max(decided - outcome.analysis_seconds, 0.0),
        }
        self._turn = turn
        repeats, self._to_repeat = self._to_repeat, []
        if repeats:
            await self._record(
                "call.disclosure_repeated",
                {"disclosures": sorted({d for m in repeats for d in m.discloses})},
            )
        self._speak([*repeats, *outcome.messages], hang_up_after=outcome.state.ended)

    async def _submit_digits(self) -> None:
        digits, self._digits = self._digits, ""
        if digits:
            self._enqueue(_Keyed(digits))

    async def _digits_after_pause(self) -> None:
        await asyncio.sleep(self.dtmf_timeout)
        self._dtmf_timer = None
        await self._submit_digits()

    # -- speaking -------------------------------------------------------------------

    def _is_speaking(self) -> bool:
        return self._playback is not None and not self._playback.done()

    def _speak(self, messages: list[Message], hang_up_after: bool = False) -> None:
        previous = self._playback
        self._playback = asyncio.create_task(self._play(messages, previous, hang_up_after))

    async def _play(
        self, messages: list[Message], previous: asyncio.Task[None] | None, hang_up_after: bool
    ) -> None:
        if previous is not None and not previous.done():
            with contextlib.suppress(asyncio.CancelledError):
                await previous
        for message in messages:
            await self._play_message(message)
        if hang_up_after:
            await self._hang_up()

    async def _play_message(self, message: Message) -> None:
        started = time.perf_counter()
        # Shielded: a barge-in cancels playback, not the worker's request in flight.
        synthesis = asyncio.ensure_future(self.tts.synthesize(message.text, self.context.voice))
        try:
            speech = await asyncio.shield(synthesis)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log_event(log, "tts_failed", logging.ERROR, error=type(exc).__name__)
            if message.discloses:
                self._to_repeat.append(message)
            return
        tts_seconds = time.perf_counter() - started
        pcm = audio.mulaw_to_pcm16(to_mulaw_8k(speech))
        chunks = audio.frames(pcm, audio.PCM_FRAME_BYTES)
        playing = _Playing(message, time.perf_counter(), total_frames=len(chunks))
        self._playing = playing
        frame_seconds = audio.FRAME_MS / 1000
        for index, frame in enumerate(chunks):
            if self.pacing:
                due = playing.started_at + index * frame_seconds
                delay = due - time.perf_counter()
                if delay > 0:
                    await self.sleep(delay)
                elif delay < -frame_seconds:
                    metrics.LATE_FRAMES.inc()
            await self.gateway.send_audio(frame)
            playing.sent_frames = index + 1
            if index == 0:
                self._first_audio_out(tts_seconds)
        self._playing = None
        if message.discloses:
            self._mark_count += 1
            name = f"disclosure-{self._mark_count}"
            self._pending_marks[name] = message
            await self.gateway.send_mark(name)
            if not self.gateway.echoes_marks:
                await self.mark(name)

    def _first_audio_out(self, tts_seconds: float) -> None:
        turn, self._turn = self._turn, None
        if turn is None:
            return
        response = time.perf_counter() - turn.eos_at
        stages = {**turn.timings, "tts": tts_seconds}
        metrics.RESPONSE_SECONDS.observe(response)
        for stage, seconds in stages.items():
            metrics.STAGE_SECONDS.labels(stage).observe(seconds)
        log_event(
            log,
            "voice_turn_latency",
            logging.INFO,
            conversation_id=self.context.conversation_id,
            response_ms=round(response * 1000, 1),
            **{f"{stage}_ms": round(seconds * 1000, 1) for stage, seconds in stages.items()},
        )

    async def _barge_in(self) -> None:
        playing = self._playing
        if self._playback is not None:
            self._playback.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._playback
        await self.gateway.clear()
        metrics.BARGE_INS.inc()
        cut = list(self._pending_marks.values())
        self._pending_marks.clear()
        heard_ms = 0
        payload: dict[str, object] = {}
        if playing is not None:
            # Paced audio: what was sent is what was played, give or take one frame.
            heard_ms = playing.sent_frames * audio.FRAME_MS
            payload = {
                "template_id": playing.message.template_id,
                "heard_ms": heard_ms,
                "total_ms": playing.total_frames * audio.FRAME_MS,
            }
            if playing.message.discloses:
                cut.append(playing.message)
            self._playing = None
        self._to_repeat.extend(m for m in cut if m not in self._to_repeat)
        payload["cut_disclosures"] = sorted({d for m in cut for d in m.discloses})
        log_event(
            log, "barge_in", logging.INFO, conversation_id=self.context.conversation_id, **payload
        )
        await self._record("call.barge_in", payload)

    async def _hang_up(self) -> None:
        self.ended = True
        await self.gateway.hangup()

    async def _record(self, kind: str, payload: dict[str, object]) -> None:
        try:
            await self.pipeline.record(self.context.conversation_id, kind, dict(payload))
        except ServiceError as exc:
            log_event(log, "call_event_not_logged", logging.ERROR, kind=kind, error=exc.code)
