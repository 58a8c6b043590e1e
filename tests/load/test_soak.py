"""The soak proof, short: many concurrent chat sessions with think times against a real
`agent serve` process, then every turn checked against the log (bench/chat_load.py).

The full run is `python -m bench.chat_load --soak` (200 sessions, 5 minutes). Here:
20 sessions for 20 s, the lexicon analyzer (the proof is about the log, not the model,
and CI time is small). Asserts no errors, every turn exactly once, the chain verifies;
never times."""

from __future__ import annotations

import datetime as dt

from agent.store.models import Turn
from bench.chat_load import ConversationLog, _compare, run_soak


def test_twenty_sessions_soak_with_no_errors_and_every_turn_logged_once() -> None:
    result = run_soak(20, 20.0, (0.5, 2.0), {"AGENT_ANALYZER": "lexicon"})

    assert result.stats.errors == []
    assert result.problems == []
    assert result.chain_ok
    # Sessions started, finished and were replaced: more conversations than slots.
    assert len(result.stats.conversations) > 20
    assert sum(c.ended for c in result.stats.conversations) >= 20
    assert result.turns >= 60
    assert result.audit_events > result.turns * 2  # inbound + outbound per turn at least
    assert result.rss_start_mib > 0 and result.rss_end_mib > 0


def _turn(seq: int, role: str, text: str) -> Turn:
    return Turn(
        conversation_id="c",
        seq=seq,
        role=role,
        text=text,
        created_at=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
    )


def test_the_log_check_finds_lost_duplicated_and_torn_turns() -> None:
    """The checker itself must be able to fail."""
    log = ConversationLog(
        "DEMO-US-001", "s", "c", agent_texts=["hello", "verified"], answered=["April 12th 1985"]
    )
    good = [_turn(1, "agent", "hello"), _turn(2, "debtor", "April 12th 1985")]
    good.append(_turn(3, "agent", "verified"))
    assert _compare(log, good) == []

    lost = good[:1]
    assert _compare(log, lost)
    duplicated = [*good, _turn(4, "debtor", "April 12th 1985"), _turn(5, "agent", "verified")]
    assert _compare(log, duplicated)
    torn = good[:2]  # the debtor's turn without the reply
    assert _compare(log, torn)
    gap = [good[0], good[1], _turn(4, "agent", "verified")]
    assert _compare(log, gap)

    # A line sent without a reply may be stored once (committed before the crash) ...
    crashed = ConversationLog(
        "DEMO-US-001", "s", "c", agent_texts=["hello"], unanswered=["April 12th 1985"]
    )
    assert _compare(crashed, good) == []
    assert _compare(crashed, good[:1]) == []
    # ... but never twice.
    assert _compare(crashed, duplicated)
