"""``kickoff up --sandbox`` as ops run it, in a child process of its own: a Prefect server
(UI and API on one free port), every deployment served, the gateway and the seeded sandbox.

A child process, not the test's own: Prefect reads its settings when first imported, and
the test session may already have pointed it at another server. Stopped with SIGTERM, as
Ctrl-C would, so ``up`` stops what it started (its server and its served flows run in
process groups of their own); the ports are then checked closed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from sandbox.smtp import free_port

EVENTS_TOKEN = "ui-test-events-token"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningUp:
    ui_url: str
    gateway_url: str
    sandbox_url: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST (a filter) or GET on the Prefect REST API."""
        url = f"{self.api_url}/{path.lstrip('/')}"
        answer = requests.post(url, json=body, timeout=30) if body is not None else requests.get(url, timeout=30)
        answer.raise_for_status()
        return answer.json()


def _follow(process: subprocess.Popen[str], lines: list[str]) -> None:
    """Keep ``up``'s output (what its user sees) for the URLs and for a failure's message."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))


def _wait_for(lines: list[str], pattern: str, process: subprocess.Popen[str], timeout: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            if match := re.search(pattern, line):
                return match
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise RuntimeError(f"kickoff up never printed {pattern!r}; its output:\n" + "\n".join(lines[-40:]))


def _served_names() -> tuple[set[str], set[str]]:
    """The deployments the test plays through, and the automations their triggers become."""
    from flows.deployments import deployments

    wanted = [d for d in deployments() if d.name in {"process-inbox", "push-hubspot", "push-email"}]
    return {d.name for d in wanted}, {t.name for d in wanted for t in d.triggers}


def _wait_until_served(running: RunningUp, process: subprocess.Popen[str], timeout: float) -> None:
    """``up`` says it serves before the runner has registered anything: an event sent earlier
    would start nothing (the safety sweep would, much later)."""
    names, triggers = _served_names()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        have = {d["name"] for d in running.api("deployments/filter", {})}
        automations = {a["name"] for a in running.api("automations/filter", {})}
        if names <= have and triggers <= automations:
            return
        time.sleep(1.0)
    raise RuntimeError("the deployments were never served; kickoff up said:\n" + "\n".join(running.output[-40:]))


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def kickoff_up(home: Path, config_dir: Path, timeout: float = 240.0) -> Iterator[RunningUp]:
    """Start ``kickoff up --sandbox`` on free loopback ports with ``config_dir``; yield once
    it serves (the deployments and their event triggers registered)."""
    prefect_port, gateway_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "KICKOFF_"))}
    env |= {"KICKOFF_CONFIG_DIR": str(config_dir), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "KICKOFF_EVENTS_TOKEN": EVENTS_TOKEN,
            "PYTHONUNBUFFERED": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}
    command = [sys.executable, "-c", "import cli; cli.main()", "up", "--sandbox", "--home", str(home),
               "--prefect-port", str(prefect_port), "--gateway-port", str(gateway_port)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    running = RunningUp(ui_url=f"http://127.0.0.1:{prefect_port}", gateway_url=f"http://127.0.0.1:{gateway_port}")
    threading.Thread(target=_follow, args=(process, running.output), daemon=True).start()
    try:
        running.sandbox_url = _wait_for(running.output, r"Sandbox:\s+(\S+)/_sandbox/", process, timeout).group(1)
        _wait_for(running.output, r"Serving", process, timeout)
        _wait_until_served(running, process, timeout)
        yield running
    finally:
        _stop(process, ports=(prefect_port, gateway_port))


def _stop(process: subprocess.Popen[str], ports: tuple[int, ...]) -> None:
    """SIGTERM (``up`` then stops its server, sandbox, gateway and served flows), SIGKILL to
    its group only if it hangs; then every port it held must be closed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    deadline = time.monotonic() + 30
    while any(_port_open(port) for port in ports) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = [port for port in ports if _port_open(port)]
    if left:
        raise RuntimeError(f"kickoff up left something listening on port(s) {left}")
