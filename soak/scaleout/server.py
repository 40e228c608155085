"""Step 1: ``prefect server start`` on a fresh PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import requests

from flows.local.prefect_server import PrefectServer
from soak.scaleout import pg


def PostgresPrefectServer(home: Path, database_url: str, port: int | None = None) -> PrefectServer:
    """Step 1: the local Prefect server on a PostgreSQL database (``postgresql+asyncpg://``)."""
    return PrefectServer(home, port=port, database_url=database_url)


def check_step1(home: Path) -> None:
    """Prove step 1: start, ask the API which database it uses (via a write+read), stop, drop."""
    name = pg.create_database("kickoff_prefect", ("pg_trgm",))
    try:
        with PostgresPrefectServer(home, pg.dsn(name, "asyncpg")) as server:
            r = requests.post(f"{server.api_url}/flows/", json={"name": "scaleout-probe"}, timeout=10)
            r.raise_for_status()
            import psycopg

            with psycopg.connect(pg.dsn(name)) as conn:
                n = conn.execute("SELECT count(*) FROM flow WHERE name = 'scaleout-probe'").fetchone()[0]
            print(f"step 1: server {server.api_url} on PostgreSQL db {name}: probe flow rows in PG = {n}")
            assert n == 1
    finally:
        pg.drop_database(name)
    print(f"step 1: database dropped; leftovers: {pg.leftover_databases()}")
