"""Alembic environment for the ledger.

Normally run from code (``kickoff.ledger.migrate.upgrade``), which hands over an open
connection in ``config.attributes["connection"]``. From the command line
(``alembic -c kickoff/migrations/alembic.ini ...``) it connects to the ledger the
settings name (``KICKOFF_DATABASE_URL`` or the SQLite file under ``KICKOFF_HOME``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from kickoff.ledger.migrate import VERSION_TABLE
from kickoff.ledger.schema import metadata


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,
        compare_type=True,
        **kwargs,
    )


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from kickoff.ledger.database import open_database
    from kickoff.settings import KickoffSettings

    url = config.get_main_option("sqlalchemy.url") or KickoffSettings().resolved_database_url
    if context.is_offline_mode():
        _configure(url=url, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


_main()
