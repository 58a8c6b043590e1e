"""Text to speech: espeak-ng through pyttsx3, owned by one worker process.

pyttsx3 is not thread-safe, espeak-ng initialises once per process, and queuing several
`save_to_file` calls writes only the last one. So one spawned process owns the engine and
does exactly one `save_to_file` + `runAndWait` per request, and requests are serialised.
A request that overruns its timeout, or finds the worker dead, kills it and starts a new
one: a wedged engine costs one prompt, never the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import queue
import shutil
import signal
import tempfile
from collections import OrderedDict
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from agent.logs import log_event
from agent.settings import Settings
from agent.voice.audio import SAMPLE_RATE, pcm16_to_mulaw, read_wav_pcm16, resample
from agent.voice.speech import Speech

log = logging.getLogger(__name__)

_STARTUP_TIMEOUT_S = 30.0  # spawning Python and loading espeak-ng, separate from a request's
_STOP_TIMEOUT_S = 2.0
_ATTEMPTS = 3


class TTSError(RuntimeError):
    """A prompt could not be synthesised: unknown voice, engine error, timeout, dead worker."""


class EspeakTTS:
    """`TextToSpeech` on espeak-ng, with an LRU cache of (text, voice) -> Speech."""

    def __init__(self, timeout_s: float = 10.0, cache_size: int = 256) -> None:
        if timeout_s <= 0 or cache_size < 0:
            raise ValueError("timeout_s must be > 0 and cache_size >= 0")
        self.timeout_s = timeout_s
        self.requests = 0  # round trips to the worker (cache hits make none)
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], Speech] = OrderedDict()
        self._lock = asyncio.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._workdir = ""
        self._ready = False

    @classmethod
    def from_settings(cls, settings: Settings) -> EspeakTTS:
        return cls(timeout_s=settings.tts_timeout_s)

    async def start(self) -> None:
        """Start the worker now rather than on the first prompt."""
        async with self._lock:
            await self._ensure_ready()

    async def synthesize(self, text: str, voice: str) -> Speech:
        key = (text, voice)
        if (hit := self._cached(key)) is not None:
            return hit
        if not text.strip():
            return Speech(b"", SAMPLE_RATE)  # pyttsx3 would wait forever for nothing to say
        # Shielded: a caller cancelled mid-request (a hang-up) must not leave its reply in
        # the pipe for the next request to read; the request finishes and is cached.
        return await asyncio.shield(self._synthesize_locked(key))

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._stop_worker, graceful=True)

    def _cached(self, key: tuple[str, str]) -> Speech | None:
        speech = self._cache.get(key)
        if speech is not None:
            self._cache.move_to_end(key)
        return speech

    async def _synthesize_locked(self, key: tuple[str, str]) -> Speech:
        async with self._lock:
            if (hit := self._cached(key)) is not None:  # a concurrent twin just made it
                return hit
            conn = await self._ensure_ready()
            self.requests += 1
            reply = await self._receive(conn, self.timeout_s, request=key)
            if reply[0] != "ok":
                raise TTSError(f"espeak-ng failed on voice {key[1]!r}: {reply[1]}")
            speech = Speech(pcm16=reply[1], sample_rate=reply[2])
            if self._cache_size:
                self._cache[key] = speech
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return speech

    async def _ensure_ready(self) -> Connection:
        conn = self._conn or self._spawn()
        if not self._ready:
            await self._receive(conn, _STARTUP_TIMEOUT_S)
            self._ready = True
        return conn

    async def _receive(
        self, conn: Connection, timeout_s: float, request: tuple[str, str] | None = None
    ) -> tuple[Any, ...]:
        """Send `request` (if any) and wait, off the event loop, for the worker's reply."""
        try:
            if request is not None:
                conn.send(request)
            return await asyncio.to_thread(_reply, conn, timeout_s)
        except (TimeoutError, EOFError, OSError) as exc:
            self._stop_worker(graceful=False)
            self._spawn()  # warm up while the caller handles the failure
            log_event(log, "tts_worker_restarted", logging.WARNING, reason=repr(exc))
            raise TTSError(f"TTS worker failed ({exc!r}); restarted") from exc

    def _spawn(self) -> Connection:
        # "spawn": a forked child would inherit the event loop, threads and open sockets.
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._workdir = tempfile.mkdtemp(prefix="tact-tts-")  # ours, so a kill leaks nothing
        process = context.Process(
            target=serve, args=(child, self._workdir), name="tts-worker", daemon=True
        )
        process.start()
        child.close()  # only the worker may hold its end, so its death reads here as EOF
        self._process, self._conn, self._ready = process, parent, False
        return parent

    def _stop_worker(self, graceful: bool) -> None:
        process, conn = self._process, self._conn
        self._process, self._conn, self._ready = None, None, False
        if process is None or conn is None:
            return
        if graceful:
            with contextlib.suppress(OSError):
                conn.send(None)
            process.join(_STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join()
        process.close()
        conn.close()
        shutil.rmtree(self._workdir, ignore_errors=True)


def to_mulaw_8k(speech: Speech) -> bytes:
    """Telephone audio (G.711 mu-law, 8 kHz) from synthesised speech."""
    return pcm16_to_mulaw(resample(speech.pcm16, speech.sample_rate, SAMPLE_RATE))


def _reply(conn: Connection, timeout_s: float) -> tuple[Any, ...]:
    if not conn.poll(timeout_s):
        raise TimeoutError(f"no reply within {timeout_s:g} s")
    reply: tuple[Any, ...] = conn.recv()  # EOFError if the worker died
    return reply


def serve(conn: Connection, workdir: str) -> None:
    """The worker process: answers (text, voice) with ("ok", pcm16, rate) or ("error", why)."""
    import pyttsx3  # only the worker loads espeak-ng

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    engine = pyttsx3.init("espeak")
    voices = engine.getProperty("voices")
    finished: queue.SimpleQueue[bool] = queue.SimpleQueue()
    engine.connect("finished-utterance", lambda name, completed: finished.put(completed))
    conn.send(("ready",))
    wav = Path(workdir) / "prompt.wav"
    with (
        open(os.devnull, "w") as devnull,
        contextlib.redirect_stdout(devnull),  # the driver prints "Audio saved to ..."
        contextlib.suppress(EOFError),  # EOF: the parent is gone
    ):
        while (request := conn.recv()) is not None:
            try:
                voice_id = _voice_id(voices, request[1])
                conn.send(("ok", *_speak(engine, finished, voice_id, request[0], wav)))
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _voice_id(voices: list[Any], name: str) -> str:
    # espeak-ng's SetVoiceByName refuses some language codes (`en-gb` is the voice file
    # `gmw/en`) and pyttsx3 swallows the error, keeping the previous voice: so resolve
    # the name through the listing, file names first, then languages and display names.
    wanted = name.lower()
    by_file = [v.id for v in voices if wanted in (v.id, v.id.rsplit("/", 1)[-1])]
    by_language = [v.id for v in voices if wanted in (*v.languages, v.name.lower())]
    if not (by_file or by_language):
        raise ValueError(f"espeak-ng has no voice {name!r}")
    return str((by_file or by_language)[0])


def _speak(
    engine: Any, finished: queue.SimpleQueue[bool], voice_id: str, text: str, wav: Path
) -> tuple[bytes, int]:
    # pyttsx3's espeak driver synthesises on espeak-ng's own thread: `runAndWait` can return
    # before the WAV is written (seen on a process's first utterance), and an utterance that
    # starts while the last still reads as playing is cancelled. So wait for the driver's
    # finished-utterance notice, sent after the write, and retry a cancelled utterance.
    for _ in range(_ATTEMPTS):
        while not finished.empty():
            finished.get()
        wav.unlink(missing_ok=True)
        engine.setProperty("voice", voice_id)
        engine.save_to_file(text, str(wav))
        engine.runAndWait()
        if finished.get() and wav.exists():  # should this hang, the parent's timeout acts
            return read_wav_pcm16(wav.read_bytes())
    raise RuntimeError(f"no complete utterance in {_ATTEMPTS} attempts")
