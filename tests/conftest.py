"""Session fixtures: one sandbox (HTTP + SMTP, in this process) for the whole run, reset
before each test that uses it; and the settings that point Kickoff at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _kickoff_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Nothing a test runs writes under the checkout's ``.kickoff/`` (ledger, secret key)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KICKOFF_HOME", str(tmp_path_factory.mktemp("kickoff-home")))
        yield


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """The sandbox, started once per test session on free loopback ports; its HubSpot and
    Asana answers are recorded, to be checked against the vendors' published schemas."""
    from tests.sandbox.openapi_schemas import SERVERS, documents

    with SandboxServer() as server:
        if documents():
            server.sandbox.exchanges.watch(*SERVERS)
        yield server


def _schema_violations(server: SandboxServer) -> list[str]:
    from tests.sandbox.openapi_schemas import violations

    return violations(server.sandbox.exchanges.take())


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Iterator[SandboxControl]:
    """Admin client of a freshly reset sandbox (limits at the vendors' real values). Every
    HubSpot and Asana answer the test got must fit the vendor's published schema."""
    earlier = _schema_violations(sandbox_server)  # answers to tests without this fixture
    assert not earlier, "sandbox answers that break the vendors' schemas:\n" + "\n".join(earlier[:10])
    control = SandboxControl(sandbox_server.url)
    control.reset()
    yield control
    control.close()
    wrong = _schema_violations(sandbox_server)
    assert not wrong, "sandbox answers that break the vendors' schemas:\n" + "\n".join(wrong[:10])


@pytest.fixture
def sandbox_env(sandbox_server: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Environment pointing Kickoff at the sandbox, with a fresh KICKOFF_HOME (SQLite ledger)."""
    env = sandbox_server.environment()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("KICKOFF_HOME", str(tmp_path / "kickoff-home"))
    monkeypatch.setenv("KICKOFF_CONFIG_DIR", str(REPO / "config"))
    monkeypatch.delenv("KICKOFF_DATABASE_URL", raising=False)
    return env


@pytest.fixture
def kickoff_config(sandbox_env: dict[str, str]):
    """The project's config with every tool pointed at the sandbox."""
    from kickoff.settings import load_config

    return load_config(REPO / "config")


@pytest.fixture
def rt(kickoff_config, sandbox: SandboxControl) -> Iterator:
    """A runtime on the sandbox seeded with the default fixture (the tenants' pipelines,
    owners, fields); its ledger closed after the test. Modules needing another runtime
    define their own ``rt``."""
    import yaml

    from flows.runtime import Runtime

    sandbox.seed(yaml.safe_load((REPO / "sandbox" / "fixtures" / "default.yaml").read_text(encoding="utf-8")))
    runtime = Runtime.build(kickoff_config)
    yield runtime
    runtime.ledger.close()
