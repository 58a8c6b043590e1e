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
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
            auth = self.headers.get("Authorization", "")
            user, _, password = (
                base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
            )
            form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
            fake.received.append(Received(self.path, form, user, password))
            if fake.status >= 400:
                payload = {"code": 21211, "message": "Invalid 'To' number", "status": fake.status}
            else:
                sid = fake.next_sid(self.path)
                payload = {"sid": sid, "status": "queued", "to": form.get("To")}
            data = json.dumps(payload).encode()
            self.send_response(fake.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

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
