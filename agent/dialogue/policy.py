"""Dialogue policies: YAML files -> validated, compiled, immutable objects.

A policy fails to load (and so the service fails to start) when the file breaks the
JSON Schema, a predicate does not parse, an action is unknown, or a step or
template it names does not exist. Every error names the file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema

from agent.dialogue.predicates import Predicate, PredicateError, parse_predicate
from agent.dialogue.yaml_lines import ConfigError, line_of, load_yaml
from agent.domain import Tone

SCHEMA = json.loads((Path(__file__).parent / "policy.schema.json").read_text())
RESUME = "$resume"

# Action name -> whether it takes an argument. Implemented in dialogue/actions.py.
ACTIONS: dict[str, bool] = {
    "verify": False,
    "flag": True,
    "count": True,
    "reset": True,
    "collect_promise": False,
    "collect_plan": False,
    "hold_promise": False,
    "confirm_promise": False,
    "clear_promise": False,
    "save_text": True,
    "remember_step": False,
    "disclose": True,
}


@dataclass(frozen=True)
class Action:
    name: str
    arg: str | None = None


@dataclass(frozen=True)
class Transition:
    id: str
    when: Predicate
    actions: tuple[Action, ...] = ()
    say: str | None = None
    goto: str | None = None
    reprompt: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    say: str | None
    reprompt: str | None
    next: str | None
    end: bool
    handoff: bool
    tone: Tone | None
    transitions: tuple[Transition, ...]
    requires_disclosures: bool = False


@dataclass(frozen=True)
class DisclosureHow:
    """How a policy gives a required disclosure: say a template, or run a step
    (when the debtor must answer, e.g. recording consent)."""

    say: str | None = None
    step: str | None = None


@dataclass(frozen=True)
class ToneRule:
    when: Predicate
    tone: Tone


@dataclass(frozen=True)
class Policy:
    id: str
    version: int
    path: Path
    start: str
    steps: dict[str, Step]
    tone_rules: tuple[ToneRule, ...]
    default_tone: Tone
    interrupts: tuple[Transition, ...]
    fallbacks: tuple[Transition, ...]
    disclosures: dict[str, DisclosureHow] = field(default_factory=dict)
    disclosure_fallback: str | None = None
    plan_max_months: int = 12
    plan_min_installment_share: Decimal = Decimal("0.05")
    templates_used: frozenset[str] = field(default_factory=frozenset)


def load_policies(directory: Path) -> dict[str, Policy]:
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError(directory, 0, "no policy files (*.yaml) found")
    policies: dict[str, Policy] = {}
    for path in files:
        policy = load_policy(path)
        if policy.id in policies:
            raise ConfigError(path, 1, f"duplicate policy id {policy.id!r}")
        policies[policy.id] = policy
    return policies


def load_policy(path: Path) -> Policy:
    raw = load_yaml(path)
    _validate_schema(path, raw)
    return _PolicyBuilder(path).build(raw)


def _validate_schema(path: Path, raw: Any) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    node, line = raw, line_of(raw, 1)
    for part in error.absolute_path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        line = line_of(node, line)
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    raise ConfigError(path, line, f"{where}: {error.message}")


class _PolicyBuilder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.templates: set[str] = set()

    def build(self, raw: dict[str, Any]) -> Policy:
        settings = raw.get("settings", {})
        steps = {name: self._step(name, body) for name, body in raw["steps"].items()}
        disclosures = {
            name: DisclosureHow(say=how.get("say"), step=how.get("step"))
            for name, how in raw.get("disclosures", {}).items()
        }
        self.templates.update(d.say for d in disclosures.values() if d.say)
        policy = Policy(
            id=raw["id"],
            version=raw["version"],
            path=self.path,
            start=raw["start"],
            steps=steps,
            tone_rules=tuple(
                ToneRule(self._predicate(r["when"]), Tone(r["tone"])) for r in raw["tone"]["rules"]
            ),
            default_tone=Tone(raw["tone"]["default"]),
            interrupts=self._transitions("interrupt", raw.get("interrupts", [])),
            fallbacks=self._transitions("fallback", raw.get("fallbacks", [])),
            disclosures=disclosures,
            disclosure_fallback=raw.get("disclosure_fallback"),
            plan_max_months=settings.get("plan_max_months", 12),
            plan_min_installment_share=Decimal(
                str(settings.get("plan_min_installment_share", 0.05))
            ),
            templates_used=frozenset(self.templates),
        )
        self._check_references(raw, policy)
        return policy

    def _step(self, name: str, body: dict[str, Any]) -> Step:
        for key in ("say", "reprompt"):
            if key in body:
                self.templates.add(body[key])
        return Step(
            name=name,
            say=body.get("say"),
            reprompt=body.get("reprompt"),
            next=body.get("next"),
            end=body.get("end", False),
            handoff=body.get("handoff", False),
            tone=Tone(body["tone"]) if "tone" in body else None,
            transitions=self._transitions(name, body.get("on_reply", [])),
            requires_disclosures=body.get("requires_disclosures", False),
        )

    def _transitions(self, prefix: str, items: list[dict[str, Any]]) -> tuple[Transition, ...]:
        result = []
        for index, item in enumerate(items):
            if "say" in item:
                self.templates.add(item["say"])
            result.append(
                Transition(
                    id=item.get("id", f"{prefix}[{index}]"),
                    when=self._predicate(item["when"]),
                    actions=tuple(self._action(a) for a in item.get("do", [])),
                    say=item.get("say"),
                    goto=item.get("goto"),
                    reprompt=item.get("reprompt", False),
                )
            )
        return tuple(result)

    def _predicate(self, source: str) -> Predicate:
        try:
            return parse_predicate(source)
        except PredicateError as exc:
            raise ConfigError(self.path, line_of(source), f"predicate: {exc}") from None

    def _action(self, source: str) -> Action:
        name, _, arg = source.strip().partition(" ")
        arg = arg.strip()
        if name not in ACTIONS:
            raise ConfigError(
                self.path, line_of(source), f"unknown action {name!r}; known: {sorted(ACTIONS)}"
            )
        if ACTIONS[name] != bool(arg):
            need = "needs an argument" if ACTIONS[name] else "takes no argument"
            raise ConfigError(self.path, line_of(source), f"action {name!r} {need}")
        return Action(name, arg or None)

    def _check_references(self, raw: dict[str, Any], policy: Policy) -> None:
        def check(target: Any) -> None:
            if target is not None and target != RESUME and target not in policy.steps:
                raise ConfigError(self.path, line_of(target), f"unknown step {target!r}")

        check(raw["start"])
        check(raw.get("disclosure_fallback"))
        for how in raw.get("disclosures", {}).values():
            check(how.get("step"))
        for body in raw["steps"].values():
            check(body.get("next"))
            for item in body.get("on_reply", []):
                check(item.get("goto"))
        for item in [*raw.get("interrupts", []), *raw.get("fallbacks", [])]:
            check(item.get("goto"))
        if policy.disclosure_fallback is None and any(
            s.requires_disclosures for s in policy.steps.values()
        ):
            raise ConfigError(self.path, 1, "steps require disclosures: set `disclosure_fallback`")
        for name, step in policy.steps.items():
            if step.say is None and step.next is None:
                line = line_of(raw["steps"][name])
                raise ConfigError(self.path, line, f"step {name!r} needs `say` or `next`")
