"""Chat load over loopback HTTP against a real `agent serve` process.

    .venv/bin/python -m bench.chat_load [--concurrency 1 10 50 100] [--turns-per-session 8]
    .venv/bin/python -m bench.chat_load --soak [--sessions 200] [--duration 300] [--think 2 8]

Both modes start the service (`python -m agent serve`, a fresh SQLite file in a
temporary folder, or `--database-url` on a database you give it, which must be fresh)
and talk to it the way the widget does: `POST /v1/chat/sessions` for a demo account,
then one `POST .../messages` per debtor turn, starting with the date of birth (identity
is verified as the demo data allows) and going on with a plausible conversation
(questions, a promise to pay, its confirmation).

**Levels** (default): for each concurrency C, C clients with no think time, each
running conversations back to back; reports per-turn latency p50/p95/p99 (one
`messages` request, measured by the client) and turns/s (debtor turns answered per
second of wall time).

**Soak** (`--soak`): `--sessions` conversations in flight at all times for
`--duration` seconds, each turn after a random think time in `--think` seconds; a
finished conversation is replaced by a new one. Then it checks the log against what
the clients saw: every debtor line the client sent and got a reply for is a `debtor`
turn, once, in order; every agent message the client received is an `agent` turn,
once, in order; every turn has exactly one `turn.inbound`/`turn.outbound` audit event;
no conversation exists that no client started; the hash chain verifies
(`verify_chain` and `GET /v1/audit/verify`). It also reports the server's RSS at the
start and the end. Exit status 1 if there was any error or any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select

from agent.compliance.audit import verify_chain
from agent.store.database import create_engine
from agent.store.models import AuditEvent, Conversation, Turn
from agent.store.store import Store
from bench.server import machine, percentile, start_server

# Plausible conversations per demo account: identity first (date of birth), then what
# debtors say. Each list is one conversation; lines after the conversation ended are
# not sent.
SCRIPTS: dict[str, list[list[str]]] = {
    "DEMO-US-001": [
        ["April 12th 1985", "I can pay 200 dollars next Friday", "yes"],
        ["04/12/1985", "sorry, what is this about?", "ok I can pay 100 dollars on the 15th", "yes"],
        [
            "April 12th 1985",
            "I'm not sure what you mean",
            "I can pay 300 dollars next Friday",
            "yes",
        ],
    ],
    "DEMO-UK-001": [
        ["30/11/1979", "I can pay 50 pounds next Friday", "yes"],
        [
            "30 November 1979",
            "can you explain that again?",
            "I'll pay 100 pounds on the 20th",
            "yes",
        ],
    ],
    "DEMO-CN-001": [
        ["1990年8月8日", "下周五还两千", "对"],
        ["1990年8月8日", "这是什么意思？", "下周五还一千", "对"],
    ],
}
LOCALES = {"DEMO-US-001": "en-US", "DEMO-UK-001": "en-GB", "DEMO-CN-001": "zh-CN"}


@dataclass
class ConversationLog:
    """What one client sent and received in one conversation."""

    account_ref: str
    session_id: str = ""
    conversation_id: str = ""
    agent_texts: list[str] = field(default_factory=list)  # every agent message received
    answered: list[str] = field(default_factory=list)  # debtor lines that got a 200 reply
    unanswered: list[str] = field(default_factory=list)  # sent, no reply (error, crash)
    ended: bool = False


@dataclass
class LoadStats:
    latencies_s: list[float] = field(default_factory=list)  # one per answered turn
    errors: list[str] = field(default_factory=list)
    conversations: list[ConversationLog] = field(default_factory=list)

    def error(self, what: str) -> None:
        self.errors.append(what)


class ChatClient:
    """The widget's side of the HTTP chat API."""

    def __init__(self, http: httpx.AsyncClient, stats: LoadStats) -> None:
        self.http = http
        self.stats = stats

    async def start(self, account_ref: str) -> ConversationLog | None:
        log = ConversationLog(account_ref)
        try:
            response = await self.http.post(
                "/v1/chat/sessions",
                json={"account_ref": account_ref, "locale": LOCALES[account_ref]},
            )
        except httpx.HTTPError as exc:
            self.stats.error(f"start {account_ref}: {type(exc).__name__}: {exc}")
            return None
        if response.status_code != 201:
            self.stats.error(f"start {account_ref}: {response.status_code} {response.text[:200]}")
            return None
        body = response.json()
        log.session_id, log.conversation_id = body["session_id"], body["conversation_id"]
        log.agent_texts += [m["text"] for m in body["messages"]]
        self.stats.conversations.append(log)
        return log

    async def say(self, log: ConversationLog, text: str) -> bool:
        """One debtor turn; True when it was answered."""
        started = time.perf_counter()
        try:
            response = await self.http.post(
                f"/v1/chat/sessions/{log.session_id}/messages", json={"text": text}
            )
        except httpx.HTTPError as exc:
            log.unanswered.append(text)
            self.stats.error(f"say {log.session_id}: {type(exc).__name__}: {exc}")
            return False
        if response.status_code != 200:
            log.unanswered.append(text)
            self.stats.error(f"say {log.session_id}: {response.status_code} {response.text[:200]}")
            return False
        self.stats.latencies_s.append(time.perf_counter() - started)
        body = response.json()
        log.answered.append(text)
        log.agent_texts += [m["text"] for m in body["messages"]]
        log.ended = bool(body["state"]["ended"])
        return True


def client(base_url: str, connections: int) -> httpx.AsyncClient:
    # Idle connections are dropped after 2 s, before uvicorn closes them (5 s keep-alive):
    # otherwise a request sent on a connection the server is closing fails with a
    # ReadError, a race of HTTP keep-alive itself that a think time of 2-8 s hits.
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2.0
    )
    return httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits)


def conversations(seed: int) -> itertools.cycle[tuple[str, list[str]]]:
    """Every script of every account, in a shuffled but repeatable order."""
    pairs = [(ref, lines) for ref, scripts in SCRIPTS.items() for lines in scripts]
    random.Random(seed).shuffle(pairs)
    return itertools.cycle(pairs)


# -- levels ---------------------------------------------------------------------------


@dataclass
class LevelResult:
    concurrency: int
    turns: int
    wall_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: list[str]

    @property
    def turns_per_s(self) -> float:
        return self.turns / self.wall_s if self.wall_s else 0.0


async def run_level(base_url: str, concurrency: int, turns_per_client: int) -> LevelResult:
    """`concurrency` clients, no think time, each taking `turns_per_client` debtor turns
    over as many conversations as that needs."""
    stats = LoadStats()

    async def one(index: int, chat: ChatClient) -> None:
        scripts = conversations(index)
        taken = 0
        while taken < turns_per_client and len(stats.errors) < 20:
            account_ref, lines = next(scripts)
            log = await chat.start(account_ref)
            if log is None:
                return
            for line in lines:
                if taken >= turns_per_client or log.ended:
                    break
                taken += 1
                if not await chat.say(log, line):
                    return

    async with client(base_url, concurrency + 4) as http:
        chat = ChatClient(http, stats)
        # One conversation each to warm the connections and the server's caches.
        await asyncio.gather(*(chat.start("DEMO-US-001") for _ in range(min(concurrency, 10))))
        stats.latencies_s.clear()
        started = time.perf_counter()
        await asyncio.gather(*(one(i, chat) for i in range(concurrency)))
        wall = time.perf_counter() - started
    ms = [s * 1000 for s in stats.latencies_s]
    return LevelResult(
        concurrency,
        len(ms),
        wall,
        percentile(ms, 0.5),
        percentile(ms, 0.95),
        percentile(ms, 0.99),
        stats.errors,
    )


# -- soak -----------------------------------------------------------------------------


@dataclass
class SoakResult:
    sessions: int
    duration_s: float
    stats: LoadStats
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    # RSS every RSS_EVERY_S during the soak: a plateau is warm-up, a steady climb a leak.
    rss_samples_mib: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    audit_events: int = 0
    chain_ok: bool = False

    @property
    def turns(self) -> int:
        return len(self.stats.latencies_s)

    @property
    def ok(self) -> bool:
        return not self.stats.errors and not self.problems and self.chain_ok


async def soak(
    base_url: str, sessions: int, duration_s: float, think_s: tuple[float, float], seed: int = 7
) -> LoadStats:
    """`sessions` conversations in flight until `duration_s` has passed; each debtor
    turn after a think time. Conversations that are mid-way at the deadline stop there
    (their turns so far are checked like any other)."""
    stats = LoadStats()
    deadline = time.monotonic() + duration_s
    rng = random.Random(seed)

    async def slot(index: int, chat: ChatClient) -> None:
        scripts = conversations(seed + index)
        # Spread the first turns out, as arrivals would be.
        await asyncio.sleep(rng.uniform(0, think_s[1]))
        while time.monotonic() < deadline:
            account_ref, lines = next(scripts)
            log = await chat.start(account_ref)
            if log is None:
                await asyncio.sleep(think_s[0])
                continue
            for line in lines:
                await asyncio.sleep(rng.uniform(*think_s))
                if time.monotonic() >= deadline or log.ended:
                    break
                if not await chat.say(log, line):
                    break

    async with client(base_url, sessions + 4) as http:
        chat = ChatClient(http, stats)
        await asyncio.gather(*(slot(i, chat) for i in range(sessions)))
    return stats


async def check_log(
    database_url: str, logs: list[ConversationLog], exclusive: bool = True
) -> tuple[list[str], int, bool]:
    """Compare the store with what the clients saw. Returns (problems, audit events,
    chain ok). Lines a client sent without getting a reply may be in the log at most
    once (the server may have committed before the connection failed). `exclusive`:
    the clients were the only ones talking, so no other conversation may exist."""
    problems: list[str] = []
    store = Store(create_engine(database_url))
    try:
        async with store.read() as session:
            turns = (await session.execute(select(Turn).order_by(Turn.id))).scalars().all()
            events = (
                await session.execute(
                    select(AuditEvent.kind, AuditEvent.conversation_id, AuditEvent.payload).where(
                        AuditEvent.kind.in_(("turn.inbound", "turn.outbound"))
                    )
                )
            ).all()
            conversation_ids = set((await session.execute(select(Conversation.id))).scalars())
        async with store.read() as session:
            report = await verify_chain(session)
    finally:
        await store.close()
    by_conversation: dict[str, list[Turn]] = {}
    for turn in turns:
        by_conversation.setdefault(turn.conversation_id, []).append(turn)
    audited = Counter((cid, (payload or {}).get("turn")) for _, cid, payload in events)
    known = {log.conversation_id for log in logs}
    unknown = conversation_ids - known if exclusive else set()
    if unknown or known - conversation_ids:
        problems.append(
            f"conversations: {len(unknown)} in the store that no client "
            f"started, {len(known - conversation_ids)} started but not stored"
        )
    for log in logs:
        stored = sorted(by_conversation.get(log.conversation_id, []), key=lambda t: t.seq)
        problems += _compare(log, stored)
        for turn in stored:
            if audited[(log.conversation_id, turn.seq)] != 1:
                problems.append(
                    f"{log.conversation_id} turn {turn.seq}: "
                    f"{audited[(log.conversation_id, turn.seq)]} audit events, expected 1"
                )
    if not report.ok:
        problems.append(f"audit chain: {report.problems}")
    return problems, report.events, report.ok


def _compare(log: ConversationLog, stored: list[Turn]) -> list[str]:
    where = log.conversation_id
    problems = []
    seqs = [t.seq for t in stored]
    if seqs != list(range(1, len(stored) + 1)):
        problems.append(f"{where}: turn numbers {seqs} are not 1..{len(stored)}")
    debtor = [t.text for t in stored if t.role == "debtor"]
    agent = [t.text for t in stored if t.role == "agent"]
    # A line sent without a reply may have been committed before the connection broke
    # (then it is stored once, and its replies were never received) or not at all.
    committed_unanswered = False
    for text in set(log.unanswered):
        extra = debtor.count(text) - log.answered.count(text)
        if extra > log.unanswered.count(text):
            problems.append(f"{where}: unanswered line {text!r} stored {extra} times")
        for _ in range(max(0, extra)):
            committed_unanswered = True
            debtor.reverse()
            debtor.remove(text)  # the last copy: answered lines came first here
            debtor.reverse()
    if debtor != log.answered:
        problems.append(f"{where}: debtor turns {debtor} != lines answered {log.answered}")
    if committed_unanswered:
        if not _subsequence(log.agent_texts, agent):
            problems.append(f"{where}: agent messages received are not all stored, in order")
    elif agent != log.agent_texts:
        problems.append(f"{where}: {len(agent)} agent turns, {len(log.agent_texts)} received")
    for index, turn in enumerate(stored):
        # A debtor turn without the agent's reply after it would be a torn transaction
        # (unless a person had taken over, which no client here does).
        last = index + 1 == len(stored)
        if turn.role == "debtor" and (last or stored[index + 1].role == "debtor"):
            problems.append(f"{where}: debtor turn {turn.seq} has no reply logged after it")
    return problems


def _subsequence(needles: list[str], haystack: list[str]) -> bool:
    remaining = iter(haystack)
    return all(any(item == candidate for candidate in remaining) for item in needles)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


RSS_EVERY_S = 30.0


def _sample_rss(pid: int, samples: list[float], done: threading.Event) -> None:
    while not done.wait(RSS_EVERY_S):
        samples.append(rss_mib(pid))


def run_soak(
    sessions: int,
    duration_s: float,
    think_s: tuple[float, float],
    env: dict[str, str] | None = None,
    database_url: str = "",
) -> SoakResult:
    """Start the service, soak it, stop it, check the log. The whole proof in one call
    (also what tests/load/test_soak.py runs, shorter)."""
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        url = database_url or f"sqlite+aiosqlite:///{data_dir / 'tact.db'}"
        server_env = {"AGENT_DATABASE_URL": url, **(env or {})}
        server, host = start_server(data_dir, data_dir / "server.log", server_env)
        result = SoakResult(sessions, duration_s, LoadStats())
        try:
            result.rss_start_mib = rss_mib(server.pid)
            done = threading.Event()
            sampler = threading.Thread(
                target=_sample_rss, args=(server.pid, result.rss_samples_mib, done), daemon=True
            )
            sampler.start()
            try:
                result.stats = asyncio.run(soak(f"http://{host}", sessions, duration_s, think_s))
            finally:
                done.set()
                sampler.join()
            result.rss_end_mib = rss_mib(server.pid)
            verify = httpx.get(f"http://{host}/v1/audit/verify", timeout=120).json()
            if verify.get("ok") is not True:
                result.problems.append(f"GET /v1/audit/verify: {verify}")
        finally:
            server.terminate()
            server.wait(timeout=60)
        problems, result.audit_events, result.chain_ok = asyncio.run(
            check_log(url, result.stats.conversations)
        )
        result.problems += problems
    return result


def run_levels(
    levels: list[int],
    turns_per_session: int,
    env: dict[str, str] | None = None,
    min_turns: int = 0,
) -> list[LevelResult]:
    """Each level on the same server; at least `min_turns` turns per level (low levels
    take more turns per client, so their percentiles rest on enough samples)."""
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        server, host = start_server(data_dir, data_dir / "server.log", env or {})
        try:
            return [
                asyncio.run(
                    run_level(f"http://{host}", c, max(turns_per_session, math.ceil(min_turns / c)))
                )
                for c in levels
            ]
        finally:
            server.terminate()
            server.wait(timeout=60)


def levels_table(results: list[LevelResult]) -> list[str]:
    lines = [
        "| concurrent sessions | turns | p50 (ms) | p95 (ms) | p99 (ms) | turns/s | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.concurrency} | {r.turns} | {r.p50_ms:.0f} | {r.p95_ms:.0f} | {r.p99_ms:.0f} | "
            f"{r.turns_per_s:.1f} | {len(r.errors)} |"
        )
    return lines


def soak_lines(result: SoakResult) -> list[str]:
    stats = result.stats
    ms = [s * 1000 for s in stats.latencies_s]
    return [
        f"- {result.sessions} concurrent sessions for {result.duration_s:.0f} s: "
        f"{len(stats.conversations)} conversations, {result.turns} debtor turns answered "
        f"(p50 {percentile(ms, 0.5):.0f} ms, p95 {percentile(ms, 0.95):.0f} ms, "
        f"p99 {percentile(ms, 0.99):.0f} ms)",
        f"- errors: {len(stats.errors)}; log check problems: {len(result.problems)}; "
        f"audit events: {result.audit_events}; chain verifies: "
        f"{'yes' if result.chain_ok else 'NO'}",
        f"- server RSS: {result.rss_start_mib:.0f} MiB at start, "
        f"{result.rss_end_mib:.0f} MiB at the end; every {RSS_EVERY_S:.0f} s: "
        + ", ".join(f"{m:.0f}" for m in result.rss_samples_mib),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 50, 100])
    parser.add_argument("--turns-per-session", type=int, default=8)
    parser.add_argument("--min-turns", type=int, default=200, help="turns per level at least")
    parser.add_argument("--soak", action="store_true", help="the soak test instead of levels")
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--duration", type=float, default=300.0, help="soak seconds")
    parser.add_argument("--think", type=float, nargs=2, default=[2.0, 8.0], metavar=("MIN", "MAX"))
    parser.add_argument("--database-url", default="", help="a fresh database (default SQLite)")
    parser.add_argument("--analyzer", default="", help="AGENT_ANALYZER for the server")
    args = parser.parse_args()
    env = {"AGENT_ANALYZER": args.analyzer} if args.analyzer else {}
    if args.database_url and not args.soak:
        env["AGENT_DATABASE_URL"] = args.database_url
    print(f"machine: {machine()}")
    if not args.soak:
        levels = run_levels(args.concurrency, args.turns_per_session, env, args.min_turns)
        print("\n".join(levels_table(levels)))
        return
    result = run_soak(
        args.sessions, args.duration, (args.think[0], args.think[1]), env, args.database_url
    )
    print("\n".join(soak_lines(result)))
    for line in (result.stats.errors + result.problems)[:20]:
        print(f"  {line}")
    if not result.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
