"""A day's allowance nearly spent: the urgent push goes, the rest wait for the reset.

HubSpot reports its daily limit on every answer (``X-HubSpot-RateLimit-Daily`` and
``-Daily-Remaining``); the push stores the count as a budget every worker shares (the
ledger's ``budgets``). Once what is left is within the reserve, only urgent actions
(``kickoff.urgency``: here a task due before the reset) are sent; the others stay pending
(not dead, not attempted) until the allowance comes back at midnight in the portal's time
zone, then go, once each.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from flows.runtime import Runtime
from flows.steps import push
from kickoff.ledger import Ledger
from kickoff.model import Action, ActionKind, Decision, Onboarding, idempotency_key
from kickoff.settings import load_config
from kickoff.urgency import is_urgent
from tests.conftest import REPO

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 3, 0, 0, tzinfo=ZoneInfo("Europe/Stockholm"))
"""The reset: midnight in the sandbox portal's time zone (its account details), 23:00 UTC."""
DAILY = 200  # the portal's allowance in this test (the reserve is 5%: 10 calls)
FIXTURE = REPO / "sandbox" / "fixtures" / "default.yaml"


@pytest.fixture
def rt(sandbox, sandbox_env, tmp_path: Path) -> Iterator[Runtime]:
    sandbox.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")))
    sandbox.set_clock(at=NOW.isoformat(), frozen=True)
    sandbox.set_limits("hubspot", daily=DAILY)
    runtime = Runtime.build(load_config(REPO / "config"), ledger=Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}"))
    yield runtime
    runtime.ledger.close()


def _ticket(sandbox) -> str:
    """A ticket a person created in the Assist pipeline: the onboarding's."""
    made = sandbox.act("hubspot", "tickets", properties={"subject": "SE - Budget Test AB", "hs_pipeline": "28734901",
                                                          "hs_pipeline_stage": "84561201"})
    return str(made["id"])


def _action(kind: ActionKind, name: str, payload: dict) -> Action:
    return Action(kind=kind, tool="hubspot", onboarding_id="assist:budget", rule="A2", due_at=NOW,
                  idempotency_key=idempotency_key("budget", name), payload=payload)


def _commit(rt: Runtime, actions: list[Action]) -> None:
    state = rt.ledger.load_state("assist:budget") or Onboarding(
        id="assist:budget", tenant="assist", playbook="assist-onboarding", stage="new", account_name="Budget Test AB")
    rt.ledger.commit_decision(Decision(state=state, actions=actions, audit=["daily budget test"]), now=NOW)


def _spend_until(sandbox, sandbox_server, left: int) -> None:
    """Other clients of the portal used the day's allowance down to ``left`` calls."""
    day = NOW.astimezone(MIDNIGHT.tzinfo).date()  # the portal's day: its counter's key
    counters, key = sandbox_server.sandbox.counters, f"hubspot:daily:{day.isoformat()}"
    while DAILY - counters.get(key) > left:
        counters.add(key)


def _tasks(sandbox, ticket: str) -> list[str]:
    return sorted(t["properties"]["hs_task_subject"] for t in sandbox.get("hubspot", "records/tasks")
                  if any(a.get("toObjectId") == ticket for a in t.get("associations") or []))


def test_daily_budget_near_its_end_sends_the_urgent_push_and_keeps_the_rest_pending_until_the_reset(
        rt: Runtime, sandbox, sandbox_server) -> None:
    ticket = _ticket(sandbox)
    _spend_until(sandbox, sandbox_server, left=11)
    # an earlier push: its answer reports the day's count, which becomes the shared budget
    _commit(rt, [_action(ActionKind.CREATE_TASK, "first", {"record_id": ticket, "subject": "First call",
                                                           "due_at": (NOW + timedelta(hours=3)).isoformat()})])
    push.push(rt, "hubspot", NOW)
    [budget] = rt.ledger.budgets()
    assert (budget.tool, budget.account, budget.allowed, budget.resets_at) == ("hubspot", "default", DAILY, MIDNIGHT)
    assert budget.left <= DAILY * rt.config.settings.daily_reserve

    urgent = _action(ActionKind.CREATE_TASK, "urgent", {"record_id": ticket, "subject": "Call today",
                                                        "due_at": (NOW + timedelta(hours=6)).isoformat()})
    later = [_action(ActionKind.CREATE_TASK, "next-week", {"record_id": ticket, "subject": "Call next week",
                                                           "due_at": (NOW + timedelta(days=7)).isoformat()}),
             _action(ActionKind.ADD_NOTE, "note", {"record_id": ticket, "body": "Budget test note"}),
             _action(ActionKind.SET_STAGE, "stage", {"record_id": ticket, "stage": "onboarding_in_progress"})]
    assert is_urgent(urgent, MIDNIGHT) and not any(is_urgent(a, MIDNIGHT) for a in later)
    _commit(rt, [urgent, *later])
    report = push.push(rt, "hubspot", NOW)

    assert [r.action.idempotency_key for r in report.rows] == [urgent.idempotency_key]
    assert _tasks(sandbox, ticket) == ["Call today", "First call"]
    rows = {r["idempotency_key"]: r for r in rt.ledger.outbox_rows(["assist:budget"])}
    for action in later:  # waiting: pending until the reset, never attempted, no dead letter
        row = rows[action.idempotency_key]
        assert (row["status"], row["attempts"], row["claimed_by"]) == ("pending", 0, None)
        assert row["next_try_at"] == MIDNIGHT
    assert rt.ledger.dead_letters("hubspot") == []
    assert push.push(rt, "hubspot", NOW + timedelta(hours=1)).rows == []  # still waiting

    # the allowance comes back at midnight: the rest go, once each
    after = MIDNIGHT + timedelta(minutes=5)
    sandbox.set_clock(at=after.isoformat(), frozen=True)
    report = push.push(rt, "hubspot", after)
    assert sorted(r.action.idempotency_key for r in report.rows) == sorted(a.idempotency_key for a in later)
    assert all(r.new_status == "done" for r in report.rows)
    assert _tasks(sandbox, ticket) == ["Call next week", "Call today", "First call"]
    notes = [n for n in sandbox.get("hubspot", "records/notes") if n["properties"].get("hs_note_body") == "Budget test note"]
    assert len(notes) == 1
    assert {r["status"] for r in rt.ledger.outbox_rows(["assist:budget"])} == {"done"}
    [budget] = rt.ledger.budgets()
    assert budget.resets_at == MIDNIGHT + timedelta(days=1) and budget.used < DAILY // 2
