"""Policy predicates: a small, safe expression language parsed once at load time.

A predicate is a Python-like boolean expression over a fixed set of names, e.g.

    intent.cease_contact or (emotion == 'angry' and counter.refusals >= 2)

Only these constructs are accepted: `and`, `or`, `not`, comparisons
(`== != < <= > >= in not in`), attribute access on the known namespaces, string,
number and boolean literals, and lists/tuples of literals. Anything else (calls,
subscripts, arithmetic, unknown names or attributes) is rejected with a
`PredicateError` at load, so a typo fails start-up instead of silently evaluating
to false on a live call.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agent.domain import Emotion, Intent

# Namespaces and the attributes each accepts. `None` means "any identifier"
# (flags, counters, slots and cues are open-ended by design).
NAMESPACES: dict[str, frozenset[str] | None] = {
    "intent": frozenset(i.value for i in Intent),
    "flag": None,
    "raised": None,  # flags this very turn raised (compliance.observe)
    "counter": None,
    "slot": None,
    "cue": None,
    "entity": frozenset({"amount", "date", "birth_date", "full_amount", "every"}),
    "promise": frozenset({"amount", "date", "pending"}),
    "plan": frozenset({"min_installment", "max_months"}),
    "account": frozenset({"balance", "jurisdiction", "days_past_due", "on_hold"}),
}
SCALARS = frozenset({"emotion", "verified", "step", "language", "dob_matches", "channel"})
EMOTIONS = frozenset(e.value for e in Emotion)

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


class PredicateError(ValueError):
    pass


Context = Mapping[str, Any]
Evaluator = Callable[[Context], Any]


@dataclass(frozen=True)
class Predicate:
    source: str
    _evaluate: Evaluator

    def __call__(self, context: Context) -> bool:
        return bool(self._evaluate(context))


def parse_predicate(source: str) -> Predicate:
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise PredicateError(f"cannot parse {source!r}: {exc.msg}") from None
    return Predicate(source, _compile(tree.body))


def _compile(node: ast.expr) -> Evaluator:
    match node:
        case ast.BoolOp(op=ast.And(), values=values):
            parts = [_compile(v) for v in values]
            return lambda ctx: all(p(ctx) for p in parts)
        case ast.BoolOp(op=ast.Or(), values=values):
            parts = [_compile(v) for v in values]
            return lambda ctx: any(p(ctx) for p in parts)
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            inner = _compile(operand)
            return lambda ctx: not inner(ctx)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            return _compile_compare(left, ops, comparators)
        case ast.Constant(value=value) if isinstance(value, str | int | float | bool):
            return lambda _ctx: value
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            items = [_compile(e) for e in elts]
            return lambda ctx: tuple(i(ctx) for i in items)
        case ast.Name(id=name):
            if name in ("true", "false"):
                constant = name == "true"
                return lambda _ctx: constant
            if name not in SCALARS:
                raise PredicateError(f"unknown name {name!r}; known: {sorted(SCALARS)}")
            return lambda ctx: ctx.get(name)
        case ast.Attribute(value=ast.Name(id=space), attr=attr):
            return _compile_attribute(space, attr)
    raise PredicateError(f"unsupported expression {ast.unparse(node)!r}")


def _compile_attribute(space: str, attr: str) -> Evaluator:
    if space not in NAMESPACES:
        raise PredicateError(f"unknown namespace {space!r}; known: {sorted(NAMESPACES)}")
    allowed = NAMESPACES[space]
    if allowed is not None and attr not in allowed:
        raise PredicateError(f"unknown {space} {attr!r}; known: {sorted(allowed)}")
    return lambda ctx: ctx.get(space, {}).get(attr)


def _compile_compare(
    left: ast.expr, ops: list[ast.cmpop], comparators: list[ast.expr]
) -> Evaluator:
    _check_emotion_literals(left, comparators)
    operands = [_compile(left), *(_compile(c) for c in comparators)]
    functions = []
    for op in ops:
        fn = _COMPARE.get(type(op))
        if fn is None:
            raise PredicateError(f"unsupported comparison {type(op).__name__}")
        functions.append(fn)

    def evaluate(ctx: Context) -> bool:
        values = [o(ctx) for o in operands]
        for fn, a, b in zip(functions, values, values[1:], strict=False):
            # Ordering against something unknown (no amount said) is false, not an error.
            unknown = a is None or b is None
            if unknown and fn not in (operator.eq, operator.ne):
                return False
            if not fn(a, b):
                return False
        return True

    return evaluate


def _check_emotion_literals(left: ast.expr, comparators: list[ast.expr]) -> None:
    """`emotion == 'angy'` would never match: catch misspelt labels at load."""
    if not (isinstance(left, ast.Name) and left.id == "emotion"):
        return
    for comparator in comparators:
        literals = comparator.elts if isinstance(comparator, ast.List | ast.Tuple) else [comparator]
        for literal in literals:
            if isinstance(literal, ast.Constant) and literal.value not in EMOTIONS:
                raise PredicateError(
                    f"unknown emotion {literal.value!r}; known: {sorted(EMOTIONS)}"
                )
