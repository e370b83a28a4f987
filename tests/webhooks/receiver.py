"""A real HTTP receiver on loopback: what a shop's webhook endpoint is, verifying each request as Standard Webhooks
says with the ``standardwebhooks`` package, and answering as the test tells it to."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    """One request as it arrived: its webhook-id, its verified body, and whether the signature held."""

    msg_id: str
    body: dict[str, Any]
    verified: bool
    headers: dict[str, str]
    answered: int  # the status it was answered with: only a 2xx counts as delivered


@dataclass
class Receiver:
    """Keeps every request that arrived; ``status`` is what it answers (500: it is broken), ``secret`` what it
    verifies with."""

    secret: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def events(self) -> list[dict[str, Any]]:
        """Every event that arrived and verified, a batch's one by one, in arrival order."""
        with self.lock:
            arrived = [r.body for r in self.received if r.verified and r.answered == 200]
        return [event for body in arrived for event in (body["data"] if body["type"] == "batch" else [body])]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept alive, as Kairan's lanes keep their connections

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(raw, headers)
                    verified = True
                except Exception:  # noqa: BLE001 - a bad signature is what is being looked for
                    verified = False
                status = receiver.status if verified else 401
                with receiver.lock:
                    receiver.received.append(Received(headers["webhook-id"], json.loads(raw), verified, headers,
                                                      status))
                answer = b'{"ok": true}' if status == 200 else b"broken"
                self.send_response(status)
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
