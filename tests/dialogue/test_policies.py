"""Every policy loads; every template variant renders; bad files fail with file:line."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from agent.dialogue.manager import DialogueManager
from agent.dialogue.policy import load_policies, load_policy
from agent.dialogue.predicates import PredicateError, parse_predicate
from agent.dialogue.templates import TemplateLibrary
from agent.dialogue.yaml_lines import ConfigError
from agent.domain import SUPPORTED_LOCALES, Tone
from agent.settings import Settings

SETTINGS = Settings()
DEFAULT_POLICY = SETTINGS.policies_dir / "collections_default.yaml"


def sample_context(
    verified: bool, kind: str, jurisdiction: str = "US", first_communication: bool = True
) -> dict[str, object]:
    return {
        "given_name": "Alex",
        "business_name": "Tact Services",
        "callback_number": "+1 800 555 0100",
        "creditor": "Northwind Bank",
        "balance": Decimal("1240.50"),
        "currency": "USD",
        "days_past_due": 64,
        "jurisdiction": jurisdiction,
        "region": "NY" if jurisdiction == "US" else None,
        "first_communication": first_communication,
        "channel": "chat",
        "verified": verified,
        "promise": {
            "amount": Decimal("200"),
            "currency": "USD",
            "date": dt.date(2026, 12, 4),
            "kind": kind,
            "installments": 7,
            "every": "month",
            "confirmed": False,
        },
        "missing": ["date"],
        "plan_min_installment": Decimal("103.38"),
        "plan_max_months": 12,
        "plan_cadence": "month",
        "flags": [],
        "on_hold": [],
        # A tenant with a payment link: exercises the close's link branch too.
        "payment_link": "https://pay.example.com/DEMO-US-001",
        "text_payment_link": False,
    }


def test_every_policy_loads_and_its_templates_exist_in_every_locale() -> None:
    templates = TemplateLibrary(SETTINGS.templates_dir)
    policies = load_policies(SETTINGS.policies_dir)
    manager = DialogueManager(policies, templates)
    assert "collections_default" in manager.policies
    for policy in policies.values():
        for locale in SUPPORTED_LOCALES:
            assert policy.templates_used <= templates.ids(locale)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_template_variant_renders(locale: str) -> None:
    library = TemplateLibrary(SETTINGS.templates_dir)
    rendered = 0
    for template in library.templates(locale):
        for tone in template.sources:
            for verified, kind, jurisdiction, first in itertools.product(
                (True, False), ("single", "plan"), ("US", "UK", "CN"), (True, False)
            ):
                context = sample_context(verified, kind, jurisdiction, first)
                result = library.render(template.id, locale, tone, context)
                assert result.text.strip(), (template.id, tone)
                assert "{{" not in result.text and "{%" not in result.text
                assert result.tone == tone
                rendered += 1
    assert rendered > 100


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_paused_account_is_told_the_reason_that_stops_collection(locale: str) -> None:
    """`account_on_hold` names the strongest reason among the stopping flags."""
    library = TemplateLibrary(SETTINGS.templates_dir)
    english = {
        ("bankruptcy", "dispute"): "bankruptcy",
        ("attorney", "cease_contact"): "someone represents you",
        ("cease_contact", "dispute"): "You asked us to stop contacting you",
        ("dispute",): "You've disputed this account",
        ("breathing_space",): "Breathing Space",
        ("vulnerability_pause",): "We've paused collection on your account",
    }
    chinese = {
        ("bankruptcy", "dispute"): "个人破产",
        ("attorney", "cease_contact"): "委托他人",
        ("cease_contact", "dispute"): "不要再就这个账户联系您",
        ("dispute",): "提出了异议",
        ("breathing_space",): "暂停对您账户的催收",
        ("vulnerability_pause",): "暂停对您账户的催收",
    }
    for on_hold, said in (chinese if locale == "zh-CN" else english).items():
        context = {**sample_context(True, "single"), "on_hold": list(on_hold)}
        for tone in (Tone.neutral, Tone.empathetic):
            text = library.render("account_on_hold", locale, tone, context).text
            assert said in text, (on_hold, text)
            assert "1,240" not in text and "1240" not in text


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_a_plan_is_read_back_at_the_cadence_it_was_offered(locale: str) -> None:
    library = TemplateLibrary(SETTINGS.templates_dir)
    words = {"week": "weekly", "fortnight": "fortnightly", "month": "monthly"}
    if locale == "zh-CN":
        words = {"week": "每周", "fortnight": "每两周", "month": "每月"}
    for every in words:
        context = sample_context(True, "plan")
        context["promise"] = {**context["promise"], "every": every}  # type: ignore[dict-item]
        context["plan_cadence"] = every
        for template_id in ("confirm_promise", "close_promise", "plan_below_minimum"):
            text = library.render(template_id, locale, Tone.neutral, context).text
            # English states the minimum as a rate ("$103.38 a week").
            said = (
                words
                if locale == "zh-CN" or template_id != "plan_below_minimum"
                else {e: f"a {e}" for e in words}
            )
            assert said[every] in text, (template_id, text)
            others = set(said.values()) - {said[every]}
            assert not any(other in text for other in others), (template_id, text)


def test_missing_tone_falls_back_to_neutral_and_says_so() -> None:
    library = TemplateLibrary(SETTINGS.templates_dir)
    result = library.render("greeting", "en-US", Tone.firm, sample_context(False, "single"))
    assert result.tone == Tone.neutral


def test_templates_that_can_be_said_before_verification_do_not_mention_debt() -> None:
    library = TemplateLibrary(SETTINGS.templates_dir)
    words = {
        "en-US": ("debt", "balance", "owe"),
        "en-GB": ("debt", "balance", "owe"),
        "zh-CN": ("欠款", "债务", "还款", "逾期"),
    }
    for locale in SUPPORTED_LOCALES:
        for template in library.templates(locale):
            if template.reveals_debt:
                continue
            for tone in template.sources:
                text = library.render(
                    template.id, locale, tone, sample_context(False, "single")
                ).text
                assert not any(w in text.lower() for w in words[locale]), (
                    locale,
                    template.id,
                    text,
                )


def _broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(DEFAULT_POLICY.parent, target)
    path = target / DEFAULT_POLICY.name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_unparsable_predicate_names_file_and_line(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, '"raised.cease_contact"', '"raised.cease_contact and ("')
    with pytest.raises(ConfigError) as error:
        load_policy(path)
    assert str(error.value).startswith(f"{path}:{_line_of(path, 'raised.cease_contact and (')}:")


def test_unknown_intent_in_predicate_fails(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, '"intent.bankruptcy"', '"intent.bankrupcy"')
    with pytest.raises(
        ConfigError, match=r"collections_default.yaml:\d+: predicate: unknown intent"
    ):
        load_policy(path)


def test_schema_violation_names_the_line(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "tone: empathetic\n", "tone: cheerful\n")
    with pytest.raises(ConfigError) as error:
        load_policy(path)
    assert f":{_line_of(path, 'tone: cheerful')}:" in str(error.value)


def test_unknown_step_and_action_fail(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path, "goto: cease_end", "goto: cease_ending")
    with pytest.raises(ConfigError, match="unknown step 'cease_ending'"):
        load_policy(path)
    path = _broken_copy(tmp_path / "b", "do: [remember_step]", "do: [remember_steps]")
    with pytest.raises(ConfigError, match="unknown action 'remember_steps'"):
        load_policy(path)


def test_template_missing_in_a_locale_fails_start_up(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    shutil.copytree(SETTINGS.templates_dir, root)
    (root / "zh-CN" / "cease_end.yaml").unlink()
    with pytest.raises(ConfigError, match=r"templates missing for zh-CN: \['cease_end'\]"):
        DialogueManager(load_policies(SETTINGS.policies_dir), TemplateLibrary(root))


def test_bad_template_syntax_names_file(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    shutil.copytree(SETTINGS.templates_dir, root)
    path = root / "en-US" / "greeting.yaml"
    path.write_text(path.read_text().replace("{{ business_name }}", "{{ business_name "))
    with pytest.raises(ConfigError, match=r"greeting\.yaml:.*template syntax"):
        TemplateLibrary(root)


@pytest.mark.parametrize(
    ("source", "context", "expected"),
    [
        ("intent.affirm", {"intent": {"affirm": True}}, True),
        ("intent.affirm", {"intent": {}}, False),
        ("not verified and emotion == 'angry'", {"verified": False, "emotion": "angry"}, True),
        ("counter.refusals >= 2", {"counter": {"refusals": 2}}, True),
        ("counter.refusals >= 2", {"counter": {}}, False),
        (
            "promise.amount < plan.min_installment",
            {"promise": {"amount": None}, "plan": {"min_installment": 5}},
            False,
        ),
        ("step in ['a', 'b']", {"step": "b"}, True),
        ("true", {}, True),
    ],
)
def test_predicates_evaluate(source: str, context: dict[str, object], expected: bool) -> None:
    assert parse_predicate(source)(context) is expected


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os')",
        "intent.affirm()",
        "counter.x + 1 > 2",
        "emotion == 'angy'",
        "foo",
        "flag[0]",
        "slot.a.b",
    ],
)
def test_predicates_reject_anything_outside_the_language(source: str) -> None:
    with pytest.raises(PredicateError):
        parse_predicate(source)
