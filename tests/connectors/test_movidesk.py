"""The Movidesk connector against the sandbox over real HTTP: one PATCH per ticket, reads by
``lastUpdate`` with boundary dedup, the limits waited out, unknown outcomes looked up by
marker, the trigger webhook checked by its URL token."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.movidesk import MovideskConnector, ticket_query
from connectors.ratelimit import WindowLimiter, window_seconds
from kickoff.contracts.vendor import PayloadRefused, VendorAction
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Action, ActionKind, ResultStatus
from kickoff.retry import FAST_POLICY
from kickoff.settings import RateLimit
from tests.webhook_receiver import WebhookReceiver

AGENT = "900000001"
CLIENT = "300000001"
NOW = datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
PATCH = "movidesk PATCH /public/v1/tickets"
GET = "movidesk GET /public/v1/tickets"
POST = "movidesk POST /public/v1/tickets"
READS = {"ticket": ["subject", "status", "ownerTeam", "owner.id", "owner.businessName", "clients.id",
                    "customFieldValues"]}
"""What a mapping might read (the connector adds ``id`` and ``lastUpdate``)."""


@pytest.fixture
def seeded(sandbox) -> Any:
    """Two agents, a client company and three open tickets, on a frozen sandbox clock."""
    sandbox.set_clock(at=NOW.isoformat(), frozen=True)
    sandbox.seed({"movidesk": {
        "persons": [{"id": CLIENT, "businessName": "Exemplo Ltda", "personType": 2, "profileType": 2},
                    {"id": "900000002", "businessName": "Ana Exemplo", "personType": 1, "profileType": 1}],
        "tickets": [{"id": i, "subject": f"Implantação {i}", "lastUpdate": f"2026-05-0{i}T10:00:00.0000000",
                     "clients": [{"id": CLIENT}], "actions": [{"type": 1, "description": "Contrato assinado"}]}
                    for i in (1, 2, 3)]}})
    return sandbox


def connector_for(kickoff_config, limiter: Any = None, retry: Any = FAST_POLICY,
                  reads: dict[str, list[str]] | None = None) -> MovideskConnector:
    tool = kickoff_config.tools["movidesk"].model_copy(update={"options": {"agent_id": AGENT}})
    return MovideskConnector(tool, limiter=limiter or WindowLimiter({}), retry=retry,
                             reads=READS if reads is None else reads)


@pytest.fixture
def connector(kickoff_config, seeded) -> MovideskConnector:
    """No in-process budget here, so the sandbox's own limits are what the tests meet."""
    return connector_for(kickoff_config)


def action(kind: ActionKind, key: str, **payload: Any) -> VendorAction:
    return VendorAction.of(Action(kind=kind, tool="movidesk", onboarding_id="onb-1", payload={},
                                  idempotency_key=f"key-{key}-0000", rule="T1", due_at=NOW), payload)


def ticket(sandbox, ticket_id: int) -> dict[str, Any]:
    return sandbox.get("movidesk", f"tickets/{ticket_id}")


# --- writes -------------------------------------------------------------------------------
def test_given_five_changes_and_actions_on_one_ticket_when_applying_then_one_patch_carries_all(
        connector, seeded):
    actions = [action(ActionKind.SET_STAGE, "stage", record_id="1", status="Em atendimento"),
               action(ActionKind.ASSIGN_OWNER, "owner", record_id="1", owner_id="900000002",
                      owner_team="Onboarding"),
               action(ActionKind.POST_ACTION, "welcome", record_id="1", description="Bem-vindo!", public=True),
               action(ActionKind.ADD_NOTE, "note", record_id="1", body="Cliente prefere e-mail"),
               action(ActionKind.POST_ACTION, "wait", record_id="1", description="Aguardando o pagamento",
                      public=False, status="Aguardando", justification="Aguardando pagamento")]
    since = seeded.last_seq()
    results = connector.apply(actions, NOW)
    stored = ticket(seeded, 1)
    assert [r.status for r in results] == [ResultStatus.DONE] * 5
    assert {r.external_id for r in results} == {"1"}
    assert seeded.counts("movidesk", since=since) == {PATCH: 1}
    assert (stored["status"], stored["justification"]) == ("Aguardando", "Aguardando pagamento")
    assert (stored["owner"]["id"], stored["ownerTeam"]) == ("900000002", "Onboarding")
    assert [(a["type"], a["description"].splitlines()[0]) for a in stored["actions"][1:]] == [
        (2, "Bem-vindo!"), (1, "Cliente prefere e-mail"), (1, "Aguardando o pagamento")]
    assert stored["actions"][2]["description"].endswith("[kickoff:key-note-0000]")


def test_given_a_refused_ticket_in_a_batch_when_applying_then_it_fails_with_movidesk_reason_and_others_are_done(
        connector, seeded):
    actions = [action(ActionKind.POST_ACTION, "a", record_id="1", description="Olá"),
               action(ActionKind.SET_STAGE, "b", record_id="2", status="Aguardando"),
               action(ActionKind.ADD_NOTE, "c", record_id="2", body="junto com o status"),
               action(ActionKind.POST_ACTION, "d", record_id="3", description="Olá")]
    since = seeded.last_seq()
    results = connector.apply(actions, NOW)
    assert [r.status for r in results] == [ResultStatus.DONE, ResultStatus.PERMANENT, ResultStatus.PERMANENT,
                                           ResultStatus.DONE]
    assert results[1].reason == "movidesk: The justification is required for the status 'Aguardando'."
    assert seeded.counts("movidesk", since=since) == {PATCH: 3}
    assert len(ticket(seeded, 2)["actions"]) == 1
    assert len(ticket(seeded, 1)["actions"]) == len(ticket(seeded, 3)["actions"]) == 2


def test_given_patch_applied_but_unanswered_when_applying_then_lookup_finds_markers_and_nothing_is_doubled(
        connector, seeded):
    seeded.add_fault(vendor="movidesk", method="PATCH", kind="no_answer", times=1)
    actions = [action(ActionKind.POST_ACTION, "hello", record_id="2", description="Bem-vindo!"),
               action(ActionKind.ADD_NOTE, "note", record_id="2", body="Nota"),
               action(ActionKind.SET_STAGE, "stage", record_id="2", status="Em atendimento")]
    since = seeded.last_seq()
    results = connector.apply(actions, NOW)
    stored = ticket(seeded, 2)
    assert [r.status for r in results] == [ResultStatus.DONE] * 3
    assert seeded.counts("movidesk", since=since) == {PATCH: 1, GET: 1}
    assert [a["description"].splitlines()[0] for a in stored["actions"]] == ["Contrato assinado", "Bem-vindo!", "Nota"]
    assert stored["status"] == "Em atendimento"


def test_given_patch_lost_before_the_vendor_when_retrying_then_lookup_sees_it_missing_and_sends_it_once_more(connector, seeded):
    seeded.add_fault(vendor="movidesk", method="PATCH", kind="drop", times=1)
    since = seeded.last_seq()
    results = connector.apply([action(ActionKind.POST_ACTION, "hello", record_id="3", description="Bem-vindo!")],
                              NOW)
    assert results[0].status is ResultStatus.DONE
    assert seeded.counts("movidesk", since=since) == {PATCH: 2, GET: 1}
    assert [a["description"].splitlines()[0] for a in ticket(seeded, 3)["actions"]] == [
        "Contrato assinado", "Bem-vindo!"]


def test_given_creation_applied_but_unanswered_when_applying_then_found_by_marker_and_created_once(
        connector, seeded):
    seeded.add_fault(vendor="movidesk", method="POST", kind="no_answer", times=1)
    create = action(ActionKind.CREATE_RECORD, "create", fields={
        "type": 2, "subject": "Implantação Nova Exemplo", "clients": [{"id": CLIENT}],
        "actions": [{"type": 1, "description": "Contrato assinado"}]})
    follow = action(ActionKind.POST_ACTION, "welcome", target=create.idempotency_key, description="Bem-vindo!")
    since = seeded.last_seq()
    results = connector.apply([create, follow], NOW)
    tickets = [t for t in seeded.get("movidesk", "records/tickets") if t["subject"] == "Implantação Nova Exemplo"]
    assert [r.status for r in results] == [ResultStatus.DONE, ResultStatus.DONE]
    assert len(tickets) == 1 and results[0].external_id == results[1].external_id == str(tickets[0]["id"])
    assert tickets[0]["actions"][0]["description"].endswith("[kickoff:key-create-0000]")
    assert tickets[0]["actions"][1]["description"].startswith("Bem-vindo!")
    assert seeded.counts("movidesk", since=since) == {POST: 1, GET: 1, PATCH: 1}


def test_given_429_storm_when_patching_then_waits_and_finishes(connector, seeded):
    seeded.add_fault(vendor="movidesk", method="PATCH", kind="error", status=429, times=3)
    since = seeded.last_seq()
    results = connector.apply([action(ActionKind.ADD_NOTE, "note", record_id="1", body="Nota")], NOW)
    counts = seeded.counts("movidesk", since=since)
    assert results[0].status is ResultStatus.DONE
    assert counts[PATCH] == 4 and counts["movidesk 429"] == 3
    assert len(ticket(seeded, 1)["actions"]) == 2


def test_given_three_refusals_when_the_token_is_blocked_then_its_retry_after_is_waited_out(
        kickoff_config, seeded):
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the policy's own sleep, really slept, and noted
        waits.append(seconds)
        time.sleep(seconds)

    connector = connector_for(kickoff_config, retry=replace(FAST_POLICY, sleep=sleep))
    seeded.set_time_scale(60)  # Movidesk's 60 s block lasts one real second
    try:
        refused = [action(ActionKind.ADD_NOTE, f"gone{n}", record_id=str(900 + n), body="x") for n in range(3)]
        good = action(ActionKind.ADD_NOTE, "good", record_id="1", body="Nota")
        since = seeded.last_seq()
        results = connector.apply([*refused, good], NOW)
        counts = seeded.counts("movidesk", since=since)
    finally:
        seeded.set_time_scale(1)
    assert [r.status for r in results] == [ResultStatus.PERMANENT] * 3 + [ResultStatus.DONE]
    assert all("not found" in r.reason for r in results[:3])
    assert counts["movidesk 429"] == 1 and counts[PATCH] == 5
    # one wait, as long as the block's Retry-After (one scaled minute), not a backoff's guess
    assert len(waits) == 1 and 0.9 <= waits[0] <= 1.1, waits


def test_given_shared_limiter_when_patching_many_tickets_then_every_call_waits_for_its_slot(
        kickoff_config, seeded):
    clock = {"now": 0.0}
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock["now"] += seconds

    limit = RateLimit(requests=10, per_seconds=60)
    limiter = WindowLimiter({"movidesk": limit}, clock=lambda: clock["now"], sleep=sleep)
    connector = connector_for(kickoff_config, limiter=limiter)
    since = seeded.last_seq()
    results = connector.apply([action(ActionKind.ADD_NOTE, f"n{i}", record_id=str(i), body="Nota")
                               for i in (1, 2, 3)], NOW)
    assert [r.status for r in results] == [ResultStatus.DONE] * 3
    assert seeded.counts("movidesk", since=since) == {PATCH: 3}
    # 10/min: a burst of 1, then one every tenth of a (widened) minute
    assert len(waits) == 2 and clock["now"] == pytest.approx(2 * window_seconds(limit) / 10)


def test_given_wrong_token_when_applying_then_auth_and_no_further_calls(kickoff_config, seeded, monkeypatch):
    monkeypatch.setenv("MOVIDESK_TOKEN", "revoked-token")
    connector = connector_for(kickoff_config)
    since = seeded.last_seq()
    results = connector.apply([action(ActionKind.ADD_NOTE, f"n{i}", record_id=str(i), body="x") for i in (1, 2)],
                              NOW)
    assert [r.status for r in results] == [ResultStatus.AUTH, ResultStatus.AUTH]
    assert seeded.counts("movidesk", since=since) == {PATCH: 1}


@pytest.mark.parametrize(("kind", "payload", "field"), [
    (ActionKind.CREATE_TASK, {"record_id": "1", "subject": "x"}, "kind"),
    (ActionKind.ADD_NOTE, {"body": "x"}, "payload"),
    (ActionKind.ADD_NOTE, {"record_id": "1", "target": "key-create-0000", "body": "x"}, "payload"),
    (ActionKind.SET_STAGE, {"record_id": "ticket-1", "status": "Novo"}, "record_id"),
    (ActionKind.ASSIGN_OWNER, {"record_id": "1"}, "payload"),
    (ActionKind.POST_ACTION, {"record_id": "1", "description": "x", "justification": "Duplicado"}, "payload"),
    (ActionKind.CREATE_RECORD, {"fields": {"subject": "x"}}, "fields.clients"),
    (ActionKind.CREATE_RECORD, {"fields": {"subject": "x", "clients": [{"id": CLIENT}], "colour": "red"}},
     "fields.colour"),
])
def test_given_a_payload_movidesk_cannot_take_then_refused_where_it_is_made(kind, payload, field):
    """No ticket, two tickets, a justification without its status, a ticket without a
    client, a field Movidesk has not: the declaration's models refuse them before any call."""
    with pytest.raises(PayloadRefused) as refused:
        action(kind, "bad", **payload)
    assert refused.value.field == field


def test_given_a_target_not_created_in_the_batch_when_applying_then_permanent_without_a_call(connector, seeded):
    since = seeded.last_seq()
    results = connector.apply([action(ActionKind.ADD_NOTE, "orphan", target="key-nowhere-0000", body="x")], NOW)
    assert [r.status for r in results] == [ResultStatus.PERMANENT]
    assert seeded.counts("movidesk", since=since) == {}


# --- reads --------------------------------------------------------------------------------
def test_given_changes_when_reading_incrementally_then_each_change_once_and_cursor_moves(connector, seeded):
    first = connector.read_changes(None, now=NOW)
    seeded.act("movidesk", "tickets/2/status", status="Em atendimento")
    again = connector.read_changes(first.next_cursor, now=NOW)
    idle = connector.read_changes(again.next_cursor, now=NOW)
    assert [d.record_id for d in first.deliveries] == ["1", "2", "3"]
    assert first.deliveries[0].dedup_key == "movidesk:ticket:1:2026-05-01T10:00:00.0000000"
    assert set(first.deliveries[0].payload) >= {"id", "status", "lastUpdate", "owner", "clients"}
    assert "actions" not in first.deliveries[0].payload
    assert [(d.record_id, d.payload["status"]) for d in again.deliveries] == [("2", "Em atendimento")]
    assert again.deliveries[0].kind == "poll"
    assert idle.deliveries == [] and idle.next_cursor == again.next_cursor
    assert {d.received_at for d in first.deliveries + again.deliveries} == {NOW}


def test_given_reads_when_reading_then_the_query_asks_for_those_fields_only(kickoff_config, seeded):
    """``$select``/``$expand`` come from what the mapping reads; nothing to read: no call."""
    assert ticket_query(["status", "owner.id", "owner.email", "actions.description", "customFieldValues"]) == {
        "$select": "id,lastUpdate,status",
        "$expand": "owner($select=id,email),actions($select=description),customFieldValues"}
    assert ticket_query(["clients.id", "clients"])["$expand"] == "clients"
    reads = {"ticket": ["status", "actions.description"]}
    (first, *_) = connector_for(kickoff_config, reads=reads).read_changes(None, now=NOW).deliveries
    assert set(first.payload) == {"id", "lastUpdate", "status", "actions"}
    assert first.payload["actions"] == [{"description": "Contrato assinado"}]
    since = seeded.last_seq()
    assert connector_for(kickoff_config, reads={}).read_changes("cursor", now=NOW).next_cursor == "cursor"
    assert seeded.counts("movidesk", since=since) == {}


def test_given_a_change_in_the_cursors_millisecond_when_reading_then_it_is_kept_and_the_old_one_dropped(
        connector, seeded):
    seeded.seed({"movidesk": {"tickets": [{"id": 7, "subject": "x", "lastUpdate": "2026-05-10T10:00:00.2501000"}]}})
    first = connector.read_changes(None, now=NOW)
    seeded.seed({"movidesk": {"tickets": [{"id": 8, "subject": "y", "lastUpdate": "2026-05-10T10:00:00.2509000"}]}})
    second = connector.read_changes(first.next_cursor, now=NOW)
    assert [d.record_id for d in first.deliveries][-1] == "7"
    assert [d.record_id for d in second.deliveries] == ["8"]


def test_given_150_changed_tickets_when_reading_then_two_pages_and_a_limit_resumes(connector, seeded):
    seeded.seed({"movidesk": {"tickets": [
        {"id": 100 + n, "subject": f"t{n}", "lastUpdate": f"2026-05-11T{n // 60:02d}:{n % 60:02d}:00.0000000"}
        for n in range(150)]}})
    since = seeded.last_seq()
    everything = connector.read_changes(None, now=NOW)
    assert seeded.counts("movidesk", since=since) == {GET: 2}
    assert len(everything.deliveries) == 153 and len({d.dedup_key for d in everything.deliveries}) == 153
    part = connector.read_changes(None, now=NOW, limit=40)
    rest = connector.read_changes(part.next_cursor, now=NOW)
    assert [d.dedup_key for d in part.deliveries + rest.deliveries] == [d.dedup_key for d in everything.deliveries]


# --- webhooks -----------------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A local endpoint (``requests()``: each as the gateway would hand it to the connector)."""
    with WebhookReceiver("/hooks/movidesk") as hook:
        yield hook


def test_given_trigger_webhooks_when_verified_and_parsed_then_one_delivery_per_ticket_change(
        connector, seeded, sandbox_env, receiver):
    seeded.set_webhook("movidesk", f"{receiver.url}?token={sandbox_env['MOVIDESK_WEBHOOK_TOKEN']}")
    seeded.act("movidesk", "tickets/1/custom-fields", customFieldId=501, value="Sim")
    seeded.set_clock(advance_seconds=1)
    seeded.act("movidesk", "tickets/1/actions", description="Pagamento confirmado")
    assert seeded.flush_webhooks()
    deliveries = []
    for request in receiver.requests():
        connector.verify_webhook(request, NOW)
        deliveries += connector.parse_webhook(request, NOW)
    assert [d.record_id for d in deliveries] == ["1", "1"]
    assert deliveries[0].dedup_key != deliveries[1].dedup_key
    assert deliveries[0].dedup_key == f"movidesk:ticket:1:{deliveries[0].payload['LastUpdate']}"
    assert deliveries[1].payload["Actions"][-1]["Description"] == "Pagamento confirmado"
    assert {d.received_at for d in deliveries} == {NOW}


@pytest.mark.parametrize("query", [{}, {"token": "forged"}])
def test_given_missing_or_wrong_url_token_when_verifying_then_401(connector, query):
    request = WebhookRequest("POST", "https://kickoff.example.com/hooks/movidesk", {}, b"{}", query=query)
    with pytest.raises(WebhookRejected) as info:
        connector.verify_webhook(request, NOW)
    assert info.value.status == 401


@pytest.mark.parametrize(("body", "reason"), [
    (b"{\"Subject\": \"x\"}", "numeric Id"),
    (b"{\"Id\": \"abc\"}", "numeric Id"),
    (b"{\"Id\": 1, \"Actions\": {}}", "Actions"),
    (b"{\"Id\": 1, \"LastUpdate\": 5}", "LastUpdate"),
])
def test_given_malformed_body_when_parsing_then_400_saying_what_is_wrong(connector, body, reason):
    with pytest.raises(WebhookRejected) as info:
        connector.parse_webhook(WebhookRequest("POST", "https://kickoff.example.com/h", {}, body), NOW)
    assert info.value.status == 400 and reason in info.value.reason


def test_given_body_without_lastupdate_when_parsing_then_dedup_key_is_id_and_body_hash(connector):
    one = connector.parse_webhook(WebhookRequest("POST", "u", {}, json.dumps({"Id": 5, "Status": "Novo"}).encode()),
                                  NOW)
    two = connector.parse_webhook(WebhookRequest("POST", "u", {}, json.dumps({"Id": 5, "Status": "Fechado"}).encode()),
                                  NOW)
    assert one[0].dedup_key.startswith("movidesk:ticket:5:sha256:") and one[0].dedup_key != two[0].dedup_key


# --- secrets --------------------------------------------------------------------------------
def test_given_debug_logging_when_running_reads_writes_and_webhooks_then_no_secret_is_logged(
        connector, seeded, sandbox_env, caplog, monkeypatch):
    urllib3_log = logging.getLogger("urllib3.connectionpool")
    monkeypatch.setattr(urllib3_log, "disabled", False)  # other suites' logging setup may switch it off
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger=urllib3_log.name)
    seeded.add_fault(vendor="movidesk", method="PATCH", kind="no_answer", times=1)
    connector.read_changes(None, now=NOW)
    connector.apply([action(ActionKind.ADD_NOTE, "n", record_id="1", body="Nota")], NOW)
    with pytest.raises(WebhookRejected):
        connector.verify_webhook(WebhookRequest("POST", "u", {}, b"{}", query={"token": "forged"}), NOW)
    assert "token=***" in caplog.text  # urllib3's request lines were logged, redacted
    for name in ("MOVIDESK_TOKEN", "MOVIDESK_WEBHOOK_TOKEN"):
        assert sandbox_env[name] not in caplog.text
