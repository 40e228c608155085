"""Gateway fixtures: a real ledger (SQLite in tmp_path; PostgreSQL too when
KICKOFF_TEST_DATABASE_URL is set), the gateway served by uvicorn on a free loopback port in a
thread, and a announcer that records what Prefect would have been told."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select, text

from gateway import create_app
from gateway.announce import BackgroundAnnouncer
from gateway.server import GatewayServer
from kickoff.ledger import Ledger
from kickoff.ledger.schema import inbox
from tests.gateway.signing import Post

PG_URL_ENV = "KICKOFF_TEST_DATABASE_URL"
REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_TOKEN = "kickoff-events-test-token"


BACKENDS = ["sqlite", *([pytest.param("postgres", marks=pytest.mark.postgres)] if os.environ.get(PG_URL_ENV) else [])]


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """A migrated, empty ledger: SQLite always; PostgreSQL (own schema, dropped) when configured."""
    if request.param == "sqlite":
        opened = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
        yield opened
        opened.close()
        return
    url = os.environ[PG_URL_ENV]
    schema = f"kg_{uuid.uuid4().hex[:16]}"
    opened = Ledger.open(url, schema=schema)
    yield opened
    opened.close()
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@dataclass
class Recorder:
    """A announcer standing in for Prefect: remembers (tool, inbox ids)."""

    calls: list[tuple[str, list[int]]] = field(default_factory=list)
    called: threading.Event = field(default_factory=threading.Event)

    def __call__(self, tool: str, inbox_ids: Sequence[int]) -> None:
        self.calls.append((tool, list(inbox_ids)))
        self.called.set()


@dataclass
class Gateway:
    """A running gateway and what tests look at: its URL, its ledger, its announcements."""

    url: str
    ledger: Ledger
    notes: Recorder
    server: GatewayServer
    announcer: BackgroundAnnouncer
    session: requests.Session = field(default_factory=requests.Session)

    def post(self, post: Post, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url + post.path, data=post.body, headers=post.headers, timeout=10,
                                 **kwargs)

    def rows(self, tool: str | None = None) -> list[dict[str, Any]]:
        """The inbox, oldest first (optionally one tool's rows)."""
        query = select(inbox).order_by(inbox.c.id)
        if tool is not None:
            query = query.where(inbox.c.tool == tool)
        with self.ledger.database.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def announced_ids(self) -> list[int]:
        self.announcer.wait_idle(5)
        return [i for _, ids in self.notes.calls for i in ids]


@pytest.fixture
def gateway_env(sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The sandbox's vendor secrets in the environment, plus the canonical intake's token."""
    monkeypatch.setenv("KICKOFF_EVENTS_TOKEN", EVENTS_TOKEN)
    monkeypatch.delenv("KICKOFF_PUBLIC_URL", raising=False)
    return {**sandbox_env, "KICKOFF_EVENTS_TOKEN": EVENTS_TOKEN}


@pytest.fixture
def start_gateway(ledger: Ledger, kickoff_config: Any, gateway_env: dict[str, str]
                  ) -> Iterator[Callable[..., Gateway]]:
    """Start a gateway (``create_app`` keyword arguments pass through); all stopped at the end."""
    started: list[Gateway] = []

    def start(**options: Any) -> Gateway:
        notes = options.pop("announce", None) or Recorder()
        options.setdefault("config", kickoff_config)
        app = create_app(options.pop("ledger", ledger), announce=notes, **options)
        server = GatewayServer(app).start()
        recorder = notes if isinstance(notes, Recorder) else Recorder()
        gateway = Gateway(server.url, app.state.ledger, recorder, server, app.state.announcer)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.session.close()
        gateway.server.stop()


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway]) -> Gateway:
    """The gateway with the project's config, the sandbox's secrets and a recording announcer."""
    return start_gateway()
