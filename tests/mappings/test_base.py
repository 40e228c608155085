"""The shared contract: tables load with clear errors, tenants are routed, fingerprints and
paths behave, and the demo fixture holds every id the tables name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kickoff.paths import dig
from kickoff.settings import ConfigError
from mappings.base import MappingError, load_tables, mapping_for, tenant_for
from mappings.common import change_fingerprint, parse_date, parse_datetime
from sandbox.state import Sandbox
from tests.mappings.conftest import FIXTURE, REPO, delivery


def config_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(REPO / "config", folder)
    return folder


def test_given_the_project_tables_when_loaded_then_every_tool_and_tenant_is_there():
    tables = load_tables(REPO / "config")
    assert tables["hubspot"]["assist"]["stages"]["manual_follow_up"] == "84561204"
    assert set(tables) == {"hubspot", "dealbuilder", "salesforce", "zendesk", "movidesk", "asana", "slack", "email"}


def test_given_a_wrong_field_in_a_table_when_loaded_then_the_error_names_file_and_field(tmp_path):
    folder = config_copy(tmp_path)
    path = folder / "mappings" / "hubspot.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["assist"]["stages"] = ["not", "a", "mapping"]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_tables(folder)
    assert caught.value.file.endswith("mappings/hubspot.yaml")
    assert caught.value.field == "assist.stages"


def test_given_a_typo_key_in_a_table_when_loaded_then_refused_with_its_name(tmp_path):
    folder = config_copy(tmp_path)
    path = folder / "mappings" / "asana.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["retention"]["sectoins"] = {}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_tables(folder)
    assert caught.value.field == "retention.sectoins"


@pytest.mark.parametrize(("name", "content", "field"), [
    ("zendesk.yaml", "nobody: {alerts: [], stages: {}, owners: {}}\n", "nobody"),
    ("trello.yaml", "assist: {}\n", "(file name)"),
    ("slack.yaml", "retention: [\n", "line 2"),
])
def test_given_a_bad_file_when_loaded_then_config_error(tmp_path, name, content, field):
    folder = config_copy(tmp_path)
    (folder / "mappings" / name).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_tables(folder)
    assert caught.value.field == field and name in caught.value.file


def test_given_no_mappings_folder_then_no_tables(tmp_path):
    assert load_tables(tmp_path) == {}


def test_given_one_tenant_per_tool_then_routed_to_it(tenants, tables):
    assert tenant_for("movidesk", delivery("movidesk", {}), tenants) == "core"
    assert tenant_for("dealbuilder", delivery("dealbuilder", {}), tenants) == "assist"
    assert tenant_for("hubspot", delivery("hubspot", {"portalId": 146000001}), tenants, tables) == "assist"
    polled = {"objectType": "tickets", "properties": {"hs_pipeline": "28734902"}}
    assert tenant_for("hubspot", delivery("hubspot", polled, kind="poll"), tenants) == "network"  # last loaded
    with pytest.raises(MappingError) as caught:
        tenant_for("asana", delivery("asana", {}), {k: v for k, v in tenants.items() if k != "retention"})
    assert caught.value.field == "tenant"


def test_given_two_tenants_on_one_tool_then_the_table_route_decides(tenants):
    both = {**tenants, "other": tenants["assist"].model_copy(update={"name": "Other"})}
    tables = {"hubspot": {"assist": {"route": {"portalId": 1}}, "other": {"route": {"portalId": 2}}}}
    assert tenant_for("hubspot", delivery("hubspot", {"portalId": 2}), both, tables) == "other"
    with pytest.raises(MappingError, match="no table route matches"):
        tenant_for("hubspot", delivery("hubspot", {"portalId": 3}), both, tables)


def test_fingerprints_compare_what_vendors_send_back():
    assert change_fingerprint("1", "owner", None) == change_fingerprint("1", "owner", "")
    assert change_fingerprint("1", "flag", False) == change_fingerprint("1", "flag", "false")
    assert change_fingerprint("1", "stage", "84561202") != change_fingerprint("2", "stage", "84561202")
    assert change_fingerprint("1", "stage", "a") != change_fingerprint("1", "stage", "b")


def test_paths_select_by_index_and_by_key():
    doc = {"Parties": [{"role": "seller", "name": "S"}, {"role": "Customer", "contacts": [{"email": "a@example.com"}]}]}
    assert dig(doc, "Parties[role=customer].contacts[0].email") == "a@example.com"
    assert dig(doc, "Parties[1].role") == "Customer"
    assert dig(doc, "Parties[role=nobody].name") is None and dig(doc, "Parties[7]") is None


def test_dates_in_the_vendors_spellings_read_in_the_tenant_zone():
    from zoneinfo import ZoneInfo

    sp = ZoneInfo("America/Sao_Paulo")
    assert parse_datetime("04/05/2026 14:00", sp).isoformat() == "2026-05-04T14:00:00-03:00"
    assert parse_datetime("2026-05-04T17:00:00.2500000").isoformat() == "2026-05-04T17:00:00.250000+00:00"
    assert parse_datetime("2026-03-02T09:00:00.000+0000").isoformat() == "2026-03-02T09:00:00+00:00"
    assert parse_date("2026-03-01T23:30:00Z", ZoneInfo("Europe/Stockholm")).isoformat() == "2026-03-02"
    with pytest.raises(ValueError):
        parse_datetime("next tuesday")


def test_given_an_unknown_tool_then_no_mapping():
    with pytest.raises(LookupError):
        mapping_for("trello")


# --- the fixture and the tables agree --------------------------------------------------------
@pytest.fixture(scope="module")
def seeded_state() -> Sandbox:
    sb = Sandbox(limits_enabled=False)
    sb.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")))
    return sb


def test_every_hubspot_id_in_the_tables_is_seeded(tables, seeded_state):
    hubspot = seeded_state.vendors["hubspot"]
    for table in tables["hubspot"].values():
        pipeline = hubspot.pipelines["tickets"][table["pipeline"]]
        assert set(table["stages"].values()) <= {s["id"] for s in pipeline["stages"]}
        assert set(table["pipelines"].values()) <= set(hubspot.pipelines["tickets"])
        assert {o for o in table["owners"].values() if o} <= set(hubspot.owners)


def test_every_salesforce_user_and_field_in_the_tables_is_seeded(tables, seeded_state):
    sf = seeded_state.vendors["salesforce"]
    table = tables["salesforce"]["marketplace"]
    assert set(table["owners"].values()) <= set(sf.users)
    account_fields = set(sf._fields("Account"))
    assert {v for v in table["account"].values() if v} <= account_fields
    assert set(table["usage_fields"].values()) <= account_fields
    case = table["records"]["case"]
    assert set(case["stages"].values()) | set(case["statuses"]) <= set(sf.picklists["Case.Status"])
    assert set(case["fields"].values()) <= set(sf._fields("Case"))


def test_every_zendesk_agent_in_the_tables_is_seeded(tables, seeded_state):
    users = seeded_state.vendors["zendesk"].users
    assert all(users[i]["role"] == "agent" for i in tables["zendesk"]["retention"]["owners"].values())


def test_every_movidesk_person_team_and_status_in_the_tables_is_seeded(tables, seeded_state):
    md = seeded_state.vendors["movidesk"]
    table = tables["movidesk"]["core"]
    owners = table["owners"].values()
    assert {o["owner_id"] for o in owners} | {table["agent_id"], table["default_client"]} <= set(md.persons)
    assert {o["owner_team"] for o in owners} | {table["ticket"]["ownerTeam"]} <= md.teams
    for spec in [*table["stages"].values(), *table["statuses"].values()]:
        assert spec["status"] in md.statuses
        assert spec["justification"] is None or spec["justification"] in md.statuses[spec["status"]]["justifications"]


def test_every_asana_gid_in_the_tables_is_seeded(tables, seeded_state):
    asana = seeded_state.vendors["asana"]
    table = tables["asana"]["retention"]
    assert table["project"] in asana.projects
    assert set(table["sections"].values()) == set(asana.projects[table["project"]]["sections"])
    assert set(table["owners"].values()) <= set(asana.users)
    assert set(table["request_fields"].values()) <= set(asana.custom_fields)
