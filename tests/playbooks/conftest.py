"""Shared helpers: load the real playbooks, build canonical events, run the simulator."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kickoff.model import Event
from kickoff.playbooks import Playbook, SimResult, load_playbook, simulate
from kickoff.playbooks.simulate import SimAction

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = ROOT / "config" / "playbooks"
SCENARIOS = ROOT / "config" / "scenarios"


@pytest.fixture(scope="session")
def playbooks() -> dict[str, Playbook]:
    return {p.stem: load_playbook(p) for p in sorted(PLAYBOOKS.glob("*.yaml"))}


def t(text: str) -> datetime:
    """An aware datetime from ISO text (always with its offset, so tests say what they mean)."""
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


_counter = iter(range(1, 1_000_000))


def ev(type: str, at: str, data: dict[str, Any] | None = None, subject: str = "ob-1", id: str | None = None) -> Event:
    return Event(id=id or f"ev-{next(_counter)}", type=type, occurred_at=t(at), subject=subject, data=data or {})


def run(playbook: Playbook, events: list[Event], until: str | None = None) -> SimResult:
    return simulate(playbook, events, until=t(until) if until else None)


def acts(result: SimResult, rule: str | None = None, kind: str | None = None, tool: str | None = None) -> list[SimAction]:
    """The simulated actions, filtered."""
    return [
        a
        for a in result.actions
        if (rule is None or a.action.rule == rule)
        and (kind is None or a.action.kind == kind)
        and (tool is None or a.action.tool == tool)
    ]


def when(items: list[SimAction]) -> list[str]:
    """The decision times, as ISO text with offsets."""
    return [a.at.isoformat() for a in items]


def payloads(items: list[SimAction]) -> list[dict[str, Any]]:
    return [a.action.payload for a in items]
