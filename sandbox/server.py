"""Run the sandbox (HTTP + SMTP) in this process, in threads, on free loopback ports."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

import uvicorn

from sandbox.app import create_app
from sandbox.smtp import SmtpServer
from sandbox.state import Sandbox


class ThreadedUvicorn:
    """An ASGI app served by uvicorn in a daemon thread on a pre-bound socket (no port race);
    ``stop`` returns only when the server has shut down."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, name: str = "asgi") -> None:
        self.host, self.name = host, name
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # lets asyncio set TCP_NODELAY
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> ThreadedUvicorn:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=self.name, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        self._socket.close()


class SandboxServer:
    """Context manager: ``with SandboxServer() as server: server.url ...``; nothing left behind."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, smtp_port: int | None = None,
                 sandbox: Sandbox | None = None, **sandbox_options: Any) -> None:
        self.sandbox = sandbox or Sandbox(**sandbox_options)
        self.app = create_app(self.sandbox)
        self.host = host
        self.http = ThreadedUvicorn(self.app, host, port, name="sandbox-http")
        self.port = self.http.port
        self.smtp = SmtpServer(self.sandbox.mail, host, smtp_port)

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> SandboxServer:
        self.smtp.start()
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()
        self.sandbox.webhooks.stop()
        self.smtp.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The settings that point Kickoff at this sandbox (base URLs and credentials)."""
        env = {"KICKOFF_SANDBOX_URL": self.url, "KICKOFF_EMAIL_SMTP": f"{self.smtp.host}:{self.smtp.port}"}
        for name, vendor in self.sandbox.vendors.items():
            if vendor.prefixes:  # a vendor with an HTTP API (not e-mail's SMTP, not Dealbuilder)
                env[f"KICKOFF_{name.upper()}_BASE_URL"] = self.url
            for key, value in vendor.credentials.items():
                env[key] = value
        return env
