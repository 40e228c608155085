"""Which tenant a delivery belongs to when tenants share a tool's account and its payload names
no route: the record Kickoff knows tells, also when it is the record of a later cycle (linked
under ``<onboarding>#<n>``: a returning customer's second ticket)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from flows.runtime import Runtime
from flows.steps.routing import tenant_of
from kickoff.contracts.mapping import MappingError
from kickoff.ledger import Ledger
from kickoff.model import CYCLE_FACT, Action, ActionKind, Delivery, Onboarding, cycle_id
from kickoff.settings import load_config
from tests.conftest import REPO

NOW = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
SUBJECT = "network:signup-7"


@pytest.fixture
def rt(monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("KICKOFF_CONFIG_DIR", str(REPO / "config"))
    runtime = Runtime.build(load_config(REPO / "config"), ledger=Ledger.open("sqlite://"))
    yield runtime
    runtime.ledger.close()


def stage_change(record_id: str) -> Delivery:
    """A HubSpot property change: it names the ticket, no portal and no pipeline."""
    return Delivery(tool="hubspot", kind="webhook", received_at=NOW, dedup_key=f"hubspot:{record_id}:1",
                    record_id=record_id, payload={"subscriptionType": "ticket.propertyChange", "objectId": record_id,
                                                  "propertyName": "hs_pipeline_stage", "propertyValue": "1"})


def test_given_a_ticket_of_a_later_cycle_then_the_change_goes_to_its_onboardings_tenant(rt: Runtime) -> None:
    second = Onboarding(id=SUBJECT, tenant="network", playbook="network-onboarding", stage="signed_up",
                        facts={CYCLE_FACT: {"n": 2}})
    assert rt.ledger.adopt(second, [], [], [(cycle_id(SUBJECT, 2), "hubspot", "9002", "ticket")], [], NOW)
    assert rt.ledger.canonical_for("hubspot", "9002") == f"{SUBJECT}#2"

    assert tenant_of(rt, stage_change("9002")) == "network"
    with pytest.raises(MappingError, match="no table route matches"):
        tenant_of(rt, stage_change("9999"))  # a ticket Kickoff does not know: still no tenant


def _note(tool: str) -> Action:
    return Action(kind=ActionKind.ADD_NOTE, tool=tool, onboarding_id="nobody-knows", payload={"body": "hello"},
                  idempotency_key=f"key-{tool}", rule="T1", due_at=NOW)


def test_given_an_action_whose_onboarding_is_unknown_then_only_a_tool_of_one_tenant_names_its_tenant(
        rt: Runtime) -> None:
    # salesforce is the marketplace's alone; hubspot is the network's and Assist's
    assert rt.tenant_of_action(_note("salesforce"), None) == "marketplace"
    assert rt.tenant_of_action(_note("hubspot"), None) is None  # not the first of the two
    assist = Onboarding(id="assist:1", tenant="assist", playbook="assist-se", stage="new")
    assert rt.tenant_of_action(_note("hubspot"), assist) == "assist"  # the onboarding's own tenant
