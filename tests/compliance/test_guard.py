"""The outgoing-utterance guard: red team, loading errors, negation, boundaries, flags, RPC."""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from agent.compliance.guard import PACKS_DIR, Guard, Utterance, normalize
from agent.dialogue.templates import TemplateLibrary
from agent.dialogue.yaml_lines import ConfigError
from agent.domain import SUPPORTED_LOCALES, GuardResult, Language
from agent.settings import Settings
from bench.guard import expected_of, load_redteam, utterance_of, verdict_of
from tests.dialogue.test_policies import sample_context

GUARD = Guard()
ROWS = load_redteam()
ROW_KEYS = {"text", "language", "jurisdiction", "verified", "source", "expect", "rules"}
ROW_KEYS_OPTIONAL = {"flags", "debt_words", "note"}
LOCALE_LANGUAGE: dict[str, Language] = {"en-US": "en", "en-GB": "en", "zh-CN": "zh"}
# Templates that trip ALL-RPC when said before verification although marked reveals_debt:
# false ("we'll stop collection activity"). Reported to the template owners; the guard then
# says the safe fallback instead. The test fails only on a new one.
KNOWN_UNVERIFIED_TRIPS = {("en-US", "bankruptcy_end"), ("en-GB", "bankruptcy_end")}


def check(
    text: str,
    jurisdiction: str = "US",
    *,
    language: Language = "en",
    verified: bool = True,
    flags: tuple[str, ...] = (),
    source: str = "human",
    reveals_debt: bool = False,
    debt_words: tuple[str, ...] = (),
) -> GuardResult:
    return GUARD.check(
        Utterance(
            text=text,
            language=language,
            verified=verified,
            reveals_debt=reveals_debt,
            source="template" if source == "template" else "human",
            jurisdiction=jurisdiction,
            account_flags=frozenset(flags),
            debt_words=debt_words,
        )
    )


# -- the red team ------------------------------------------------------------------------


def test_redteam_file_is_large_balanced_and_well_formed() -> None:
    assert len(ROWS) >= 150
    languages = Counter(row["language"] for row in ROWS)
    assert set(languages) == {"en", "zh"} and min(languages.values()) >= 0.4 * len(ROWS)
    for row in ROWS:
        keys = set(row)
        assert ROW_KEYS - {"rules"} <= keys <= ROW_KEYS | ROW_KEYS_OPTIONAL, row
        assert row["expect"] in {"allow", "block", "warn"}, row
        assert bool(row.get("rules")) == (row["expect"] != "allow"), row
        assert row["source"] in {"template", "human"} and row["jurisdiction"], row
    for language in ("en", "zh"):
        expects = Counter(r["expect"] for r in ROWS if r["language"] == language)
        assert expects["allow"] >= 30 and expects["block"] >= 30 and expects["warn"] >= 2
    flagged = [r for r in ROWS if r.get("flags")]
    assert any(r["expect"] == "allow" for r in flagged) and any(
        "US-SOL" in r.get("rules", []) for r in flagged
    )


@pytest.mark.parametrize(
    "row", ROWS, ids=[f"{i:03d}-{r['language']}-{r['jurisdiction']}" for i, r in enumerate(ROWS)]
)
def test_redteam_row(row: dict[str, Any]) -> None:
    result = GUARD.check(utterance_of(row))
    assert verdict_of(result) == expected_of(row), (row["text"], result.matches)


# -- loading -----------------------------------------------------------------------------


@pytest.fixture
def packs(tmp_path: Path) -> Path:
    return Path(shutil.copytree(PACKS_DIR, tmp_path / "packs"))


def _edit(path: Path, old: str, new: str) -> int:
    """Replace `old` (once) in the file; return the 1-based line where the change is."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


def test_packs_load_with_versions_and_jurisdictions() -> None:
    assert {"US", "UK", "GB", "CN"} <= set(GUARD.packs)
    assert GUARD.packs["GB"] is GUARD.packs["UK"]
    result = check("Hello, how can I help?", "uk")
    assert result.allowed and result.pack == "uk:1,floor:1" and result.pack_version == 1


def test_bad_regex_names_file_and_line(packs: Path) -> None:
    path = packs / "us" / "guard.yaml"
    line = _edit(path, "'legal process|process server'", "'legal process|(process server'")
    with pytest.raises(ConfigError) as error:
        Guard(packs)
    assert str(error.value).startswith(f"{path}:{line}:")
    assert "bad regex" in str(error.value) and error.value.line == line


def test_bad_negation_regex_names_file_and_line(packs: Path) -> None:
    path = packs / "floor" / "guard.yaml"
    line = _edit(path, "'(?:rather|prefer) not|", "'(?:rather|prefer not|")
    with pytest.raises(ConfigError, match=rf"^{path}:{line}: negation.en.keep: bad regex"):
        Guard(packs)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("us", "    negatable: true\n", "    negatable: true\n    severity: high\n", "keys from"),
        ("us", "action: lawful_if", "action: maybe", "actions"),
        ("us", "rule: ALL-GUARD", "rule: all guard", "bad rule id"),
        ("cn", "jurisdictions: [CN]", "jurisdictions: [CN]\nextra: 1", "keys from"),
        ("cn", "  violence: CN-REDLINE", "  violins: CN-REDLINE", "floor_rules"),
        ("uk", "  - id: bailiffs", "  - id: violence", "unique"),
        ("floor", "version: 1", "version: one", "integer version"),
        ("floor", "    window: 5", "    window: 0", "positive integer"),
        ("floor", "negators: [not, 'no',", "negators: [not, no,", "quote False"),
    ],
)
def test_bad_config_fails_with_file_and_line(
    packs: Path, file: str, old: str, new: str, message: str
) -> None:
    path = packs / file / "guard.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as error:
        Guard(packs)
    assert str(error.value).startswith(f"{path}:") and error.value.line > 0


# -- normalisation, word boundaries ----------------------------------------------------------


def test_normalize() -> None:
    assert normalize("We Won’t  call your CO-WORKERS") == "we wont call your co workers"
    assert normalize("我 们 会 起 诉 你") == "我们会起诉你"
    assert normalize("ｓｕｅ！") == "sue!"


@pytest.mark.parametrize(
    ("text", "blocked"),
    [
        ("We will sue.", True),
        ("We sued before.", True),
        ("That is a separate issue.", False),
        ("We will pursue a plan with you.", False),
        ("Our client asked us to call.", False),
        ("A lien may be placed.", True),
        ("An alien concept.", False),
        ("You could be arrested.", True),
        ("A jailbreak phone.", False),
        ("He is a prisoner of habit.", False),
        ("This is an attempt to collect a debt.", False),
    ],
)
def test_english_word_boundaries(text: str, blocked: bool) -> None:
    assert check(text).allowed is not blocked, text


# -- negation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("We will not take legal action.", True),
        ("We won't sue you.", True),
        ("We never sue our customers.", True),
        ("We cannot take you to court over this.", True),
        ("It isn't going to court.", True),
        ("Nobody is going to arrest you.", True),
        ("No one will contact your employer.", True),
        ("We would never contact your employer.", True),
        ("We do not report to credit bureaus.", True),
        ("We would never ask you to borrow money from anyone.", True),
        ("We won't hesitate to sue you.", False),
        ("We're not afraid to call your employer.", False),
        ("We have no choice but to sue.", False),
        ("We don't want to take legal action.", False),
        ("We won't sue you unless you refuse to pay.", False),
        ("We won't sue as long as you pay.", False),
        ("We won't sue, even if you can't pay right now.", True),
        ("If you don't pay we will sue.", False),
        ("No, we will sue.", False),
        ("I'm not joking, we will sue.", False),
    ],
)
def test_english_negation(text: str, allowed: bool) -> None:
    assert check(text).allowed is allowed, (text, check(text).matches)


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("我们不会起诉您。", True),
        ("我们绝不会起诉您。", True),
        ("不会通知您单位。", True),
        ("我们不会去通知您单位。", True),
        ("我们没有联系您的家人。", True),
        ("我们从来不会上门。", True),
        ("不还就起诉。", False),
        ("不还钱就告诉你家人。", False),
        ("再不还就上门。", False),
        ("您不还的话，我们会起诉。", False),
        ("我们不得不起诉您。", False),
        ("只要您按时还款，我们就不会起诉。", False),
        ("不好意思我们会起诉您。", False),
        ("要不要我们通知您单位？", False),
        ("我们不会让您坐牢。", True),
    ],
)
def test_chinese_negation(text: str, allowed: bool) -> None:
    result = check(text, "CN", language="zh")
    assert result.allowed is allowed, (text, result.matches)


def test_non_negatable_families_ignore_negators() -> None:
    assert not check("Don't be an idiot.").allowed
    assert not check("你不是废物。", "CN", language="zh").allowed
    assert not check("Yes, I'm not a robot.", source="template").allowed


# -- lawful_if and flags ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("jurisdiction", "language", "text", "rule"),
    [
        ("US", "en", "We may sue you for the balance.", "ALL-GUARD"),
        ("UK", "en", "Our solicitors may start a county court claim.", "UK-MISREP"),
        ("CN", "zh", "我们可能会起诉您。", "CN-REDLINE"),
    ],
)
def test_flags_switch_litigation(
    jurisdiction: str, language: Language, text: str, rule: str
) -> None:
    def run(*flags: str) -> GuardResult:
        return check(text, jurisdiction, language=language, flags=flags)

    assert run().rule_ids == [rule]
    lawful = run("litigation_authorized")
    assert lawful.allowed and not lawful.warnings
    assert [m.blocking for m in lawful.matches] == [False]  # recorded for the audit trail
    barred = "US-SOL" if jurisdiction == "US" else rule
    assert run("litigation_authorized", "time_barred").rule_ids == [barred]
    assert run("time_barred").rule_ids == [barred]


def test_lawful_litigation_does_not_excuse_other_families() -> None:
    result = check("We will sue you and tell your employer.", flags=("litigation_authorized",))
    assert result.rule_ids == ["ALL-GUARD"]
    assert {m.family for m in result.matches if m.blocking} == {"third_party_disclosure"}


# -- source: template or human ------------------------------------------------------------


def test_human_text_is_checked_the_same_way_except_human_claims() -> None:
    assert check("Yes, I'm a real person.", source="template").rule_ids == ["ALL-AI-DISCLOSE"]
    assert check("Yes, I'm a real person.", source="human").allowed
    for source in ("template", "human"):
        assert check("We'll garnish your wages.", source=source).rule_ids == ["ALL-GUARD"]
        assert check("You idiot.", source=source).rule_ids == ["ALL-GUARD"]


# -- right-party contact ------------------------------------------------------------------


WORDS = ("Northwind Bank", "$1,240.50")


@pytest.mark.parametrize(
    ("text", "revealed"),
    [
        ("Please call Northwind Bank.", True),
        ("please call NORTHWIND  bank", True),
        ("It is about $1,240.50.", True),
        ("It is about 1240.50.", True),
        ("It is about 1,240.5 dollars.", True),
        ("It is about 21240.50.", False),
        ("It is about 1240.51.", False),
        ("Please call us on 800 555 0100.", False),
        ("Please call Northwinds Bankers.", False),
    ],
)
def test_rpc_debt_words(text: str, revealed: bool) -> None:
    result = check(text, verified=False, debt_words=WORDS)
    assert (result.rule_ids == ["ALL-RPC"]) is revealed, (text, result.matches)
    assert check(text, verified=True, debt_words=WORDS).allowed


def test_rpc_chinese_amount_and_generic_words() -> None:
    words = ("招商银行", "8,600元")
    for text in ("请联系招商银行。", "还有8600元。", "还有8,600元。", "关于您的逾期欠款。"):
        assert check(text, "CN", language="zh", verified=False, debt_words=words).rule_ids == [
            "ALL-RPC"
        ], text
    assert check(
        "请回电4008600123。", "CN", language="zh", verified=False, debt_words=words
    ).allowed


def test_rpc_reveals_debt_flag_and_generic_words() -> None:
    assert check("Thank you.", verified=False, reveals_debt=True).rule_ids == ["ALL-RPC"]
    assert check("Thank you.", verified=True, reveals_debt=True).allowed
    assert check("We're calling about an overdue debt.", verified=False).rule_ids == ["ALL-RPC"]
    assert check("We are not calling about a debt.", verified=False).rule_ids == ["ALL-RPC"]


# -- result shape, fail closed, mixed scripts ---------------------------------------------


def test_result_carries_matches_warnings_and_original_text() -> None:
    blocked = check("You idiot, this is your final notice.")
    assert not blocked.allowed and blocked.original_text == "You idiot, this is your final notice."
    assert blocked.rule_ids == ["ALL-GUARD"] and blocked.warnings == ["ALL-GUARD"]
    assert {(m.family, m.blocking) for m in blocked.matches} == {
        ("profanity", True),
        ("implied_threat", False),
    }
    warned = check("This is your final notice.")
    assert warned.allowed and warned.original_text is None and warned.rule_ids == []


def test_floor_hits_in_china_also_break_a_red_line() -> None:
    result = check("你这个废物。", "CN", language="zh")
    assert result.rule_ids == ["ALL-GUARD", "CN-REDLINE"]
    assert check("你这个废物。", "US", language="zh").rule_ids == ["ALL-GUARD"]


def test_unknown_jurisdiction_fails_closed() -> None:
    result = check("Hello.", "FR")
    assert result.rule_ids == ["ALL-GUARD"] and result.pack == "floor:1"


def test_mixed_scripts_run_both_languages() -> None:
    assert check("OK, 我们会起诉你.", "CN", language="en").rule_ids == ["CN-REDLINE"]
    assert check("好的, you idiot.", "CN", language="zh").rule_ids == ["ALL-GUARD", "CN-REDLINE"]


# -- the default templates ----------------------------------------------------------------


ON_HOLD_REASONS = (
    ("bankruptcy",),
    ("attorney",),
    ("cease_contact",),
    ("dispute",),
    ("breathing_space",),
    ("vulnerability_pause",),
)


def _rendered_templates() -> list[tuple[str, str, str, bool, bool, str]]:
    library = TemplateLibrary(Settings().templates_dir)
    out = []
    for locale in SUPPORTED_LOCALES:
        for template in library.templates(locale):
            # Each reason a paused account can be given is its own sentence.
            holds = ON_HOLD_REASONS if template.id == "account_on_hold" else ((),)
            for tone, verified, kind, on_hold in itertools.product(
                template.sources, (True, False), ("single", "plan"), holds
            ):
                context = {**sample_context(verified, kind), "on_hold": list(on_hold)}
                said = library.render(template.id, locale, tone, context)
                row = (locale, template.id, tone.value, verified, said.reveals_debt)
                out.append((*row, said.text))
    return out


def test_default_templates_never_trip_a_blocking_rule() -> None:
    tripped: dict[tuple[str, str], list[str]] = {}
    checked = 0
    for locale, template_id, tone, verified, reveals_debt, text in _rendered_templates():
        for jurisdiction in ("US", "UK", "CN"):
            result = GUARD.check(
                Utterance(
                    text=text,
                    language=LOCALE_LANGUAGE[locale],
                    verified=verified,
                    reveals_debt=reveals_debt,
                    source="template",
                    jurisdiction=jurisdiction,
                    debt_words=("Northwind Bank",),
                )
            )
            checked += 1
            if verified or not reveals_debt:
                assert not result.warnings, (locale, template_id, tone, result.matches)
                if not result.allowed:
                    assert not verified, (locale, template_id, tone, result.matches)
                    tripped[(locale, template_id)] = result.rule_ids
            else:
                assert result.rule_ids == ["ALL-RPC"], (locale, template_id, tone)
    assert checked > 300
    assert set(tripped) <= KNOWN_UNVERIFIED_TRIPS, tripped
    assert all(rules == ["ALL-RPC"] for rules in tripped.values())
