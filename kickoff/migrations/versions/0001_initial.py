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


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("dedup_key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(255)),
        sa.Column("echo", sa.Boolean(), nullable=False),
        sa.Column("payload", JSON),
        sa.Column("received_at", TS(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(255)),
        sa.Column("lease_until", TS()),
        sa.Column("error", sa.Text()),
        sa.Column("finished_at", TS()),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("tool", "dedup_key", name="uq_inbox_tool_dedup_key"),
        sa.CheckConstraint(
            _one_of("status", "pending", "claimed", "done", "ignored", "failed"),
            name="ck_inbox_status",
        ),
        sa.CheckConstraint(_one_of("kind", "webhook", "poll"), name="ck_inbox_kind"),
    )
    op.create_index("ix_inbox_status_lease_until", "inbox", ["status", "lease_until"])

    op.create_table(
        "outbox",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("tool", sa.String(32), nullable=False),
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
        sa.Column("claimed_by", sa.String(255)),
        sa.Column("lease_until", TS()),
        sa.Column("caused_by_event", sa.String(255)),
        sa.Column("caused_by_timer", sa.String(255)),
        sa.Column("created_at", TS(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
        sa.CheckConstraint(
            _one_of("status", "pending", "claimed", "done", "dead"), name="ck_outbox_status"
        ),
    )
    op.create_index(
        "ix_outbox_tool_status_next_try_at", "outbox", ["tool", "status", "next_try_at"]
    )
    op.create_index("ix_outbox_onboarding_id", "outbox", ["onboarding_id"])

    op.create_table(
        "timers",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("onboarding_id", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fire_at", TS(), nullable=False),
        sa.Column("rule", sa.String(8), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("claimed_by", sa.String(255)),
        sa.Column("lease_until", TS()),
        sa.Column("updated_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_timers"),
        sa.UniqueConstraint("onboarding_id", "key", name="uq_timers_onboarding_id_key"),
        sa.CheckConstraint(
            _one_of("status", "pending", "claimed", "fired", "cancelled"), name="ck_timers_status"
        ),
    )
    op.create_index("ix_timers_status_fire_at", "timers", ["status", "fire_at"])

    op.create_table(
        "crosswalk",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("canonical_id", sa.String(255), nullable=False),
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("object_kind", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("linked_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_crosswalk"),
        sa.UniqueConstraint(
            "canonical_id", "tool", "object_kind", name="uq_crosswalk_canonical_id_tool_object_kind"
        ),
        sa.UniqueConstraint(
            "tool", "object_kind", "external_id", name="uq_crosswalk_tool_object_kind_external_id"
        ),
    )
    op.create_index("ix_crosswalk_tool_external_id", "crosswalk", ["tool", "external_id"])

    op.create_table(
        "cursors",
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("stream", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("tool", "stream", name="pk_cursors"),
    )

    op.create_table(
        "onboardings",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("playbook", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_onboardings"),
    )
    op.create_index("ix_onboardings_tenant_stage", "onboardings", ["tenant", "stage"])

    op.create_table(
        "audit",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", TS(), nullable=False),
        sa.Column("onboarding_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255)),
        sa.Column("timer_key", sa.String(255)),
        sa.Column("rule", sa.String(8)),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_onboarding_id_at", "audit", ["onboarding_id", "at"])

    op.create_table(
        "writes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("at", TS(), nullable=False),
        sa.Column("outbox_id", ID),
        sa.PrimaryKeyConstraint("id", name="pk_writes"),
    )
    op.create_index(
        "ix_writes_tool_record_id_fingerprint_at",
        "writes",
        ["tool", "record_id", "fingerprint", "at"],
    )

    op.create_table(
        "paused_tools",
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("since", TS(), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.PrimaryKeyConstraint("tool", name="pk_paused_tools"),
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
