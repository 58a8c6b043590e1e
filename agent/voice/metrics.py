"""Prometheus metrics for the voice channel, served at /metrics.

Per debtor turn: end of speech (the endpointer's decision) -> first reply audio frame
out, and its parts: speech-to-text finalisation, analysis (classifier), decision
(dialogue, guard, durable log) and text-to-speech of the first reply message.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 1.5, 2.5, 5.0)

RESPONSE_SECONDS = Histogram(
    "tact_voice_response_seconds",
    "End of debtor speech to the first reply audio frame sent.",
    buckets=BUCKETS,
)
STAGE_SECONDS = Histogram(
    "tact_voice_stage_seconds",
    "Time per stage of a voice turn.",
    ["stage"],
    buckets=BUCKETS,
)
BARGE_INS = Counter("tact_voice_barge_ins_total", "Agent speech cut off by the debtor.")
LATE_FRAMES = Counter(
    "tact_voice_late_frames_total", "Outgoing 20 ms frames sent more than one frame late."
)
CALLS = Counter("tact_voice_calls_total", "Calls handled by the call loop.", ["gateway"])
