"""compliance.guard: every outgoing utterance is checked before it is said.

Rules are small functions of (text, template facts, conversation facts) returning
the rule id they break, or None. A blocked utterance is replaced by the
`safe_fallback` template and the block is logged with its rule ids.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.domain import GuardResult


@dataclass(frozen=True)
class Utterance:
    text: str
    reveals_debt: bool
    verified: bool
    source: str  # "template" | "human"


Rule = Callable[[Utterance], str | None]


def right_party_rule(utterance: Utterance) -> str | None:
    """ALL-RPC: nothing about the debt before identity is verified."""
    if utterance.reveals_debt and not utterance.verified:
        return "ALL-RPC"
    return None


DEFAULT_RULES: tuple[Rule, ...] = (right_party_rule,)


class Guard:
    def __init__(self, rules: tuple[Rule, ...] = DEFAULT_RULES) -> None:
        self.rules = rules

    def check(self, utterance: Utterance) -> GuardResult:
        broken = [rule_id for rule in self.rules if (rule_id := rule(utterance))]
        if broken:
            return GuardResult(allowed=False, rule_ids=broken, original_text=utterance.text)
        return GuardResult(allowed=True)
