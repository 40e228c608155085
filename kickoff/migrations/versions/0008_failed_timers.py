"""Timers whose decision failed are kept as ``failed``, not left claimed.

Revision ID: 0008_failed_timers
Revises: 0007_claim_order
Create Date: 2026-12-07

A timer whose firing cannot be decided (a playbook line that cannot be carried out, data
the decision refuses) used to raise out of the tick with its whole claim still held: after
each lease the same timer came first again, and no timer behind it ever fired. It is now
marked ``failed`` with the reason in its ``error`` (and its onboarding's audit), the rest of
the claim commits, and ``kickoff ledger retry-timers`` sets it pending again once the
playbook is fixed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_failed_timers"
down_revision = "0007_claim_order"
branch_labels = None
depends_on = None

_BEFORE = ("pending", "claimed", "fired", "cancelled")
_NOW = (*_BEFORE, "failed")
_NAME = "ck_timers_status"


def _one_of(values: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    with op.batch_alter_table("timers", recreate="auto") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _one_of(_NOW))
        batch.add_column(sa.Column("error", sa.Text, nullable=True))


def downgrade() -> None:
    op.execute("UPDATE timers SET status = 'pending' WHERE status = 'failed'")  # they fire again
    with op.batch_alter_table("timers", recreate="auto") as batch:
        batch.drop_column("error")
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, _one_of(_BEFORE))
