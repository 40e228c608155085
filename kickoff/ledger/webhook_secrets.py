"""Webhook secrets a vendor hands over once, in a handshake (Asana's ``X-Hook-Secret``).

One row per (tool, name), ``name`` being the webhook's path. A handshake is taken only
while the path is armed (``arm``, just before Kickoff asks the vendor to create the
webhook, until a deadline) and only once, so nobody can plant a secret of their own and
then sign deliveries with it. The secret is stored sealed (``kickoff.ledger.sealing``);
these functions only move sealed text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from kickoff.ledger.database import insert_for
from kickoff.ledger.schema import webhook_secrets

ws = webhook_secrets.c


def arm(conn: Connection, tool: str, name: str, until: datetime, now: datetime) -> None:
    """Accept one handshake on (tool, name) until ``until``; a secret kept so far stays."""
    stmt = insert_for(conn, webhook_secrets).values(
        tool=tool, name=name, armed_until=until, updated_at=now
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tool", "name"], set_={"armed_until": until, "updated_at": now}
        )
    )


def accept(conn: Connection, tool: str, name: str, sealed: str, now: datetime) -> bool:
    """Keep ``sealed`` if (tool, name) is armed and ``now`` is not past the deadline, and
    disarm it; one statement, so two handshakes racing cannot both win."""
    taken = conn.execute(
        update(webhook_secrets)
        .where(
            ws.tool == tool,
            ws.name == name,
            ws.armed_until.is_not(None),
            ws.armed_until >= now,
        )
        .values(secret=sealed, armed_until=None, updated_at=now)
    )
    return taken.rowcount == 1


def keep(conn: Connection, tool: str, name: str, sealed: str, now: datetime) -> None:
    """Keep ``sealed`` for (tool, name) now: a secret Kickoff read from the vendor itself
    (a Zendesk webhook's signing secret), not one offered to the gateway."""
    stmt = insert_for(conn, webhook_secrets).values(tool=tool, name=name, secret=sealed, updated_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=["tool", "name"],
                                            set_={"secret": sealed, "armed_until": None, "updated_at": now}))


def sealed_all(conn: Connection, tool: str) -> list[str]:
    """Every sealed secret kept for ``tool``'s webhooks (a tool may have several)."""
    return list(conn.scalars(select(ws.secret).where(ws.tool == tool, ws.secret.is_not(None)).order_by(ws.name)))


def sealed(conn: Connection, tool: str, name: str) -> str | None:
    """The sealed secret kept for (tool, name), if any."""
    return conn.execute(
        select(ws.secret).where(ws.tool == tool, ws.name == name)
    ).scalar_one_or_none()


def forget(conn: Connection, tool: str, name: str, now: datetime) -> None:
    """No secret for (tool, name) any more: its path accepts no signed deliveries."""
    conn.execute(
        update(webhook_secrets)
        .where(ws.tool == tool, ws.name == name)
        .values(secret=None, updated_at=now)
    )
