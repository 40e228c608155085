"""A caller that goes away in the middle of its request (a push worker killed while sending,
as the soak does) gets no answer and leaves no error behind: the sandbox logs the request as
the client's going, writes nothing, and answers the next caller as before. A vendor's server
drops such a request the same way; before, each one printed a ``ClientDisconnect`` traceback."""

from __future__ import annotations

import json
import logging
import socket
import time
from urllib.parse import urlsplit

import pytest
import requests

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer


def test_a_client_gone_before_its_body_came_is_logged_as_gone_and_nothing_is_written(
        sandbox_server: SandboxServer, sandbox: SandboxControl, caplog: pytest.LogCaptureFixture) -> None:
    token = sandbox_server.environment()["ASANA_ACCESS_TOKEN"]
    address = urlsplit(sandbox_server.url)
    since = sandbox.last_seq()
    body = json.dumps({"data": {"name": "Never sent whole", "workspace": "1"}}).encode()
    with caplog.at_level(logging.ERROR), socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(b"POST /api/1.0/tasks HTTP/1.1\r\nHost: sandbox\r\nContent-Type: application/json\r\n"
                     + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                     + body[:10])
        sock.shutdown(socket.SHUT_RDWR)  # gone, the rest of the body never sent
    deadline = time.monotonic() + 10
    while not sandbox.requests("asana", since=since) and time.monotonic() < deadline:
        time.sleep(0.05)

    [gone] = sandbox.requests("asana", since=since)
    assert (gone["method"], gone["path"], gone["status"], gone["fault"]) == ("POST", "/api/1.0/tasks", 0, "client gone")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "the sandbox logged an error"
    assert sandbox.get("asana", "records/tasks") == []
    answered = requests.get(f"{sandbox_server.url}/api/1.0/users/me", headers={"Authorization": f"Bearer {token}"},
                            timeout=10)
    assert answered.status_code == 200
