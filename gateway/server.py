"""Run the gateway app with uvicorn in a thread, on a given or free port (tests, ``kickoff up``).

uvicorn parses HTTP with ``httptools`` (C, llhttp) and runs on ``uvloop`` (libuv) when they are
installed -- they are declared dependencies -- because with the pure-Python ``h11`` parser and
asyncio's loop the parsing and the loop were most of an acknowledgement's CPU. Without them
(another platform, a trimmed install) it falls back to ``h11`` and asyncio, same behaviour.
"""

from __future__ import annotations

import importlib.util
import socket
import threading
import time
from typing import Self

import uvicorn
from fastapi import FastAPI


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def http_stack() -> tuple[str, str]:
    """(http parser, event loop) uvicorn is told to use: the fast ones when importable."""
    return ("httptools" if _installed("httptools") else "h11",
            "uvloop" if _installed("uvloop") else "asyncio")


class GatewayServer:
    """``with GatewayServer(app) as server: server.url`` -- stopped (and joined) on exit."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0,
                 log_level: str = "warning") -> None:
        self.host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only then (else
        # every answer waits ~40 ms on Nagle + delayed ACK)
        self.socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.port = self.socket.getsockname()[1]
        self.http, self.loop = http_stack()
        config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on",
                                timeout_keep_alive=30, http=self.http, loop=self.loop)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 15.0) -> Self:
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                        name="kickoff-gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
