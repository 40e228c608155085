"""Committing one decision: state, actions, timers, the finished inbox row or timer, and audit.

All of it runs on the one connection/transaction it is given, so it is all or nothing:
a version conflict, a lost claim or any failure part-way leaves the ledger as it was.
The state is written first, so a concurrent decision on the same onboarding fails fast.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from kickoff.ledger import audit, inbox, outbox, state, timers
from kickoff.ledger.records import CommitResult, DueTimer
from kickoff.model import Decision


def commit_decision(
    conn: Connection,
    decision: Decision,
    now: datetime,
    *,
    inbox_id: int | None = None,
    timer: DueTimer | int | None = None,
    event_id: str | None = None,
) -> CommitResult:
    onboarding_id = decision.state.id
    version = state.save(conn, decision.state, now)

    added: list[int] = []
    skipped: list[str] = []
    for action, outbox_id in zip(
        decision.actions, outbox.enqueue_many(conn, decision.actions, now), strict=True
    ):
        if outbox_id is None:
            skipped.append(action.idempotency_key)
        else:
            added.append(outbox_id)

    timer_key = None
    if timer is not None:
        timer_id = timer.id if isinstance(timer, DueTimer) else timer
        timer_key = timers.mark_fired(conn, timer_id, now)
    timers.cancel(conn, onboarding_id, decision.cancel_timers, now)
    timers.set_timers(conn, decision.set_timers, now)

    if inbox_id is not None:
        inbox.finish(conn, inbox_id, "done", now)

    audit.write(conn, onboarding_id, decision.audit, now, event_id=event_id, timer_key=timer_key)
    return CommitResult(version=version, outbox_ids=added, skipped_keys=skipped)
