"""Credentials as Prefect Secret blocks: ``kickoff blocks register`` makes one Secret block per
credential the config reads from the environment (the tenants' own accounts too), readable by
the credential resolver as ``block:NAME``, idempotent, and never prints a value."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml

from connectors.credentials import resolve_secret
from kickoff.settings import load_config
from tests.ops.world import kickoff


@pytest.fixture
def config_dir(config_dir: Path) -> Path:
    """The project's config, with the network tenant on its own HubSpot portal."""
    path = config_dir / "tenants.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["tenants"]["network"]["accounts"] = {"hubspot": {"credentials": {"token": "env:NETWORK_HUBSPOT_TOKEN"}}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return config_dir


def env_refs(config_dir: Path) -> dict[str, str]:
    """Every env: reference of tools.yaml and the tenants' own accounts: variable -> block name."""
    config = load_config(config_dir)
    found = {}
    for tool, settings in config.tools.items():
        for key, ref in settings.credentials.items():
            found[ref[4:]] = f"kickoff-{tool}-{key.replace('_', '-')}"
    found["NETWORK_HUBSPOT_TOKEN"] = "kickoff-network-hubspot-token"
    return found


def blocks_in(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(kickoff-[a-z0-9-]+): (\w+)", output, flags=re.MULTILINE))


def test_blocks_register_makes_a_secret_block_per_credential_the_resolver_reads_and_prints_no_value(
        prefect_api: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refs = env_refs(config_dir)
    values = {var: f"secret-{uuid.uuid4().hex}" for var in refs}
    for var, value in values.items():
        monkeypatch.setenv(var, value)
    monkeypatch.delenv("SMTP_PASSWORD")  # one credential not in the environment

    first = kickoff("blocks", "register")
    assert first.exit_code == 0, first.output
    assert not [v for v in values.values() if v in first.output]
    made = blocks_in(first.output)
    assert made.pop("kickoff-email-password") == "missing"
    assert "kickoff-email-password: missing env SMTP_PASSWORD" in first.output
    assert set(made) == {block for var, block in refs.items() if var != "SMTP_PASSWORD"}
    assert set(made.values()) <= {"created", "updated"}
    for var, block in refs.items():
        if var != "SMTP_PASSWORD":
            assert resolve_secret(f"block:{block}") == values[var]

    again = kickoff("blocks", "register")
    assert set(blocks_in(again.output).values()) == {"unchanged", "missing"}
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "secret-rotated")
    rotated = kickoff("blocks", "register")
    assert blocks_in(rotated.output)["kickoff-hubspot-token"] == "updated"
    assert "secret-rotated" not in rotated.output
    assert resolve_secret("block:kickoff-hubspot-token") == "secret-rotated"


def test_blocks_register_for_one_tenant_takes_its_own_account_and_the_shared_ones_of_its_tools(
        prefect_api: str, config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in env_refs(config_dir):
        monkeypatch.setenv(var, f"secret-{uuid.uuid4().hex}")
    done = kickoff("blocks", "register", "--tenant", "network")  # email, hubspot (its own), slack
    assert done.exit_code == 0, done.output
    assert set(blocks_in(done.output)) == {"kickoff-email-password", "kickoff-network-hubspot-token",
                                           "kickoff-slack-token"}
    assert "network's own account: block:kickoff-network-hubspot-token" in done.output


def test_blocks_register_for_an_unknown_tenant_names_the_file(prefect_api: str, config_dir: Path) -> None:
    refused = kickoff("blocks", "register", "--tenant", "nobody")
    assert refused.exit_code == 2 and "tenants.yaml: no tenant 'nobody'" in refused.output
