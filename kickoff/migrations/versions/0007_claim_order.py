"""Queue indexes that end with the claim's order, so a claim reads only the rows it takes.

Revision ID: 0007_claim_order
Revises: 0006_budgets
Create Date: 2026-12-07

A claim takes the first due timers by (fire_at, id), the first due actions of a tool by
(next_try_at, id) and the first deliveries by id. With the id at the end of the index, the
database reads them in index order and stops at the claim's size; without it, timers due at
one moment (a tick's 08:00) were all read and sorted by id for every claim
(``kickoff.ledger.claims``).
"""

from __future__ import annotations

from alembic import op

revision = "0007_claim_order"
down_revision = "0006_budgets"
branch_labels = None
depends_on = None

_INDEXES = (  # (table, columns before, columns now)
    ("inbox", ("status", "lease_until"), ("status", "id")),
    ("timers", ("status", "fire_at"), ("status", "fire_at", "id")),
    ("outbox", ("tool", "status", "next_try_at"), ("tool", "status", "next_try_at", "id")),
)


def _name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, before, now in _INDEXES:
        op.drop_index(_name(table, before), table_name=table)
        op.create_index(_name(table, now), table, list(now))


def downgrade() -> None:
    for table, before, now in _INDEXES:
        op.drop_index(_name(table, now), table_name=table)
        op.create_index(_name(table, before), table, list(before))
