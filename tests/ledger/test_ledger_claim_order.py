"""A claim reads its queue in index order and stops at its size (``kickoff.ledger.claims``).

A backlog of timers due at one moment (a tick's 08:00) used to be read and sorted whole for
every claim of 500: the tick grew slower as the backlog grew. The plans are asked of the
database itself (``EXPLAIN``) for the statements a claim really runs, and the claims'
order and take-overs are checked on rows built to tell the two kinds apart.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from ledger_builders import T0, action, decision, state
from sqlalchemy import Table, event, insert

from kickoff.ledger import Ledger
from kickoff.ledger.schema import inbox, outbox, timers

LEASE = 60


BACKLOG = 20_000
"""Rows in a queue whose claim is planned: enough that PostgreSQL, its statistics not yet
gathered, plans a sort of all of them unless told to follow the index."""


def _add_timers(ledger: Ledger, count: int, fire_at: Any = T0, status: str = "pending", key: str = "t",
                **extra: Any) -> None:
    _add(ledger, timers, [{"onboarding_id": f"ob-{status}-{i}", "key": key, "fire_at": fire_at, "rule": "A2",
                           "data": {}, "status": status, "updated_at": T0, **extra} for i in range(count)])


def _add_actions(ledger: Ledger, count: int) -> None:
    _add(ledger, outbox, [{"idempotency_key": f"key-{i:08d}", "tool": "hubspot", "kind": "set_stage", "rule": "A2",
                           "onboarding_id": f"ob-{i}", "payload": {"stage": "welcome"}, "due_at": T0,
                           "status": "pending", "attempts": 0, "next_try_at": T0, "created_at": T0,
                           "updated_at": T0} for i in range(count)])


def _add_deliveries(ledger: Ledger, count: int) -> None:
    _add(ledger, inbox, [{"tool": "hubspot", "dedup_key": f"evt-{i}", "kind": "webhook", "echo": False,
                          "payload": {"objectId": i}, "received_at": T0, "status": "pending", "attempts": 0}
                         for i in range(count)])


def _add(ledger: Ledger, table: Table, rows: list[dict[str, Any]]) -> None:
    """Rows straight into a queue's table, as a burst would leave them (not analysed)."""
    with ledger.transaction() as conn:
        conn.execute(insert(table), rows)


def _selects_of(ledger: Ledger, claim: Any) -> list[tuple[str, Any, list[str]]]:
    """The SELECT statements ``claim()`` runs on the ledger: each with its parameters and the
    ``SET LOCAL`` settings the claim made before it in its transaction."""
    seen: list[tuple[str, Any, list[str]]] = []
    settings: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if statement.lstrip().upper().startswith("SET LOCAL"):
            settings.append(statement)
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters, list(settings)))

    event.listen(ledger.database, "before_cursor_execute", keep)
    try:
        claim()
    finally:
        event.remove(ledger.database, "before_cursor_execute", keep)
    return seen


def _plan(ledger: Ledger, statement: str, parameters: Any, settings: list[str]) -> str:
    """The database's plan for ``statement``, as text, under the claim's own ``settings``.
    The tables are fresh and never analysed: PostgreSQL believes them nearly empty, as it
    does a queue right after a burst of rows."""
    with ledger.transaction() as conn:
        cursor = conn.connection.driver_connection.cursor()
        if conn.dialect.name == "postgresql":
            for setting in settings:
                cursor.execute(setting)
            cursor.execute(f"EXPLAIN {statement}", parameters)
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _assert_read_in_index_order(ledger: Ledger, claim: Any, table: str, index: str) -> None:
    """``claim()`` reads ``table`` twice (the expired leases, then the pending rows), each
    time along ``index`` and without sorting what it reads."""
    selects = [(s, p, settings) for s, p, settings in _selects_of(ledger, claim) if f"FROM {table}" in s]
    assert len(selects) == 2
    for statement, parameters, settings in selects:
        plan = _plan(ledger, statement, parameters, settings)
        assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
        assert index in plan, plan


def test_a_claim_of_due_timers_takes_them_in_index_order_without_sorting_the_backlog(ledger: Ledger) -> None:
    _add_timers(ledger, BACKLOG)  # all due at the same moment: only the id orders them
    _assert_read_in_index_order(ledger, lambda: ledger.claim_due_timers(now=T0, limit=10, worker="tick"),
                                "timers", "ix_timers_status_fire_at_id")


def test_a_claim_of_a_tools_actions_takes_them_in_index_order_without_sorting_the_backlog(ledger: Ledger) -> None:
    _add_actions(ledger, BACKLOG)
    _assert_read_in_index_order(ledger, lambda: ledger.claim_outbox("hubspot", "push", 5, now=T0, lease_seconds=LEASE),
                                "outbox", "ix_outbox_tool_status_next_try_at_id")


def test_a_claim_of_deliveries_takes_them_in_index_order_without_sorting_the_backlog(ledger: Ledger) -> None:
    _add_deliveries(ledger, BACKLOG)
    _assert_read_in_index_order(ledger, lambda: ledger.claim_inbox("process", limit=10, now=T0),
                                "inbox", "ix_inbox_status_id")


def test_a_claim_takes_due_and_taken_over_timers_earliest_first_ties_by_id(ledger: Ledger) -> None:
    _add_timers(ledger, 3, fire_at=T0 - timedelta(minutes=5))
    _add_timers(ledger, 2, fire_at=T0 - timedelta(minutes=10), status="claimed",
                claimed_by="dead-worker", lease_until=T0 - timedelta(seconds=1))
    _add_timers(ledger, 2, fire_at=T0 + timedelta(minutes=1), key="later")  # not due yet
    first = ledger.claim_due_timers(now=T0, limit=4, worker="tick")
    assert [(t.onboarding_id, t.timer.fire_at) for t in first] == [
        ("ob-claimed-0", T0 - timedelta(minutes=10)), ("ob-claimed-1", T0 - timedelta(minutes=10)),
        ("ob-pending-0", T0 - timedelta(minutes=5)), ("ob-pending-1", T0 - timedelta(minutes=5))]
    rest = ledger.claim_due_timers(now=T0, limit=4, worker="tick")
    assert [t.onboarding_id for t in rest] == ["ob-pending-2"]  # the later two are not due
    assert ledger.claim_due_timers(now=T0, limit=4, worker="tick") == []


@pytest.mark.parametrize("limit", [1, 3])
def test_a_claim_of_actions_marks_only_the_taken_over_ones_as_reclaimed(ledger: Ledger, limit: int) -> None:
    ledger.commit_decision(decision(state(), actions=[action(n) for n in range(3)]), now=T0)
    [stale] = ledger.claim_outbox("hubspot", "push", 1, now=T0, lease_seconds=LEASE)
    later = T0 + timedelta(seconds=LEASE + 1)
    taken = ledger.claim_outbox("hubspot", "push", limit, now=later, lease_seconds=LEASE)
    assert [(item.id, item.reclaimed) for item in taken] == [
        (stale.id, True), *[(item.id, False) for item in taken[1:]]][:limit]
    assert len(taken) == limit
