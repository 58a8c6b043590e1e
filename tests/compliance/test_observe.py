"""compliance.observe: which flags a debtor's words raise."""

from __future__ import annotations

import datetime as dt

import pytest

from agent.compliance.observe import medium_optouts, observe
from agent.domain import AnalysisContext, ConversationState
from agent.nlp.analyzer import analyze_with_lexicon

CONTEXT = AnalysisContext(today=dt.date(2026, 11, 28), locale="en-US")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("please don't call me anymore, text me instead", ["optout_call"]),
        ("don't text me, call me instead", ["optout_sms"]),
        ("dont call me text me instead", ["optout_call"]),
        ("email me instead of calling", ["optout_call"]),
        ("别再打电话了，发短信给我就行", ["optout_call"]),
        ("别给我发短信了，打电话吧", ["optout_sms"]),
        ("stop calling me", []),
        ("don't call or text me", []),
        ("don't ever text me", []),
        ("别再给我打电话了", []),
    ],
)
def test_medium_optouts(text: str, expected: list[str]) -> None:
    assert medium_optouts(text) == expected


@pytest.mark.parametrize(
    ("text", "verified", "raised"),
    [
        ("stop calling me", False, ["cease_contact"]),
        ("don't call me, text me instead", False, ["optout_call"]),
        ("I'm at work, call me later", False, ["no_work_contact"]),
        ("我在上班，晚点再打", False, ["no_work_contact"]),
        ("talk to my lawyer", False, ["attorney"]),
        ("I want to kill myself", False, ["vulnerability"]),
        ("this isn't my debt", True, ["dispute"]),
        ("this isn't my debt", False, []),
        ("wrong number", False, ["wrong_party"]),
        ("wrong number", True, []),
    ],
)
def test_observe_raises_flags(text: str, verified: bool, raised: list[str]) -> None:
    state = ConversationState(step="verify", verified=verified)
    found, new = observe(state, analyze_with_lexicon(text, CONTEXT))
    assert found == raised and new == raised
    assert state.flags == raised
    again, new_again = observe(state, analyze_with_lexicon(text, CONTEXT))
    assert again == raised and new_again == []
