"""The outbox: every action decided, once per idempotency key, until a tool has done it.

Rows are claimed per tool (a push worker drains one vendor under that vendor's limits),
only when due (``next_try_at <= now``), and not at all while the tool is paused. A row
whose worker died is claimable again once its lease has run out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, and_, bindparam, func, select, text, update

from kickoff.ledger import pauses
from kickoff.ledger.claims import claim_rows, claimed, lease_expired, waiting
from kickoff.ledger.records import DeadLetter, OutboxItem
from kickoff.ledger.schema import outbox
from kickoff.ledger.types import JSONType, UTCDateTime
from kickoff.model import Action

ob = outbox.c


def _row(action: Action, now: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": action.idempotency_key,
        "tool": action.tool,
        "kind": action.kind.value,
        "rule": action.rule,
        "onboarding_id": action.onboarding_id,
        "payload": to_jsonable_python(action.payload),  # as model_dump(mode="json") has it, for one field
        "due_at": action.due_at,
        "caused_by_event": action.caused_by_event,
        "caused_by_timer": action.caused_by_timer,
        "now": now,
    }


# Written out rather than built with the dialects' ``insert().on_conflict_do_nothing()``, which
# SQLAlchemy compiles anew on every execution (those constructs have no cache key): the compile
# was most of the cost of committing a decision. The same text runs on SQLite and PostgreSQL.
_INSERT = text(
    "INSERT INTO outbox (idempotency_key, tool, kind, rule, onboarding_id, payload, due_at, status, attempts, "
    "next_try_at, caused_by_event, caused_by_timer, created_at, updated_at) "
    "VALUES (:idempotency_key, :tool, :kind, :rule, :onboarding_id, :payload, :due_at, 'pending', 0, "
    ":due_at, :caused_by_event, :caused_by_timer, :now, :now) "
    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
).bindparams(
    bindparam("payload", type_=JSONType),
    bindparam("due_at", type_=UTCDateTime()),
    bindparam("now", type_=UTCDateTime()),
)


def enqueue(conn: Connection, action: Action, now: datetime) -> int | None:
    """Add ``action``; None if its idempotency key is already in the outbox (skipped)."""
    return conn.execute(_INSERT, _row(action, now)).scalar_one_or_none()


def enqueue_many(conn: Connection, actions: Sequence[Action], now: datetime) -> list[int | None]:
    """``enqueue`` each action, in order."""
    return [enqueue(conn, action, now) for action in actions]


def claim(
    conn: Connection, tool: str, worker: str, limit: int, now: datetime, lease: timedelta
) -> list[OutboxItem]:
    """Claim up to ``limit`` due rows of ``tool``, oldest due first; none while it is paused."""
    if pauses.is_paused(conn, tool):
        return []
    claim = claimed(worker, now + lease, updated_at=now)
    taken = claim_rows(conn, outbox, pending=and_(ob.tool == tool, waiting(outbox, ob.next_try_at <= now)),
                       expired=and_(ob.tool == tool, lease_expired(outbox, now)),
                       order_by=[ob.next_try_at, ob.id], limit=limit, values=claim)
    return [_item(row, reclaimed=row.id in taken.reclaimed) for row in taken.rows]


def action_of(row: Any) -> Action:
    """Rebuild the Action a row was made from (its fields are the row's columns)."""
    return Action.model_validate(row, from_attributes=True)


def _item(row: Any, reclaimed: bool = False) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        action=action_of(row),
        attempts=row.attempts,
        lease_until=row.lease_until,
        claimed_by=row.claimed_by,
        reclaimed=reclaimed,
    )


def get(conn: Connection, outbox_id: int) -> dict[str, Any] | None:
    """One row as a dict, for inspection and tests."""
    row = conn.execute(select(outbox).where(ob.id == outbox_id)).mappings().first()
    return dict(row) if row else None


def earliest_retry(conn: Connection, ids: Iterable[int]) -> datetime | None:
    """When the first of these rows that is still pending may be tried again (None: none is)."""
    wanted = list(ids)
    if not wanted:
        return None
    query = select(func.min(ob.next_try_at)).where(ob.id.in_(wanted), ob.status == "pending")
    return conn.execute(query).scalar_one()


def get_by_key(conn: Connection, idempotency_key: str) -> dict[str, Any] | None:
    row = (
        conn.execute(select(outbox).where(ob.idempotency_key == idempotency_key)).mappings().first()
    )
    return dict(row) if row else None


def rows(conn: Connection, onboarding_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Every row (of the onboardings given), as dicts, in the order they fell due."""
    query = select(outbox).order_by(ob.due_at, ob.id)
    if onboarding_ids is not None:
        query = query.where(ob.onboarding_id.in_(list(onboarding_ids)))
    return [dict(row) for row in conn.execute(query).mappings()]


def dead_letters(conn: Connection, tool: str | None = None) -> list[DeadLetter]:
    query = select(outbox).where(ob.status == "dead").order_by(ob.updated_at, ob.id)
    if tool is not None:
        query = query.where(ob.tool == tool)
    return [
        DeadLetter(
            id=r.id,
            idempotency_key=r.idempotency_key,
            tool=r.tool,
            kind=r.kind,
            rule=r.rule,
            onboarding_id=r.onboarding_id,
            attempts=r.attempts,
            last_error=r.last_error,
            updated_at=r.updated_at,
        )
        for r in conn.execute(query)
    ]


def replay_dead(conn: Connection, ids: Iterable[int], now: datetime) -> list[int]:
    """Give dead rows a fresh start (attempts 0, due now); returns the ids that were dead.

    The rows that died waiting for one of them (``blocked_by``) are replayed with it, and
    theirs with them. The last error stays on the row until the next result, so it is still
    visible.
    """
    fresh = {"status": "pending", "attempts": 0, "next_try_at": now, "claimed_by": None,
             "lease_until": None, "updated_at": now}
    replayed: list[int] = []
    where = ob.id.in_(list(ids))
    while True:
        rows = conn.execute(
            update(outbox).where(where, ob.status == "dead").values(**fresh)
            .returning(ob.id, ob.idempotency_key)
        ).all()
        if not rows:
            return sorted(replayed)
        replayed += [r.id for r in rows]
        where = ob.blocked_by.in_([r.idempotency_key for r in rows])


def defer(conn: Connection, ids: Iterable[int], worker: str, until: datetime, now: datetime) -> int:
    """Release rows ``worker`` holds to wait until ``until``: pending again, attempts unchanged
    (waiting for a daily allowance is not a failure). Rows another worker took are left alone."""
    wanted = list(ids)
    if not wanted:
        return 0
    return conn.execute(
        update(outbox)
        .where(ob.id.in_(wanted), ob.status == "claimed", ob.claimed_by == worker)
        .values(status="pending", next_try_at=until, claimed_by=None, lease_until=None, updated_at=now)
    ).rowcount
