"""``kickoff discover TOOL --tenant T [--write]``: the tenant's part of the mapping file proposed
from its live account by the playbook's names, printed as a diff, what is not matched listed,
written only with ``--write`` (other tenants and comments kept)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.golive.conftest import fixture, kickoff

SECOND = fixture("second-accounts")


def emptied(config: Path, *tools: str) -> None:
    """The tools' mapping files with every tenant's part empty: nothing typed by hand."""
    for tool in tools:
        path = config / "mappings" / f"{tool}.yaml"
        tenants = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        path.write_text("".join(f"{t}: {{}}\n" for t in tenants), encoding="utf-8")


def table(config: Path, tool: str, tenant: str) -> dict:
    return yaml.safe_load((config / "mappings" / f"{tool}.yaml").read_text(encoding="utf-8"))[tenant]


def test_given_other_accounts_and_empty_tables_when_discover_writes_then_every_id_is_theirs(
        sandbox, config_copy):
    sandbox.seed(SECOND)
    emptied(config_copy, "hubspot", "asana", "slack", "salesforce")
    for tool, tenant in [("hubspot", "assist"), ("hubspot", "network"), ("asana", "retention"),
                         ("slack", "retention"), ("salesforce", "marketplace"), ("slack", "core"),
                         ("zendesk", "retention"), ("movidesk", "core")]:  # the last two keep their rules
        result = kickoff("discover", tool, "--tenant", tenant, "--write")
        assert result.exit_code == 0, result.output
    assist = table(config_copy, "hubspot", "assist")
    assert assist["pipeline"] == "41200770"
    assert assist["stages"]["onboarding_in_progress"] == "97310102"  # "Onboarding – Pågår" by its seed name
    assert assist["owners"] == {"no_owner": "", "new_customer_coordinator": "88020301", "onboarding_team": "88020302",
                                "contracts_team": "88020303", "sam_advisor": "88020304"}
    assert assist["restart_property"] == "restart_onboarding_se" and assist["ticket_fields"] == {"org_number": "org_nr"}
    assert assist["route"] == {"properties.hs_pipeline": "41200770",  # two tenants share the portal: no portalId
                               "properties.hubspot_owner_id": ["88020301", "88020302", "88020303", "88020304"]}
    assert table(config_copy, "hubspot", "network")["stages"]["closed"] == "97320204"
    assert table(config_copy, "asana", "retention")["sections"]["resolved"] == "2208700000000103"
    assert table(config_copy, "slack", "retention")["channels"] == {
        "#retention-alerts": "C07RETENT02", "support": "C07SUPPORT2", "am": "C07RETENT02"}
    assert table(config_copy, "salesforce", "marketplace")["owners"]["team_leader"] == "0057Q00000AbcdfQAB"
    checked = kickoff("config", "check", "--live")
    assert checked.exit_code == 0, checked.output


def test_given_no_write_then_the_diff_is_printed_and_nothing_written(sandbox, config_copy):
    sandbox.seed(SECOND)
    before = (config_copy / "mappings" / "hubspot.yaml").read_text(encoding="utf-8")
    result = kickoff("discover", "hubspot", "--tenant", "assist")
    assert result.exit_code == 0, result.output
    assert '-    new: "84561201"                     # Ny' in result.stdout
    assert '+    new: "97310101"                     # Ny' in result.stdout
    assert (config_copy / "mappings" / "hubspot.yaml").read_text(encoding="utf-8") == before


def test_given_write_then_the_other_tenants_and_the_comments_are_kept(sandbox, config_copy):
    sandbox.seed(SECOND)
    assert kickoff("discover", "hubspot", "--tenant", "assist", "--write").exit_code == 0
    text = (config_copy / "mappings" / "hubspot.yaml").read_text(encoding="utf-8")
    assert "# the playbook's create_record whose ticket is the onboarding's" in text
    assert "# Onboarding – Pågår" in text
    assert table(config_copy, "hubspot", "network")["pipeline"] == "28734902"  # untouched


def test_given_a_renamed_stage_then_it_is_listed_not_matched_and_its_id_kept(seeded, config_copy):
    renamed = fixture("default")["hubspot"]["pipelines"]["tickets"][0]
    renamed["stages"][1]["label"] = "Onboarding pågår (ny rutin)"
    seeded.seed({"hubspot": {"pipelines": {"tickets": [renamed]}}})
    result = kickoff("discover", "hubspot", "--tenant", "assist")
    assert result.exit_code == 1
    assert ("not matched: hubspot.yaml assist.stages.onboarding_in_progress: no stage of 'Solutions Order/Faktura' "
            "named 'Onboarding – Pågår'; kept 84561202 (named 'Onboarding pågår (ny rutin)' now)") in result.stdout


def test_given_a_missing_property_then_it_is_listed_not_matched(sandbox, config_copy):
    without = fixture("default")
    without["hubspot"]["properties"]["tickets"] = [
        p for p in without["hubspot"]["properties"]["tickets"] if p["name"] != "restart_onboarding"]
    sandbox.seed(without)
    result = kickoff("discover", "hubspot", "--tenant", "assist")
    assert result.exit_code == 1
    assert ("not matched: hubspot.yaml assist.restart_property: no ticket property named 'Restart onboarding'"
            in result.stdout)


def test_given_a_token_without_the_owners_scope_then_discover_names_the_scope(seeded, config_copy, monkeypatch):
    seeded.seed({"hubspot": {"tokens": [{"token": "pat-tickets-only", "scopes": ["tickets"]}]}})
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-tickets-only")
    result = kickoff("discover", "hubspot", "--tenant", "assist")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("kickoff: hubspot: cannot read the account: missing scope "
                                     "crm.objects.owners.read (read the owners the owner roles stand for): grant it "
                                     "to the private app of HUBSPOT_ACCESS_TOKEN")


def test_given_a_wrong_token_then_discover_names_the_setting(seeded, config_copy, monkeypatch):
    monkeypatch.setenv("ASANA_ACCESS_TOKEN", "0/not-the-token")
    result = kickoff("discover", "asana", "--tenant", "retention")
    assert result.exit_code == 1
    assert "asana: cannot read the account: token rejected: set ASANA_ACCESS_TOKEN" in result.stderr


@pytest.mark.parametrize(("tool", "tenant", "reason"), [
    ("hubspot", "nobody", "tenants.nobody: not a configured tenant"),
    ("salesforce", "assist", "tenants.assist.tools: assist does not use salesforce"),
])
def test_given_a_tenant_that_does_not_fit_then_one_line(seeded, config_copy, tool, tenant, reason):
    result = kickoff("discover", tool, "--tenant", tenant)
    assert result.exit_code == 2 and reason in result.stderr


def test_given_a_tool_without_ids_then_its_table_is_left_as_it_is(seeded, config_copy):
    result = kickoff("discover", "email", "--tenant", "assist")
    assert result.exit_code == 0 and "nothing to change" in result.stdout
