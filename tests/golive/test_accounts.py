"""Tenants on their own accounts: credentials, budgets, cursors and webhook secrets per tenant
where tenants.yaml names the tenant's own account (one shared account stays the default), and a
webhook routed to its tenant by the account it comes from."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from connectors.ratelimit import (
    WindowLimiter,
    account_limits,
    bucket_for,
    configured_limits,
    limit_name,
)
from flows.runtime import Runtime
from flows.steps.ingest import poll
from gateway.accounts import AccountRouter
from gateway.intake import Intake
from gateway.vendors import Connectors
from kickoff.contracts.webhooks import WebhookRequest
from kickoff.ledger import Ledger
from kickoff.settings import load_config
from tests.gateway.signing import dealbuilder, hubspot, hubspot_events
from tests.golive.conftest import fixture

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NETWORK_PORTAL = 246000007


def own_accounts(config: Path) -> None:
    """The network tenant on its own HubSpot portal (its own token, app secret and plan), and
    the assist tenant on its own Dealbuilder subscription; the others keep the shared ones."""
    path = config / "tenants.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["tenants"]["network"]["accounts"] = {"hubspot": {
        "credentials": {"token": "env:NETWORK_HUBSPOT_TOKEN", "client_secret": "env:NETWORK_HUBSPOT_SECRET"},
        "rate_limit": {"requests": 190, "per_seconds": 10}, "route": {"portalId": NETWORK_PORTAL}}}
    data["tenants"]["assist"]["accounts"] = {"dealbuilder": {"credentials": {"webhook_key": "env:ASSIST_DB_KEY"}}}
    data["tenants"]["network"]["tools"].append("dealbuilder")  # on the shared subscription
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


@pytest.fixture
def accounts(config_copy: Path, sandbox, monkeypatch: pytest.MonkeyPatch):
    own_accounts(config_copy)
    sandbox.seed(fixture("default"))
    sandbox.seed({"hubspot": {"tokens": [{"token": "pat-network-portal", "scopes": [
        "tickets", "crm.objects.owners.read", "crm.objects.contacts.read", "crm.objects.contacts.write",
        "crm.objects.companies.write"]}]}})
    monkeypatch.setenv("NETWORK_HUBSPOT_TOKEN", "pat-network-portal")
    monkeypatch.setenv("NETWORK_HUBSPOT_SECRET", "network-app-client-secret")
    monkeypatch.setenv("ASSIST_DB_KEY", "assist-own-webhook-key")
    return load_config(config_copy)


def test_given_a_tenant_with_its_own_account_then_its_config_is_merged_over_the_shared_one(accounts):
    assert accounts.account_of("hubspot", "network") == "network"
    assert accounts.account_of("hubspot", "assist") == "default"
    own = accounts.account_config("hubspot", "network")
    assert own.credentials == {"token": "env:NETWORK_HUBSPOT_TOKEN", "client_secret": "env:NETWORK_HUBSPOT_SECRET"}
    assert own.base_url == accounts.tools["hubspot"].base_url  # the sandbox's, from the shared section
    assert list(accounts.accounts("hubspot")) == ["default", "network"]
    assert list(accounts.accounts("salesforce")) == ["default"]


def test_given_own_accounts_then_each_spends_its_own_budget_under_its_own_plan(accounts):
    limits = {**configured_limits(accounts.tools), **account_limits(accounts)}
    limiter = WindowLimiter(limits, clock=lambda: 0.0, sleep=lambda s: (_ for _ in ()).throw(TimeoutError()))
    shared, own = bucket_for(limits["hubspot"]).capacity, bucket_for(limits["hubspot@network"]).capacity
    assert (shared, own) == (3, 6)  # 100 per 10 s and 190 per 10 s: what 0.97 of each leaves of a window
    for _ in range(shared):  # the shared account's burst
        limiter.acquire("hubspot", "default")
    with pytest.raises(TimeoutError):
        limiter.acquire("hubspot", "default")
    for _ in range(own):  # the network's own plan, untouched by the other's
        limiter.acquire("hubspot", "network")
    with pytest.raises(TimeoutError):
        limiter.acquire("hubspot", "network")
    assert limit_name("hubspot", "network") != limit_name("hubspot", "default")


def test_given_own_accounts_then_the_connectors_use_their_own_credentials(accounts, sandbox_env):
    runtime = Runtime.build(accounts, ledger=Ledger.open("sqlite://"))
    shared, own = runtime.connector("hubspot"), runtime.connector("hubspot", "network")
    assert (shared.credential_key, own.credential_key) == ("default", "network")
    assert own.secret("token") == "pat-network-portal" != shared.secret("token")
    assert own.check(NOW) == [] and shared.check(NOW) == []
    runtime.ledger.close()


def test_given_two_accounts_then_each_is_polled_from_its_own_cursor_and_its_deliveries_are_its_tenants(
        accounts, sandbox, tmp_path):
    sandbox.act("hubspot", "tickets", properties={"subject": "N Example", "hs_pipeline": "28734902",
                                                   "hs_pipeline_stage": "84562201"})
    runtime = Runtime.build(accounts, ledger=Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))
    report = poll(runtime, "hubspot", NOW)
    assert report.stored == 2  # the sandbox shows both tokens the one ticket: once per account
    assert runtime.ledger.get_cursor("hubspot", "changes") and runtime.ledger.get_cursor("hubspot", "changes@network")
    claimed = runtime.ledger.claim_inbox("test", limit=10, now=NOW)
    assert sorted((item.delivery.account or "") for item in claimed) == ["", "network"]
    own = next(item.delivery for item in claimed if item.delivery.account)
    assert own.dedup_key.startswith("network:tickets:")
    assert poll(runtime, "hubspot", NOW).stored == 0  # each cursor moved
    runtime.ledger.close()


def test_given_own_accounts_then_tasks_done_are_polled_from_each_accounts_own_cursor(accounts, sandbox, tmp_path):
    """HubSpot sends no webhook for a task a person marks done (the closed loops of A6, E6): it
    is polled, after the tickets, on each account's own cursor, and marked with its account."""
    task = sandbox.act("hubspot", "records/tasks", properties={
        "hs_task_subject": "Follow-up call", "hs_task_status": "NOT_STARTED", "hubspot_owner_id": "51200105",
        "hs_timestamp": "2026-03-03T09:00:00.000Z"})
    sandbox.act("hubspot", f"tasks/{task['id']}", method="PATCH", properties={"hs_task_status": "COMPLETED"})
    runtime = Runtime.build(accounts, ledger=Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))
    poll(runtime, "hubspot", NOW)
    assert "|tasks=" in runtime.ledger.get_cursor("hubspot", "changes@network")
    assert "|tasks=" in runtime.ledger.get_cursor("hubspot", "changes")
    claimed = runtime.ledger.claim_inbox("test", limit=10, now=NOW)
    done = [item.delivery for item in claimed if item.delivery.payload.get("objectType") == "tasks"]
    assert sorted((d.account or "", d.record_id) for d in done) == [("", task["id"]), ("network", task["id"])]
    assert poll(runtime, "hubspot", NOW).stored == 0  # each cursor moved past the task too
    runtime.ledger.close()


def request_of(post, base: str = "http://gateway.example.com") -> WebhookRequest:
    return WebhookRequest(method="POST", url=base + post.path, headers=post.headers, body=post.body,
                          query={})


def hubspot_from(portal: int, secret: str) -> WebhookRequest:
    events = [{**event, "portalId": portal} for event in json.loads(hubspot_events(1, 2))]
    return request_of(hubspot("http://gateway.example.com", secret, json.dumps(events).encode()))


def router(config, tool: str) -> AccountRouter:
    found = Connectors(config=config).get(tool)
    assert isinstance(found, AccountRouter)
    return found


def test_given_a_webhook_naming_a_tenants_portal_then_its_secret_checks_it_and_it_goes_to_that_tenant(
        accounts, tmp_path):
    intake = Intake(Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"), lambda: datetime.now(UTC))
    outcome = intake.receive("hubspot", router(accounts, "hubspot"),
                             hubspot_from(NETWORK_PORTAL, "network-app-client-secret"))
    assert outcome.status == 200 and len(outcome.new_ids) == 2
    stored = intake.ledger.claim_inbox("test", limit=10, now=datetime.now(UTC))
    assert {item.delivery.account for item in stored} == {"network"}


def test_given_a_webhook_naming_a_tenants_portal_signed_with_another_accounts_secret_then_401(accounts, tmp_path,
                                                                                              sandbox_env):
    intake = Intake(Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"), lambda: datetime.now(UTC))
    shared_secret = sandbox_env["HUBSPOT_CLIENT_SECRET"]
    assert intake.receive("hubspot", router(accounts, "hubspot"),
                          hubspot_from(NETWORK_PORTAL, shared_secret)).status == 401
    shared = intake.receive("hubspot", router(accounts, "hubspot"), hubspot_from(146000001, shared_secret))
    assert shared.status == 200
    assert {item.delivery.account for item in intake.ledger.claim_inbox("t", limit=9, now=datetime.now(UTC))} == {None}


def test_given_a_body_naming_no_account_then_the_secret_that_verifies_it_tells_the_account(accounts, tmp_path,
                                                                                           sandbox_env):
    intake = Intake(Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"), lambda: datetime.now(UTC))
    own = intake.receive("dealbuilder", router(accounts, "dealbuilder"),
                         request_of(dealbuilder("assist-own-webhook-key", event_id="e1")))
    shared = intake.receive("dealbuilder", router(accounts, "dealbuilder"),
                            request_of(dealbuilder(sandbox_env["DEALBUILDER_WEBHOOK_KEY"], event_id="e2")))
    forged = intake.receive("dealbuilder", router(accounts, "dealbuilder"), request_of(dealbuilder("guess")))
    assert (own.status, shared.status, forged.status) == (200, 200, 401)
    accounts_seen = {item.delivery.account for item in intake.ledger.claim_inbox("t", limit=9, now=datetime.now(UTC))}
    assert accounts_seen == {"assist", None}


def test_given_an_own_account_for_a_tool_the_tenant_does_not_use_then_the_config_says_so(config_copy):
    path = config_copy / "tenants.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["tenants"]["core"]["accounts"] = {"hubspot": {"credentials": {"token": "env:CORE_HUBSPOT_TOKEN"}}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    from kickoff.settings import ConfigError

    with pytest.raises(ConfigError, match=r"tenants.core.accounts.hubspot"):
        load_config(config_copy)


def test_given_own_accounts_then_connect_check_checks_each_account(accounts):
    from tests.golive.conftest import kickoff

    result = kickoff("connect", "check", "hubspot")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["hubspot: ok", "hubspot (network's account): ok"]
