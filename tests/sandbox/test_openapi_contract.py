"""The sandbox's HubSpot and Asana against the vendors' published OpenAPI documents: the
connectors' calls and the go-live commands' calls (``connect check``, ``discover``, ``config
check --live``), and the reads a user's own script makes through the official clients (one
record, a list page by page), recorded at the sandbox and validated with ``openapi-core``,
requests and responses alike: no violation.

Every other test's HubSpot and Asana answers are validated too (``tests/conftest.py``), responses
only: tests send invalid requests on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asana
import pytest
from hubspot import HubSpot
from urllib3.util.retry import Retry

from kickoff.model import ActionKind
from tests.connectors.test_asana import BOARD, PROJECT, make_connector  # noqa: F401 - a fixture
from tests.connectors.test_asana import action as asana_action
from tests.connectors.test_asana import request as asana_request
from tests.connectors.test_hubspot import STAGE_ONBOARDING, act, connector_for, new_ticket, task
from tests.golive.conftest import fixture, kickoff
from tests.sandbox.openapi_schemas import documents, findings

pytestmark = pytest.mark.skipif(not documents(), reason="the vendors' OpenAPI extracts are not available")
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)

NOT_IN_THE_DOCUMENTS = {
    "hubspot POST /oauth/v2/private-apps/get/access-token-info",  # token introspection: not a CRM API
    "asana GET /api/1.0/projects",  # Get multiple projects: not in the extract
}
"""Calls the extracts do not describe (listed, not validated)."""
SEARCH_AS_DOCUMENTED = ("is not of type 'string'", "'after' is a required property")
"""HubSpot's search request as its guide writes it (``sorts`` as {propertyName, direction}, no
``after`` on the first page); the schema types ``sorts`` as strings and requires ``after``."""


def documented_search(finding) -> bool:
    return (finding.part == "request" and finding.template.endswith("/search")
            and all(any(words in d for words in SEARCH_AS_DOCUMENTED) for d in finding.details))


def recorded(sandbox_server) -> list:
    return sandbox_server.sandbox.exchanges.take()


def test_hubspot_calls_of_the_connector_the_commands_and_a_script_fit_hubspots_schemas(
        sandbox, sandbox_server, sandbox_env, kickoff_config):
    sandbox.seed(fixture("default"))
    recorded(sandbox_server)
    connector = connector_for(kickoff_config)
    tickets = [new_ticket(sandbox, f"SE Kontrakt {n}") for n in range(3)]
    assert connector.check(NOW) == []
    connector.discover(NOW)
    connector.daily_resets_at(NOW)  # the portal's time zone, from its account details
    connector.read_changes(None, now=NOW)
    done = connector.apply([task(tickets[0]), act(ActionKind.ADD_NOTE, {"record_id": tickets[0], "body": "Ny kund"}),
                            act(ActionKind.SET_STAGE, {"record_id": tickets[1], "stage": STAGE_ONBOARDING})], NOW)
    assert all(r.status.value == "done" for r in done)
    connector.read_records("ticket", tickets)
    script = HubSpot(access_token=sandbox_env["HUBSPOT_ACCESS_TOKEN"], host=sandbox_server.url, retry=Retry(0))
    script.crm.tickets.basic_api.get_by_id(tickets[2], properties=["subject", "hs_pipeline_stage"])
    page = script.crm.tickets.basic_api.get_page(limit=1)
    while page.paging and page.paging.next:
        page = script.crm.tickets.basic_api.get_page(limit=1, after=page.paging.next.after)
    script.crm.owners.owners_api.get_by_id("51200101")
    script.crm.pipelines.pipelines_api.get_by_id("tickets", "28734901")
    script.crm.properties.core_api.get_by_name("tickets", "restart_onboarding")
    assert kickoff("connect", "check", "hubspot").exit_code == 0
    assert kickoff("discover", "hubspot", "--tenant", "assist").exit_code == 0
    assert kickoff("config", "check", "--live", "--tenant", "assist").exit_code == 0

    exchanges = recorded(sandbox_server)
    wrong, unknown = findings(exchanges, requests=True)
    assert [str(f) for f in wrong if not documented_search(f)] == []
    assert set(unknown) <= NOT_IN_THE_DOCUMENTS
    covered = {f"{e.method} {e.path}" for e in exchanges}
    for call in ("GET /crm/v3/pipelines/tickets", "GET /crm/v3/owners/", "GET /crm/v3/properties/tickets",
                 "POST /crm/v3/objects/tickets/search", "POST /crm/v3/objects/tasks/batch/create",
                 "POST /crm/v3/objects/tickets/batch/update", "POST /crm/v3/objects/tickets/batch/read",
                 f"GET /crm/v3/objects/tickets/{tickets[2]}", "GET /crm/v3/objects/tickets",
                 "GET /account-info/v3/details"):
        assert call in covered, call


def test_asana_calls_of_the_connector_the_commands_and_a_script_fit_asanas_schemas(
        sandbox, sandbox_server, sandbox_env, make_connector):  # noqa: F811 - the fixture
    sandbox.seed(fixture("default"))
    sandbox.seed(BOARD)
    recorded(sandbox_server)
    connector = make_connector()
    assert connector.check(NOW) == []
    connector.discover(NOW)
    created = connector.apply([asana_request(n) for n in range(3)], NOW)
    assert all(r.status.value == "done" for r in created)
    connector.apply([asana_action(ActionKind.SET_STAGE, 9, record_id=created[0].external_id, project=PROJECT,
                                  section="Waiting on partner")], NOW)
    connector.read_changes(None, now=NOW)
    cfg = asana.Configuration()
    cfg.access_token, cfg.host = sandbox_env["ASANA_ACCESS_TOKEN"], f"{sandbox_server.url}/api/1.0"
    cfg.retry_strategy = Retry(total=False)
    client = asana.ApiClient(cfg)
    asana.TasksApi(client).get_task(created[1].external_id, {"opt_fields": "name,memberships.section.name"})
    page = asana.TasksApi(client).get_tasks_for_project(PROJECT, {"limit": 1}, full_payload=True)
    while page.get("next_page"):
        page = asana.TasksApi(client).get_tasks_for_project(
            PROJECT, {"limit": 1, "offset": page["next_page"]["offset"]}, full_payload=True)
    assert kickoff("connect", "check", "asana").exit_code == 0
    assert kickoff("discover", "asana", "--tenant", "retention").exit_code == 0
    assert kickoff("config", "check", "--live", "--tenant", "retention").exit_code in (0, 1)  # zendesk, slack too

    exchanges = [e for e in recorded(sandbox_server) if e.vendor == "asana"]
    wrong, unknown = findings(exchanges, requests=True)
    assert [str(f) for f in wrong] == []
    assert set(unknown) <= NOT_IN_THE_DOCUMENTS
    covered = {f"{e.method} {e.path}" for e in exchanges}
    for call in ("POST /api/1.0/batch", f"GET /api/1.0/projects/{PROJECT}/sections",
                 f"GET /api/1.0/projects/{PROJECT}/tasks", f"GET /api/1.0/tasks/{created[1].external_id}"):
        assert call in covered, call
    assert any(c.startswith("GET /api/1.0/workspaces/") and c.endswith("/custom_fields") for c in covered)
    assert any(c.endswith("/custom_field_settings") for c in covered)
