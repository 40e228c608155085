"""Shared helpers: load the real playbooks, build canonical events, run the simulator."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Done:
    """A person marks the playbook's task ``task`` (its ``id``) done in its tool at ``at``: the
    ``task.updated`` event carries the key Kickoff gave it, known once the run reaches ``at``."""

    task: str
    at: str
    subject: str = "ob-1"
    status: str = "completed"

    def event(self, so_far: SimResult) -> Event:
        facts = so_far.states[self.subject].facts
        key = (facts.get("_tasks") or {}).get(self.task) or (facts.get("_records") or {}).get(self.task)
        assert key, f"no open task or record {self.task!r} at {self.at}"
        return ev("task.updated", self.at, {"task_key": key, "status": self.status}, subject=self.subject)


def run(playbook: Playbook, events: list[Event | Done], until: str | None = None, **options: Any) -> SimResult:
    """The simulator over ``events``; a ``Done`` becomes its task's completion, with the key the
    run up to that moment gave the task (runs are deterministic, so replaying is exact)."""
    resolved: list[Event] = []
    for item in events:
        if isinstance(item, Done):
            before = simulate(playbook, resolved, until=t(item.at), **options)
            item = item.event(before)
        resolved.append(item)
    return simulate(playbook, resolved, until=t(until) if until else None, **options)


def key_of(result: SimResult, task: str, subject: str = "ob-1") -> str | None:
    """The key of the open task ``task`` at the end of a run (None when it is not open)."""
    return (result.states[subject].facts.get("_tasks") or {}).get(task)


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
