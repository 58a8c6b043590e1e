"""Jurisdiction packs: versioned YAML data under `packs/<id>/pack.yaml`.

`floor` holds the service-wide rules; `us`, `uk` and `cn` add theirs, and a pack
may override per region (a US state). `resolve(jurisdiction, region)` merges
them into one `ResolvedPack` whose `id`/`version` are logged with each decision
(e.g. `us+MA`, version `us:1,floor:2`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.dialogue.yaml_lines import ConfigError, line_of, load_yaml, plain

PACKS_DIR = Path(__file__).parent / "packs"
JURISDICTION_PACKS = {"US": "us", "UK": "uk", "GB": "uk", "CN": "cn"}
CAP_KINDS = frozenset({"rolling_count", "quiet_after", "daily_count"})
SCOPES = frozenset({"account", "debtor", "number"})
EVENTS = frozenset({"attempt", "conversation", "unanswered"})


@dataclass(frozen=True)
class Cap:
    rule: str
    kind: str
    scope: str
    channels: frozenset[str]
    events: frozenset[str]
    max: int = 0
    days: int = 0


@dataclass(frozen=True)
class BlockingFlag:
    rule: str
    allow_purposes: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Window:
    start: dt.time
    end: dt.time
    rule: str


@dataclass(frozen=True)
class WorkHours:
    rule: str
    start: dt.time
    end: dt.time
    weekdays: frozenset[int]


@dataclass(frozen=True)
class ResolvedPack:
    id: str
    version: str
    jurisdiction: str
    rules: dict[str, dict[str, Any]]
    window: Window
    timezone_fallback: str
    caps: tuple[Cap, ...]
    blocking_flags: dict[str, BlockingFlag]
    work_hours: WorkHours | None
    medium_rule: str
    disclosures_before_balance: tuple[str, ...]
    recording_consent_regions: frozenset[str] = field(default_factory=frozenset)
    retention_days: int = 0
    pause_on_vulnerability_days: int = 0

    def needs_recording_consent(self, region: str | None, channel: str) -> bool:
        return (
            channel == "voice" and region is not None and region in self.recording_consent_regions
        )


def _time(value: Any, path: Path) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(path, line_of(value), f"not a time: {value!r}") from None


class PackLibrary:
    def __init__(self, root: Path = PACKS_DIR) -> None:
        self.root = root
        self._raw: dict[str, tuple[Path, dict[str, Any]]] = {}
        for pack_id in ("floor", *sorted(set(JURISDICTION_PACKS.values()))):
            path = root / pack_id / "pack.yaml"
            raw = load_yaml(path)
            if not isinstance(raw, dict) or raw.get("id") != pack_id:
                raise ConfigError(path, 1, f"pack file must declare `id: {pack_id}`")
            self._raw[pack_id] = (path, raw)
        self._cache: dict[tuple[str, str | None], ResolvedPack] = {}
        for jurisdiction in JURISDICTION_PACKS:
            self.resolve(jurisdiction, None)  # fail start-up on a bad pack

    def resolve(self, jurisdiction: str, region: str | None) -> ResolvedPack:
        key = (jurisdiction.upper(), region.upper() if region else None)
        if key not in self._cache:
            self._cache[key] = self._build(*key)
        return self._cache[key]

    def _build(self, jurisdiction: str, region: str | None) -> ResolvedPack:
        pack_id = JURISDICTION_PACKS.get(jurisdiction)
        if pack_id is None:
            raise KeyError(f"no compliance pack for jurisdiction {jurisdiction!r}")
        _, floor = self._raw["floor"]
        path, raw = self._raw[pack_id]
        regional = raw.get("regions", {}).get(region, {}) if region else {}
        contact = raw.get("contact", {})
        window = contact.get("window", {})
        rules = {**plain(floor.get("rules", {})), **plain(raw.get("rules", {}))}
        rules.update(plain(regional.get("rules", {})))
        caps = [self._cap(c, path) for c in [*contact.get("caps", []), *regional.get("caps", [])]]
        flags = {
            name: BlockingFlag(spec["rule"], frozenset(spec.get("allow_purposes", [])))
            for source in (floor.get("blocking_flags", {}), contact.get("blocking_flags", {}))
            for name, spec in source.items()
        }
        for rule in [c.rule for c in caps] + [f.rule for f in flags.values()]:
            if rule not in rules:
                raise ConfigError(path, 0, f"rule {rule!r} is used but not declared")
        work = contact.get("work_hours")
        disclosures = raw.get("disclosures", {})
        before_balance = [
            *floor.get("disclosures", {}).get("before_balance", []),
            *disclosures.get("before_balance", []),
        ]
        return ResolvedPack(
            id=f"{pack_id}+{region}" if regional else pack_id,
            version=f"{pack_id}:{raw['version']},floor:{floor['version']}",
            jurisdiction=jurisdiction,
            rules=rules,
            window=Window(
                _time(window.get("start", "08:00"), path),
                _time(window.get("end", "21:00"), path),
                str(window.get("rule", "ALL-GUARD")),
            ),
            timezone_fallback=str(contact.get("timezone_fallback", "UTC")),
            caps=tuple(caps),
            blocking_flags=flags,
            work_hours=WorkHours(
                work["rule"],
                _time(work["start"], path),
                _time(work["end"], path),
                frozenset(work.get("weekdays", [0, 1, 2, 3, 4])),
            )
            if work
            else None,
            medium_rule=str(contact.get("medium_rule", "ALL-FLAG")),
            disclosures_before_balance=tuple(dict.fromkeys(before_balance)),
            recording_consent_regions=frozenset(disclosures.get("recording_consent_regions", [])),
            retention_days=int(raw.get("retention_days", floor.get("retention_days", 0))),
            pause_on_vulnerability_days=int(raw.get("pause_on_vulnerability_days", 0)),
        )

    @staticmethod
    def _cap(spec: dict[str, Any], path: Path) -> Cap:
        if spec.get("kind") not in CAP_KINDS or spec.get("scope") not in SCOPES:
            raise ConfigError(
                path,
                line_of(spec),
                f"cap needs kind in {sorted(CAP_KINDS)} and scope in {sorted(SCOPES)}",
            )
        events = frozenset(spec.get("events", []))
        if not events or not events <= EVENTS:
            raise ConfigError(path, line_of(spec), f"cap events must be some of {sorted(EVENTS)}")
        return Cap(
            rule=str(spec["rule"]),
            kind=str(spec["kind"]),
            scope=str(spec["scope"]),
            channels=frozenset(spec.get("channels", [])),
            events=events,
            max=int(spec.get("max", 0)),
            days=int(spec.get("days", 0)),
        )

    def all_packs(self) -> list[ResolvedPack]:
        return [self.resolve(j, None) for j in ("US", "UK", "CN")]
