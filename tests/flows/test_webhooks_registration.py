"""``kickoff webhooks plan|apply``: Kickoff registered in each tool through the tool's own API
(Zendesk webhooks and trigger, HubSpot app subscriptions, Asana board webhooks with the
handshake), the deliveries that follow signed and stored by the gateway, a second apply that
changes nothing, steps for the tools with no API, and the failure lines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from flows.runtime import Runtime
from flows.webhooks import Registration, apply_webhooks, plan_webhooks
from gateway import create_app
from gateway.server import GatewayServer
from kickoff.contracts.subscriptions import Change
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "sandbox" / "fixtures" / "default.yaml"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class World:
    rt: Runtime
    control: SandboxControl
    server: SandboxServer
    gateway: GatewayServer

    def plan(self) -> list[Registration]:
        return plan_webhooks(self.rt, self.server.sandbox.clock.now(), public_url=self.gateway.url)

    def apply(self) -> list[Registration]:
        return apply_webhooks(self.rt, self.plan(), self.server.sandbox.clock.now())


@pytest.fixture
def world(sandbox_server: SandboxServer, sandbox: SandboxControl, sandbox_env: dict[str, str]) -> Iterator[World]:
    sandbox.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")))
    rt = Runtime.build()
    gateway = GatewayServer(create_app(rt.ledger, config=rt.config, announce=lambda tool, ids: None,
                                       clock=sandbox_server.sandbox.clock.now)).start()
    try:
        yield World(rt, sandbox, sandbox_server, gateway)
    finally:
        gateway.stop()
        rt.ledger.close()


def _changes(registrations: list[Registration]) -> dict[tuple[str, str, str], Change]:
    return {(r.plan.tool, c.kind, c.name): c.change for r in registrations for c in r.plan.changes}


def _hook_writes(control: SandboxControl, since: int) -> list[dict]:
    return [r for r in control.requests(since=since) if r["method"] in WRITES
            and any(p in r["path"] for p in ("/webhooks", "/triggers", "/api/1.0/webhooks"))]


def test_given_no_registrations_when_applied_then_each_tool_with_an_api_holds_kickoffs(world: World) -> None:
    done = world.apply()
    assert not [c.line(r.label) for r in done for c in r.plan.failed]
    changes = _changes(done)
    assert changes[("zendesk", "webhook", "Kickoff: ticket changes")] is Change.CREATE
    assert changes[("zendesk", "trigger", "Kickoff: new alert ticket")] is Change.CREATE
    assert changes[("hubspot", "subscription", "ticket.propertyChange hs_pipeline_stage")] is Change.CREATE
    assert changes[("asana", "webhook", "Kickoff: board 1209500000000100")] is Change.CREATE
    vendors = world.server.sandbox.vendors
    zendesk = vendors["zendesk"].hooks
    assert {h["endpoint"] for h in zendesk.webhooks.values()} == {f"{world.gateway.url}/webhooks/zendesk"}
    trigger = next(iter(zendesk.triggers.values()))
    assert trigger["actions"][0]["value"][0] in zendesk.webhooks  # calls the webhook made for it
    assert vendors["hubspot"].app.settings["targetUrl"] == f"{world.gateway.url}/webhooks/hubspot"
    assert [h["target"] for h in vendors["asana"].webhooks.values()] == [f"{world.gateway.url}/webhooks/asana/retention"]
    # each signing secret the tools handed over is kept (sealed) in the ledger, none printed
    assert len(world.rt.ledger.webhook_secrets("zendesk")) == 2
    assert world.rt.ledger.webhook_secret("asana", "retention") is not None
    printed = "\n".join(c.line(r.label) for r in done for c in r.plan.changes)
    assert not any(secret in printed for secret in zendesk.secrets.values())


def test_given_kickoff_registered_when_applied_twice_then_the_second_changes_nothing(world: World) -> None:
    world.apply()
    since = world.control.last_seq()
    again = world.apply()
    assert {c.change for r in again for c in r.plan.changes} <= {Change.UNCHANGED, Change.BY_HAND}
    assert _hook_writes(world.control, since) == []


def test_given_registered_webhooks_when_people_change_records_then_signed_deliveries_are_stored(world: World) -> None:
    world.apply()
    control = world.control
    ticket = control.act("zendesk", "tickets", subject="Leaving us", tags=["red_alert"], requester_email="a@example.com",
                         custom_fields=[{"id": 360000102, "value": "Competitor AB"}])
    control.act("zendesk", f"tickets/{ticket['id']}", method="PUT", status="pending")
    hs = control.act("hubspot", "tickets", properties={"subject": "SE - Exempel", "hs_pipeline": "28734901",
                                                        "hs_pipeline_stage": "84561201"})
    control.act("hubspot", f"tickets/{hs['id']}", method="PATCH", properties={"hs_pipeline_stage": "84561204"})
    task = control.act("asana", "tasks", name="A request", projects=["1209500000000100"])
    control.act("asana", f"tasks/{task['gid']}/complete")
    assert control.flush_webhooks()
    deliveries = control.webhook_deliveries()
    assert {d["vendor"] for d in deliveries} == {"zendesk", "hubspot", "asana"}
    assert all(d["status"] == 200 for d in deliveries), [(d["vendor"], d["status"]) for d in deliveries]
    alert = next(d for d in deliveries if d["vendor"] == "zendesk" and "ticket_id" in d["body"])
    assert '"value":"Competitor AB"' in alert["body"]  # the trigger carries the custom field: no read
    assert world.rt.ledger.status().pending_inbox >= len(deliveries)  # stored (an Asana POST: several)


def test_given_secrets_the_ledger_lost_when_planned_then_those_webhooks_are_made_whole_again(world: World) -> None:
    world.apply()
    with world.rt.ledger.transaction() as conn:
        conn.exec_driver_sql("DELETE FROM webhook_secrets")
    changes = _changes(world.plan())
    assert changes[("zendesk", "webhook", "Kickoff: ticket changes")] is Change.UPDATE
    assert changes[("asana", "webhook", "Kickoff: board 1209500000000100")] is Change.UPDATE
    world.apply()
    task = world.control.act("asana", "tasks", name="Another request", projects=["1209500000000100"])
    world.control.act("asana", f"tasks/{task['gid']}/complete")
    assert world.control.flush_webhooks()
    assert [d["status"] for d in world.control.webhook_deliveries("asana")] == [200, 200]


def test_given_tools_with_no_api_when_planned_then_steps_name_the_url_and_where_the_secret_is(world: World) -> None:
    plans = {r.plan.tool: r.plan for r in world.plan()}
    env = world.server.environment()
    for tool in ("dealbuilder", "movidesk", "salesforce"):
        assert {c.change for c in plans[tool].changes} == {Change.BY_HAND}
        steps = "\n".join(plans[tool].steps)
        assert f"{world.gateway.url}/webhooks/{tool}" in steps
    assert "?token=<the value of MOVIDESK_WEBHOOK_TOKEN>" in "\n".join(plans["movidesk"].steps)
    assert "DEALBUILDER_WEBHOOK_KEY" in "\n".join(plans["dealbuilder"].steps)
    assert "Starting_Date__c" in "\n".join(plans["salesforce"].steps)  # the fields the mapping reads
    every = "\n".join(step for plan in plans.values() for step in plan.steps)
    assert env["MOVIDESK_WEBHOOK_TOKEN"] not in every and env["DEALBUILDER_WEBHOOK_KEY"] not in every


runner = CliRunner()


def test_given_a_wrong_zendesk_token_when_applied_then_its_line_fails_and_the_rest_is_done(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KICKOFF_PUBLIC_URL", world.gateway.url)
    monkeypatch.setenv("ZENDESK_API_TOKEN", "not-the-token")
    result = runner.invoke(app, ["webhooks", "apply"])
    assert result.exit_code == 1
    failed = [line for line in result.output.splitlines() if "FAILED" in line]
    assert failed and all(line.startswith("zendesk") for line in failed)
    assert "Couldn't authenticate you" in failed[0]
    assert any(line.startswith("hubspot") and line.endswith("-- done") for line in result.output.splitlines())
    assert "not-the-token" not in result.output


def test_given_no_public_url_when_planned_then_one_line_names_the_setting(
        sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KICKOFF_PUBLIC_URL", raising=False)
    result = runner.invoke(app, ["webhooks", "plan"])
    assert result.exit_code == 2
    assert "KICKOFF_PUBLIC_URL is not set" in result.output


def test_given_a_tenant_when_planned_then_only_its_tools_are_registered(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KICKOFF_PUBLIC_URL", world.gateway.url)
    result = runner.invoke(app, ["webhooks", "plan", "--tenant", "retention"])
    assert result.exit_code == 0, result.output
    tools = {line.split()[0] for line in result.output.splitlines() if line and not line.startswith((" ", "to do"))}
    assert tools == {"zendesk", "asana"}  # retention's tools that call Kickoff (Slack calls nobody)


def test_W2_given_the_registered_alert_trigger_then_its_delivery_reads_the_accounts_open_opportunity(
        world: World) -> None:
    """W2's "déjà créée" for an alert the registered trigger posts (no ``ticket.created`` event
    is subscribed): the connector searches the account's open opportunities as it does for an
    event webhook, and the churn risk says one is open."""
    world.apply()
    control = world.control
    control.act("zendesk", "tickets", subject="Opportunité", tags=["churn_risk_opportunity"],
                requester_email="owner@salon.example.com", comment={"body": "Ouverte à la main"})
    control.act("zendesk", "tickets", subject="Parle de résilier", tags=["churn_risk"],
                requester_email="owner@salon.example.com", comment={"body": "Risque de churn"})
    assert control.flush_webhooks()
    now = world.server.sandbox.clock.now()
    [alert] = [item.delivery for item in world.rt.ledger.claim_inbox("test", limit=50, now=now)
               if item.delivery.dedup_key.startswith("zendesk:trigger:")]
    enriched = world.rt.connector("zendesk").enrich(alert, now)
    ctx = world.rt.mapping_context("zendesk", "retention", now)
    [event] = world.rt.mapping("zendesk").to_events(enriched, ctx)
    assert (event.type, event.data.get("open_opportunity")) == ("churn_risk.reported", True)
