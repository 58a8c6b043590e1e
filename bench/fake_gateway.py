"""A local stand-in for Twilio's REST API and its callbacks, for drills and benchmarks.

It takes `Calls.json` and `Messages.json` requests as Twilio would (HTTP basic auth
with the account sid and token), then plays each call out on its own: it answers
(the voice webhook with `AnsweredBy=human`, then `completed`), reaches voicemail
(`AnsweredBy=machine_end_beep`), rings out (`no-answer`) or is busy, at random with
fixed odds and a seed. Every callback is signed with the auth token exactly as
Twilio signs (the official `twilio` RequestValidator) and sent to one of the API
replicas in turn, as a load balancer would.

It also keeps the gateway's own view of the truth: which numbers had a call up when,
so a drill can check "never two calls to one debtor at once" independently of the
service's database.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator

OUTCOMES = {"answer": 0.4, "voicemail": 0.2, "no-answer": 0.3, "busy": 0.1}


@dataclass
class Live:
    to: str
    started: float
    ended: float | None = None


@dataclass
class GatewayLog:
    calls: list[Live] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    callback_errors: list[str] = field(default_factory=list)
    connection_errors: int = 0  # callback deliveries whose connection failed (tried again)
    live_now: dict[str, int] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)  # numbers rung while already ringing
    auth_failures: int = 0

    @property
    def max_live(self) -> int:
        events = sorted(
            [(c.started, 1) for c in self.calls] + [(c.ended, -1) for c in self.calls if c.ended]
        )
        live = peak = 0
        for _, step in events:
            live += step
            peak = max(peak, live)
        return peak


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded body the twilio client sends (no multipart parser needed)."""
    pairs = parse_qs((await request.body()).decode(), keep_blank_values=True)
    return {key: values[0] for key, values in pairs.items()}


class FakeGateway:
    def __init__(
        self,
        account_sid: str,
        token: str,
        replicas: list[str],
        seed: int = 7,
        call_seconds: tuple[float, float] = (0.2, 1.5),
    ) -> None:
        self.account_sid = account_sid
        self.validator = RequestValidator(token)
        self.token = token
        self.replicas = itertools.cycle(replicas)
        self.random = random.Random(seed)
        self.call_seconds = call_seconds
        self.log = GatewayLog()
        self._sids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        # A pooled connection must expire before uvicorn closes it as idle (5 s): at equal
        # timeouts a request can go out on a connection the replica is just closing,
        # and fails with a bare ReadError, as a CI run once saw.
        self._http = httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(keepalive_expiry=2.0))
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Calls.json", self._call, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._text, methods=["POST"]),
            ]
        )

    # -- the REST API -----------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.token}".encode()).decode()
        ok = request.headers.get("authorization") == f"Basic {expected}"
        self.log.auth_failures += not ok
        return ok

    async def _call(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        form = await _form(request)
        to = form["To"]
        sid = f"CA{next(self._sids):032d}"
        live = Live(to, asyncio.get_running_loop().time())
        if self.log.live_now.get(to):
            self.log.overlaps.append(to)
        self.log.live_now[to] = self.log.live_now.get(to, 0) + 1
        self.log.calls.append(live)
        outcome = self.random.choices(list(OUTCOMES), weights=list(OUTCOMES.values()))[0]
        self.log.outcomes[outcome] += 1
        task = asyncio.create_task(
            self._play(sid, live, outcome, form["Url"], form["StatusCallback"])
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return JSONResponse({"sid": sid, "status": "queued", "to": to}, status_code=201)

    async def _text(self, request: Request) -> JSONResponse:
        if not self._authorised(request):
            return JSONResponse({"code": 20003, "message": "Authenticate"}, status_code=401)
        form = await _form(request)
        self.log.texts.append(form["To"])
        sid = f"SM{next(self._sids):032d}"
        return JSONResponse({"sid": sid, "status": "queued"}, status_code=201)

    # -- a call's life ----------------------------------------------------------------

    async def _play(self, sid: str, live: Live, outcome: str, url: str, status_url: str) -> None:
        base = {"CallSid": sid, "AccountSid": self.account_sid, "To": live.to}
        try:
            await asyncio.sleep(self.random.uniform(*self.call_seconds) / 2)
            if outcome in ("answer", "voicemail"):
                answered_by = "human" if outcome == "answer" else "machine_end_beep"
                await self._post(
                    url, {**base, "CallStatus": "in-progress", "AnsweredBy": answered_by}
                )
                await asyncio.sleep(self.random.uniform(*self.call_seconds) / 2)
                final = {"CallStatus": "completed", "AnsweredBy": answered_by, "CallDuration": "9"}
            else:
                final = {"CallStatus": outcome}
            # The line is free before the status callback is sent, as on a real network.
            self._hang_up(live)
            await self._post(status_url, {**base, **final})
        except Exception as exc:  # a drill reports it; it must not stop the gateway
            self.log.callback_errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self._hang_up(live)

    def _hang_up(self, live: Live) -> None:
        if live.ended is None:
            live.ended = asyncio.get_running_loop().time()
            self.log.live_now[live.to] -= 1

    async def _post(self, url: str, params: dict[str, str]) -> None:
        """Sign over the public URL the service gave, deliver to the next replica."""
        signature = self.validator.compute_signature(url, params)
        parts = urlsplit(url)
        target = next(self.replicas) + parts.path + (f"?{parts.query}" if parts.query else "")
        failure = ""
        for attempt in range(3):  # Twilio retries a failed callback too
            try:
                response = await self._http.post(
                    target, data=params, headers={"X-Twilio-Signature": signature}
                )
            except httpx.TransportError as exc:  # the connection failed, not the service
                failure = f"{type(exc).__name__}: {exc} {parts.path}"
                self.log.connection_errors += 1
            else:
                failure = (
                    "" if response.status_code < 400 else f"{response.status_code} {parts.path}"
                )
                if response.status_code < 500:
                    break
            await asyncio.sleep(0.5 * (attempt + 1))
        if failure:
            self.log.callback_errors.append(failure)

    # -- running ----------------------------------------------------------------------

    async def serve(self, port: int) -> uvicorn.Server:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        self._server_task = task
        return server

    async def idle(self) -> None:
        """Wait until every call in play has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, server: uvicorn.Server) -> None:
        await self.idle()
        server.should_exit = True
        await self._server_task
        await self._http.aclose()
