"""The inbox: every delivery as received, once, and its progress through processing.

A delivery is identified by (tool, dedup_key); storing it again is recognised and
harmless, so a vendor's re-delivery or an overlapping poll page never doubles work.
Bad input is marked ignored/failed with its reason and kept for inspection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Boolean, Connection, bindparam, select, text, update

from kickoff.ledger.claims import claim_rows, claimed, lease_expired, waiting
from kickoff.ledger.errors import ClaimLost, NotFound
from kickoff.ledger.records import InboxItem
from kickoff.ledger.schema import fits, inbox
from kickoff.ledger.types import JSONType, UTCDateTime
from kickoff.model import Delivery

FinalStatus = Literal["done", "ignored", "failed"]


# Written out rather than built with the dialects' ``insert().on_conflict_do_nothing()``, which
# SQLAlchemy compiles anew on every execution (no cache key): on the gateway's path that compile
# is CPU spent while the request waits. The same text runs on SQLite and PostgreSQL.
_INSERT = text(
    "INSERT INTO inbox (tool, dedup_key, kind, record_id, echo, payload, received_at, account, status, attempts) "
    "VALUES (:tool, :dedup_key, :kind, :record_id, :echo, :payload, :received_at, :account, 'pending', 0) "
    "ON CONFLICT (tool, dedup_key) DO NOTHING RETURNING id"
).bindparams(
    bindparam("echo", type_=Boolean()),
    bindparam("payload", type_=JSONType),
    bindparam("received_at", type_=UTCDateTime()),
)


def store(conn: Connection, delivery: Delivery) -> tuple[int, bool]:
    """Insert unless (tool, dedup_key) is known; return (inbox id, whether it was new)."""
    data = delivery.model_dump(mode="json")
    inserted = conn.execute(_INSERT, {
        "tool": delivery.tool, "dedup_key": delivery.dedup_key, "kind": delivery.kind,
        "record_id": delivery.record_id, "echo": delivery.echo, "payload": data["payload"],
        "received_at": delivery.received_at, "account": delivery.account,
    }).scalar_one_or_none()
    if inserted is not None:
        return int(inserted), True
    existing = conn.execute(
        select(inbox.c.id).where(
            inbox.c.tool == delivery.tool, inbox.c.dedup_key == delivery.dedup_key
        )
    ).scalar_one()
    return int(existing), False


def claim(
    conn: Connection, worker: str, limit: int, now: datetime, lease: timedelta, max_attempts: int
) -> list[InboxItem]:
    """Claim pending rows and rows whose lease ran out (their worker died).

    A row whose lease has run out ``max_attempts`` times is a poison pill: it is marked
    failed instead of being handed out again.
    """
    expired = lease_expired(inbox, now)
    conn.execute(
        update(inbox)
        .where(expired, inbox.c.attempts >= max_attempts)
        .values(
            status="failed",
            error=f"lease expired {max_attempts} times: processing keeps crashing",
            claimed_by=None,
            lease_until=None,
            finished_at=now,
        )
    )
    claim = claimed(worker, now + lease, attempts=inbox.c.attempts + 1)
    taken = claim_rows(conn, inbox, pending=waiting(inbox), expired=expired, order_by=[inbox.c.id], limit=limit,
                       values=claim)
    return [_item(row) for row in taken.rows]


def _item(row: Any) -> InboxItem:
    delivery = Delivery.model_validate(row, from_attributes=True)  # its fields are the columns
    return InboxItem(
        id=row.id, delivery=delivery, attempts=row.attempts, lease_until=row.lease_until
    )


def finish(
    conn: Connection,
    inbox_id: int,
    status: FinalStatus,
    now: datetime,
    error: str | None = None,
    *,
    require_claim: bool = True,
    about: str | None = None,
) -> None:
    """Mark a row done/ignored/failed, and the onboarding it was ``about`` when known (its
    story lists it; a name too long for any onboarding's id links none, so a row failed for
    that reason is still kept). Finishing a row that is no longer claimed is ClaimLost."""
    allowed = ("claimed",) if require_claim else ("pending", "claimed", "failed")
    linked = {"onboarding_id": about} if about is not None and fits(inbox.c.onboarding_id, about) else {}
    result = conn.execute(
        update(inbox)
        .where(inbox.c.id == inbox_id, inbox.c.status.in_(allowed))
        .values(status=status, error=error, claimed_by=None, lease_until=None, finished_at=now,
                **linked)
    )
    if result.rowcount == 1:
        return
    current = conn.execute(
        select(inbox.c.status).where(inbox.c.id == inbox_id)
    ).scalar_one_or_none()
    if current is None:
        raise NotFound(f"no inbox row {inbox_id}")
    raise ClaimLost(f"inbox row {inbox_id} is {current}, not claimed: another worker finished it")


def retry_failed(conn: Connection, ids: Sequence[int] | None = None) -> list[int]:
    """Failed rows (these, or all) pending again, their attempts and reason cleared, so the
    next process-inbox decides them anew (once the mapping or playbook that failed them is
    fixed); returns the ids."""
    query = update(inbox).where(inbox.c.status == "failed")
    if ids is not None:
        query = query.where(inbox.c.id.in_(list(ids)))
    retried = conn.execute(query.values(status="pending", error=None, attempts=0, finished_at=None)
                           .returning(inbox.c.id)).scalars()
    return sorted(int(i) for i in retried)


def failed(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The failed rows, newest first: id, tool, kind, when received, the onboarding and why."""
    ic = inbox.c
    query = (select(ic.id, ic.tool, ic.kind, ic.received_at, ic.onboarding_id, ic.error)
             .where(ic.status == "failed").order_by(ic.id.desc()).limit(limit))
    return [dict(row) for row in conn.execute(query).mappings()]


def get(conn: Connection, inbox_id: int) -> dict[str, Any] | None:
    """One row as a dict, for inspection and tests."""
    row = conn.execute(select(inbox).where(inbox.c.id == inbox_id)).mappings().first()
    return dict(row) if row else None
