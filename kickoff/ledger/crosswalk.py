"""The crosswalk: one canonical id, and the id each tool gave the same thing.

Unique both ways per tool and object kind: a canonical id has one record per (tool, kind),
and a tool's record belongs to one canonical id. Linking the same pair again is a no-op;
linking either side to something else is a CrosswalkConflict (checked before writing, so
the surrounding transaction stays usable).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ColumnElement, Connection, select

from kickoff.ledger.database import insert_for
from kickoff.ledger.errors import CrosswalkConflict
from kickoff.ledger.schema import crosswalk

cw = crosswalk.c


def link(
    conn: Connection, canonical_id: str, tool: str, external_id: str, object_kind: str, at: datetime
) -> bool:
    """Record that ``tool``'s ``object_kind`` ``external_id`` is ``canonical_id``; True if new."""
    inserted = conn.execute(
        insert_for(conn, crosswalk)
        .values(
            canonical_id=canonical_id,
            tool=tool,
            object_kind=object_kind,
            external_id=external_id,
            linked_at=at,
        )
        .on_conflict_do_nothing()
        .returning(cw.id)
    ).scalar_one_or_none()
    if inserted is not None:
        return True
    mine = external_for(conn, canonical_id, tool, object_kind)
    theirs = canonical_for(conn, tool, external_id, object_kind)
    if mine == external_id and theirs == canonical_id:
        return False
    raise CrosswalkConflict(
        f"cannot link {canonical_id!r} to {tool} {object_kind} {external_id!r}: "
        f"{canonical_id!r} is linked to {mine!r}, {external_id!r} belongs to {theirs!r}"
    )


def link_if_unlinked(
    conn: Connection, canonical_id: str, tool: str, external_id: str, object_kind: str, at: datetime
) -> bool:
    """``link`` unless the canonical id already has a ``tool`` record or the record already
    belongs to someone; True if linked. A conflict links nothing and is not an error."""
    try:
        if external_for(conn, canonical_id, tool) is not None:
            return False
        if canonical_for(conn, tool, external_id) is not None:
            return False
        return link(conn, canonical_id, tool, external_id, object_kind, at)
    except CrosswalkConflict:
        return False


def canonical_for(
    conn: Connection, tool: str, external_id: str, object_kind: str | None = None
) -> str | None:
    """The canonical id of a tool's record; ambiguous without ``object_kind`` is an error."""
    return _lookup(
        conn, tool, object_kind, cw.external_id == external_id, cw.canonical_id,
        f"{tool} id {external_id!r} is linked as several kinds",
    )


def external_for(
    conn: Connection, canonical_id: str, tool: str, object_kind: str | None = None
) -> str | None:
    """The tool's id for a canonical id (of ``object_kind``, or of any kind if it is unique)."""
    return _lookup(
        conn, tool, object_kind, cw.canonical_id == canonical_id, cw.external_id,
        f"{canonical_id!r} has several {tool} records",
    )


def _lookup(
    conn: Connection,
    tool: str,
    object_kind: str | None,
    known: ColumnElement[bool],
    wanted: Column[str],
    ambiguous: str,
) -> str | None:
    """One side of a link given the other (``known``): at most one row, or CrosswalkConflict
    saying ``ambiguous`` when several kinds match and no ``object_kind`` narrows them."""
    query = select(wanted, cw.object_kind).where(known, cw.tool == tool)
    if object_kind is not None:
        query = query.where(cw.object_kind == object_kind)
    rows = conn.execute(query.limit(2)).all()
    if len(rows) > 1:
        kinds = ", ".join(sorted(row.object_kind for row in rows))
        raise CrosswalkConflict(f"{ambiguous} ({kinds}): name the object kind")
    return rows[0][0] if rows else None
