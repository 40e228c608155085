"""Inbox rows remember the onboarding they were about, so one customer's story (``kickoff
onboarding show``) lists every fact received about it: decided, ignored and why, or failed.

Revision ID: 0005_onboarding_story
Revises: 0004_blocked_by
Create Date: 2026-12-06

Set when a row is processed (the onboarding its events name); rows processed before stay
unlinked and are still found through the records they name (the crosswalk).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_onboarding_story"
down_revision = "0004_blocked_by"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("onboarding_id", sa.String(255), nullable=True))
        batch.create_index("ix_inbox_onboarding_id", ["onboarding_id"])


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_index("ix_inbox_onboarding_id")
        batch.drop_column("onboarding_id")
