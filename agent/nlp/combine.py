"""Several debtor messages that no one answered, read as one turn.

A debtor left waiting while a person holds the chat often writes more than once ("I can
pay 200 on Friday" ... "hello?"). When the bot answers them all at once (the idle round,
agent/assist/idle.py) it must answer what was said, not only the last line: a promise,
a plan or a date of birth in an earlier message counts. Later messages win where they
contradict earlier ones ("yes" then "no" is a no).
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.domain import Analysis, Emotion, Entities, Intent

# Intents a later message takes back: saying one drops the other.
_OPPOSITES = {
    Intent.affirm: Intent.deny,
    Intent.deny: Intent.affirm,
    Intent.promise_to_pay: Intent.refuse_to_pay,
    Intent.refuse_to_pay: Intent.promise_to_pay,
}


def read_together(analyses: Sequence[Analysis]) -> Analysis:
    """One analysis for messages said in a row, oldest first."""
    if not analyses:
        raise ValueError("nothing to read")
    if len(analyses) == 1:
        return analyses[0]
    intents: list[Intent] = []
    for analysis in analyses:
        for intent in analysis.intents:
            opposite = _OPPOSITES.get(intent)
            if opposite in intents:
                intents.remove(opposite)
            if intent not in intents:
                intents.append(intent)
    latest = analyses[-1]
    # The mean of the messages' emotions: an upset first message still shapes the tone of
    # the answer to a calm "hello?" after it.
    scores = {
        emotion: sum(a.emotion_scores.get(emotion, 0.0) for a in analyses) / len(analyses)
        for emotion in Emotion
    }
    return latest.model_copy(
        update={
            "text": "\n".join(a.text for a in analyses),
            "emotion": max(scores, key=lambda emotion: scores[emotion]),
            "emotion_scores": scores,
            "intents": intents,
            "entities": _latest_entities(analyses),
            "cues": list(dict.fromkeys(cue for a in analyses for cue in a.cues)),
        }
    )


def _latest_entities(analyses: Sequence[Analysis]) -> Entities:
    """Each entity as the latest message that gave it said it. A sum and "all of it" are
    one answer to "how much": the later of the two stands."""
    entities = Entities()
    for analysis in analyses:
        said = analysis.entities
        how_much = (
            {"amount": said.amount, "full_amount": said.full_amount}
            if said.amount is not None or said.full_amount
            else {}
        )
        entities = entities.model_copy(
            update={
                **how_much,
                "date": said.date or entities.date,
                "birth_date": said.birth_date or entities.birth_date,
            }
        )
    return entities
