"""Taking rows for one worker so that no other worker gets them: the one claim used everywhere.

PostgreSQL: the candidate rows are selected ``FOR UPDATE SKIP LOCKED``, so concurrent
claimers pass over each other's rows instead of waiting or double-claiming. SQLite: the
transaction began with ``BEGIN IMMEDIATE`` (see ``engine``), so claims run one at a time.
On both, the UPDATE repeats the claimable condition and the count is checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, or_, select, update

from kickoff.ledger.database import is_postgres
from kickoff.ledger.errors import LedgerError


def claim_rows(
    conn: Connection,
    table: Table,
    claimable: ColumnElement[bool],
    order_by: Sequence[Any],
    limit: int,
    values: Mapping[str, Any],
) -> list[Row[Any]]:
    """Set ``values`` on up to ``limit`` rows matching ``claimable``; return them in order."""
    if limit <= 0:
        return []
    candidates = select(table.c.id).where(claimable).order_by(*order_by).limit(limit)
    if is_postgres(conn):
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list(conn.scalars(candidates))
    if not ids:
        return []
    rows = conn.execute(
        update(table).where(table.c.id.in_(ids), claimable).values(**values).returning(*table.c)
    ).all()
    if len(rows) != len(ids):
        raise LedgerError(
            f"claim on {table.name} lost {len(ids) - len(rows)} of {len(ids)} rows to another "
            "worker: the database is not serialising claims"
        )
    position = {row_id: i for i, row_id in enumerate(ids)}
    return sorted(rows, key=lambda row: position[row.id])


def lease_expired(table: Table, now: datetime) -> ColumnElement[bool]:
    """A claimed row whose worker's lease has run out (it died or hung): claimable again."""
    return and_(table.c.status == "claimed", table.c.lease_until <= now)


def due_or_expired(table: Table, due: ColumnElement[bool], now: datetime) -> ColumnElement[bool]:
    """What a queue hands out: its pending rows that are ``due``, and rows whose lease ran out."""
    return or_(and_(table.c.status == "pending", due), lease_expired(table, now))


def claimed(worker: str, until: datetime, **more: Any) -> dict[str, Any]:
    """The values every claim sets (held by ``worker`` until ``until``), and ``more``."""
    return {"status": "claimed", "claimed_by": worker, "lease_until": until, **more}
