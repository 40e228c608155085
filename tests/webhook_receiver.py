"""A webhook target for tests: a loopback HTTP server that keeps every POST as received, so a
test can check what the sandbox sent and hand it to a connector as the gateway would."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kickoff.closing import Closing
from kickoff.contracts.webhooks import WebhookRequest


@dataclass(frozen=True)
class Post:
    """One POST: its path (with the query), its headers as sent, its raw body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


class WebhookReceiver(Closing):
    """Answers ``status`` with ``reply`` (of ``content_type``) to every POST on ``url``; an
    Asana handshake's X-Hook-Secret is echoed when ``echo_secret``."""

    def __init__(self, path: str = "/hooks", *, status: int = 200, reply: bytes = b"",
                 content_type: str | None = None, echo_secret: bool = False) -> None:
        self.received: list[Post] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.received.append(Post(self.path, dict(self.headers.items()), body))
                self.send_response(status)
                if echo_secret and "X-Hook-Secret" in self.headers:
                    self.send_header("X-Hook-Secret", self.headers["X-Hook-Secret"])
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = self.origin + path
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def request(self, index: int = 0, **changes: Any) -> WebhookRequest:
        """POST ``index`` as the gateway hands it to a connector (``changes`` replace fields)."""
        post = self.received[index]
        fields = {"method": "POST", "url": self.origin + post.path, "headers": post.headers,
                  "body": post.body, **changes}
        return WebhookRequest(**fields)

    def requests(self, start: int = 0) -> list[WebhookRequest]:
        return [self.request(i) for i in range(start, len(self.received))]

    @property
    def bodies(self) -> list[bytes]:
        return [post.body for post in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
