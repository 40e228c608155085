"""Slack and e-mail: the playbooks' notify actions (roles, channel names) become channel ids
and addresses from the tables, and the connectors deliver them to the sandbox."""

from __future__ import annotations

import pytest

from connectors.email import EmailConnector
from connectors.retry import FAST_POLICY
from connectors.slack import SlackConnector
from kickoff.model import ActionKind, ResultStatus
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import action, delivery


def notify(tool: str, onboarding: str, rule: str, **payload):
    return action(tool, ActionKind.NOTIFY, payload, onboarding=onboarding, rule=rule)


def test_A5_given_a_role_then_its_addresses_and_the_message_is_sent(kickoff_config, sandbox, ledger, tables, tenants):
    ctx = ledger.context("assist", "email", tables, tenants)
    register = notify("email", "assist:D-1", "A5", to=["contracts_team"], template="register_contract",
                      subject="New Assist contract: Exempel Bygg AB", body="Register the contract.")
    vendor = mapping_for("email").to_vendor(register, ctx)
    assert vendor.payload == {"to": ["contracts@assist.example.com"], "subject": "New Assist contract: Exempel Bygg AB",
                              "body": "Register the contract."}
    [result] = EmailConnector(kickoff_config.tools["email"], retry=FAST_POLICY).apply([vendor])
    assert result.status is ResultStatus.DONE
    [mail] = sandbox.emails()
    assert "contracts@assist.example.com" in str(mail)


def test_A2_given_the_main_users_address_then_it_is_kept(ledger, tables, tenants):
    ctx = ledger.context("assist", "email", tables, tenants)
    welcome = notify("email", "assist:D-1", "A2", to=["maja@kund.example.com"], template="welcome_onboarding_calendar")
    assert mapping_for("email").to_vendor(welcome, ctx).payload["to"] == ["maja@kund.example.com"]
    nobody = notify("email", "assist:D-1", "A2", to=["main_user"], template="welcome_onboarding_calendar")
    with pytest.raises(MappingError) as caught:  # the contract had no e-mail: never send to nobody
        mapping_for("email").to_vendor(nobody, ctx)
    assert caught.value.field == "to" and "main_user" in caught.value.reason


def test_W1_M7_given_channel_names_and_roles_then_channel_ids_and_posted(kickoff_config, sandbox, ledger, tables,
                                                                         tenants):
    retention = ledger.context("retention", "slack", tables, tenants)
    core = ledger.context("core", "slack", tables, tenants)
    done = notify("slack", "retention:requester-42", "W1", to=["#retention-alerts"], body=":white_check_mark: done")
    no_contact = notify("slack", "core:7", "M7", to=["#sem_contato_agendamento"], subject="Sem contato",
                        body="No contact 5 minutes after the start.")
    incomplete = notify("slack", "retention:requester-42", "W8", to=["Ana from support"], subject="Request incomplete",
                        body="Missing: ticket_link.")
    vendor = [mapping_for("slack").to_vendor(done, retention), mapping_for("slack").to_vendor(no_contact, core),
              mapping_for("slack").to_vendor(incomplete, retention)]
    assert [v.payload["channel"] for v in vendor] == ["C0RETENTION1", "C0SEMCONTATO", "C0SUPPORT001"]
    assert vendor[1].payload["text"] == "*Sem contato*\nNo contact 5 minutes after the start."
    results = SlackConnector(kickoff_config.tools["slack"], retry=FAST_POLICY).apply(vendor)
    assert {r.status for r in results} == {ResultStatus.DONE}
    assert [m["channel"] for m in sandbox.get("slack", "messages")] == ["C0RETENTION1", "C0SEMCONTATO", "C0SUPPORT001"]


def test_given_an_unknown_role_without_default_then_mapping_error(ledger, tables, tenants):
    ctx = ledger.context("core", "slack", tables, tenants)
    with pytest.raises(MappingError) as caught:
        mapping_for("slack").to_vendor(notify("slack", "core:7", "M2", to=["ceo"], body="x"), ctx)
    assert caught.value.field == "to"
    assert mapping_for("slack").to_events(delivery("slack", {}), ctx) == []
