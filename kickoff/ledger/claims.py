"""Taking rows for one worker so that no other worker gets them: the one claim used everywhere.

PostgreSQL: the candidate rows are selected ``FOR UPDATE SKIP LOCKED``, so concurrent
claimers pass over each other's rows instead of waiting or double-claiming. SQLite: the
transaction began with ``BEGIN IMMEDIATE`` (see ``engine``), so claims run one at a time.
Either way the candidates cannot change before the UPDATE that takes them (by id), and the
count is checked.

A queue's claimable rows are of two kinds: pending ones (that are due) and claimed ones whose
lease ran out. Each kind is read on its own, in the order of an index that ends with the
claim's order, and only ``limit`` rows of it: read as one ``OR``, the database had to collect
and sort every claimable row first, so a claim of 500 out of a backlog of 100,000 due timers
sorted all 100,000 (0.1 ms per timer on PostgreSQL, growing with the backlog).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Table, and_, or_, select, update

from kickoff.ledger.database import is_postgres
from kickoff.ledger.errors import LedgerError

FOLLOW_THE_INDEX = "SET LOCAL enable_sort = off"
"""PostgreSQL plans a claim from its statistics, and right after a burst of rows (an outage's
deliveries, timers bulk-imported) they still say the queue is nearly empty: it then reads the
whole backlog and sorts it (``EXPLAIN``: 100,000 rows sorted on disk for a claim of 500). With
sorting its last resort, for the rest of the claim's own transaction only, it follows the
index in the claim's order and stops at the limit, whatever the backlog."""


@dataclass(frozen=True)
class Claimed:
    """The rows a claim took, in order, and which of them were taken over from an expired lease."""

    rows: list[Row[Any]]
    reclaimed: frozenset[int]


def claim_rows(
    conn: Connection,
    table: Table,
    *,
    pending: ColumnElement[bool],
    expired: ColumnElement[bool],
    order_by: Sequence[Any],
    limit: int,
    values: Mapping[str, Any],
) -> Claimed:
    """Set ``values`` on up to ``limit`` rows that are ``pending`` or ``expired``, the first
    in ``order_by`` (which ends with the id); return them in that order.

    Up to ``limit`` rows of each kind are read (and locked, on PostgreSQL) and the first
    ``limit`` of both taken; the others stay as they were and are free again at the commit.
    The UPDATE takes the chosen rows by id alone: repeating their condition there let
    PostgreSQL pick the status index over the ids when its statistics were stale, and
    read the whole backlog again."""
    if limit <= 0:
        return Claimed([], frozenset())
    if is_postgres(conn):
        conn.exec_driver_sql(FOLLOW_THE_INDEX)
    taken_over = _candidates(conn, expired, order_by, limit)
    queued = _candidates(conn, pending, order_by, limit)
    chosen = sorted(taken_over + queued, key=tuple)[:limit]
    if not chosen:
        return Claimed([], frozenset())
    ids = [row[-1] for row in chosen]
    rows = conn.execute(update(table).where(table.c.id.in_(ids)).values(**values).returning(*table.c)).all()
    if len(rows) != len(ids):
        raise LedgerError(
            f"claim on {table.name} lost {len(ids) - len(rows)} of {len(ids)} rows to another "
            "worker: the database is not serialising claims"
        )
    position = {row_id: i for i, row_id in enumerate(ids)}
    return Claimed(sorted(rows, key=lambda row: position[row.id]), frozenset(row[-1] for row in taken_over) & set(ids))


def _candidates(conn: Connection, condition: ColumnElement[bool], order_by: Sequence[Any],
                limit: int) -> list[Row[Any]]:
    """The ``order_by`` values (the id last) of the first ``limit`` rows meeting ``condition``,
    locked on PostgreSQL."""
    query = select(*order_by).where(condition).order_by(*order_by).limit(limit)
    if is_postgres(conn):
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query).all())


def lease_expired(table: Table, now: datetime) -> ColumnElement[bool]:
    """A claimed row whose worker's lease has run out (it died or hung): claimable again."""
    return and_(table.c.status == "claimed", table.c.lease_until <= now)


def waiting(table: Table, due: ColumnElement[bool] | None = None) -> ColumnElement[bool]:
    """A row waiting for its first (or next) worker, and ``due`` when the queue has a due time."""
    is_pending = table.c.status == "pending"
    return is_pending if due is None else and_(is_pending, due)


def claimable(table: Table, due: ColumnElement[bool], now: datetime) -> ColumnElement[bool]:
    """Either kind in one condition, for counting and look-ups (``kickoff.ledger.status``); a
    claim reads the two apart (``claim_rows``)."""
    return or_(waiting(table, due), lease_expired(table, now))


def claimed(worker: str, until: datetime, **more: Any) -> dict[str, Any]:
    """The values every claim sets (held by ``worker`` until ``until``), and ``more``."""
    return {"status": "claimed", "claimed_by": worker, "lease_until": until, **more}
