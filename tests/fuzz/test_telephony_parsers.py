"""Property-based fuzzing of the two telephony wire parsers.

Twilio Media Streams (JSON text frames) and Asterisk AudioSocket (type/length/payload
over TCP): whatever the gateway or a stranger sends, the parsers answer with a value or a
named skip reason, never an exception, and valid frames come back out exactly as sent."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.telephony import audiosocket
from agent.telephony.media_stream import (
    MAX_PAYLOAD_BYTES,
    Skip,
    StreamHandler,
    dtmf_digit,
    media_payload,
    parse_frame,
    sequence_number,
    start_params,
)
from agent.voice import audio
from tests.fuzz.profile import FUZZ

# The reasons a Media Streams frame may be skipped for; anything else is a new behaviour.
SKIP_REASONS = {
    "bad_json",
    "no_event",
    "bad_sequence",
    "out_of_order",
    "start_without_body",
    "start_without_call_id",
    "media_without_payload",
    "bad_base64",
    "bad_frame_size",
    "bad_dtmf",
}
EVENTS = ["connected", "start", "media", "dtmf", "mark", "stop", "clear", "x"]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def twilio_like_events(draw: st.DrawFn) -> dict[str, Any]:
    """Frames shaped like the gateway's, with any value in any field."""
    event: dict[str, Any] = {"event": draw(st.sampled_from(EVENTS) | st.text(max_size=40))}
    for key in ("sequenceNumber", "streamSid", "start", "media", "dtmf", "mark"):
        if draw(st.booleans()):
            event[key] = draw(json_values)
    if draw(st.booleans()):
        event["media"] = {
            "track": draw(st.sampled_from(["inbound", "outbound", None]) | json_values),
            "payload": draw(st.text(max_size=50) | json_values),
        }
    return event


def _is_skip(value: object) -> bool:
    return isinstance(value, Skip) and value.reason in SKIP_REASONS


# -- Media Streams --
@FUZZ
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_any_text_frame_parses_or_is_skipped(raw: str) -> None:
    parsed = parse_frame(raw)
    assert _is_skip(parsed) or (isinstance(parsed, dict) and isinstance(parsed["event"], str))


@FUZZ
@given(json_values)
def test_any_json_value_parses_or_is_skipped(value: Any) -> None:
    parsed = parse_frame(json.dumps(value))
    if isinstance(value, dict) and isinstance(value.get("event"), str):
        assert parsed == value or value != value  # NaN is never equal to itself
    else:
        assert parsed == Skip("no_event")


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000,  # deeper than the JSON parser recurses
        '{"event": "media", "sequenceNumber": ' + "9" * 5000 + "}",  # past int's digit limit
        '{"event": "media", "sequenceNumber": Infinity}',
        '{"event": "media", "sequenceNumber": NaN}',
        "\x00\ud800",
    ],
)
def test_hostile_frames_are_skipped_not_raised(raw: str) -> None:
    parsed = parse_frame(raw)
    if isinstance(parsed, dict):
        assert _is_skip(sequence_number(parsed, 0))
    else:
        assert parsed == Skip("bad_json")


@FUZZ
@given(twilio_like_events(), st.integers(min_value=0, max_value=10**6))
def test_field_decoders_never_raise(event: dict[str, Any], last: int) -> None:
    sequence = sequence_number(event, last)
    assert sequence is None or _is_skip(sequence) or (isinstance(sequence, int) and sequence > last)
    start = start_params(event)
    assert _is_skip(start) or (isinstance(start, tuple) and all(isinstance(s, str) for s in start))
    mulaw = media_payload(event)
    assert mulaw is None or _is_skip(mulaw) or 0 < len(cast(bytes, mulaw)) <= MAX_PAYLOAD_BYTES
    digit = dtmf_digit(event)
    assert _is_skip(digit) or digit in list("0123456789*#")


@FUZZ
@given(st.binary(min_size=1, max_size=MAX_PAYLOAD_BYTES), st.sampled_from([None, "inbound"]))
def test_a_valid_media_frame_round_trips(mulaw: bytes, track: str | None) -> None:
    media: dict[str, Any] = {"payload": base64.b64encode(mulaw).decode()}
    if track:
        media["track"] = track
    frame = json.dumps({"event": "media", "sequenceNumber": "7", "media": media})
    event = parse_frame(frame)
    assert isinstance(event, dict)
    assert sequence_number(event, 6) == 7
    assert media_payload(event) == mulaw


@FUZZ
@given(st.text(min_size=1, max_size=40), st.text(max_size=40), st.sampled_from("0123456789*#"))
def test_valid_start_and_dtmf_frames_round_trip(call_id: str, sid: str, digit: str) -> None:
    start = parse_frame(
        json.dumps(
            {
                "event": "start",
                "start": {"streamSid": sid, "customParameters": {"call_id": call_id}},
            }
        )
    )
    assert isinstance(start, dict)
    assert start_params(start) == (call_id, sid)
    dtmf = parse_frame(json.dumps({"event": "dtmf", "dtmf": {"digit": digit}}))
    assert isinstance(dtmf, dict)
    assert dtmf_digit(dtmf) == digit


@FUZZ
@given(st.lists(st.integers(min_value=-5, max_value=50), max_size=30))
def test_only_increasing_sequence_numbers_are_taken(numbers: list[int]) -> None:
    last, taken = 0, []
    for number in numbers:
        result = sequence_number({"event": "media", "sequenceNumber": number}, last)
        if isinstance(result, int):
            taken.append(result)
            last = result
        else:
            assert result == Skip("out_of_order", {"sequence": number, "last": last})
    assert taken == sorted(set(taken))


class _RecordingCall:
    """Stands in for the call loop (test-only): records what the handler passes on."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.digits: list[str] = []
        self.marks: list[str] = []

    async def audio(self, frame: bytes) -> None:
        self.frames.append(frame)

    async def dtmf(self, digit: str) -> None:
        self.digits.append(digit)

    async def mark(self, name: str) -> None:
        self.marks.append(name)


@FUZZ
@given(
    st.lists(
        twilio_like_events().map(json.dumps)
        | st.text(max_size=50)
        | st.binary(min_size=1, max_size=400).map(
            lambda b: json.dumps(
                {"event": "media", "media": {"payload": base64.b64encode(b).decode()}}
            )
        ),
        max_size=25,
    )
)
def test_the_handler_survives_any_frames_and_reframes_audio(frames: list[str]) -> None:
    """Any sequence of frames after the start: no exception, only `stop` ends the stream,
    and the audio passed on is the accepted payloads, decoded, in exact 20 ms frames."""
    handler = StreamHandler(cast(Any, None), cast(Any, None))
    call = _RecordingCall()
    handler.call = cast(Any, call)
    accepted = b""
    last = 0
    ended = False

    async def run() -> None:
        nonlocal accepted, last, ended
        for raw in frames:
            event = parse_frame(raw)
            keep_going = await handler.handle(raw)
            if not isinstance(event, dict):
                assert keep_going
                continue
            sequence = sequence_number(event, last)
            in_order = not isinstance(sequence, Skip)
            if isinstance(sequence, int):
                last = sequence
            assert keep_going == (not in_order or event["event"] != "stop")
            if not keep_going:
                ended = True
                return
            mulaw = media_payload(event)
            if in_order and event["event"] == "media" and isinstance(mulaw, bytes):
                accepted += mulaw

    asyncio.run(run())
    pcm = audio.mulaw_to_pcm16(accepted)
    whole = len(pcm) - len(pcm) % audio.PCM_FRAME_BYTES
    assert b"".join(call.frames) == pcm[:whole]
    assert all(len(frame) == audio.PCM_FRAME_BYTES for frame in call.frames)


# -- AudioSocket --
ACTIONS = {"start", "no_uuid", "audio", "bad_audio", "dtmf", "hangup", "error", "skip"}


@FUZZ
@given(st.integers(0, 255), st.binary(max_size=audiosocket.MAX_AUDIO_BYTES + 10), st.booleans())
def test_any_frame_is_interpreted(kind: int, payload: bytes, started: bool) -> None:
    read = audiosocket.interpret(kind, payload, started)
    assert read.action in ACTIONS
    if not started:
        assert read.action in ("start", "no_uuid")
        assert (read.action == "start") == (kind == audiosocket.UUID and len(payload) == 16)
    if read.action == "start":
        assert uuid.UUID(read.call_id).bytes == payload
    if read.action == "audio":
        assert read.data == payload and len(payload) % 2 == 0
    if read.action == "dtmf":
        assert read.digit in "0123456789*#" and payload == read.digit.encode()


def _read_all(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """Every frame read_frame finds in `data`, and the partial read it ended on."""

    async def run() -> tuple[list[tuple[int, bytes]], bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        frames: list[tuple[int, bytes]] = []
        while True:
            try:
                frames.append(await audiosocket.read_frame(reader))
            except asyncio.IncompleteReadError as exc:
                return frames, exc.partial

    return asyncio.run(run())


@FUZZ
@given(st.binary(max_size=2000))
def test_any_byte_stream_splits_into_frames_that_reencode_to_it(data: bytes) -> None:
    frames, _ = _read_all(data)
    encoded = b"".join(audiosocket.frame(kind, payload) for kind, payload in frames)
    assert data.startswith(encoded)
    # What is left is one incomplete frame: a short header, or a payload cut short.
    rest = data[len(encoded) :]
    if len(rest) >= audiosocket.HEADER.size:
        _, length = audiosocket.HEADER.unpack(rest[: audiosocket.HEADER.size])
        assert len(rest) - audiosocket.HEADER.size < length


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=700)), max_size=10))
def test_valid_frames_round_trip(frames: list[tuple[int, bytes]]) -> None:
    data = b"".join(audiosocket.frame(kind, payload) for kind, payload in frames)
    assert _read_all(data) == (frames, b"")
