"""``kickoff config check --live``: every id, property, field, value, section and channel of the
mapping tables read back from the live tools; one line per problem (file, key, what the tool
has instead); exit non-zero on any."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.golive.conftest import fixture, kickoff


def edit(config: Path, tool: str, change) -> None:
    path = config / "mappings" / f"{tool}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def problems(result) -> list[str]:
    return [line.split("/config/mappings/", 1)[-1] for line in result.stdout.splitlines()]


def test_given_the_default_fixture_then_every_table_matches_and_exit_0(seeded):
    result = kickoff("config", "check", "--live")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "config ok, live: 13 mapping tables match their tools"


def test_without_live_it_stays_the_offline_check(sandbox_env):
    result = kickoff("config", "check")
    assert result.exit_code == 0 and result.stdout.startswith("config ok: 5 tenants")


def test_given_other_accounts_then_each_stale_id_is_one_line_naming_file_key_and_what_the_tool_has(sandbox,
                                                                                                   sandbox_env):
    sandbox.seed(fixture("second-accounts"))
    result = kickoff("config", "check", "--live", "--tenant", "assist")
    assert result.exit_code == 1
    found = problems(result)
    assert found[0].startswith("hubspot.yaml: assist.pipeline: no ticket pipeline 28734901 (pipelines: 0 (Support "
                               "Pipeline), 41200770 (Solutions Order/Faktura), 41200771 (Network onboarding))")
    assert "hubspot.yaml: assist.owners.onboarding_team: no owner 51200102 in hubspot" in "\n".join(found)
    assert ("hubspot.yaml: assist.restart_property: no field restart_onboarding on tickets in hubspot "
            "(similar: restart_onboarding_se)") in found


def test_given_a_stage_of_another_pipeline_then_it_says_which_pipeline_it_belongs_to(seeded, config_copy):
    edit(config_copy, "hubspot", lambda d: d["assist"]["stages"].update(new="84562201"))
    result = kickoff("config", "check", "--live", "--tenant", "assist")
    assert result.exit_code == 1
    assert problems(result) == [("hubspot.yaml: assist.stages.new: stage 84562201 belongs to pipeline 28734902 "
                                "(Network onboarding), not 28734901 (Solutions Order/Faktura)")]


def test_given_a_renamed_stage_recreated_under_a_new_id_then_the_old_id_is_missing(seeded):
    pipeline = fixture("default")["hubspot"]["pipelines"]["tickets"][0]
    pipeline["stages"][1] = {**pipeline["stages"][1], "id": "84561299", "label": "Onboarding pågår"}
    seeded.seed({"hubspot": {"pipelines": {"tickets": [pipeline]}}})
    found = problems(kickoff("config", "check", "--live", "--tenant", "assist"))
    assert found == [("hubspot.yaml: assist.stages.onboarding_in_progress: no stage 84561202 in pipeline 28734901 "
                     "(its stages: 84561201 (Ny), 84561299 (Onboarding pågår), 84561203 (Må följas upp), 84561204 "
                     "(Manuell uppföljning), 84561205 (Inaktiva kunder), 84561206 (Avslutad))")]


def test_given_a_deactivated_owner_then_it_is_named(seeded):
    owner = fixture("default")["hubspot"]["owners"][1]
    seeded.seed({"hubspot": {"owners": [{**owner, "archived": True}]}})
    assert problems(kickoff("config", "check", "--live", "--tenant", "assist")) == [
        "hubspot.yaml: assist.owners.onboarding_team: owner 51200102 (Olle Bergh) is deactivated in hubspot"]


def test_given_a_polled_tasks_owner_route_naming_someone_gone_then_it_is_named(seeded, config_copy):
    """The route a polled task is given to its tenant by (its owner): each id a person there."""
    edit(config_copy, "hubspot", lambda d: d["assist"]["route"]["properties.hubspot_owner_id"].append("51200199"))
    found = problems(kickoff("config", "check", "--live", "--tenant", "assist"))
    assert len(found) == 1
    assert found[0].startswith("hubspot.yaml: assist.route.properties.hubspot_owner_id[4]: no owner 51200199 in "
                               "hubspot (active: 51200101 (Cora Lind)")


def test_given_restart_onboarding_missing_or_not_yes_no_then_it_is_named(sandbox, sandbox_env):
    default = fixture("default")
    tickets = default["hubspot"]["properties"]["tickets"]
    tickets[:] = [p if p["name"] != "restart_onboarding" else {**p, "type": "string", "fieldType": "text",
                                                                "options": []} for p in tickets]
    sandbox.seed(default)
    assert problems(kickoff("config", "check", "--live", "--tenant", "assist")) == [
        "hubspot.yaml: assist.restart_property: tickets.restart_onboarding is a text field in hubspot, not bool or enum"]


def test_given_kickoff_key_missing_on_tasks_then_it_says_to_create_it(sandbox, sandbox_env):
    default = fixture("default")
    default["hubspot"]["properties"]["tasks"] = []
    sandbox.seed(default)
    assert problems(kickoff("config", "check", "--live", "--tenant", "assist")) == [
        ("hubspot.yaml: assist.(tasks.kickoff_key): no property kickoff_key on tasks: create it (single-line text, "
        "unique): Kickoff finds its own records by it")]


def test_given_a_value_the_salesforce_picklist_lacks_then_it_lists_the_picklist(seeded, config_copy):
    edit(config_copy, "salesforce", lambda d: d["marketplace"]["stages"].update(active="Live"))
    assert problems(kickoff("config", "check", "--live", "--tenant", "marketplace")) == [
        ("salesforce.yaml: marketplace.stages.active: Account.Onboarding_Stage__c has no value 'Live' (its values: "
        "Active, Check Usage, Signed, Training)")]


def test_given_ids_of_other_tools_that_are_gone_then_one_line_each(seeded, config_copy):
    edit(config_copy, "asana", lambda d: d["retention"]["sections"].update(waiting="1209500000000999"))
    edit(config_copy, "slack", lambda d: d["retention"]["channels"].update(support="C0GONE00001"))
    edit(config_copy, "zendesk", lambda d: d["retention"].update(case_field=360000999))
    found = problems(kickoff("config", "check", "--live", "--tenant", "retention"))
    assert found[0] == "zendesk.yaml: retention.case_field: no field 360000999 on tickets in zendesk"
    assert found[1].startswith("asana.yaml: retention.sections.waiting: no column 1209500000000999 on project "
                               "'AM requests' (its columns: 1209500000000101 (new request),")
    assert found[2].startswith("slack.yaml: retention.channels.support: no channel C0GONE00001 in the workspace")
    assert len(found) == 3


def test_given_a_wrong_token_then_the_table_cannot_be_checked_and_it_says_why(seeded, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    result = kickoff("config", "check", "--live", "--tenant", "core")
    assert result.exit_code == 1
    assert problems(result) == ["slack.yaml: (slack): cannot read the account: token rejected: set SLACK_BOT_TOKEN"]
