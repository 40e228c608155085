"""A local Prefect server (SQLite under KICKOFF_HOME) as a child process that we own:
started on a free loopback port, waited for, and stopped with everything it spawned."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import requests

from flows.local.processes import stop_process_group
from sandbox.smtp import free_port


class PrefectServer:
    def __init__(self, home: Path, host: str = "127.0.0.1", port: int | None = None,
                 database_url: str | None = None) -> None:
        """``database_url``: the server's own database (default a SQLite file under ``home``;
        ``postgresql+asyncpg://...`` for scale-out)."""
        self.home = home
        self.database_url = database_url or f"sqlite+aiosqlite:///{(home / 'prefect.db').resolve()}"
        self.host = host
        self.port = port or free_port(host)
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = home / "prefect-server.log"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def environment(self) -> dict[str, str]:
        """What a client (or a worker) needs to talk to this server."""
        return {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_UI_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": str(self.home / "prefect"),
        }

    def start(self, timeout: float = 90.0) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.environment(),
               "PREFECT_SERVER_API_HOST": self.host, "PREFECT_SERVER_API_PORT": str(self.port),
               "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url}
        env.pop("PREFECT_API_URL", None)  # the server itself must not be a client of itself
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", self.host, "--port", str(self.port),
             "--analytics-off", "--no-background"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
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

    def stop(self) -> None:
        """Stop the server and its whole process group; nothing is left behind."""
        process, self._process = self._process, None
        if process is not None:
            stop_process_group(process, grace=20.0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
