"""Quick replies: the choices a step offers, as buttons the chat widget shows.

A button sends its label as the debtor's own words, so each label is written to be
understood by the classifier like a typed answer ("I'd like a payment plan" reads as
`payment_plan`); tests/assist/test_options.py holds every label to that.
"""

from __future__ import annotations

from agent.domain import QuickReply

# id -> (English label, Chinese label)
LABELS: dict[str, tuple[str, str]] = {
    "pay_full": ("I'll pay the full balance", "我想全部还清"),
    "plan": ("I'd like a payment plan", "我想分期还款"),
    "hardship": ("I'm having money problems", "我手头很紧，还款有困难"),
    "human": ("I want to talk to a person", "我要转人工"),
}

# Steps that present choices, and which ones.
STEP_OPTIONS: dict[str, tuple[str, ...]] = {
    "offer_options": ("pay_full", "plan", "hardship", "human"),
    "hardship_offer": ("plan", "human"),
}


def step_options(step: str, locale: str) -> list[QuickReply]:
    chinese = locale.startswith("zh")
    return [
        QuickReply(id=option, label=LABELS[option][1 if chinese else 0])
        for option in STEP_OPTIONS.get(step, ())
    ]
