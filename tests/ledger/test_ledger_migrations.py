"""Migrations: a fresh database gets the whole ledger; reopening is a no-op; code and history agree."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ledger_backends import LedgerBackend
from ledger_builders import T0, delivery
from sqlalchemy import inspect

from kickoff.ledger.migrate import VERSION_TABLE, alembic_config, current_revision, head_revision
from kickoff.ledger.schema import metadata

TABLES = {
    "inbox",
    "outbox",
    "timers",
    "crosswalk",
    "cursors",
    "onboardings",
    "audit",
    "writes",
    "paused_tools",
    "webhook_secrets",
}


def test_migrations_create_every_table_on_a_fresh_database(ledger_backend: LedgerBackend) -> None:
    ledger = ledger_backend.open()
    with ledger.database.connect() as conn:
        assert current_revision(conn) == head_revision()
        assert TABLES | {VERSION_TABLE} <= set(inspect(conn).get_table_names())
    ledger.close()


def test_reopening_a_migrated_ledger_is_idempotent_and_keeps_data(
    ledger_backend: LedgerBackend,
) -> None:
    first = ledger_backend.open()
    inbox_id, _ = first.store_delivery(delivery(1))
    first.close()

    for _ in range(2):
        again = ledger_backend.open()
        with again.database.connect() as conn:
            assert current_revision(conn) == head_revision()
        assert again.store_delivery(delivery(1)) == (inbox_id, False)
        assert again.status(T0).pending_inbox == 1
        again.close()


def test_migrated_schema_matches_the_tables_the_code_uses(ledger_backend: LedgerBackend) -> None:
    ledger = ledger_backend.open()
    with ledger.database.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, metadata) if not _is_version_table(d)]
    ledger.close()
    assert diffs == []


def test_migrations_downgrade_to_nothing_and_up_again(ledger_backend: LedgerBackend) -> None:
    ledger = ledger_backend.open()
    with ledger.database.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
        assert not TABLES & set(inspect(conn).get_table_names())
    ledger.close()

    reopened = ledger_backend.open()
    assert reopened.status(T0).pending_inbox == 0
    reopened.close()


def _is_version_table(diff: object) -> bool:
    return "kickoff_alembic_version" in repr(diff)
