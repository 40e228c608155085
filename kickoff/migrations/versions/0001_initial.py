"""The first ledger: inbox, outbox, timers, crosswalk, cursors, onboardings, audit, writes, paused tools.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out in full (not imported from ``kickoff.ledger.schema``) so this step stays what
it was when later migrations change the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def TS() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _one_of(column: str, *values: str) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _id() -> sa.Column:
    return sa.Column("id", ID, primary_key=True, autoincrement=True)


def _tool() -> sa.Column:
    return sa.Column("tool", sa.String(32), nullable=False)


def _lease() -> list[sa.Column]:
    return [sa.Column("claimed_by", sa.String(255)), sa.Column("lease_until", TS())]


def _create(
    name: str,
    *columns: sa.Column,
    key: tuple[str, ...] = ("id",),
    unique: tuple[tuple[str, ...], ...] = (),
    checks: dict[str, tuple[str, ...]] | None = None,
    indexes: tuple[tuple[str, ...], ...] = (),
) -> None:
    """One table, its key, unique columns, checked values and indexes named as the ledger's
    naming convention names them (``pk_<table>``, ``uq_<table>_<columns>``, ...)."""
    op.create_table(
        name,
        *columns,
        sa.PrimaryKeyConstraint(*key, name=f"pk_{name}"),
        *(sa.UniqueConstraint(*names, name=f"uq_{name}_{'_'.join(names)}") for names in unique),
        *(
            sa.CheckConstraint(_one_of(column, *values), name=f"ck_{name}_{column}")
            for column, values in (checks or {}).items()
        ),
    )
    for names in indexes:
        op.create_index(f"ix_{name}_{'_'.join(names)}", name, list(names))


def upgrade() -> None:
    _create(
        "inbox",
        _id(),
        _tool(),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(255)),
        sa.Column("echo", sa.Boolean(), nullable=False),
        sa.Column("payload", JSON),
        sa.Column("received_at", TS(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        *_lease(),
        sa.Column("error", sa.Text()),
        sa.Column("finished_at", TS()),
        unique=(("tool", "dedup_key"),),
        checks={
            "status": ("pending", "claimed", "done", "ignored", "failed"),
            "kind": ("webhook", "poll"),
        },
        indexes=(("status", "lease_until"),),
    )
    _create(
        "outbox",
        _id(),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        _tool(),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(8), nullable=False),
        sa.Column("onboarding_id", sa.String(255), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("due_at", TS(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", TS(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("result", JSON),
        sa.Column("external_id", sa.String(255)),
        *_lease(),
        sa.Column("caused_by_event", sa.String(255)),
        sa.Column("caused_by_timer", sa.String(255)),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        unique=(("idempotency_key",),),
        checks={"status": ("pending", "claimed", "done", "dead")},
        indexes=(("tool", "status", "next_try_at"), ("onboarding_id",)),
    )
    _create(
        "timers",
        _id(),
        sa.Column("onboarding_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fire_at", TS(), nullable=False),
        sa.Column("rule", sa.String(8), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        *_lease(),
        sa.Column("updated_at", TS(), nullable=False),
        unique=(("onboarding_id", "key"),),
        checks={"status": ("pending", "claimed", "fired", "cancelled")},
        indexes=(("status", "fire_at"),),
    )
    _create(
        "crosswalk",
        _id(),
        sa.Column("canonical_id", sa.String(255), nullable=False),
        _tool(),
        sa.Column("object_kind", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("linked_at", TS(), nullable=False),
        unique=(("canonical_id", "tool", "object_kind"), ("tool", "object_kind", "external_id")),
        indexes=(("tool", "external_id"),),
    )
    _create(
        "cursors",
        _tool(),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        key=("tool", "stream"),
    )
    _create(
        "onboardings",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("playbook", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        indexes=(("tenant", "stage"),),
    )
    _create(
        "audit",
        _id(),
        sa.Column("at", TS(), nullable=False),
        sa.Column("onboarding_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255)),
        sa.Column("timer_key", sa.String(255)),
        sa.Column("rule", sa.String(8)),
        sa.Column("line", sa.Text(), nullable=False),
        indexes=(("onboarding_id", "at"),),
    )
    _create(
        "writes",
        _id(),
        _tool(),
        sa.Column("record_id", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("at", TS(), nullable=False),
        sa.Column("outbox_id", ID),
        indexes=(("tool", "record_id", "fingerprint", "at"),),
    )
    _create(
        "paused_tools",
        _tool(),
        sa.Column("since", TS(), nullable=False),
        sa.Column("reason", sa.Text()),
        key=("tool",),
    )


def downgrade() -> None:
    for table in (
        "paused_tools",
        "writes",
        "audit",
        "onboardings",
        "cursors",
        "crosswalk",
        "timers",
        "outbox",
        "inbox",
    ):
        op.drop_table(table)
