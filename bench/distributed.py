"""The distributed mode, whole, on this machine without Docker.

    python -m bench.distributed [--accounts 1000] [--keep]

Starts 2 API replicas (`agent serve`, AGENT_DIALER=procrastinate) and 2 dialer workers
(`agent worker`) on a fresh database in the local PostgreSQL, sharing the local Redis;
a local fake Twilio (bench/fake_gateway.py) answers, rings out, is busy or reaches
voicemail at random and calls the replicas back, signed, in turn. It imports a
portfolio of N accounts (time zones chosen so that it is calling time for them now),
runs two overlapping campaigns over them (all accounts; and the largest balances
again, so the same debtors are wanted by two campaigns at once), waits until both
complete, then checks from the outside:

- no debtor contacted beyond any cap: each allowed attempt is replayed through the
  contact rules with the history before it;
- no debtor called twice at once: from the gateway's own timeline, and from the
  calls table;
- every attempt in the log: each contact attempt, each refusal and each ended call
  has its audit event; every answered call has its conversation;
- the hash chain verifies; no dialer job failed;
and prints a summary (exit status 1 if any check fails). `.ci/run` runs it small.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, text

from agent.compliance.audit import verify_chain
from agent.compliance.contact import FlagState, Subject, may_contact
from agent.compliance.contact_service import history_entry
from agent.compliance.packs import PackLibrary
from agent.store.database import utc
from agent.store.models import (
    Account,
    AccountFlag,
    AuditEvent,
    Call,
    CampaignTarget,
    ContactAttempt,
    Conversation,
    Debtor,
)
from agent.store.store import Store
from bench.fake_gateway import FakeGateway
from bench.postgres import fresh_postgres_url
from bench.server import free_port, machine

REDIS = os.environ.get("AGENT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ACCOUNT_SID = "AC" + "d" * 32
TOKEN = "drill-auth-token-" + uuid.uuid4().hex
PUBLIC = "https://tact.drill.invalid"  # what the gateway signs; it delivers to the replicas
SUPERVISOR = ("supervisor@demo", "demo-supervisor-pass")
# Where it may be calling time now: (country, state, area code or mobile prefix, zone).
PLACES = [
    ("US", "NY", "+1212", "America/New_York"),
    ("US", "IL", "+1312", "America/Chicago"),
    ("US", "CO", "+1303", "America/Denver"),
    ("US", "CA", "+1213", "America/Los_Angeles"),
    ("GB", None, "+447911", "Europe/London"),
    ("CN", None, "+86139", "Asia/Shanghai"),
]
IMPORT_BATCH = 200
WINDOWS = {"US": (8, 21), "GB": (8, 21), "CN": (8, 22)}


@dataclass
class Checks:
    failures: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def expect(self, ok: bool, message: str) -> None:
        if not ok:
            self.failures.append(message)


def open_places(now: dt.datetime, margin_h: float = 1.0) -> list[tuple[str, str | None, str, str]]:
    """Places where `now` is inside the calling window with `margin_h` hours to spare."""
    found = []
    for place in PLACES:
        start, end = WINDOWS[place[0]]
        local = now.astimezone(ZoneInfo(place[3]))
        hour = local.hour + local.minute / 60
        if start + 0.1 <= hour <= end - margin_h:
            found.append(place)
    return found


def portfolio(count: int, now: dt.datetime, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    places = open_places(now)
    if not places:
        raise SystemExit("no jurisdiction is inside its calling window now; try in an hour")
    rows = []
    for n in range(count):
        country, state, prefix, _ = places[n % len(places)]
        # Unique valid numbers: US 555 exchange, UK 07911 mobiles, CN 139 mobiles.
        number = prefix + {"US": f"555{n:04d}", "GB": f"{n:06d}", "CN": f"{n:08d}"}[country]
        rows.append(
            {
                "account_ref": f"DRILL-{n:05d}",
                "full_name": f"Drill Debtor {n}",
                "date_of_birth": f"19{60 + n % 40}-0{1 + n % 9}-1{n % 9}",
                "phones": number,
                "country": country,
                **({"state": state, "city": "Drill", "line1": f"{n} Main St"} if state else {}),
                "creditor": "Northwind Bank",
                "balance": str(rng.randint(50, 20_000)),
                "days_past_due": rng.randint(1, 360),
            }
        )
    return rows


class Cluster:
    """The service's processes: API replicas and dialer workers."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, args: list[str], extra: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "agent", *args],
                env={**os.environ, **self.env, **extra},
                stdout=log,
                stderr=log,
            )
        self.processes.append(process)
        return process

    async def api(self, name: str) -> str:
        port = free_port()
        self.spawn(name, ["serve"], {"AGENT_PORT": str(port)})
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient() as client:
            for _ in range(1200):
                try:
                    if (await client.get(f"{base}/healthz")).status_code == 200:
                        return base
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{name} did not start; see {self.logs / name}.log")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


async def run_campaigns(
    api: str, accounts: list[dict[str, Any]], args: argparse.Namespace, now: dt.datetime
) -> tuple[list[int], float, float]:
    async with httpx.AsyncClient(base_url=api, timeout=120.0) as client:
        login = await client.post(
            "/v1/auth/login", json={"username": SUPERVISOR[0], "password": SUPERVISOR[1]}
        )
        login.raise_for_status()
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        for start in range(0, len(accounts), IMPORT_BATCH):  # bodies stay under the limit
            batch = accounts[start : start + IMPORT_BATCH]
            imported = await client.post(
                "/v1/portfolio/import",
                content="\n".join(json.dumps(row) for row in batch),
                headers={"Content-Type": "application/x-ndjson"},
            )
            imported.raise_for_status()
            report = imported.json()
            if report["imported"] != len(batch):
                raise RuntimeError(f"portfolio import rejected rows: {report}")
        refs = [row["account_ref"] for row in accounts]
        richest = sorted(accounts, key=lambda r: -int(r["balance"]))[: max(1, len(accounts) // 5)]
        end = (now + dt.timedelta(seconds=args.schedule_s)).isoformat()
        common = {
            "max_concurrent": args.max_concurrent,
            "retries": {
                "max_attempts": args.max_attempts,
                "backoff_s": args.backoff_s,
                "factor": 2,
            },
            "schedule": {"end_at": end},
        }
        specs = [
            {"name": "drill: everyone", "selection": {"account_refs": refs}, **common},
            {
                "name": "drill: largest balances again",
                "selection": {"account_refs": [r["account_ref"] for r in richest]},
                **common,
            },
        ]
        ids = []
        for spec in specs:
            created = await client.post("/v1/campaigns", json=spec)
            created.raise_for_status()
            ids.append(created.json()["campaign_id"])
        started = time.perf_counter()
        for campaign_id in ids:
            (await client.post(f"/v1/campaigns/{campaign_id}/start")).raise_for_status()
        first_done = 0.0
        deadline = started + args.schedule_s + 120
        while time.perf_counter() < deadline:
            views = [(await client.get(f"/v1/campaigns/{i}")).json() for i in ids]
            if not first_done and any(v["status"] == "completed" for v in views):
                first_done = time.perf_counter() - started
            if all(v["status"] == "completed" for v in views):
                return ids, time.perf_counter() - started, first_done
            await asyncio.sleep(1.0)
        raise RuntimeError(f"campaigns did not complete in time: {views}")


async def verify(database_url: str, ids: list[int], gateway: FakeGateway) -> Checks:
    checks = Checks()
    packs = PackLibrary()
    store = await Store.open(database_url)
    try:
        async with store.read() as session:
            accounts = {a.id: a for a in (await session.execute(select(Account))).scalars()}
            debtors = {d.id: d for d in (await session.execute(select(Debtor))).scalars()}
            attempts = list(
                (
                    await session.execute(
                        select(ContactAttempt)
                        .where(ContactAttempt.direction == "outbound")
                        .order_by(ContactAttempt.started_at, ContactAttempt.id)
                    )
                ).scalars()
            )
            calls = list((await session.execute(select(Call))).scalars())
            targets = list((await session.execute(select(CampaignTarget))).scalars())
            flags = list((await session.execute(select(AccountFlag))).scalars())
            events = list((await session.execute(select(AuditEvent))).scalars())
            conversations = list((await session.execute(select(Conversation))).scalars())
            chain = await verify_chain(session)
            jobs = (
                await session.execute(
                    text("SELECT task_name, status, count(*) FROM procrastinate_jobs GROUP BY 1, 2")
                )
            ).all()
    finally:
        await store.close()

    # 1. No cap exceeded: every allowed attempt, replayed with the history before it.
    by_debtor: dict[int, list[ContactAttempt]] = {}
    for attempt in attempts:
        by_debtor.setdefault(attempt.debtor_id, []).append(attempt)
    over_cap = 0
    for debtor_attempts in by_debtor.values():
        for i, attempt in enumerate(debtor_attempts):
            account = accounts[attempt.account_id]
            debtor = debtors[account.debtor_id]
            at = utc(attempt.started_at)
            history = [history_entry(h) for h in debtor_attempts[:i]]
            subject = Subject(
                account_id=account.id,
                jurisdiction=account.jurisdiction,
                region=account.region,
                address_timezone=debtor.timezone or None,
                phones=tuple(debtor.phones or ()),
                # Flags as they stood then: one set later never excuses an earlier call.
                flags={
                    f.flag: FlagState(utc(f.set_at), f.expires_at and utc(f.expires_at))
                    for f in flags
                    if f.account_id == account.id and utc(f.set_at) <= at
                },
            )
            decision = may_contact(
                packs.resolve(account.jurisdiction, account.region),
                subject,
                history,
                attempt.channel,
                at,
                attempt.number,
                attempt.purpose,
            )
            if not decision.allowed:
                over_cap += 1
                checks.failures.append(f"attempt {attempt.id} broke {decision.rules}")
    checks.facts["attempts_replayed"] = len(attempts)
    checks.expect(over_cap == 0, f"{over_cap} attempts beyond a cap")

    # 2. Never two calls to one debtor at once.
    checks.expect(
        not gateway.log.overlaps, f"gateway saw overlapping calls: {gateway.log.overlaps[:5]}"
    )
    # The service's own view, in the order the hash chain committed things: between a
    # call's `contact.allowed` and its `call.ended`, no other call to that debtor may be
    # allowed. (Row timestamps are taken before locks are held, so they cannot say.)
    debtor_of = {a.id: a.debtor_id for a in attempts if a.channel == "call"}
    open_call: dict[int, int] = {}
    overlapping = 0
    for event in sorted(events, key=lambda e: e.seq):
        attempt_id = (event.payload or {}).get("attempt_id")
        if attempt_id not in debtor_of:
            continue
        debtor_id = debtor_of[attempt_id]
        if event.kind == "contact.allowed":
            overlapping += debtor_id in open_call
            open_call[debtor_id] = attempt_id
        elif event.kind == "call.ended" and open_call.get(debtor_id) == attempt_id:
            del open_call[debtor_id]
    checks.expect(overlapping == 0, f"{overlapping} overlapping call attempts in the store")

    # 3. Every attempt, refusal and ended call in the log.
    allowed = {e.payload["attempt_id"] for e in events if e.kind == "contact.allowed" and e.payload}
    missing = [a.id for a in attempts if a.id not in allowed]
    checks.expect(not missing, f"attempts without their audit event: {missing[:5]}")
    refused = Counter(
        e.payload.get("campaign_id") for e in events if e.kind == "contact.refused" and e.payload
    )
    for campaign_id in ids:
        counted = sum(t.refusals for t in targets if t.campaign_id == campaign_id)
        checks.expect(
            counted == refused[campaign_id],
            f"campaign {campaign_id}: {counted} refusals counted, {refused[campaign_id]} logged",
        )
    ended = {e.payload["call_id"] for e in events if e.kind == "call.ended" and e.payload}
    unended = [c.id for c in calls if c.id not in ended]
    checks.expect(not unended, f"calls without call.ended: {unended[:5]}")
    answered = sum(1 for c in calls if c.answered_by == "human")
    checks.expect(
        answered == len(conversations),
        f"{answered} calls answered by a person, {len(conversations)} conversations",
    )
    checks.expect(len(calls) == len(gateway.log.calls), "calls table and gateway disagree")

    # 4. The chain, and the job queue.
    checks.expect(chain.ok, f"audit chain does not verify: {chain.as_dict()}")
    # The workers are still running while this reads the queue: the periodic deferrer may
    # have queued the next tick, or a worker be running one (on a slow machine a tick takes
    # long enough to be caught). A tick to do or in progress is harmless. Every contact job
    # must have finished, and nothing failed.
    failed_jobs = sum(
        n
        for task, status, n in jobs
        if status != "succeeded"
        and not (task == "tact.campaign_tick" and status in ("todo", "doing"))
    )
    checks.expect(failed_jobs == 0, f"{failed_jobs} dialer jobs did not succeed: {jobs}")
    checks.expect(
        not gateway.log.callback_errors, f"callbacks failed: {gateway.log.callback_errors[:5]}"
    )
    checks.expect(gateway.log.auth_failures == 0, "requests to the gateway failed auth")

    checks.facts.update(
        {
            "targets": dict(Counter(t.status for t in targets)),
            "outcomes": dict(Counter(t.last_outcome for t in targets)),
            "refusals_by_rule": dict(
                Counter(
                    rule
                    for e in events
                    if e.kind == "contact.refused" and e.payload
                    for rule in e.payload.get("rules", [])
                )
            ),
            "calls": len(calls),
            "gateway_outcomes": dict(gateway.log.outcomes),
            "gateway_peak_live_calls": gateway.log.max_live,
            "callback_connection_errors": gateway.log.connection_errors,
            "conversations": len(conversations),
            "audit_events": len(events),
            "jobs": {f"{task}:{status}": n for task, status, n in jobs},
        }
    )
    return checks


async def drill(args: argparse.Namespace) -> Checks:
    now = dt.datetime.now(dt.UTC)
    accounts = portfolio(args.accounts, now, args.seed)
    async with fresh_postgres_url("tact_drill", keep=args.keep) as database_url:
        return await _drill(args, now, accounts, database_url)


async def _drill(
    args: argparse.Namespace, now: dt.datetime, accounts: list[dict[str, Any]], database_url: str
) -> Checks:
    logs = Path(args.logs)
    gateway_port = free_port()
    env = {
        "AGENT_DATABASE_URL": database_url,
        "AGENT_REDIS_URL": REDIS,
        "AGENT_DIALER": "procrastinate",
        "AGENT_DIALER_TICK_S": "1",
        "AGENT_PUBLIC_BASE_URL": PUBLIC,
        "AGENT_TWILIO_API_BASE": f"http://127.0.0.1:{gateway_port}",
        "AGENT_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "AGENT_TWILIO_AUTH_TOKEN": TOKEN,
        "AGENT_ANALYZER": args.analyzer,
        "AGENT_LOG_FORMAT": "json",
        "AGENT_DATA_DIR": str(logs / "data"),
    }
    cluster = Cluster(env, logs)
    try:
        # The first replica migrates and seeds; the others then find the schema ready.
        apis = [await cluster.api("api-1")]
        apis.append(await cluster.api("api-2"))
        gateway = FakeGateway(
            ACCOUNT_SID, TOKEN, apis, seed=args.seed, call_seconds=(args.call_s / 4, args.call_s)
        )
        server = await gateway.serve(gateway_port)
        for n in (1, 2):
            cluster.spawn(
                f"worker-{n}", ["worker", "--concurrency", "20", "--name", f"dialer-{n}"], {}
            )
        ids, seconds, _ = await run_campaigns(apis[0], accounts, args, now)
        await gateway.close(server)
        checks = await verify(database_url, ids, gateway)
        placed = sorted(call.started for call in gateway.log.calls)
        span = placed[-1] - placed[0] if len(placed) > 1 else 0.0
        checks.facts.update(
            {
                "accounts": args.accounts,
                "seconds": round(seconds, 1),
                # Dialer throughput: calls the gateway received per second, first to last.
                "calls_per_s": round((len(placed) - 1) / span, 1) if span else 0.0,
                "machine": machine(),
                "logs": str(logs),
            }
        )
        return checks
    finally:
        cluster.stop()


def parser_for() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--max-concurrent", type=int, default=50)
    parser.add_argument("--backoff-s", type=float, default=3.0)
    parser.add_argument("--max-attempts", type=int, default=3)
    parser.add_argument("--call-s", type=float, default=1.5, help="longest fake call")
    parser.add_argument("--schedule-s", type=float, default=600.0, help="campaign end, from now")
    parser.add_argument("--analyzer", default="model", choices=["model", "lexicon"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--logs", default="")
    parser.add_argument("--keep", action="store_true", help="keep the drill's database")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser_for().parse_args(argv)
    args.logs = args.logs or tempfile.mkdtemp(prefix="tact-drill-")
    Path(args.logs).mkdir(parents=True, exist_ok=True)
    checks = asyncio.run(drill(args))
    summary = {"ok": not checks.failures, "failures": checks.failures, **checks.facts}
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        for key, value in summary.items():
            print(f"{key:>24}: {value}")
    return 0 if not checks.failures else 1


if __name__ == "__main__":
    sys.exit(main())
