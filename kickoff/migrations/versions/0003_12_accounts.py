"""Inbox rows remember the account they came from: a tenant's own account in the tool (its name,
the tenant's), or none for the tool's shared account.

Revision ID: 0003_12_accounts
Revises: 0002
Create Date: 2026-12-06

A delivery from a tenant's own account is that tenant's: processing gives it to the tenant
without routing by the payload, and enriches it with that account's connector.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_12_accounts"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("account", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("account")
