"""Committing decisions: state, actions, timers, the finished inbox row or timer, and audit.

``commit_decision`` writes one decision; ``commit_delivery`` writes every decision one
delivery led to (a delivery may map to several events), their source-record links and the
inbox row's done/ignored. Either runs on the one connection/transaction it is given, so it
is all or nothing: a version conflict, a lost claim or any failure part-way leaves the
ledger as it was. The state is written first, so a concurrent decision on the same
onboarding fails fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from kickoff.ledger import audit, crosswalk, inbox, outbox, state, timers
from kickoff.ledger.records import CommitResult, Decided, DueTimer
from kickoff.model import Decision, Onboarding


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
        timer_key = timers.mark_fired(conn, timer, now)
    timers.cancel(conn, onboarding_id, decision.cancel_timers, now)
    timers.set_timers(conn, decision.set_timers, now)

    if inbox_id is not None:
        inbox.finish(conn, inbox_id, "done", now, about=onboarding_id)

    audit.write(conn, onboarding_id, decision.audit, now, event_id=event_id, timer_key=timer_key)
    return CommitResult(version=version, outbox_ids=added, skipped_keys=skipped)


def commit_delivery(
    conn: Connection,
    inbox_id: int,
    decided: Sequence[Decided],
    now: datetime,
    *,
    ignored_because: str,
    about: str | None = None,
) -> list[CommitResult]:
    """Every decision of one claimed inbox row, in order, then the row: done if anything was
    decided, else ignored with ``ignored_because``. A later decision on the same onboarding
    must be based on the state an earlier one leaves (``state_after``): versions are checked
    as for separate commits, so a stale one raises ``StateConflict`` and nothing is kept.
    The row is linked to the onboarding last decided on, else to ``about`` (whose events
    changed nothing), so that onboarding's story lists it."""
    results = []
    for one in decided:
        results.append(commit_decision(conn, one.decision, now, event_id=one.event_id))
        if one.source is not None:
            source = one.source
            crosswalk.link_if_unlinked(
                conn, source.canonical_id, source.tool, source.external_id, source.object_kind, now
            )
    if decided:
        inbox.finish(conn, inbox_id, "done", now, about=decided[-1].decision.state.id)
    else:
        inbox.finish(conn, inbox_id, "ignored", now, ignored_because, about=about)
    return results


def state_after(decision: Decision) -> Onboarding:
    """The onboarding as the ledger holds it once ``decision`` is committed (the next version):
    what the next event of the same delivery is decided on."""
    return decision.state.model_copy(update={"version": decision.state.version + 1}, deep=True)
