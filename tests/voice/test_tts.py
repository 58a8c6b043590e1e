"""The espeak-ng TTS adapter on the real engine: audio, voices, serialisation, cache, restarts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import numpy as np
import pytest

from agent.voice.speech import Speech
from agent.voice.tts import EspeakTTS, TTSError, to_mulaw_8k

SHORT = "Yes."
MEDIUM = "Hello, this is Tact Services calling."
LONG = "Hello, this is Tact Services calling for John Smith about a personal business matter."
MANDARIN = "你好，请问您是张先生吗？"


def seconds(speech: Speech) -> float:
    return len(speech.pcm16) / 2 / speech.sample_rate


def rms(speech: Speech) -> float:
    samples = np.frombuffer(speech.pcm16, dtype=np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2)))


@pytest.fixture
async def tts() -> AsyncIterator[EspeakTTS]:
    engine = EspeakTTS(timeout_s=10.0)
    yield engine
    await engine.close()


@pytest.mark.parametrize(("voice", "text"), [("en-us", LONG), ("en-gb", LONG), ("cmn", MANDARIN)])
async def test_speech_is_audible_pcm16(tts: EspeakTTS, voice: str, text: str) -> None:
    speech = await tts.synthesize(text, voice)
    assert speech.sample_rate == 22050  # espeak-ng's native rate
    assert 1.5 < seconds(speech) < 10.0
    assert rms(speech) > 500  # speech, not silence


async def test_longer_text_gives_longer_audio(tts: EspeakTTS) -> None:
    short, long = await tts.synthesize(SHORT, "en-us"), await tts.synthesize(LONG, "en-us")
    assert 0.2 < seconds(short) < 1.5
    assert seconds(long) > 3 * seconds(short)


async def test_mandarin_is_spoken_by_the_mandarin_voice(tts: EspeakTTS) -> None:
    # An English voice reads hanzi slowly, letter by letter with tone numbers: if the cmn
    # voice were silently ignored (pyttsx3 swallows voice errors) the two would match.
    mandarin = await tts.synthesize(MANDARIN, "cmn")
    english = await tts.synthesize(MANDARIN, "en-us")
    assert seconds(mandarin) < 0.8 * seconds(english)


async def test_concurrent_requests_each_get_their_own_audio(tts: EspeakTTS) -> None:
    texts = [LONG, SHORT, MEDIUM]
    results = await asyncio.gather(*(tts.synthesize(text, "en-us") for text in texts))
    short, medium, long = (seconds(results[texts.index(t)]) for t in (SHORT, MEDIUM, LONG))
    assert short < medium < long
    assert tts.requests == 3


async def test_cache_hit_skips_the_worker(tts: EspeakTTS) -> None:
    first = await tts.synthesize(MEDIUM, "en-us")
    second = await tts.synthesize(MEDIUM, "en-us")
    assert second.pcm16 == first.pcm16
    assert tts.requests == 1
    await tts.synthesize(MEDIUM, "en-gb")  # the voice is part of the key
    assert tts.requests == 2


async def test_cache_evicts_the_least_recently_used() -> None:
    tts = EspeakTTS(cache_size=2)
    try:
        for text in (SHORT, MEDIUM, SHORT, LONG, SHORT, MEDIUM):  # MEDIUM evicted by LONG
            await tts.synthesize(text, "en-us")
        assert tts.requests == 4
    finally:
        await tts.close()


async def test_blank_text_is_silence_without_the_worker(tts: EspeakTTS) -> None:
    assert (await tts.synthesize("  ", "en-us")).pcm16 == b""
    assert tts.requests == 0


async def test_unknown_voice_fails_without_a_restart(
    tts: EspeakTTS, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(TTSError, match="no voice 'xx-nope'"):
        await tts.synthesize(SHORT, "xx-nope")
    assert await tts.synthesize(SHORT, "en-us")
    assert "tts_worker_restarted" not in caplog.messages


async def test_timeout_restarts_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    tts = EspeakTTS(timeout_s=0.5)
    try:
        await tts.start()  # the worker's start-up is not the request's timeout
        with (
            caplog.at_level(logging.WARNING, logger="agent.voice.tts"),
            pytest.raises(TTSError, match="TimeoutError"),
        ):
            await tts.synthesize(LONG * 300, "en-us")  # minutes of audio: seconds to make
        assert [r.levelno for r in caplog.records if r.msg == "tts_worker_restarted"] == [
            logging.WARNING
        ]
        assert rms(await tts.synthesize(MEDIUM, "en-us")) > 500
    finally:
        await tts.close()


async def test_dead_worker_is_replaced(tts: EspeakTTS, caplog: pytest.LogCaptureFixture) -> None:
    await tts.start()
    assert tts._process is not None
    tts._process.kill()
    tts._process.join()
    with pytest.raises(TTSError, match=r"EOFError|BrokenPipeError"):
        await tts.synthesize(SHORT, "en-us")
    assert "tts_worker_restarted" in caplog.messages
    assert rms(await tts.synthesize(SHORT, "en-us")) > 500


async def test_mulaw_8k_keeps_the_duration(tts: EspeakTTS) -> None:
    speech = await tts.synthesize(LONG, "en-us")
    mulaw = to_mulaw_8k(speech)
    assert abs(len(mulaw) - seconds(speech) * 8000) <= 8  # one byte a sample at 8 kHz
    assert len(set(mulaw)) > 50  # real audio, not one silence code
