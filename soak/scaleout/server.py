"""Step 1: ``prefect server start`` on a fresh PostgreSQL database (flows.local.prefect_server
hard-codes SQLite in ``start``, so this subclass passes the connection URL instead)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from flows.local.prefect_server import PrefectServer
from soak.scaleout import pg


class PostgresPrefectServer(PrefectServer):
    def __init__(self, home: Path, database_url: str, port: int | None = None) -> None:
        super().__init__(home, port=port)
        self.database_url = database_url

    def start(self, timeout: float = 120.0) -> PostgresPrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.environment(),
               "PREFECT_SERVER_API_HOST": self.host, "PREFECT_SERVER_API_PORT": str(self.port),
               "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
               "PREFECT_SERVER_DATABASE_CONNECTION_URL": self.database_url}
        env.pop("PREFECT_API_URL", None)
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port),
             "--analytics-off", "--no-background"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the Prefect server exited; see {self.log_path}")
            try:
                if requests.get(f"{self.api_url}/health", timeout=2).ok:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Prefect server did not answer within {timeout:.0f} s; see {self.log_path}")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None


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
