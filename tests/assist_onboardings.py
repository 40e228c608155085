"""Onboardings started by the Assist playbook's real decision on its scenario's contract, and
a way to spoil one of their timer rows: for the tests of timers whose firing fails."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import update

from kickoff.ledger import Ledger
from kickoff.ledger.schema import timers
from kickoff.playbooks import decide, load_playbook, parse_events

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "config" / "scenarios" / "assist-se-60-days.jsonl"


def start(ledger: Ledger, *ids: str) -> tuple[datetime, str]:
    """Onboardings started by the scenario's contract, each with its timers; the moment the
    first timer is due, and its key."""
    playbook = load_playbook(REPO / "config" / "playbooks" / "assist-se.yaml")
    signed = parse_events(SCENARIO.read_text(encoding="utf-8").splitlines()[:1], playbook.zone)[0]
    for n, oid in enumerate(ids):
        event = signed.model_copy(update={"subject": oid, "id": f"{signed.id}-{n}"})
        made = decide(None, event, event.occurred_at, playbook, tenant="assist")
        assert made is not None
        ledger.commit_decision(made, now=event.occurred_at)
    first = min(made.set_timers, key=lambda t: t.fire_at)
    return first.fire_at, first.key


def set_timer_data(ledger: Ledger, onboarding_id: str, key: str, data: dict[str, Any]) -> None:
    """The timer row's data as given (``{"set_by": 5}``: data its event refuses, as a row
    written by hand or by an older version could hold)."""
    with ledger.transaction() as conn:
        conn.execute(update(timers).where(timers.c.onboarding_id == onboarding_id, timers.c.key == key)
                     .values(data=data))
