"""PocketSphinx: the out-of-the-box English engine (its wheel carries the acoustic
model and dictionary; no download).

The stock language model is general English and does badly on telephone audio, so
the decoder uses a domain trigram model built from `resources/en_asr_corpus.txt`
(data/asr_corpus.py) on first use and cached under `models_dir`. The acoustic model
is 16 kHz: 8 kHz call audio is upsampled with a streaming resampler.
"""

from __future__ import annotations

import hashlib
import threading
from importlib import resources
from pathlib import Path

import numpy as np
import soxr
from pocketsphinx import Config, Decoder, get_model_path

from agent.voice.ngram import build_arpa
from agent.voice.speech import Transcript

MODEL_RATE = 16000
# Initial cepstral means for 8 kHz telephone audio. Live CMN starts from the model's
# wideband values and needs several utterances to adapt; until then streaming decoding
# of band-limited speech is near useless (0 of 15 test lines right vs 8 of 15 with this).
# Measured by batch-decoding telephone-band speech and reading Decoder.get_cmn();
# each call's decoder keeps adapting from here.
TELEPHONE_CMNINIT = (
    "49.51,21.84,-36.26,46.76,-25.45,-0.01,13.21,-33.74,11.42,-17.92,4.09,10.37,-24.49"
)
_lm_lock = threading.Lock()


def _dictionary_words() -> set[str]:
    path = Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    with path.open(encoding="utf-8") as lines:
        return {line.split(" ", 1)[0].split("(", 1)[0] for line in lines if line.strip()}


def domain_lm_path(cache_dir: Path) -> Path:
    """The domain ARPA model, rebuilt only when the corpus changes."""
    corpus = (
        resources.files("agent.voice")
        .joinpath("resources/en_asr_corpus.txt")
        .read_text(encoding="utf-8")
    )
    digest = hashlib.sha256(corpus.encode()).hexdigest()[:16]
    path = cache_dir / f"en-domain-{digest}.lm"
    with _lm_lock:
        if not path.exists():
            known = _dictionary_words()
            sentences = [[w for w in line.split() if w in known] for line in corpus.splitlines()]
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".tmp")
            partial.write_text(build_arpa(sentences), encoding="utf-8")
            partial.replace(path)
    return path


class PocketSphinxSTT:
    name = "pocketsphinx"

    def __init__(self, cache_dir: Path) -> None:
        self.lm_path = domain_lm_path(cache_dir)

    def open_stream(self, sample_rate: int, grammar: list[str] | None = None) -> PocketSphinxStream:
        # Grammar mode is Vosk's; the domain model already favours yes/no and digits.
        return PocketSphinxStream(self.lm_path, sample_rate)


class PocketSphinxStream:
    """One decoder per call (a Decoder is not thread-safe; ~0.3 s to create)."""

    def __init__(self, lm_path: Path, sample_rate: int) -> None:
        config = Config(lm=str(lm_path))
        config["loglevel"] = "FATAL"
        if sample_rate <= 8000:
            config["cmninit"] = TELEPHONE_CMNINIT
        # No second (flat-lexicon) pass: the same words on our test lines, and the end of
        # an utterance costs ~3 ms instead of 50-120 ms (the decoder holds the GIL).
        config["fwdflat"] = False
        self.decoder = Decoder(config)
        self.sample_rate = sample_rate
        self._resampler = self._new_resampler()
        self._partial = ""
        self.decoder.start_utt()

    def _new_resampler(self) -> soxr.ResampleStream | None:
        if self.sample_rate == MODEL_RATE:
            return None
        return soxr.ResampleStream(self.sample_rate, MODEL_RATE, 1, dtype="int16")

    def _to_model_rate(self, pcm16: bytes, last: bool = False) -> bytes:
        if self._resampler is None:
            return pcm16
        samples = np.frombuffer(pcm16, dtype=np.int16)
        return bytes(self._resampler.resample_chunk(samples, last=last).tobytes())

    def push(self, pcm16: bytes) -> list[Transcript]:
        audio = self._to_model_rate(pcm16)
        if audio:
            self.decoder.process_raw(audio, full_utt=False)
        hyp = self.decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        if text and text != self._partial:
            self._partial = text
            return [Transcript(text, is_final=False)]
        return []

    def finish(self) -> Transcript:
        tail = self._to_model_rate(b"", last=True)
        if tail:
            self.decoder.process_raw(tail, full_utt=False)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        confidence = float(np.exp(hyp.prob)) if hyp is not None and text else None
        self._partial = ""
        self._resampler = self._new_resampler()
        self.decoder.start_utt()
        return Transcript(text, is_final=True, confidence=confidence)
