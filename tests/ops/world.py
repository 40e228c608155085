"""A network tenant's sign-up played for real: the sandbox (its clock frozen at each
moment), the gateway's canonical intake (``POST /webhooks/events``), the ledger, and the flow
steps called directly at each moment of the demo's virtual clock (process, tick, push)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
import yaml
from typer.testing import CliRunner, Result

from cli import app
from flows.demo.clock import Act, VirtualClock, direct_calls
from flows.runtime import Runtime
from gateway import create_app
from gateway.server import GatewayServer
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from tests.stack_world import World as StackWorld

PARIS = ZoneInfo("Europe/Paris")
SIGNUP = datetime(2026, 3, 2, 14, 0, tzinfo=PARIS)  # a Monday
TOKEN = "ops-story-events-token"
FIXTURE = Path(__file__).resolve().parents[2] / "sandbox" / "fixtures" / "default.yaml"
NAME = "Chalet des Neiges"


def signup(subject: str = "network:chalet-des-neiges", name: str = NAME, at: datetime = SIGNUP) -> dict[str, Any]:
    return {"id": f"signup-{subject}", "type": "account.created", "occurred_at": at.isoformat(),
            "subject": subject, "tenant": "network",
            "data": {"account_name": name, "origin": "diy", "network": "alpes-tourisme",
                     "leisure": False, "email": "bonjour@chalet.example.com"}}


class World(StackWorld):
    """The stack, fed through the gateway's canonical intake."""
    def post(self, event: dict[str, Any]) -> None:
        answer = requests.post(f"{self.gateway.url}/webhooks/events", json=event, timeout=30,
                               headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code < 300, answer.text

    def act(self, at: datetime, label: str, event: dict[str, Any]) -> Act:
        return Act(at, "network", label, lambda control, rt: self.post(event))

    def play(self, acts: list[Act], until: datetime) -> None:
        self.clock.play(acts, acts[0].at if acts else SIGNUP, until)


@contextmanager
def network_world(server: SandboxServer, control: SandboxControl) -> Iterator[World]:
    """The stack on the environment ``sandbox_env`` set (a fresh SQLite ledger)."""
    control.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")))
    rt = Runtime.build()
    gateway = GatewayServer(create_app(rt.ledger, config=rt.config, announce=lambda tool, ids: None,
                                       events_token=TOKEN, clock=server.sandbox.clock.now)).start()
    try:
        yield World(rt, control, gateway, VirtualClock(rt, control, direct_calls(rt)))
    finally:
        gateway.stop()
        rt.ledger.close()


def kickoff(*args: str) -> Result:
    """The ``kickoff`` command, in this process, on the environment's ledger and config."""
    return CliRunner().invoke(app, list(args))
