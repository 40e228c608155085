"""One real Prefect server for the ops tests (``prefect server start``: API, event pipeline,
automations and their actions), started once on a free loopback port and stopped after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flows.local.prefect_server import PrefectServer
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
