"""What a connector's answer does to an outbox row.

- done: the external id is kept; a creation is linked in the crosswalk (canonical id =
  the action's idempotency key, which later actions name as ``target``/``task_key``);
  the write is journalled so its webhook echo can be recognised.
- retryable: one more attempt; next try after the backoff (never before Retry-After);
  dead letter once ``max_attempts`` is reached.
- permanent: dead letter at once, reason kept.
- not ready (retryable, ``waits_for`` naming the action creating the record it writes to):
  the parent is kept as ``blocked_by``; when that creation is dead the row is dead at once,
  "blocked: <parent> is dead", rather than coming back until its attempts run out (replaying
  the parent replays it: ``kickoff.ledger.outbox.replay_dead``).
- auth: not the action's fault: back to pending, no attempt burned, and the tool paused.

Only the row's current claim may record (``claim``: the ``OutboxItem`` a push was handed):
a worker whose lease ran out, or whose row another worker took over, gets "stale" and
nothing changes. Refusing loses nothing: a row left claimed is taken over once its lease
runs out, and a row taken over is pushed with ``apply_again``, which looks the idempotency
key up in the tool before writing, so a write the stale worker did make is found, not doubled.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from kickoff.ledger import crosswalk, journal, pauses, state
from kickoff.ledger.errors import CrosswalkConflict, NotFound
from kickoff.ledger.outbox import ob, outbox
from kickoff.ledger.records import OutboxItem
from kickoff.ledger.schema import crosswalk as crosswalk_table
from kickoff.model import ActionKind, ActionResult, ResultStatus
from kickoff.retry import Backoff

log = logging.getLogger("kickoff.ledger.results")
STALE = "stale"


def created_object_kind(kind: str, payload: dict[str, Any]) -> str | None:
    """The crosswalk object kind an action creates, or None if it creates nothing."""
    if kind == ActionKind.CREATE_RECORD:
        return str(payload.get("object") or "record")
    if kind == ActionKind.CREATE_TASK:
        return "task"
    return None


def record(
    conn: Connection,
    outbox_id: int,
    result: ActionResult,
    now: datetime,
    *,
    claim: OutboxItem | None,
    max_attempts: int,
    backoff: Backoff,
) -> str:
    """Apply ``result`` to the row and return the row's new status, or "stale" (nothing
    changed) when ``claim`` is given and no longer holds the row with a live lease."""
    # locked (PostgreSQL) so that no claim can take the row between this check and the update;
    # SQLite's write transactions are serialised already
    row = conn.execute(select(outbox).where(ob.id == outbox_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no outbox row {outbox_id}")
    if result.idempotency_key != row.idempotency_key:
        raise ValueError(
            f"result for {result.idempotency_key!r} recorded on outbox row {outbox_id} "
            f"({row.idempotency_key!r})"
        )
    if claim is not None and not _held_by(row, claim, now):
        log.warning(
            "outbox row %s: %s answer of %s refused: its claim (lease until %s) no longer holds "
            "the row (%s, claimed by %s until %s)",
            outbox_id, result.status.value, claim.claimed_by, claim.lease_until.isoformat(),
            row.status, row.claimed_by, row.lease_until.isoformat() if row.lease_until else None,
        )
        return STALE
    if row.status == "done":
        return "done"  # a repeated report of a success changes nothing
    if row.status == "dead" and result.status != ResultStatus.DONE:
        return "dead"  # only a late success revives a dead letter

    released: dict[str, Any] = {"claimed_by": None, "lease_until": None, "updated_at": now}
    if result.status == ResultStatus.DONE:
        note = _after_success(conn, row, result, now)
        values = {
            **released,
            "status": "done",
            "external_id": result.external_id,
            "result": result.model_dump(mode="json"),
            "last_error": note,
        }
    elif result.status == ResultStatus.RETRYABLE and _is_dead(conn, result.waits_for):
        values = {
            **released,
            "status": "dead",
            "attempts": row.attempts + 1,
            "last_error": f"blocked: {result.waits_for} is dead",
            "blocked_by": result.waits_for,
        }
    elif result.status == ResultStatus.RETRYABLE:
        attempts = row.attempts + 1
        dead = attempts >= max_attempts
        values = {
            **released,
            "status": "dead" if dead else "pending",
            "attempts": attempts,
            "last_error": result.reason or "retryable failure",
            "next_try_at": row.next_try_at
            if dead
            else now + backoff.delay(attempts, result.retry_after),
            "blocked_by": result.waits_for,
        }
    elif result.status == ResultStatus.PERMANENT:
        values = {
            **released,
            "status": "dead",
            "attempts": row.attempts + 1,
            "last_error": result.reason or "permanent failure",
        }
    else:  # AUTH
        pauses.pause(conn, row.tool, now, result.reason)
        values = {
            **released,
            "status": "pending",
            "last_error": result.reason or "credentials refused",
        }
    conn.execute(update(outbox).where(ob.id == outbox_id).values(**values))
    return str(values["status"])


def _held_by(row: Any, claim: OutboxItem, now: datetime) -> bool:
    """Whether the row is still ``claim``'s: claimed by its worker, under its lease, not run out.

    The lease is part of the claim because workers may share a name: a worker taken over by
    another run under the same name is told apart by the lease it was given."""
    return (
        row.status == "claimed"
        and row.claimed_by == claim.claimed_by
        and row.lease_until == claim.lease_until
        and row.lease_until > now
    )


def _is_dead(conn: Connection, idempotency_key: str | None) -> bool:
    """Whether the action ``idempotency_key`` is a dead letter (its creation will not come)."""
    if not idempotency_key:
        return False
    status = conn.execute(select(ob.status).where(ob.idempotency_key == idempotency_key)).scalar_one_or_none()
    return status == "dead"


def _after_success(conn: Connection, row: Any, result: ActionResult, now: datetime) -> str | None:
    """Crosswalk and journal for a done action; a crosswalk clash is noted, not fatal."""
    note = None
    object_kind = created_object_kind(row.kind, row.payload)
    other = _linked_as(conn, row.tool, result.external_id, object_kind) if object_kind and result.external_id else None
    if other is not None:
        # e.g. a Movidesk task is an action posted on the ticket: its id is the ticket's, already linked
        note = f"done; {row.tool} {result.external_id} is already linked as a {other}, not as a {object_kind}"
    elif object_kind and result.external_id:
        try:
            crosswalk.link(
                conn, row.idempotency_key, row.tool, result.external_id, object_kind, now
            )
        except CrosswalkConflict as exc:
            note = f"done, but not linked: {exc}"
    record_id = result.external_id or _written_record(conn, row)
    if record_id:
        fp = journal.write_fingerprint(row.kind, row.payload)
        journal.record(conn, row.tool, record_id, fp, now, outbox_id=row.id)
    return note


def _linked_as(conn: Connection, tool: str, external_id: str, kind: str) -> str | None:
    """The other object kind ``external_id`` is already linked as in ``tool``, if any."""
    cw = crosswalk_table.c
    return conn.execute(
        select(cw.object_kind).where(cw.tool == tool, cw.external_id == external_id, cw.object_kind != kind).limit(1)
    ).scalar_one_or_none()


def _written_record(conn: Connection, row: Any) -> str | None:
    """The tool's id of the record an action wrote to: its target, else the record of the
    onboarding's running cycle (``Onboarding.cycle_id``), else its refs."""
    target = (row.payload or {}).get("target") or (row.payload or {}).get("task_key")
    onboarding = state.load(conn, row.onboarding_id)
    try:
        if target:
            return crosswalk.external_for(conn, target, row.tool)
        found = crosswalk.external_for(conn, onboarding.cycle_id if onboarding else row.onboarding_id, row.tool)
    except CrosswalkConflict:
        return None
    return found or (onboarding.refs.get(row.tool) if onboarding else None)
