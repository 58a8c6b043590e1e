"""compliance.guard: every outgoing utterance, bot template or human text, is checked first.

Data, not code. Phrase families live in `packs/<pack>/guard.yaml` (the floor file documents the
format): `floor` applies everywhere, then the debtor's pack (`us`, `uk`, `cn`). A family names
the `rule` it breaks and an `action`: `block`; `warn` (said, but flagged); `lawful_if` (allowed
only when the account flags hold every `requires_flags` and no `forbidden_flags`; else blocked
with `forbidden_rule` if a forbidden flag is set, or `rule`). A pack's `floor_rules` add its own
rule id to a floor family's hits (in China every floor threat or insult is also a red line).
Loading fails with file:line on a bad regex, key or value.

Matching. Text is normalised as on the inbound side (`agent.nlp.lexicon`): NFKC, lower case,
apostrophes dropped ("won't" -> "wont", "I'm" -> "im"), hyphens to spaces, spaces between
Chinese characters removed. English fragments get letter/digit boundaries: "sue" does not match
"issue" or "pursue", "lien" not "client". The families of every script in the text run,
whatever `language` says, so code-switched text is covered.

Negation (`negatable: true` families; word lists in floor's `negation:` block). As in the
lexicon, a negator just before the hit, in the same clause, cancels it:
- English: a negator ("not", "never", "no", "wont", "nobody"...) among the `window` tokens
  before the hit, after the last clause break (punctuation, "but", "and", "if"...) and the last
  subject word ("we", "you"; not an object: "never ask you to"): "we will not take legal
  action", "nobody is going to arrest you", "we would never contact your employer".
- Chinese: a negator (不, 没, 未, 别...) among the `window` characters before the hit, after
  the clause break and the last subject (我们, 我...; not after 让/把/给): 我们不会起诉您,
  不会通知您单位. Words that negate nothing (不好意思, 对不起) and A-not-A (要不要) go first.
The threat is kept, despite the negator, when
- a `keep` construction comes just before: "won't hesitate to", "not afraid to", "no choice
  but to", "don't make us", "don't want to", "if you don't pay", 不得不, 不排除, 别逼我们;
- the negator is a condition's (`condition_links` after it): 不还就起诉, 再不还就上门;
- the sentence makes not acting depend on payment (`conditions`): "we won't sue as long as you
  pay", "unless", 只要您按时还款我们就不会起诉: such a promise is the threat itself.
`negatable: false` families (profanity; right-party words; false human claims, whose fragments
carry their own "not") are never cancelled.

Right-party contact (ALL-RPC): before verification an utterance is blocked when it is marked
`reveals_debt`, or has a generic debt word (floor `debt_vocabulary`) or one of the account's
`debt_words` (creditor, balance as said; amounts also match without separators or currency).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from agent.dialogue.yaml_lines import ConfigError, line_of, load_yaml
from agent.domain import GuardMatch, GuardResult, Language

PACKS_DIR = Path(__file__).parent / "packs"
FLOOR = "floor"
RPC_RULE = "ALL-RPC"
UNKNOWN_PACK_RULE = "ALL-GUARD"
ACTIONS = frozenset({"block", "warn", "lawful_if"})
SOURCES = frozenset({"template", "human"})
LANGUAGES = ("en", "zh")
FILE_KEYS = frozenset({"pack", "version", "description", "jurisdictions", "families"})
FAMILY_KEYS = frozenset({
    "id", "rule", "action", "patterns", "negatable", "description", "requires_flags",
    "forbidden_flags", "forbidden_rule", "sources", "unverified_only",
})  # fmt: skip
NEGATION_KEYS = frozenset({
    "window", "negators", "subjects", "object_verbs", "clause_breaks", "sentence_breaks",
    "ignore", "keep", "conditions", "condition_links",
})  # fmt: skip
_RULE_ID = re.compile(r"[A-Z]+(?:-[A-Z0-9]+)+")
_APOSTROPHES = re.compile(r"['’‘`´]")
_HYPHENS = re.compile(r"(?<=[a-z])[-‐‑–](?=[a-z])")
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
_SPACES = re.compile(r"\s+")
_A_NOT_A = re.compile(r"(.)[不没]\1")
_SCRIPT = {"en": re.compile(r"[a-z]"), "zh": re.compile(r"[\u3400-\u9fff]")}


def normalize(text: str) -> str:
    """The form the phrase families are written against (see the module docstring)."""
    text = _HYPHENS.sub(" ", _APOSTROPHES.sub("", unicodedata.normalize("NFKC", text).lower()))
    return _SPACES.sub(" ", _CJK_GAP.sub("", text)).strip()


def _bounded(body: str, lang: str) -> str:
    return body if lang == "zh" else rf"(?<![a-z0-9])(?:{body})(?![a-z0-9])"


@dataclass(frozen=True)
class Utterance:
    text: str
    language: Language
    verified: bool
    reveals_debt: bool  # template metadata; False for human text (the text is scanned)
    source: Literal["template", "human"]
    jurisdiction: str  # "US" | "UK" | "CN"
    region: str | None = None  # US state; no phrase family depends on it yet
    account_flags: frozenset[str] = frozenset()
    debt_words: tuple[str, ...] = ()  # creditor name, balance as said


@dataclass(frozen=True)
class Family:
    id: str
    rule: str
    action: str
    patterns: dict[str, re.Pattern[str]]
    negatable: bool
    requires_flags: frozenset[str]
    forbidden_flags: frozenset[str]
    forbidden_rule: str | None
    sources: frozenset[str]
    unverified_only: bool
    extra_rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pack:
    name: str
    version: int
    jurisdictions: frozenset[str]
    families: tuple[Family, ...]


@dataclass(frozen=True)
class Negation:
    lang: str
    window: int
    negators: re.Pattern[str]
    subject: re.Pattern[str]
    clause_breaks: re.Pattern[str]
    sentence_breaks: re.Pattern[str]
    ignore: re.Pattern[str]
    keep: re.Pattern[str]
    conditions: re.Pattern[str]
    condition_links: re.Pattern[str]

    def cancels(self, text: str, start: int, end: int) -> bool:
        """Whether a negator before text[start:end] cancels the hit (module docstring)."""
        opened = max((m.end() for m in self.sentence_breaks.finditer(text, 0, start)), default=0)
        closed = self.sentence_breaks.search(text, end)
        before = self.ignore.sub(" ", text[opened:start])
        before = _A_NOT_A.sub("", before) if self.lang == "zh" else before
        if not self.negators.search(before):
            return False
        clause = self.clause_breaks.split(before)[-1]
        rest = clause[max((m.end() for m in self.subject.finditer(clause)), default=0) :]
        if self.lang == "zh":
            window, tail = rest[-self.window :], before[-3 * self.window :]
        else:
            window = " ".join(rest.split()[-self.window :])
            tail = " ".join(before.split()[-3 * self.window :])
        found = list(self.negators.finditer(window))
        if not found or self.keep.search(tail):
            return False
        if self.condition_links.search(window, found[-1].end()):
            return False  # a negated condition: 不还就起诉
        return not self.conditions.search(text[opened : closed.start() if closed else len(text)])


class _Reader:
    """Validation helpers that name the file and line of what is wrong."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: Any, message: str, line: int = 1) -> ConfigError:
        return ConfigError(self.path, line_of(node, line), message)

    def regex(self, fragments: Any, lang: str, what: str, line: int) -> re.Pattern[str]:
        if not isinstance(fragments, list) or not fragments:
            raise self.fail(fragments, f"{what}: a non-empty list of regex fragments", line)
        for fragment in fragments:
            if not isinstance(fragment, str):
                raise self.fail(fragments, f"{what}: quote {fragment!r} (fragments are text)", line)
            try:
                re.compile(fragment)
            except re.error as exc:
                raise self.fail(fragment, f"{what}: bad regex {fragment!r}: {exc}", line) from None
        body = "|".join(f"(?:{f})" for f in fragments)
        return re.compile(_bounded(body, lang), re.IGNORECASE)

    def names(self, value: Any, what: str, line: int) -> frozenset[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(value, f"{what}: a list of names", line)
        return frozenset(str(v) for v in value)

    def rule(self, value: Any, line: int) -> str:
        if not isinstance(value, str) or not _RULE_ID.fullmatch(value):
            raise self.fail(value, f"bad rule id {value!r} (e.g. ALL-GUARD, US-SOL)", line)
        return str(value)

    def family(self, raw: Any) -> Family:
        line = line_of(raw, 1)
        if not isinstance(raw, dict) or set(raw) - FAMILY_KEYS:
            raise self.fail(raw, f"a family is a mapping with keys from {sorted(FAMILY_KEYS)}")
        missing = [k for k in ("id", "rule", "action", "patterns") if k not in raw]
        if missing or raw["action"] not in ACTIONS:
            raise self.fail(raw, f"family needs {missing or 'action'}; actions: {sorted(ACTIONS)}")
        fid, patterns, get = str(raw["id"]), raw["patterns"], raw.get
        barred = get("forbidden_rule")
        if raw["action"] == "lawful_if" and "requires_flags" not in raw:
            raise self.fail(raw, f"{fid}: lawful_if needs requires_flags")
        if not isinstance(patterns, dict) or not patterns or set(patterns) - set(LANGUAGES):
            raise self.fail(patterns, f"{fid}: patterns map {LANGUAGES} to lists", line)
        sources = self.names(get("sources", sorted(SOURCES)), f"{fid}.sources", line)
        if not isinstance(get("negatable", True), bool) or sources - SOURCES:
            raise self.fail(raw, f"{fid}: negatable is true/false; sources in {sorted(SOURCES)}")
        return Family(
            id=fid,
            rule=self.rule(raw["rule"], line),
            action=str(raw["action"]),
            patterns={
                str(lang): self.regex(frags, str(lang), f"{fid}.{lang}", line)
                for lang, frags in patterns.items()
            },
            negatable=bool(get("negatable", True)),
            requires_flags=self.names(get("requires_flags", []), f"{fid}.requires_flags", line),
            forbidden_flags=self.names(get("forbidden_flags", []), f"{fid}.forbidden_flags", line),
            forbidden_rule=None if barred is None else self.rule(barred, line),
            sources=sources,
            unverified_only=bool(get("unverified_only", False)),
        )

    def negation(self, raw: Any, lang: str) -> Negation:
        line = line_of(raw, 1)
        if not isinstance(raw, dict) or set(raw) != NEGATION_KEYS:
            raise self.fail(raw, f"negation.{lang} needs exactly {sorted(NEGATION_KEYS)}")
        if not isinstance(raw["window"], int) or raw["window"] < 1:
            raise self.fail(raw["window"], f"negation.{lang}.window: a positive integer", line)

        def rx(key: str, bounded: bool = True) -> re.Pattern[str]:
            return self.regex(raw[key], lang if bounded else "zh", f"negation.{lang}.{key}", line)

        words = self.names(raw["subjects"], f"negation.{lang}.subjects", line)
        verbs = self.names(raw["object_verbs"], f"negation.{lang}.object_verbs", line)
        sep, tail = ("", "") if lang == "zh" else (" ", r"(?! to\b)")  # "ask you to": an object
        after = "".join(f"(?<!{re.escape(verb + sep)})" for verb in sorted(verbs))
        body = "|".join(map(re.escape, sorted(words, key=len, reverse=True))) or "(?!)"
        return Negation(
            lang=lang,
            window=raw["window"],
            subject=re.compile(after + _bounded(body, lang) + tail),
            clause_breaks=rx("clause_breaks", bounded=False),
            sentence_breaks=rx("sentence_breaks", bounded=False),
            **{key: rx(key) for key in ("negators", "ignore", "keep", "conditions")},
            condition_links=rx("condition_links"),
        )

    def pack(self, floor: dict[str, Family] | None) -> tuple[Pack, Any]:
        """One guard file; a jurisdiction pack (floor given) also carries the floor families."""
        raw = load_yaml(self.path)
        allowed = FILE_KEYS | ({"negation"} if floor is None else {"floor_rules"})
        if not isinstance(raw, dict) or set(raw) - allowed:
            raise self.fail(raw, f"a guard file is a mapping with keys from {sorted(allowed)}")
        name = self.path.parent.name
        if raw.get("pack") != name or not isinstance(raw.get("version"), int):
            raise self.fail(raw, f"needs pack: {name} and an integer version")
        if not isinstance(raw.get("families"), list):
            raise self.fail(raw, "families: a list")
        families = [self.family(item) for item in raw["families"]]
        ids = [f.id for f in families] + list(floor or {})
        if len(set(ids)) != len(ids):
            raise self.fail(raw["families"], f"family ids must be unique (floor included): {ids}")
        if floor is not None:
            extra = raw.get("floor_rules") or {}
            if not isinstance(extra, dict) or set(extra) - set(floor):
                raise self.fail(extra, f"floor_rules: floor family -> rule id; {sorted(floor)}")
            for fid, family in floor.items():
                rule = (self.rule(extra[fid], line_of(extra)),) if fid in extra else ()
                families.append(replace(family, extra_rules=rule))
        codes = self.names(raw.get("jurisdictions", []), "jurisdictions", line_of(raw))
        return Pack(name, raw["version"], codes, tuple(families)), raw.get("negation")


@lru_cache(maxsize=4096)
def _debt_word_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    """Account words; an amount also matches without separators, currency or ".00"."""
    bodies = []
    for word in map(normalize, words):
        if number := re.fullmatch(r"\D{0,4}?(\d[\d,]*)(?:\.(\d+))?\D{0,4}", word):
            whole = re.sub(r"(?<=\d)(?=(\d{3})+$)", ",?", number.group(1).replace(",", ""))
            cents = (number.group(2) or "").rstrip("0")
            tail = rf"\.{cents}0*" if cents else r"(?:\.0+)?"
            bodies.append(rf"(?<![\d.,]){whole}{tail}(?![\d]|[.,]\d)")
        elif word:
            bodies.append(_bounded(r"\s*".join(map(re.escape, word.split())), "en"))
    return re.compile("|".join(bodies)) if bodies else None


class Guard:
    def __init__(self, packs_dir: Path = PACKS_DIR) -> None:
        reader = _Reader(packs_dir / FLOOR / "guard.yaml")
        self.floor, negation = reader.pack(None)
        if not isinstance(negation, dict) or set(negation) != set(LANGUAGES):
            raise reader.fail(negation, f"negation: one block per language {LANGUAGES}")
        self.negation = {lang: reader.negation(negation[lang], lang) for lang in LANGUAGES}
        floor = {f.id: f for f in self.floor.families}
        self.packs: dict[str, Pack] = {}
        for path in sorted(packs_dir.glob("*/guard.yaml")):
            if path.parent.name != FLOOR:
                pack = _Reader(path).pack(floor)[0]
                self.packs.update({code.upper(): pack for code in pack.jurisdictions})

    def check(self, utterance: Utterance) -> GuardResult:
        text, flags = normalize(utterance.text), utterance.account_flags
        pack = self.packs.get(utterance.jurisdiction.upper())
        langs = {lang for lang in LANGUAGES if _SCRIPT[lang].search(text)} | {utterance.language}
        matches: list[GuardMatch] = []
        warnings: list[str] = []

        def hit(rules: tuple[str, ...], family: str, said: str, blocking: bool) -> None:
            for r in rules:
                matches.append(GuardMatch(rule_id=r, family=family, text=said, blocking=blocking))

        if pack is None:  # fail closed: no pack, nothing is said
            hit((UNKNOWN_PACK_RULE,), "unknown_jurisdiction", utterance.jurisdiction, True)
        if not utterance.verified:
            if utterance.reveals_debt:
                hit((RPC_RULE,), "reveals_debt", "", True)
            words = _debt_word_pattern(utterance.debt_words)
            if words and (found := words.search(text)):
                hit((RPC_RULE,), "debt_words", found.group(0), True)
        for family in pack.families if pack else self.floor.families:
            if (
                utterance.source not in family.sources
                or (family.unverified_only and utterance.verified)
                or (said := self._find(family, text, langs)) is None
            ):
                continue
            rules = (family.rule, *family.extra_rules)
            if family.action == "warn":
                hit(rules, family.id, said, False)
                warnings += rules
            elif family.action == "block":
                hit(rules, family.id, said, True)
            elif family.requires_flags <= flags and not family.forbidden_flags & flags:
                hit((family.rule,), family.id, said, False)  # lawful: recorded, not flagged
            else:
                barred = family.forbidden_rule if family.forbidden_flags & flags else None
                hit((barred or family.rule, *family.extra_rules), family.id, said, True)
        blocking = list(dict.fromkeys(m.rule_id for m in matches if m.blocking))
        return GuardResult(
            allowed=not blocking,
            rule_ids=blocking,
            warnings=list(dict.fromkeys(warnings)),
            matches=matches,
            original_text=utterance.text if blocking else None,
            pack=(f"{pack.name}:{pack.version}," if pack else "") + f"{FLOOR}:{self.floor.version}",
            pack_version=pack.version if pack else self.floor.version,
        )

    def _find(self, family: Family, text: str, langs: set[str]) -> str | None:
        """The first hit of the family that no negator cancels, or None."""
        for lang, pattern in family.patterns.items():
            if lang in langs:
                for m in pattern.finditer(text):
                    negation = self.negation[lang]
                    if not (family.negatable and negation.cancels(text, m.start(), m.end())):
                        return m.group(0)
        return None
