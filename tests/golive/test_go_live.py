"""The README's "Go live" section, top to bottom, against the sandbox seeded with another
company's accounts (``second-accounts.yaml``: other portal, org, workspace, other ids) and
EMPTY tenant mapping tables: ``connect check``, ``discover --write``, ``config check --live``,
``webhooks apply``, ``adopt`` then ``adopt --apply``, then the flows run the adopted
onboardings on. No id is typed: every one comes from the tools."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from flows.runtime import Runtime
from flows.steps import process, push
from gateway import create_app
from gateway.server import GatewayServer
from kickoff.ledger import Ledger
from kickoff.settings import KickoffSettings, load_config
from tests.conftest import REPO
from tests.golive.conftest import fixture, kickoff
from tests.golive.test_discover import emptied

pytestmark = pytest.mark.slow


def _discoveries(config: Path) -> list[tuple[str, str]]:
    """(tenant, tool) for every tool of every tenant that keeps a mapping table."""
    tenants = load_config(config).tenants
    return [(key, tool) for key, tenant in tenants.items() for tool in tenant.tools
            if (config / "mappings" / f"{tool}.yaml").is_file() and tool not in ("dealbuilder", "email")]


@pytest.fixture
def empty_config(tmp_path: Path, sandbox_env, monkeypatch: pytest.MonkeyPatch) -> Path:
    """config/ as a new team has it: tenants, tools and playbooks, every tenant's part of the
    tables of ids empty (Zendesk's alert rules and Movidesk's status names are rules, not ids:
    kept, and discover puts the new account's ids into them)."""
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    emptied(target, "hubspot", "asana", "slack", "salesforce")
    monkeypatch.setenv("KICKOFF_CONFIG_DIR", str(target))
    return target


@pytest.fixture
def gateway(empty_config: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatewayServer]:
    """The public URL every tool is told: the gateway, on the same ledger as the commands."""
    ledger = Ledger.open(settings=KickoffSettings())
    server = GatewayServer(create_app(ledger, config=load_config(empty_config), announce=lambda tool, ids: None))
    server.start()
    monkeypatch.setenv("KICKOFF_PUBLIC_URL", server.url)
    try:
        yield server
    finally:
        server.stop()
        ledger.close()


def test_go_live_on_other_accounts_with_no_id_typed_then_the_flows_run_the_adopted_onboardings(
        sandbox_server, sandbox, empty_config: Path, gateway: GatewayServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.seed(fixture("second-accounts"))
    for name, value in sandbox_server.environment().items():  # what `kickoff sandbox --fixture` prints
        monkeypatch.setenv(name, value)

    checked = kickoff("connect", "check")
    assert checked.exit_code == 0, checked.output
    for tenant, tool in _discoveries(empty_config):
        found = kickoff("discover", tool, "--tenant", tenant, "--write")
        assert found.exit_code == 0, (tenant, tool, found.output)
    live = kickoff("config", "check", "--live")
    assert live.exit_code == 0, live.output

    registered = kickoff("webhooks", "apply")
    assert registered.exit_code == 0, registered.output
    again = kickoff("webhooks", "apply")
    assert "done: 0 create, 0 update, 0 delete" in again.output, again.output

    planned = kickoff("adopt", "--tenant", "assist")
    assert planned.exit_code == 0, planned.output
    assert "'SE - Norrsken Bygg AB', stage onboarding_in_progress" in planned.output
    assert "assist: 2 to adopt" in planned.output
    adopted = kickoff("adopt", "--tenant", "assist", "--apply")
    assert "assist: 2 adopted" in adopted.output, adopted.output
    assert "network: cannot adopt" in kickoff("adopt", "--tenant", "network").output

    # the flows run them on: the next call task of the onboarding in progress, pushed to its ticket
    rt = Runtime.build()
    try:
        ticket = next(t for t in sandbox.get("hubspot", "records/tickets")
                      if t["properties"].get("subject") == "SE - Norrsken Bygg AB")
        later = sandbox_server.sandbox.clock.now() + timedelta(days=8)
        assert process.tick(rt, later).processed >= 1
        push.push(rt, "hubspot", later)
        tasks = [t for t in sandbox.get("hubspot", "records/tasks")
                 if any(a.get("toObjectId") == ticket["id"] for a in t.get("associations") or [])]
        assert any("no kick-off booked yet" in t["properties"]["hs_task_subject"] for t in tasks), tasks

        # a person parks it in HubSpot: the subscription Kickoff registered brings the change
        sandbox.act("hubspot", f"tickets/{ticket['id']}", method="PATCH",
                    properties={"hs_pipeline_stage": rt.tables["hubspot"]["assist"]["stages"]["manual_follow_up"]})
        assert sandbox.flush_webhooks()
        process.process_inbox(rt, sandbox_server.sandbox.clock.now())
        subject = f"assist:hubspot-ticket-{ticket['id']}"
        state = rt.ledger.load_state(subject)
        assert state is not None and state.status == "paused" and state.stage == "manual_follow_up"
    finally:
        rt.ledger.close()
