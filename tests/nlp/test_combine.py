"""Unanswered messages read together (agent/nlp/combine.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from agent.domain import Amount, Analysis, Emotion, Entities, Intent
from agent.nlp.combine import read_together


def said(
    text: str,
    *intents: Intent,
    emotion: Emotion = Emotion.calm,
    entities: Entities | None = None,
    cues: tuple[str, ...] = (),
) -> Analysis:
    scores = {e: (0.8 if e == emotion else 0.05) for e in Emotion}
    return Analysis(
        text=text,
        language="en",
        emotion=emotion,
        emotion_scores=scores,
        intents=list(intents),
        entities=entities or Entities(),
        cues=list(cues),
        source="model",
    )


FRIDAY = dt.date(2026, 12, 11)


def test_a_promise_in_an_earlier_message_survives_a_later_hello() -> None:
    promise = said(
        "I can pay 200 on Friday",
        Intent.promise_to_pay,
        entities=Entities(amount=Amount(value=Decimal(200), currency="USD"), date=FRIDAY),
    )
    together = read_together([promise, said("hello?")])
    assert together.intents == [Intent.promise_to_pay]
    assert together.entities.amount is not None and together.entities.amount.value == 200
    assert together.entities.date == FRIDAY
    assert together.text == "I can pay 200 on Friday\nhello?"


def test_a_later_message_takes_back_what_an_earlier_one_said() -> None:
    together = read_together([said("yes", Intent.affirm), said("actually no", Intent.deny)])
    assert together.intents == [Intent.deny]
    paying = said("I'll pay", Intent.promise_to_pay)
    refusing = said("no I won't pay", Intent.refuse_to_pay)
    assert read_together([paying, refusing]).intents == [Intent.refuse_to_pay]
    assert read_together([refusing, paying]).intents == [Intent.promise_to_pay]


def test_the_later_of_a_sum_and_all_of_it_stands() -> None:
    all_of_it = said("i'll pay it all", entities=Entities(full_amount=True))
    sum_300 = said("300 then", entities=Entities(amount=Amount(value=Decimal(300))))
    first_all = read_together([all_of_it, sum_300]).entities
    assert (first_all.full_amount, first_all.amount) == (False, Amount(value=Decimal(300)))
    first_sum = read_together([sum_300, all_of_it]).entities
    assert (first_sum.full_amount, first_sum.amount) == (True, None)
    # A message that names no sum leaves the earlier one alone.
    kept = read_together([sum_300, said("on friday", entities=Entities(date=FRIDAY))]).entities
    assert (kept.amount, kept.date) == (Amount(value=Decimal(300)), FRIDAY)


def test_an_upset_message_shapes_the_mood_of_a_calm_one_after_it() -> None:
    together = read_together(
        [said("I lost my job, I can't cope", emotion=Emotion.distressed), said("hello?")]
    )
    assert together.emotion_scores[Emotion.distressed] == pytest.approx(0.425)
    assert together.emotion_scores[Emotion.calm] == pytest.approx(0.425)
    three = [said("this is a joke", emotion=Emotion.angry)] * 2 + [said("hello?")]
    assert read_together(three).emotion == Emotion.angry


def test_every_message_s_intents_and_cues_count_once() -> None:
    together = read_together(
        [
            said("I want to kill myself", Intent.vulnerability, cues=("self_harm",)),
            said("stop calling", Intent.cease_contact, Intent.vulnerability),
        ]
    )
    assert together.intents == [Intent.vulnerability, Intent.cease_contact]
    assert together.cues == ["self_harm"]


def test_one_message_is_itself_and_none_is_an_error() -> None:
    one = said("hello?")
    assert read_together([one]) is one
    with pytest.raises(ValueError):
        read_together([])
