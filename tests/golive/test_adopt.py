"""``kickoff adopt --tenant T [--apply]`` against the sandbox: the Assist tickets already under way
in HubSpot planned in simulate's format, entered into the ledger once (a second run changes
nothing), a ticket it cannot place listed with the reason, and the network's sign-ups said to
be out of reach."""

from __future__ import annotations

import json
from typing import Any

from kickoff.ledger import Ledger
from kickoff.settings import KickoffSettings
from tests.golive.conftest import fixture, kickoff

PIPELINE, NEW, IN_PROGRESS, MANUAL, CLOSED = "28734901", "84561201", "84561202", "84561204", "84561206"
RUNNING = [  # dates relative to the sandbox's clock (sandbox/fixture_times.py)
    {"properties": {"subject": "SE - Nordljus Bygg AB", "hs_pipeline": PIPELINE, "hs_pipeline_stage": IN_PROGRESS,
                    "createdate": "now-20d", f"hs_v2_date_entered_{IN_PROGRESS}": "now-16d",
                    "org_number": "556000-0001"}},
    {"properties": {"subject": "SE - Fjällbo Vård AB", "hs_pipeline": PIPELINE, "hs_pipeline_stage": MANUAL,
                    "createdate": "now-40d", f"hs_v2_date_entered_{IN_PROGRESS}": "now-35d",
                    f"hs_v2_date_entered_{MANUAL}": "now-5d"}},
    {"properties": {"subject": "", "hs_pipeline": PIPELINE, "hs_pipeline_stage": NEW, "createdate": "now-2d"}},
    {"properties": {"subject": "SE - Klar AB", "hs_pipeline": PIPELINE, "hs_pipeline_stage": CLOSED,
                    "createdate": "now-90d"}},
]
NETWORK_TICKET = {"properties": {"subject": "Gîte des Pins", "hs_pipeline": "28734902",
                                 "hs_pipeline_stage": "84562201", "createdate": "now-1d"}}


def _seed(sandbox: Any, *tickets: dict[str, Any]) -> None:
    data = fixture("default")
    data["hubspot"].setdefault("objects", {}).setdefault("tickets", []).extend(tickets)
    sandbox.seed(data)


def _ledger_rows() -> dict[str, int]:
    with Ledger.open(settings=KickoffSettings()) as ledger, ledger.database.connect() as conn:
        return {table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                for table in ("onboardings", "outbox", "timers", "crosswalk", "audit")}


def test_given_running_tickets_when_planned_then_each_shows_its_past_as_done_and_its_timers(
        sandbox, sandbox_env) -> None:
    _seed(sandbox, *RUNNING)
    result = kickoff("adopt", "--tenant", "assist")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count("== assist:hubspot-ticket-") == 2  # the closed ticket is not running
    assert "'SE - Nordljus Bygg AB', stage onboarding_in_progress" in out
    assert "'SE - Fjällbo Vård AB', stage manual_follow_up" in out
    assert "taken as done, never sent:" in out and "A1    hubspot  create_record" in out
    assert "  A8    a8_call" in out and "  A12   a12_inactive" in out
    assert out.rstrip().endswith("assist: 2 to adopt, 1 cannot be placed, 0 already known to the ledger")
    assert _ledger_rows()["onboardings"] == 0  # a plan changes nothing


def test_given_a_ticket_adopt_cannot_place_then_it_is_listed_with_the_reason(sandbox, sandbox_env) -> None:
    _seed(sandbox, *RUNNING)
    lines = [json.loads(line) for line in kickoff("adopt", "--tenant", "assist", "--format", "json").output.splitlines()]
    unplaced = [line for line in lines if "unplaced" in line]
    assert [(u["tool"], u["unplaced"]) for u in unplaced] == [("hubspot", "its subject names no customer")]
    planned = [line for line in lines if "onboarding" in line]
    assert {p["stage"] for p in planned} == {"onboarding_in_progress", "manual_follow_up"}
    assert all(step["at"] <= timer["fire_at"] for p in planned for step in p["done"] for timer in p["timers"])


def test_given_adopt_applied_twice_then_the_second_run_changes_nothing(sandbox, sandbox_env) -> None:
    _seed(sandbox, *RUNNING)
    first = kickoff("adopt", "--tenant", "assist", "--apply")
    assert first.exit_code == 0, first.output
    assert first.output.count("-> adopted") == 2
    assert "assist: 2 adopted, 1 cannot be placed, 0 already known to the ledger" in first.output
    rows = _ledger_rows()
    assert rows["onboardings"] == 2 and rows["crosswalk"] == 2 and rows["timers"] == 3
    with Ledger.open(settings=KickoffSettings()) as ledger:
        outbox = ledger.outbox_rows()
        assert outbox and {row["status"] for row in outbox} == {"done"}  # the past: done, never sent
        ticket = next(r for r in outbox if r["kind"] == "create_record")
        assert ledger.external_for(ticket["idempotency_key"], "hubspot", "ticket") == ticket["external_id"]
    second = kickoff("adopt", "--tenant", "assist", "--apply")
    assert second.exit_code == 0
    assert "assist: 0 adopted, 1 cannot be placed, 2 already known to the ledger" in second.output
    assert _ledger_rows() == rows


def test_given_the_networks_sign_ups_then_adopt_says_they_cannot_be_adopted_and_why(sandbox, sandbox_env) -> None:
    _seed(sandbox, NETWORK_TICKET)
    result = kickoff("adopt", "--tenant", "network")
    assert result.exit_code == 0
    assert "network: cannot adopt: network-onboarding starts on account.created" in result.output
    assert "cannot place HubSpot ticket" in result.output and "'Gîte des Pins'" in result.output
    assert "network: 0 to adopt, 1 cannot be placed" in result.output


ACCOUNT = {"Name": "Salon Lumière", "Self_Onboarding__c": False, "Onboarding_Stage__c": "Training",
           "Signature_Date__c": "today-5d", "Starting_Date__c": "today+6d", "Plan__c": "Advanced",
           "CreatedDate": "now-5d"}
CORE_TICKET = {"subject": "CORE - Implementação e onboarding - Padaria Sol", "category": "Implantação",
               "status": "Aguardando", "justification": "Aguardando cliente", "createdDate": "now-3d",
               "clients": [{"id": "900000301", "businessName": "Padaria Sol", "personType": 2}]}


def test_given_a_marketplace_account_in_training_then_it_is_adopted_with_its_starting_date_timers(
        sandbox, sandbox_env) -> None:
    data = fixture("default")
    data["salesforce"].setdefault("records", {}).setdefault("Account", []).append(ACCOUNT)
    sandbox.seed(data)
    plan = kickoff("adopt", "--tenant", "marketplace")
    assert plan.exit_code == 0, plan.output
    assert "Salesforce Account" in plan.output and "'Salon Lumière', stage training" in plan.output
    assert "t5_go_live" in plan.output  # T5: the go-live on the Starting Date, still ahead
    applied = kickoff("adopt", "--tenant", "marketplace", "--apply")
    assert "marketplace: 1 adopted" in applied.output, applied.output
    with Ledger.open(settings=KickoffSettings()) as ledger:
        account = next(a for a in sandbox.get("salesforce", "records/Account") if a["Name"] == "Salon Lumière")
        assert ledger.canonical_for("salesforce", account["Id"]) == f"marketplace:{account['Id']}"


def test_given_a_core_implementation_ticket_waiting_for_the_customer_then_it_is_adopted_at_scheduling(
        sandbox, sandbox_env) -> None:
    data = fixture("default")
    data["movidesk"].setdefault("tickets", []).append(CORE_TICKET)
    sandbox.seed(data)
    plan = kickoff("adopt", "--tenant", "core")
    assert plan.exit_code == 0, plan.output
    assert "Movidesk ticket" in plan.output and "stage scheduling" in plan.output
    assert "core: 1 to adopt" in plan.output


def test_given_open_alert_tickets_then_each_accounts_case_is_adopted_once(sandbox, sandbox_env) -> None:
    data = fixture("default")
    data["zendesk"].setdefault("tickets", []).extend([
        {"subject": "Churn risk: Salon Rivoli", "status": "open", "tags": ["churn_risk"], "requester_id": 7100001,
         "description": "Talks to a competitor", "created_at": "now-2d", "updated_at": "now-1d"},
        {"subject": "NPS 3: Salon Rivoli", "status": "new", "tags": ["nps", "nps_score_3"], "requester_id": 7100001,
         "description": "Not happy", "created_at": "now-1d", "updated_at": "now-1d"},
        {"subject": "Question about invoices", "status": "open", "tags": ["billing"], "requester_id": 7100002}])
    sandbox.seed(data)
    plan = kickoff("adopt", "--tenant", "retention")
    assert plan.exit_code == 0, plan.output
    assert "== retention:requester-7100001: Zendesk ticket" in plan.output
    assert "retention:requester-7100001 is adopted from Zendesk ticket" in plan.output  # the NPS: same case
    assert "Question about invoices" not in plan.output  # not an alert
    assert "retention: 1 to adopt, 1 cannot be placed" in plan.output


def test_given_a_token_the_tool_refuses_then_adopt_says_which_tool_it_could_not_read(
        sandbox, sandbox_env, monkeypatch) -> None:
    _seed(sandbox, *RUNNING)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "not-the-token")
    result = kickoff("adopt", "--tenant", "assist", "--apply")
    assert result.exit_code == 1
    assert "FAILED hubspot: cannot read its running records:" in result.output
    assert "not-the-token" not in result.output
    assert _ledger_rows()["onboardings"] == 0
