"""Script templates: `scripts_templates/<locale>/<id>.yaml`, one file per template.

Each file declares an id, a version, the template's purpose (used to rank
suggestions for human agents), whether it reveals the debt (such text may only be
said to a verified debtor), which required disclosures it gives (`discloses`),
and one Jinja2 text per tone. `neutral` is required;
a missing tone falls back to `neutral`, and the message then reports `neutral`,
so the log always says which words were actually used.

`<locale>/_locale.yaml` holds locale facts (advice service, crisis line).
`en-GB` inherits any template it does not define from `en-US`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment

from agent.dialogue.yaml_lines import ConfigError, line_of, load_yaml, plain
from agent.domain import SUPPORTED_LOCALES, Tone

LOCALE_FALLBACK = {"en-GB": "en-US"}
_CURRENCY_SYMBOLS = {"USD": "$", "GBP": "£", "EUR": "€"}
_WEEKDAYS_ZH = "一二三四五六日"


@dataclass(frozen=True)
class Template:
    id: str
    version: int
    locale: str
    purpose: str
    reveals_debt: bool
    discloses: tuple[str, ...]
    sources: dict[Tone, str]
    hash: str
    path: Path
    compiled: dict[Tone, JinjaTemplate]


@dataclass(frozen=True)
class Rendered:
    template_id: str
    template_version: int
    template_hash: str
    tone: Tone
    text: str
    reveals_debt: bool
    discloses: tuple[str, ...] = ()


def money(amount: Decimal | float | str, currency: str, locale: str) -> str:
    value = Decimal(str(amount)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if locale == "zh-CN":
        text = f"{value:,.2f}".removesuffix(".00")
        return f"{text}元" if currency == "CNY" else f"{text} {currency}"
    symbol = _CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{value:,.2f}" if symbol else f"{value:,.2f} {currency}"


def long_date(value: dt.date | str, locale: str) -> str:
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    if locale == "zh-CN":
        return f"{day.year}年{day.month}月{day.day}日（星期{_WEEKDAYS_ZH[day.weekday()]}）"
    if locale == "en-GB":
        return f"{day:%A} {day.day} {day:%B %Y}"
    return f"{day:%A}, {day:%B} {day.day}, {day.year}"


_CADENCE_WORDS = {
    "en": {"week": "weekly", "fortnight": "fortnightly", "month": "monthly"},
    "zh": {"week": "每周", "fortnight": "每两周", "month": "每月"},
}


def cadence(every: str, locale: str) -> str:
    """How often a plan's instalments fall due, as an adjective: "weekly", 每周."""
    return _CADENCE_WORDS["zh" if locale == "zh-CN" else "en"][every]


class TemplateLibrary:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
        self._templates: dict[str, dict[str, Template]] = {}
        self.locale_facts: dict[str, dict[str, Any]] = {}
        for locale in SUPPORTED_LOCALES:
            self._load_locale(locale)

    def _load_locale(self, locale: str) -> None:
        directory = self.root / locale
        if not directory.is_dir():
            raise ConfigError(directory, 0, f"missing template directory for {locale}")
        facts_path = directory / "_locale.yaml"
        self.locale_facts[locale] = plain(load_yaml(facts_path)) if facts_path.exists() else {}
        templates: dict[str, Template] = {}
        for path in sorted(directory.glob("*.yaml")):
            if path.name.startswith("_"):
                continue
            template = self._load_file(path, locale)
            templates[template.id] = template
        self._templates[locale] = templates

    def _load_file(self, path: Path, locale: str) -> Template:
        raw = load_yaml(path)
        if not isinstance(raw, dict):
            raise ConfigError(path, 1, "a template file is a mapping")
        for key in ("id", "version", "purpose", "variants"):
            if key not in raw:
                raise ConfigError(path, line_of(raw, 1), f"missing key {key!r}")
        if raw["id"] != path.stem:
            raise ConfigError(path, line_of(raw["id"]), f"id {raw['id']!r} must match file name")
        variants = raw["variants"]
        if not isinstance(variants, dict) or "neutral" not in variants:
            raise ConfigError(path, line_of(variants, 1), "variants need at least `neutral`")
        sources: dict[Tone, str] = {}
        compiled: dict[Tone, JinjaTemplate] = {}
        for tone_name, source in variants.items():
            try:
                tone = Tone(tone_name)
            except ValueError:
                raise ConfigError(path, line_of(variants), f"unknown tone {tone_name!r}") from None
            sources[tone] = str(source).strip()
            try:
                compiled[tone] = self._env.from_string(sources[tone])
            except TemplateError as exc:
                raise ConfigError(path, line_of(source), f"template syntax: {exc}") from None
        digest = hashlib.sha256(
            json.dumps(
                {"id": raw["id"], "version": raw["version"], "variants": sources},
                sort_keys=True,
                ensure_ascii=False,
            ).encode()
        ).hexdigest()
        return Template(
            id=str(raw["id"]),
            version=int(raw["version"]),
            locale=locale,
            purpose=str(raw["purpose"]),
            reveals_debt=bool(raw.get("reveals_debt", False)),
            discloses=tuple(str(d) for d in raw.get("discloses", [])),
            sources=sources,
            hash=digest,
            path=path,
            compiled=compiled,
        )

    def get(self, template_id: str, locale: str) -> Template:
        found = self._templates.get(locale, {}).get(template_id)
        if found is None and locale in LOCALE_FALLBACK:
            return self.get(template_id, LOCALE_FALLBACK[locale])
        if found is None:
            raise KeyError(f"no template {template_id!r} for {locale}")
        return found

    def ids(self, locale: str) -> set[str]:
        own = set(self._templates.get(locale, {}))
        fallback = LOCALE_FALLBACK.get(locale)
        return own | (self.ids(fallback) if fallback else set())

    def templates(self, locale: str) -> list[Template]:
        return [self.get(template_id, locale) for template_id in sorted(self.ids(locale))]

    def require(self, template_ids: set[str] | frozenset[str], source: Path) -> None:
        """Fail start-up if a policy names a template some locale does not have."""
        for locale in SUPPORTED_LOCALES:
            missing = sorted(set(template_ids) - self.ids(locale))
            if missing:
                raise ConfigError(source, 0, f"templates missing for {locale}: {missing}")

    def render(
        self, template_id: str, locale: str, tone: Tone, context: dict[str, Any]
    ) -> Rendered:
        template = self.get(template_id, locale)
        used_tone = tone if tone in template.sources else Tone.neutral
        facts = self.locale_facts.get(locale) or self.locale_facts.get(
            LOCALE_FALLBACK.get(locale, ""), {}
        )
        variables = {
            **facts,
            **context,
            "locale": locale,
            "money": lambda amount, currency: money(amount, currency, locale),
            "long_date": lambda value: long_date(value, locale),
            "cadence": lambda every: cadence(every, locale),
        }
        text = " ".join(template.compiled[used_tone].render(variables).split())
        return Rendered(
            template_id=template.id,
            template_version=template.version,
            template_hash=template.hash,
            tone=used_tone,
            text=text,
            reveals_debt=template.reveals_debt,
            discloses=template.discloses,
        )
