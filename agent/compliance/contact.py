"""May we contact this debtor, on this channel, now? A pure function of the pack,
the debtor, the account's flags and the contact history.

Local time comes from the debtor's address zone, plus the zones of the phone
number being dialled (`phonenumbers`); when they disagree, every candidate zone
must be inside the calling window. Counters:
- `rolling_count`: at most `max` events in the last `days` days (US 7-in-7, MA 2-in-7);
- `quiet_after`: no contact until `days` local days after an event, the event's day
  being day 1 (US: no call for 7 days after a telephone conversation);
- `daily_count`: at most `max` events per local day (CN conversations, CN unanswered).
Only outbound contacts count; inbound calls never do.

A refusal carries every rule that refused and the next time all of them allow
contact (`None` when a flag blocks with no end).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezone

from agent.compliance.packs import Cap, ResolvedPack

UNANSWERED = frozenset({"pending", "no_answer", "busy", "failed", "voicemail"})
RIGHT_PARTY_RULE = "ALL-RPC"  # in the floor pack, so every jurisdiction has it
MAX_SEARCH_STEPS = 64
# An outbound call whose attempt is still `pending` is in progress (its final status
# settles it). A lost status callback is normally recovered within minutes by asking the
# gateway (agent/telephony/reconcile.py); if the gateway cannot be asked either, after
# this long a pending attempt is taken for lost and stops blocking.
CALL_IN_PROGRESS_WINDOW = dt.timedelta(hours=1)
ONE_CALL_RULE = "ALL-ONE-CALL"
OPTOUT_PREFIX = "optout_"  # e.g. optout_sms: the debtor asked us not to use that medium


@dataclass(frozen=True)
class Attempt:
    at: dt.datetime
    account_id: int
    channel: str
    direction: str = "outbound"
    outcome: str = "pending"
    number: str | None = None
    purpose: str = "collection"


@dataclass(frozen=True)
class FlagState:
    set_at: dt.datetime
    expires_at: dt.datetime | None = None

    def active(self, at: dt.datetime) -> bool:
        return self.expires_at is None or at < self.expires_at


@dataclass(frozen=True)
class Subject:
    account_id: int
    jurisdiction: str
    region: str | None
    address_timezone: str | None
    phones: tuple[str, ...] = ()
    flags: dict[str, FlagState] = field(default_factory=dict)
    wrong_numbers: frozenset[str] = frozenset()  # E.164, reported as not the debtor's


@dataclass(frozen=True)
class ContactDecision:
    allowed: bool
    rules: list[str]
    next_allowed_at: dt.datetime | None
    pack: str
    pack_version: str
    timezones: list[str]
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "allowed": self.allowed,
            "rules": self.rules,
            "next_allowed_at": self.next_allowed_at.isoformat() if self.next_allowed_at else None,
            "pack": self.pack,
            "pack_version": self.pack_version,
            "timezones": self.timezones,
            "reasons": self.reasons,
        }


@dataclass(frozen=True)
class _Block:
    rule: str
    reason: str
    until: dt.datetime | None  # earliest time this check could pass; None = no known end


def candidate_zones(subject: Subject, number: str | None, fallback: str) -> list[str]:
    zones: list[str] = []
    if subject.address_timezone:
        zones.append(subject.address_timezone)
    for raw in [number] if number else subject.phones:
        try:
            parsed = phonenumbers.parse(raw, None)
        except phonenumbers.NumberParseException:
            continue
        zones.extend(z for z in phone_timezone.time_zones_for_number(parsed) if "Unknown" not in z)
    return list(dict.fromkeys(zones)) or [fallback]


def may_contact(
    pack: ResolvedPack,
    subject: Subject,
    history: Sequence[Attempt],
    channel: str,
    at: dt.datetime,
    number: str | None = None,
    purpose: str = "collection",
) -> ContactDecision:
    zones = candidate_zones(subject, number, pack.timezone_fallback)
    checker = _Checker(
        pack, subject, history, channel, number, purpose, [ZoneInfo(z) for z in zones]
    )
    blocks = checker.blocks(at)
    if not blocks:
        return ContactDecision(True, [], None, pack.id, pack.version, zones)
    return ContactDecision(
        allowed=False,
        rules=list(dict.fromkeys(b.rule for b in blocks)),
        next_allowed_at=checker.next_allowed(at, blocks),
        pack=pack.id,
        pack_version=pack.version,
        timezones=zones,
        reasons=[b.reason for b in blocks],
    )


class _Checker:
    def __init__(
        self,
        pack: ResolvedPack,
        subject: Subject,
        history: Sequence[Attempt],
        channel: str,
        number: str | None,
        purpose: str,
        zones: list[ZoneInfo],
    ) -> None:
        self.pack = pack
        self.subject = subject
        self.history = [h for h in history if h.direction == "outbound"]
        self.channel = channel
        self.number = number
        self.purpose = purpose
        self.zones = zones

    def blocks(self, at: dt.datetime) -> list[_Block]:
        found = [
            *self._wrong_number(),
            *self._flags(at),
            *self._window(at),
            *self._work(at),
            *self._in_call(at),
        ]
        for cap in self.pack.caps:
            if self.channel in cap.channels:
                block = self._cap(cap, at)
                if block:
                    found.append(block)
        return found

    def next_allowed(self, at: dt.datetime, blocks: list[_Block]) -> dt.datetime | None:
        candidate = at
        for _ in range(MAX_SEARCH_STEPS):
            if any(b.until is None for b in blocks):
                return None
            candidate = max(b.until for b in blocks if b.until is not None)
            blocks = self.blocks(candidate)
            if not blocks:
                return candidate
        return None

    # -- checks -------------------------------------------------------------------------

    def _wrong_number(self) -> Iterable[_Block]:
        # Whoever has this number told us it is not the debtor's: calling or texting it
        # again would only reach that third party again.
        if self.number in self.subject.wrong_numbers:
            yield _Block(RIGHT_PARTY_RULE, "number reported as not the debtor's", None)

    def _flags(self, at: dt.datetime) -> Iterable[_Block]:
        for name, state in self.subject.flags.items():
            if not state.active(at):
                continue
            if name == f"{OPTOUT_PREFIX}{self.channel}":
                yield _Block(self.pack.medium_rule, f"debtor opted out of {self.channel}", None)
            rule = self.pack.blocking_flags.get(name)
            if rule is None:
                continue
            if self.purpose in rule.allow_purposes and not self._purpose_used_since(state.set_at):
                continue
            yield _Block(rule.rule, f"account flag {name}", state.expires_at)

    def _purpose_used_since(self, since: dt.datetime) -> bool:
        return any(h.purpose == self.purpose and h.at >= since for h in self.history)

    def _window(self, at: dt.datetime) -> Iterable[_Block]:
        window = self.pack.window
        openings = []
        for zone in self.zones:
            local = at.astimezone(zone)
            if window.start <= local.time() < window.end:
                continue
            day = (
                local.date() if local.time() < window.start else local.date() + dt.timedelta(days=1)
            )
            openings.append(dt.datetime.combine(day, window.start, zone).astimezone(dt.UTC))
        if openings:
            yield _Block(
                window.rule, "outside the calling window in a candidate time zone", max(openings)
            )

    def _in_call(self, at: dt.datetime) -> Iterable[_Block]:
        if self.channel != "call":
            return
        live = [
            h.at
            for h in self.history
            if h.channel == "call"
            and h.outcome == "pending"
            and at - CALL_IN_PROGRESS_WINDOW < h.at <= at
        ]
        if live:
            until = max(live) + CALL_IN_PROGRESS_WINDOW
            yield _Block(ONE_CALL_RULE, "another call to this debtor is in progress", until)

    def _work(self, at: dt.datetime) -> Iterable[_Block]:
        hours = self.pack.work_hours
        flag = self.subject.flags.get("no_work_contact")
        if hours is None or flag is None or not flag.active(at):
            return
        local = at.astimezone(self.zones[0])
        if local.weekday() in hours.weekdays and hours.start <= local.time() < hours.end:
            until = dt.datetime.combine(local.date(), hours.end, self.zones[0]).astimezone(dt.UTC)
            yield _Block(hours.rule, "debtor cannot be contacted at work", until)

    def _events(self, cap: Cap) -> list[dt.datetime]:
        chosen = []
        for attempt in self.history:
            if attempt.channel not in cap.channels:
                continue
            if cap.scope == "account" and attempt.account_id != self.subject.account_id:
                continue
            if cap.scope == "number" and attempt.number != self.number:
                continue
            kinds = {"attempt"}
            if attempt.outcome == "conversation":
                kinds.add("conversation")
            if attempt.outcome in UNANSWERED:
                kinds.add("unanswered")
            if kinds & cap.events:
                chosen.append(attempt.at)
        return sorted(chosen)

    def _cap(self, cap: Cap, at: dt.datetime) -> _Block | None:
        events = [t for t in self._events(cap) if t <= at]
        zone = self.zones[0]
        if cap.kind == "rolling_count":
            recent = [t for t in events if t > at - dt.timedelta(days=cap.days)]
            if len(recent) >= cap.max:
                until = recent[len(recent) - cap.max] + dt.timedelta(days=cap.days)
                return _Block(cap.rule, f"{len(recent)} contacts in {cap.days} days", until)
        elif cap.kind == "quiet_after":
            today = at.astimezone(zone).date()
            for event in reversed(events):
                reopens = event.astimezone(zone).date() + dt.timedelta(days=cap.days)
                if today < reopens:
                    until = dt.datetime.combine(reopens, dt.time(0), zone).astimezone(dt.UTC)
                    return _Block(
                        cap.rule, f"quiet period after a conversation on {event.date()}", until
                    )
        elif cap.kind == "daily_count":
            today = at.astimezone(zone).date()
            count = sum(1 for t in events if t.astimezone(zone).date() == today)
            if count >= cap.max:
                tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), zone)
                return _Block(
                    cap.rule, f"{count} today (limit {cap.max})", tomorrow.astimezone(dt.UTC)
                )
        return None
