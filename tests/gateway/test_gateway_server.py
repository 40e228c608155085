"""The server the gateway runs on uses the C HTTP parser and uvloop (declared dependencies),
and announcements that queue up while one goes out leave merged, one per tool."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import requests
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.announce import BackgroundAnnouncer
from gateway.server import GatewayServer, http_stack


def test_gateway_server_parses_with_httptools_and_runs_on_uvloop_when_installed() -> None:
    async def where(_: Request) -> JSONResponse:
        return JSONResponse({"loop": type(asyncio.get_running_loop()).__module__})

    app = FastAPI()
    app.add_route("/", where, methods=["GET"])
    assert http_stack() == ("httptools", "uvloop")  # both are dependencies of the project
    with GatewayServer(app) as server:
        answer = requests.get(server.url, timeout=10)
        protocol = server.server.config.http_protocol_class.__name__

    assert answer.status_code == 200
    assert answer.json()["loop"].startswith("uvloop")
    assert protocol == "HttpToolsProtocol"


def test_announcements_queued_while_one_goes_out_leave_as_one_per_tool_in_order() -> None:
    first_started, release = threading.Event(), threading.Event()
    calls: list[tuple[str, list[int]]] = []

    def announce(tool: str, ids: Sequence[int]) -> None:
        calls.append((tool, list(ids)))
        first_started.set()
        release.wait(10)

    announcer = BackgroundAnnouncer(announce)
    try:
        announcer.submit("hubspot", [1])
        assert first_started.wait(10)
        for tool, ids in [("hubspot", [2]), ("zendesk", [3]), ("hubspot", [4, 5]), ("zendesk", [6])]:
            announcer.submit(tool, ids)  # all queued while the first announcement is out
        release.set()
        assert announcer.wait_idle(10)
    finally:
        release.set()
        announcer.close()

    assert calls == [("hubspot", [1]), ("hubspot", [2, 4, 5]), ("zendesk", [3, 6])]
