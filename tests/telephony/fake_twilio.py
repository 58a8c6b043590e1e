"""A stand-in for the Twilio REST API on 127.0.0.1: records what it receives."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

CALL_SID = "CA" + "5" * 32


@dataclass
class Received:
    path: str
    form: dict[str, str]
    username: str
    password: str


@dataclass
class FakeTwilio:
    base_url: str
    received: list[Received] = field(default_factory=list)
    status: int = 201
    # False: every call is CALL_SID (single-call tests); True: a new sid per request,
    # `CA...` for calls and `SM...` for texts (campaign tests place many).
    unique_sids: bool = False
    # What GET .../Calls/{sid}.json answers, by sid (a missing sid: 404, as Twilio does).
    call_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    lookups: list[Received] = field(default_factory=list)

    def next_sid(self, path: str) -> str:
        if not self.unique_sids:
            return CALL_SID
        prefix = "SM" if path.endswith("/Messages.json") else "CA"
        return f"{prefix}{len(self.received):032d}"

    def calls(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/Calls.json")]

    def texts(self) -> list[Received]:
        return [r for r in self.received if r.path.endswith("/Messages.json")]


@contextlib.contextmanager
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake.lookups.append(Received(self.path, {}, *self._credentials()))
            sid = self.path.rsplit("/", 1)[-1].removesuffix(".json")
            state = fake.call_states.get(sid)
            if fake.status >= 400:
                self._answer(fake.status, {"code": 20003, "message": "Authenticate"})
            elif state is None:
                self._answer(404, {"code": 20404, "message": "not found", "status": 404})
            else:
                self._answer(200, {"sid": sid, **state})

        def _credentials(self) -> tuple[str, str]:
            auth = self.headers.get("Authorization", "").removeprefix("Basic ")
            user, _, password = base64.b64decode(auth).decode().partition(":")
            return user, password

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            fake.received.append(Received(self.path, form, *self._credentials()))
            if fake.status >= 400:
                payload = {"code": 21211, "message": "Invalid 'To' number", "status": fake.status}
            else:
                sid = fake.next_sid(self.path)
                payload = {"sid": sid, "status": "queued", "to": form.get("To")}
            self._answer(fake.status, payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output quiet

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port_url() -> str:
    """A local URL where nothing listens: the gateway is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
