"""Slack and e-mail: the playbooks' notify actions (roles, channel names) become channel ids
and addresses from the tables, and the connectors deliver them to the sandbox."""

from __future__ import annotations

import pytest

from connectors.email import EmailConnector
from connectors.slack import SlackConnector
from kickoff.model import ActionKind, ResultStatus
from kickoff.retry import FAST_POLICY
from kickoff.tools.email import EmailNotify
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import NOW, action, delivery


def notify(tool: str, onboarding: str, rule: str, **payload):
    return action(tool, ActionKind.NOTIFY, payload, onboarding=onboarding, rule=rule)


def test_A5_given_a_role_then_its_addresses_and_the_message_is_sent(kickoff_config, sandbox, ledger, tables, tenants):
    ctx = ledger.context("assist", "email", tables, tenants)
    register = notify("email", "assist:D-1", "A5", to=["contracts_team"], template="register_contract",
                      subject="New Assist contract: Exempel Bygg AB", body="Register the contract.")
    vendor = mapping_for("email").to_vendor(register, ctx)
    assert vendor.payload == EmailNotify(to=["contracts@assist.example.com"],
                                         subject="New Assist contract: Exempel Bygg AB",
                                         body="Register the contract.")
    [result] = EmailConnector(kickoff_config.tools["email"], retry=FAST_POLICY).apply([vendor], NOW)
    assert result.status is ResultStatus.DONE
    [mail] = sandbox.emails()
    assert "contracts@assist.example.com" in str(mail)


def test_A2_given_the_main_users_address_then_it_is_kept(ledger, tables, tenants):
    ctx = ledger.context("assist", "email", tables, tenants)
    welcome = notify("email", "assist:D-1", "A2", to=["maja@kund.example.com"], template="welcome_onboarding_calendar")
    assert mapping_for("email").to_vendor(welcome, ctx).payload.to == ["maja@kund.example.com"]
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
    assert [v.payload.channel for v in vendor] == ["C0RETENTION1", "C0SEMCONTATO", "C0SUPPORT001"]
    assert vendor[1].payload.text == "*Sem contato*\nNo contact 5 minutes after the start."
    results = SlackConnector(kickoff_config.tools["slack"], retry=FAST_POLICY).apply(vendor, NOW)
    assert {r.status for r in results} == {ResultStatus.DONE}
    assert [m["channel"] for m in sandbox.get("slack", "messages")] == ["C0RETENTION1", "C0SEMCONTATO", "C0SUPPORT001"]


def test_given_an_unknown_role_without_default_then_mapping_error(ledger, tables, tenants):
    ctx = ledger.context("core", "slack", tables, tenants)
    with pytest.raises(MappingError) as caught:
        mapping_for("slack").to_vendor(notify("slack", "core:7", "M2", to=["ceo"], body="x"), ctx)
    assert caught.value.field == "to"
    assert mapping_for("slack").to_events(delivery("slack", {}), ctx) == []


@pytest.mark.parametrize(("tool", "table", "wrong"), [
    ("slack", {"channels": {"#support": "support"}}, "#support"),
    ("slack", {"channels": {}, "default_channel": "support"}, "default_channel"),
    ("email", {"addresses": {"billing": ["billing at example.com"]}}, "billing"),
    ("email", {"cc": ["billing"]}, "cc"),
])
def test_given_a_table_whose_recipients_the_tool_cannot_take_then_refused(ledger, tenants, tool,
                                                                         table, wrong):
    ctx = ledger.context("retention", tool, {tool: {"retention": table}}, tenants)
    with pytest.raises(MappingError) as caught:
        mapping_for(tool).to_vendor(notify(tool, "retention:r-1", "W1", to=["x@example.com"]), ctx)
    assert wrong in str(caught.value)


def test_given_a_subject_on_two_lines_then_mapping_error_not_a_broken_header(ledger, tables,
                                                                            tenants):
    ctx = ledger.context("assist", "email", tables, tenants)
    two_lines = notify("email", "assist:D-1", "A5", to=["contracts_team"],
                       subject="New\nBcc: x@example.com")
    with pytest.raises(MappingError) as caught:
        mapping_for("email").to_vendor(two_lines, ctx)
    assert caught.value.field == "payload.subject"


def test_given_another_kind_than_notify_then_mapping_error(ledger, tables, tenants):
    ctx = ledger.context("core", "slack", tables, tenants)
    stage = action("slack", ActionKind.SET_STAGE, {"stage": "won"}, onboarding="core:7", rule="M2")
    with pytest.raises(MappingError) as caught:
        mapping_for("slack").to_vendor(stage, ctx)
    assert caught.value.field == "kind"
