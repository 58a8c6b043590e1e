"""Speech engines per locale, built once per process from settings (AGENT_STT_ENGINES,
AGENT_VOSK_MODELS, AGENT_TTS_VOICES)."""

from __future__ import annotations

import asyncio
import logging

from agent.errors import Unavailable
from agent.logs import log_event
from agent.settings import Settings
from agent.voice.speech import SpeechToText
from agent.voice.tts import EspeakTTS

log = logging.getLogger("agent.voice")


class SpeechUnavailable(Unavailable):
    """No recognizer is configured (or loadable) for a call's locale."""


class VoiceEngines:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tts = EspeakTTS(timeout_s=settings.tts_timeout_s)
        self._stt: dict[str, SpeechToText] = {}
        self._lock = asyncio.Lock()

    def voice_for(self, locale: str) -> str:
        return self.settings.tts_voices.get(locale) or self.settings.tts_voices.get(
            locale.split("-")[0], "en-us"
        )

    def can_recognize(self, locale: str) -> bool:
        """Whether a recognizer for this locale is configured (Vosk needs a model)."""
        engine = self.settings.stt_engines.get(locale)
        if engine == "pocketsphinx":
            return locale.startswith("en")
        return engine == "vosk" and locale in self.settings.vosk_models

    async def stt_for(self, locale: str) -> SpeechToText:
        async with self._lock:
            if locale not in self._stt:
                self._stt[locale] = await asyncio.to_thread(self._build, locale)
            return self._stt[locale]

    def _build(self, locale: str) -> SpeechToText:
        engine = self.settings.stt_engines.get(locale)
        cache = self.settings.models_dir / "pocketsphinx"
        if engine == "pocketsphinx" and locale.startswith("en"):
            from agent.voice.stt_pocketsphinx import PocketSphinxSTT

            return PocketSphinxSTT(cache)
        if engine == "vosk" and locale in self.settings.vosk_models:
            from agent.voice.stt_vosk import VoskSTT, resolve_model_path

            path = resolve_model_path(self.settings.vosk_models[locale], self.settings.models_dir)
            log_event(log, "vosk_model_loading", locale=locale, path=str(path))
            return VoskSTT(path)
        raise SpeechUnavailable(
            "speech_unavailable",
            f"no speech recognizer for {locale} (AGENT_STT_ENGINES / AGENT_VOSK_MODELS)",
        )

    async def close(self) -> None:
        await self.tts.close()
