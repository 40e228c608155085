"""The Movidesk sandbox behaves as Movidesk documents it, called with plain ``requests``
(Movidesk has no official client): token auth, 10 requests a minute, the 60 s block after
three failed requests, OData list options, PATCH semantics and the trigger webhook."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.webhook_receiver import WebhookReceiver

TOKEN = "movidesk-sandbox-token"
WEBHOOK_TOKEN = "movidesk-sandbox-webhook-token"
AGENT = "900000001"
CLIENT = "300000001"


@pytest.fixture
def api(sandbox_server, sandbox) -> str:
    """The sandbox's Movidesk base URL, with an agent and a client company on file."""
    sandbox.seed({"movidesk": {"persons": [
        {"id": CLIENT, "businessName": "Exemplo Ltda", "personType": 2, "profileType": 2},
        {"id": "900000002", "businessName": "Ana Exemplo", "personType": 1, "profileType": 1,
         "teams": ["Onboarding"]},
    ]}})
    return f"{sandbox_server.url}/public/v1"


@pytest.fixture
def minute_in_a_second(sandbox) -> Iterator[None]:
    """Rate-limit time at 60x (a minute passes in a second); back to real time afterwards."""
    sandbox.set_time_scale(60)
    yield
    sandbox.set_time_scale(1)


def call(method: str, url: str, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
    params = dict(kwargs.pop("params", {}))
    if token is not None:
        params["token"] = token
    return requests.request(method, url, params=params, timeout=10, **kwargs)


def new_ticket(api: str, subject: str = "Implantação Exemplo Ltda", **fields: Any) -> dict[str, Any]:
    body = {"type": 2, "subject": subject, "createdBy": {"id": AGENT}, "clients": [{"id": CLIENT}],
            "actions": [{"type": 1, "description": "Contrato assinado", "createdBy": {"id": AGENT}}], **fields}
    response = call("POST", f"{api}/tickets", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def tickets_at(moments: list[str]) -> dict[str, Any]:
    """A fixture section: one ticket per lastUpdate, ids 1..n."""
    return {"movidesk": {"tickets": [
        {"id": i, "subject": f"Onboarding {i}", "lastUpdate": at, "createdDate": at}
        for i, at in enumerate(moments, start=1)]}}


# --- authentication ---------------------------------------------------------------------
@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_given_missing_or_wrong_token_when_listing_tickets_then_401_with_movidesk_message(api, token):
    response = call("GET", f"{api}/tickets", token=token)
    assert response.status_code == 401
    assert response.json() == {"Message": "Authorization has been denied for this request."}


# --- limits -------------------------------------------------------------------------------
def test_given_ten_calls_in_a_minute_when_eleventh_call_then_429_with_retry_after(api, sandbox):
    statuses = [call("GET", f"{api}/persons").status_code for _ in range(10)]
    eleventh = call("GET", f"{api}/tickets")
    assert statuses == [200] * 10
    assert eleventh.status_code == 429
    assert "quota exceeded" in eleventh.text
    assert 1 <= int(eleventh.headers["retry-after"]) <= 60
    assert sandbox.counts("movidesk")["movidesk 429"] == 1


def test_given_three_failed_calls_in_a_row_when_calling_then_blocked_until_60_seconds_pass(
        api, sandbox, minute_in_a_second):
    failures = [call("PATCH", f"{api}/tickets", params={"id": "999"}, json={"subject": "x"}).status_code
                for _ in range(3)]
    blocked = call("GET", f"{api}/tickets")
    assert failures == [404, 404, 404]
    assert blocked.status_code == 429
    assert blocked.text == "Too many failed requests"
    retry_after = float(blocked.headers["retry-after"])
    assert retry_after == 1  # 60 s at 60x
    time.sleep(retry_after + 0.1)
    assert call("GET", f"{api}/tickets").status_code == 200


def test_given_a_success_between_failures_when_calling_then_not_blocked(api, minute_in_a_second):
    bad = {"params": {"$filter": "nope eq 1"}}
    statuses = [call("GET", f"{api}/tickets", **bad).status_code, call("GET", f"{api}/tickets").status_code,
                call("GET", f"{api}/tickets", **bad).status_code, call("GET", f"{api}/tickets", **bad).status_code,
                call("GET", f"{api}/tickets").status_code]
    assert statuses == [400, 200, 400, 400, 200]


# --- OData list options -------------------------------------------------------------------
def test_given_select_when_listing_then_only_selected_fields_are_returned(api, sandbox):
    new_ticket(api)
    rows = call("GET", f"{api}/tickets", params={"$select": "id,subject,lastUpdate"}).json()
    assert [set(r) for r in rows] == [{"id", "subject", "lastUpdate"}]


def test_given_lastupdate_filter_orderby_top_and_skip_when_paging_then_pages_follow_the_order(api, sandbox):
    sandbox.set_clock(at="2026-05-20T12:00:00+00:00", frozen=True)
    sandbox.seed(tickets_at(["2026-05-03T10:00:00.0000000", "2026-05-01T09:00:00.0000000",
                             "2026-04-30T23:59:59.9990000", "2026-05-02T08:00:00.5000000",
                             "2026-05-01T00:00:00.0000000"]))
    query = {"$select": "id,lastUpdate", "$filter": "lastUpdate ge 2026-05-01T00:00:00.000Z",
             "$orderby": "lastUpdate", "$top": "2"}
    pages = [call("GET", f"{api}/tickets", params={**query, "$skip": str(skip)}).json() for skip in (0, 2, 4)]
    assert [[t["id"] for t in page] for page in pages] == [[5, 2], [4, 1], []]
    strict = call("GET", f"{api}/tickets", params={**query, "$filter": "lastUpdate gt 2026-05-01T00:00:00.000Z",
                                                    "$orderby": "lastUpdate desc", "$top": "10"}).json()
    assert [t["id"] for t in strict] == [1, 4, 2]


def test_given_top_above_100_when_listing_then_one_page_holds_100(api, sandbox):
    sandbox.seed(tickets_at(["2026-05-01T00:00:00.0000000"] * 120))
    sandbox.set_clock(at="2026-05-20T12:00:00+00:00", frozen=True)
    rows = call("GET", f"{api}/tickets", params={"$select": "id", "$top": "500"}).json()
    assert len(rows) == 100


def test_given_id_filter_with_or_when_listing_then_only_those_tickets(api, sandbox):
    for n in range(3):
        new_ticket(api, subject=f"Onboarding {n}")
    rows = call("GET", f"{api}/tickets", params={"$select": "id", "$filter": "id eq 1 or id eq 3"}).json()
    assert [r["id"] for r in rows] == [1, 3]


def test_given_expand_when_listing_then_owner_actions_and_clients_are_included(api, sandbox):
    new_ticket(api, owner={"id": AGENT}, ownerTeam="Onboarding")
    plain = call("GET", f"{api}/tickets", params={"$select": "id"}).json()[0]
    expanded = call("GET", f"{api}/tickets", params={
        "$select": "id", "$expand": "owner,clients,actions($select=id,description)"}).json()[0]
    assert "actions" not in plain
    assert expanded["owner"]["id"] == AGENT
    assert [c["id"] for c in expanded["clients"]] == [CLIENT]
    assert expanded["actions"] == [{"id": 1, "description": "Contrato assinado"}]


def test_given_unknown_property_in_filter_when_listing_then_400(api):
    response = call("GET", f"{api}/tickets", params={"$filter": "colour eq 'red'"})
    assert response.status_code == 400
    assert "colour" in response.json()["Message"]


# --- one ticket, creation, update ---------------------------------------------------------
def test_given_created_ticket_when_getting_by_id_or_protocol_then_full_ticket(api, sandbox):
    sandbox.set_clock(at="2026-05-04T15:30:00.250000+00:00", frozen=True)
    created = new_ticket(api)
    by_id = call("GET", f"{api}/tickets", params={"id": str(created["id"])}).json()
    by_protocol = call("GET", f"{api}/tickets", params={"protocol": created["protocol"]}).json()
    assert by_id == by_protocol
    assert by_id["origin"] == 9 and by_id["status"] == "Novo" and by_id["baseStatus"] == "New"
    assert by_id["lastUpdate"] == by_id["createdDate"] == "2026-05-04T15:30:00.2500000"
    assert by_id["clients"][0]["businessName"] == "Exemplo Ltda"


def test_given_ticket_without_clients_when_creating_then_400(api):
    response = call("POST", f"{api}/tickets", json={"type": 2, "subject": "x", "createdBy": {"id": AGENT},
                                                    "actions": [{"type": 1, "description": "d"}]})
    assert response.status_code == 400
    assert "client" in response.json()["Message"]


def test_given_patch_with_new_actions_when_applied_then_appended_with_new_ids_and_rest_untouched(api, sandbox):
    ticket_id = new_ticket(api)["id"]
    sandbox.set_clock(advance_seconds=60)
    patch = {"actions": [{"type": 2, "description": "Bem-vindo!", "createdBy": {"id": AGENT}},
                         {"type": 1, "description": "Nota interna", "createdBy": {"id": AGENT}}]}
    response = call("PATCH", f"{api}/tickets", params={"id": str(ticket_id)}, json=patch)
    ticket = sandbox.get("movidesk", f"tickets/{ticket_id}")
    assert response.status_code == 200
    assert [(a["id"], a["type"], a["description"]) for a in ticket["actions"]] == [
        (1, 1, "Contrato assinado"), (2, 2, "Bem-vindo!"), (3, 1, "Nota interna")]
    assert ticket["subject"] == "Implantação Exemplo Ltda" and ticket["status"] == "Novo"
    assert ticket["lastUpdate"] > ticket["createdDate"]


def test_given_status_needing_justification_when_patched_without_one_then_400_and_nothing_changes(api, sandbox):
    ticket_id = new_ticket(api)["id"]
    refused = call("PATCH", f"{api}/tickets", params={"id": str(ticket_id)}, json={
        "status": "Aguardando", "actions": [{"type": 1, "description": "x", "createdBy": {"id": AGENT}}]})
    unchanged = sandbox.get("movidesk", f"tickets/{ticket_id}")
    accepted = call("PATCH", f"{api}/tickets", params={"id": str(ticket_id)}, json={
        "status": "Aguardando", "justification": "Aguardando pagamento"})
    changed = sandbox.get("movidesk", f"tickets/{ticket_id}")
    assert refused.status_code == 400
    assert refused.json()["Message"] == "The justification is required for the status 'Aguardando'."
    assert unchanged["status"] == "Novo" and len(unchanged["actions"]) == 1
    assert accepted.status_code == 200
    assert (changed["status"], changed["baseStatus"], changed["justification"]) == (
        "Aguardando", "Stopped", "Aguardando pagamento")


def test_given_owner_and_team_when_patched_then_set(api, sandbox):
    ticket_id = new_ticket(api)["id"]
    response = call("PATCH", f"{api}/tickets", params={"id": str(ticket_id)},
                    json={"owner": {"id": "900000002"}, "ownerTeam": "Onboarding"})
    ticket = sandbox.get("movidesk", f"tickets/{ticket_id}")
    assert response.status_code == 200
    assert ticket["owner"]["businessName"] == "Ana Exemplo" and ticket["ownerTeam"] == "Onboarding"
    refused = call("PATCH", f"{api}/tickets", params={"id": str(ticket_id)}, json={"owner": {"id": CLIENT}})
    assert refused.status_code == 400


def test_given_ticket_untouched_for_90_days_when_reading_then_only_at_tickets_past(api, sandbox):
    sandbox.set_clock(at="2026-09-01T00:00:00+00:00", frozen=True)
    sandbox.seed(tickets_at(["2026-05-01T00:00:00.0000000", "2026-08-30T00:00:00.0000000"]))
    recent = call("GET", f"{api}/tickets", params={"$select": "id"}).json()
    past = call("GET", f"{api}/tickets/past", params={"$select": "id"}).json()
    patch_old = call("PATCH", f"{api}/tickets", params={"id": "1"}, json={"subject": "x"})
    assert [t["id"] for t in recent] == [2] and [t["id"] for t in past] == [1]
    assert patch_old.status_code == 404


# --- persons ------------------------------------------------------------------------------
def test_given_person_types_when_creating_persons_then_valid_ones_are_kept(api, sandbox):
    created = call("POST", f"{api}/persons", json={"businessName": "Nova Empresa", "personType": 2,
                                                   "profileType": 2})
    refused = call("POST", f"{api}/persons", json={"businessName": "X", "personType": 3, "profileType": 2})
    listed = call("GET", f"{api}/persons", params={"$select": "id,businessName", "$filter": "personType eq 2"})
    assert created.status_code == 200 and refused.status_code == 400
    assert {p["businessName"] for p in listed.json()} == {"Exemplo Ltda", "Nova Empresa"}


# --- the trigger webhook ------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A local HTTP endpoint recording what it receives."""
    with WebhookReceiver("/hooks/movidesk") as hook:
        yield hook


def test_given_agent_changes_when_trigger_fires_then_pascalcase_ticket_is_posted_with_url_token(
        api, sandbox, receiver):
    ticket_id = new_ticket(api)["id"]
    sandbox.set_webhook("movidesk", f"{receiver.url}?token={WEBHOOK_TOKEN}")
    sandbox.act("movidesk", f"tickets/{ticket_id}/custom-fields", customFieldId=501, value="Sim")
    sandbox.act("movidesk", f"tickets/{ticket_id}/status", status="Em atendimento")
    sandbox.act("movidesk", f"tickets/{ticket_id}/actions", description="Pagamento confirmado", type=1)
    assert sandbox.flush_webhooks()
    received = receiver.received
    bodies = [json.loads(r.body) for r in received]
    assert len(bodies) == 3
    assert {parse_qs(urlsplit(r.path).query)["token"][0] for r in received} == {WEBHOOK_TOKEN}
    assert not any(k.lower().startswith("x-") and "signature" in k.lower() for r in received for k in r.headers)
    first, second, third = bodies
    assert first["Id"] == ticket_id and first["CustomFieldValues"][0]["CustomFieldId"] == 501
    assert second["Status"] == "Em atendimento" and second["BaseStatus"] == "InAttendance"
    assert third["Actions"][-1]["Description"] == "Pagamento confirmado"
    assert third["Actions"][-1]["CreatedBy"]["Id"] == AGENT
    assert first["LastUpdate"] <= second["LastUpdate"] <= third["LastUpdate"]
