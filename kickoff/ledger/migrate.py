"""Bringing a database's ledger tables up to date, from code, with Alembic.

``upgrade`` is what ``Ledger.open`` calls: on a fresh database it creates everything, on
an up-to-date one it does nothing (cheaply), and several processes opening the ledger at
once do not trip over each other (a PostgreSQL advisory lock; SQLite's write lock).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from kickoff.ledger.database import is_postgres
from kickoff.settings import KickoffSettings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
#: Kickoff's own version table, so a database shared with Prefect keeps both histories apart.
VERSION_TABLE = "kickoff_alembic_version"
#: pg_advisory_xact_lock key held while migrating (any fixed 64-bit number).
_MIGRATION_LOCK = 0x6B69636B6F6666  # "kickoff"


def alembic_config(
    connection: Connection | None = None, settings: KickoffSettings | None = None
) -> Config:
    """An Alembic config pointing at the migrations shipped inside the package; ``settings``
    name the key a migration seals secrets with (default: the environment's)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["settings"] = settings
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision this database is at, or None if the ledger was never created here."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(
    engine: Engine, *, schema: str | None = None, settings: KickoffSettings | None = None
) -> str:
    """Migrate to head in one transaction and return the head revision."""
    head = head_revision()
    with engine.begin() as conn:
        if is_postgres(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            if schema:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        if current_revision(conn) != head:
            command.upgrade(alembic_config(conn, settings), "head")
    return head
