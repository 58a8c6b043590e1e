"""Telephone audio: G.711 mu-law <-> PCM16, resampling, 20 ms framing.

mu-law is decoded through a 256-entry table and encoded through a 65,536-entry table
(both bit-exact with G.711 / the stdlib's deprecated `audioop`), so a 20 ms frame
costs one numpy indexing operation each way.
"""

from __future__ import annotations

import numpy as np
import soxr

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 160
MULAW_FRAME_BYTES = FRAME_SAMPLES  # one byte per sample
PCM_FRAME_BYTES = FRAME_SAMPLES * 2  # 320: AudioSocket's 20 ms frame
MULAW_SILENCE = 0xFF

_BIAS = 0x84


def _decode_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _encode_table() -> np.ndarray:
    # CCITT g711.c linear2ulaw on the 14-bit value, as audioop does.
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), 8159) + 0x21
    segment_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    segment = np.searchsorted(segment_ends, magnitude)
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return ((code ^ mask) & 0xFF).astype(np.uint8)


_DECODE = _decode_table()
_ENCODE = _encode_table()


def mulaw_to_pcm16(data: bytes) -> bytes:
    return _DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def pcm16_to_mulaw(data: bytes) -> bytes:
    samples = np.frombuffer(data[: len(data) - len(data) % 2], dtype=np.int16)
    return _ENCODE[samples.astype(np.int32) + 32768].tobytes()


def resample(pcm16: bytes, from_rate: int, to_rate: int) -> bytes:
    if from_rate == to_rate or not pcm16:
        return pcm16
    samples = np.frombuffer(pcm16[: len(pcm16) - len(pcm16) % 2], dtype=np.int16)
    out: np.ndarray = soxr.resample(samples, from_rate, to_rate)
    return bytes(np.clip(out, -32768, 32767).astype(np.int16).tobytes())


def frames(data: bytes, frame_bytes: int, pad: int = 0) -> list[bytes]:
    """Split audio into whole frames; the last one padded with `pad` bytes."""
    chunks = [data[i : i + frame_bytes] for i in range(0, len(data), frame_bytes)]
    if chunks and len(chunks[-1]) < frame_bytes:
        chunks[-1] = chunks[-1] + bytes([pad]) * (frame_bytes - len(chunks[-1]))
    return chunks


def duration_ms(pcm16: bytes, rate: int = SAMPLE_RATE) -> float:
    return len(pcm16) / 2 / rate * 1000


def read_wav_pcm16(data: bytes) -> tuple[bytes, int]:
    """PCM16 mono from a WAV, reading the data chunk to EOF: espeak-ng's `--stdout`
    writes a bogus length in the header (PROTOCOLS.md)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    pos = 12
    rate = 0
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk == b"fmt ":
            channels = int.from_bytes(data[body + 2 : body + 4], "little")
            rate = int.from_bytes(data[body + 4 : body + 8], "little")
            bits = int.from_bytes(data[body + 14 : body + 16], "little")
            if channels != 1 or bits != 16:
                raise ValueError(f"want mono PCM16, got {channels} channels of {bits} bits")
        elif chunk == b"data":
            pcm = data[body:]
            return pcm[: len(pcm) - len(pcm) % 2], rate
        pos = body + size + (size & 1)
    raise ValueError("WAV has no data chunk")
