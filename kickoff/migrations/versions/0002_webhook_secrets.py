"""Webhook secrets get a table of their own, sealed, instead of living among the poll cursors.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

Moves the ``cursors`` rows ``webhook-secret:<name>`` (the secret, in clear) and
``webhook-handshake:<name>`` (until when a handshake is accepted) into ``webhook_secrets``,
sealing each secret under the ledger's key, and deletes them. The downgrade puts them back.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from kickoff.ledger.sealing import Sealer, sealer_for

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SECRET = "webhook-secret:"
ARMED = "webhook-handshake:"


ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def TS() -> sa.DateTime:
    return sa.DateTime(timezone=True)


cursors = sa.table(
    "cursors",
    sa.column("tool", sa.String),
    sa.column("stream", sa.String),
    sa.column("value", sa.Text),
    sa.column("updated_at", TS()),
)
secrets = sa.table(
    "webhook_secrets",
    sa.column("tool", sa.String),
    sa.column("name", sa.String),
    sa.column("secret", sa.Text),
    sa.column("armed_until", TS()),
    sa.column("updated_at", TS()),
)


def _sealer() -> Sealer:
    """The key the ledger being migrated uses (``Ledger.open`` hands its settings over)."""
    return sealer_for(context.config.attributes.get("settings"))


def _utc(value: datetime | str) -> datetime:
    """A stored time (SQLite hands back naive UTC; a cursor held ISO text) as aware UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _moved_streams() -> sa.ColumnElement[bool]:
    return sa.or_(cursors.c.stream.like(f"{SECRET}%"), cursors.c.stream.like(f"{ARMED}%"))


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("secret", sa.Text()),
        sa.Column("armed_until", TS()),
        sa.Column("updated_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_secrets"),
        sa.UniqueConstraint("tool", "name", name="uq_webhook_secrets_tool_name"),
    )
    bind = op.get_bind()
    moved: dict[tuple[str, str], dict[str, Any]] = {}
    sealer = None
    for row in bind.execute(sa.select(cursors).where(_moved_streams())).all():
        is_secret = row.stream.startswith(SECRET)
        name = row.stream.removeprefix(SECRET if is_secret else ARMED)
        at = _utc(row.updated_at)
        entry = moved.setdefault((row.tool, name), {
            "tool": row.tool, "name": name, "secret": None, "armed_until": None, "updated_at": at,
        })
        entry["updated_at"] = max(entry["updated_at"], at)
        if is_secret and row.value:
            sealer = sealer or _sealer()
            entry["secret"] = sealer.seal(row.value, at)
        elif row.value:
            entry["armed_until"] = _utc(row.value)
    kept = [entry for entry in moved.values() if entry["secret"] or entry["armed_until"]]
    if kept:
        bind.execute(sa.insert(secrets), kept)
    bind.execute(sa.delete(cursors).where(_moved_streams()))


def downgrade() -> None:
    bind = op.get_bind()
    back = []
    sealer = None
    for row in bind.execute(sa.select(secrets)).all():
        at = _utc(row.updated_at)
        if row.secret:
            sealer = sealer or _sealer()
            value = sealer.open(row.secret)
            back.append({"tool": row.tool, "stream": SECRET + row.name, "value": value,
                         "updated_at": at})
        if row.armed_until:
            back.append({"tool": row.tool, "stream": ARMED + row.name,
                         "value": _utc(row.armed_until).isoformat(), "updated_at": at})
    if back:
        bind.execute(sa.insert(cursors), back)
    op.drop_table("webhook_secrets")
