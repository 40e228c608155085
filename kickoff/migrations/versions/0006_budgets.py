"""Daily allowances as budgets every worker shares: the latest count a vendor reported.

Revision ID: 0006_budgets
Revises: 0005_onboarding_story
Create Date: 2026-12-06

One row per (tool, account): the used and allowed calls of the day (HubSpot's daily limit,
Salesforce's 24-hour allocation) and when the allowance comes back. See
``kickoff.ledger.budgets`` for why the ledger holds them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_budgets"
down_revision = "0005_onboarding_story"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("allowed", sa.Integer(), nullable=False),
        sa.Column("resets_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tool", "account", name="pk_budgets"),
    )


def downgrade() -> None:
    op.drop_table("budgets")
