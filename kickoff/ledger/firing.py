"""Committing a tick's claim of due timers together: every firing's decision in one
transaction, written with a few bulk statements rather than about nine per timer.

What is written is what ``commit_decision(timer=...)`` writes for each firing (timer fired
by its claim only, timers cancelled then set, state version-checked, actions by idempotency
key, audit lines); a firing that decided nothing only marks its timer fired; one that failed
marks it failed and says why in the audit. Two firings of one onboarding in a claim are
written in rounds (every onboarding's first firing, then the second ones...), so the second
is checked against the version the first leaves, as if committed one after the other.
Any lost claim or stale state raises and the whole transaction rolls back; the ledger then
commits the firings one by one so only the failing one is left out (``Ledger.commit_firings``).
The rows are made and converted first (``plan``), then written in the transaction (``write``):
SQLite's write lock, which a tick's helper process waits for, is held for the statements alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, Dialect

from kickoff.ledger import audit as audit_log
from kickoff.ledger import state, timers
from kickoff.ledger.bulk import Prepared, append_many, execute_many, prepare
from kickoff.ledger.records import Firing
from kickoff.ledger.schema import audit, fits
from kickoff.ledger.schema import outbox as outbox_table
from kickoff.ledger.schema import timers as timers_table
from kickoff.model import Onboarding


def plan(firings: Sequence[Firing], now: datetime, dialect: Dialect) -> list[Round]:
    """What ``write`` writes for ``firings``, round by round, its values converted before the
    transaction (so a commit holds SQLite's write lock for its statements alone)."""
    return [_plan_round(batch, now, dialect) for batch in _rounds(firings)]


def write(conn: Connection, rounds: Sequence[Round], now: datetime) -> None:
    """Every round of ``plan`` written on ``conn`` (one transaction), in order."""
    for one in rounds:
        _write_round(conn, one, now)


def commit_firings(conn: Connection, firings: Sequence[Firing], now: datetime) -> None:
    """Write every firing on ``conn`` (one transaction), round by round."""
    write(conn, plan(firings, now, conn.dialect), now)


def _rounds(firings: Sequence[Firing]) -> list[list[Firing]]:
    """Firings split so that no onboarding appears twice in a round, order kept per onboarding."""
    rounds: list[list[Firing]] = []
    seen: dict[str, int] = {}
    for firing in firings:
        n = seen.get(firing.timer.onboarding_id, 0)
        seen[firing.timer.onboarding_id] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(firing)
    return rounds


@dataclass(frozen=True)
class Round:
    """One round's rows, converted for the backend (``plan``)."""

    fired: Prepared
    failed: Prepared
    failure_lines: Prepared
    cancels: list[tuple[str, str]]
    new_timers: Prepared
    started: list[Onboarding]  # states of onboardings a timer started (saved one by one)
    saved: list[Onboarding]
    saves: Prepared
    actions: Prepared
    audit_rows: Prepared


def _plan_round(batch: Sequence[Firing], now: datetime, dialect: Dialect) -> Round:
    failed = [f for f in batch if f.failure is not None]
    decided = [f for f in batch if f.decision is not None and f.failure is None]
    cancels: list[tuple[str, str]] = []
    new_timers: list[tuple[Any, ...]] = []
    actions: list[tuple[Any, ...]] = []
    audit_rows: list[tuple[Any, ...]] = []
    for firing in decided:
        decision = firing.decision
        assert decision is not None
        oid = decision.state.id
        cancels.extend((oid, key) for key in decision.cancel_timers)
        new_timers.extend((t.onboarding_id, t.key, t.fire_at, t.rule, to_jsonable_python(t.data), now)
                          for t in decision.set_timers)
        actions.extend((a.idempotency_key, a.tool, a.kind.value, a.rule, a.onboarding_id,
                        to_jsonable_python(a.payload), a.due_at, a.due_at, a.caused_by_event, a.caused_by_timer,
                        now, now) for a in decision.actions)
        if decision.audit:
            audit_rows.append(audit_log.row(now, oid, firing.event_id, firing.timer.key, decision.audit))
    latest = {(row[0], row[1]): row for row in new_timers}  # one row per timer: the last set wins
    states = [f.decision.state for f in decided if f.decision is not None]
    saved = [s for s in states if s.version != 0]
    return Round(
        fired=timers.prepare_marks(dialect, [f.timer for f in batch if f.failure is None], now),
        failed=timers.prepare_marks(dialect, [f.timer for f in failed], now, [f.failure or "" for f in failed]),
        failure_lines=prepare(dialect, audit, audit_log.COLUMNS, [_failure_line(f, now) for f in failed]),
        cancels=cancels,
        new_timers=prepare(dialect, timers_table, _SET_TIMER_COLUMNS, list(latest.values())),
        started=[s for s in states if s.version == 0],
        saved=saved,
        saves=state.prepare_saves(dialect, saved, now),
        actions=prepare(dialect, outbox_table, _ENQUEUE_COLUMNS, actions),
        audit_rows=prepare(dialect, audit, audit_log.COLUMNS, audit_rows),
    )


def _write_round(conn: Connection, planned: Round, now: datetime) -> None:
    timers.mark_all(conn, planned.fired, "fired")
    timers.mark_all(conn, planned.failed, "failed")
    append_many(conn, planned.failure_lines)
    timers.cancel_many(conn, planned.cancels, now)
    execute_many(conn, _SET_TIMER, planned.new_timers)
    for one in planned.started:  # a timer that started an onboarding
        state.save(conn, one, now)
    if planned.saved:
        state.save_many(conn, planned.saves, planned.saved)
    execute_many(conn, _ENQUEUE, planned.actions)
    append_many(conn, planned.audit_rows)


def _failure_line(firing: Firing, now: datetime) -> tuple[Any, ...]:
    """The audit line of a timer kept as failed: its rule, why, and how it fires again. Its
    event's id only if the column holds it (the id's length may be why the firing failed)."""
    timer = firing.timer.timer
    line = (f"{timer.rule}: timer {timer.key} failed: {firing.failure}; kept as failed "
            "(kickoff ledger retry-timers fires it again)")
    event_id = firing.event_id if fits(audit.c.event_id, firing.event_id) else None
    return audit_log.row(now, timer.onboarding_id, event_id, timer.key, [line])


# The statements of timers.set_timers and outbox.enqueue as plain SQL.
_SET_TIMER_COLUMNS = ("onboarding_id", "key", "fire_at", "rule", "data", "updated_at")
_SET_TIMER = (
    'INSERT INTO timers (onboarding_id, "key", fire_at, rule, data, updated_at, status, claimed_by, lease_until) '
    "VALUES (?, ?, ?, ?, ?, ?, 'pending', NULL, NULL) "
    'ON CONFLICT (onboarding_id, "key") DO UPDATE SET fire_at = excluded.fire_at, rule = excluded.rule, '
    "data = excluded.data, status = 'pending', claimed_by = NULL, lease_until = NULL, error = NULL, "
    "updated_at = excluded.updated_at"
)
_ENQUEUE_COLUMNS = ("idempotency_key", "tool", "kind", "rule", "onboarding_id", "payload", "due_at", "next_try_at",
                    "caused_by_event", "caused_by_timer", "created_at", "updated_at")
_ENQUEUE = (
    f"INSERT INTO outbox ({', '.join(_ENQUEUE_COLUMNS)}, status, attempts) "
    f"VALUES ({', '.join('?' for _ in _ENQUEUE_COLUMNS)}, 'pending', 0) ON CONFLICT (idempotency_key) DO NOTHING"
)
