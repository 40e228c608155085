"""One real Prefect server for the ops tests (``prefect server start``: API, event pipeline,
automations and their actions), started once on a free loopback port and stopped after."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.local.prefect_server import PrefectServer
from tests.conftest import REPO
from tests.gateway.conftest import gateway, gateway_env, ledger, start_gateway  # noqa: F401 - the gateway's, reused


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    with PrefectServer(tmp_path_factory.mktemp("prefect-ops")) as server:
        yield server


@pytest.fixture
def prefect_api(prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """This test's Prefect client settings point at the server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setenv("PREFECT_API_URL", prefect_server.api_url)
    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server.api_url


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's config the test may edit, the one ``kickoff`` reads."""
    folder = tmp_path / "config"
    shutil.copytree(REPO / "config", folder)
    monkeypatch.setenv("KICKOFF_CONFIG_DIR", str(folder))
    return folder
