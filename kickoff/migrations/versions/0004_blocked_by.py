"""Outbox rows remember the action whose creation they wait for.

Revision ID: 0004_blocked_by
Revises: 0003_12_accounts
Create Date: 2026-12-06

An action on a record another action creates (a call task on a ticket) cannot be done while
that creation is not: when the creation is dead, the action ends dead too ("blocked: <key>
is dead") instead of coming back retryable, and replaying the creation replays it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_blocked_by"
down_revision = "0003_12_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("blocked_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("blocked_by")
