"""The Zendesk connector against the sandbox, through zenpy: reads, batched writes, webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.zendesk import ExportCursor, ZendeskConnector
from kickoff.contracts.vendor import PayloadRefused, VendorAction
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Action, ActionKind, ResultStatus
from kickoff.retry import FAST_POLICY
from sandbox.control import SandboxControl
from tests.webhook_receiver import WebhookReceiver

UPDATE_MANY = "zendesk PUT /api/v2/tickets/update_many.json"
JOB_POLLS = "zendesk GET /api/v2/job_statuses/show_many.json"
EXPORT = "zendesk GET /api/v2/incremental/tickets/cursor.json"
DUE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _connector(kickoff_config: Any, **options: Any) -> ZendeskConnector:
    config = kickoff_config.tools["zendesk"]
    config = config.model_copy(update={"options": {"job_poll_seconds": 0.0, **options}})
    return ZendeskConnector(config, retry=FAST_POLICY)


@pytest.fixture
def zendesk(sandbox: SandboxControl, kickoff_config: Any) -> ZendeskConnector:
    return _connector(kickoff_config)


def _action(kind: ActionKind, n: int, **payload: Any) -> VendorAction:
    """A canonical action with its payload in Zendesk's terms, validated by the declaration."""
    action = Action(kind=kind, tool="zendesk", onboarding_id=f"onb-{n}", payload={},
                    idempotency_key=f"zd-{kind.value}-{n:05d}", rule="E1", due_at=DUE)
    return VendorAction.of(action, payload)


def _seed(sandbox: SandboxControl, count: int, **fields: Any) -> list[int]:
    sandbox.seed({"zendesk": {"tickets": [{"subject": f"Onboarding {n}", "description": "Welcome", **fields}
                                          for n in range(count)]}})
    return [t["id"] for t in sandbox.get("zendesk", "records/tickets")][-count:]


def _tickets(sandbox: SandboxControl) -> dict[int, dict[str, Any]]:
    return {t["id"]: t for t in sandbox.get("zendesk", "records/tickets")}


# --- writes ---------------------------------------------------------------------------
def test_given_250_ticket_updates_when_applied_then_3_update_many_calls_and_2_job_polls(
        zendesk: ZendeskConnector, sandbox: SandboxControl) -> None:
    ids = _seed(sandbox, 250)
    actions = [_action(ActionKind.SET_STAGE, n, record_id=str(i), status="open", add_tags=["kickoff"])
               for n, i in enumerate(ids)]
    since = sandbox.last_seq()
    results = zendesk.apply(actions, DUE)
    counts = sandbox.counts("zendesk", since=since)
    assert [r.status for r in results] == [ResultStatus.DONE] * 250
    assert [r.external_id for r in results] == [str(i) for i in ids]
    assert counts[UPDATE_MANY] == 3 and counts[JOB_POLLS] == 2
    assert sum(counts.values()) == 5
    stored = _tickets(sandbox)
    assert all(stored[i]["status"] == "open" and stored[i]["tags"] == ["kickoff"] for i in ids)


def test_given_some_tickets_refused_when_updating_then_they_fail_with_zendesk_reason_and_others_are_done(
        zendesk: ZendeskConnector, sandbox: SandboxControl) -> None:
    open_ids = _seed(sandbox, 3)
    closed_ids = _seed(sandbox, 2, status="closed")
    ids = [open_ids[0], closed_ids[0], open_ids[1], closed_ids[1], open_ids[2]]
    actions = [_action(ActionKind.ASSIGN_OWNER, n, record_id=str(i), assignee_id=1) for n, i in enumerate(ids)]
    since = sandbox.last_seq()
    results = zendesk.apply(actions, DUE)
    assert [r.status for r in results] == [ResultStatus.DONE, ResultStatus.PERMANENT, ResultStatus.DONE,
                                           ResultStatus.PERMANENT, ResultStatus.DONE]
    assert all("closed prevents ticket update" in (r.reason or "") for r in results if r.status != ResultStatus.DONE)
    assert sandbox.counts("zendesk", since=since)[UPDATE_MANY] == 1
    jobs = sandbox.get("zendesk", "records/jobs")
    assert len(jobs) == 1 and sorted(r["id"] for r in jobs[0]["results"] if r["success"]) == sorted(open_ids)


def test_given_status_note_owner_and_tags_for_one_ticket_when_applied_then_one_ticket_update(
        zendesk: ZendeskConnector, sandbox: SandboxControl) -> None:
    sandbox.act("zendesk", "users", name="Siri Agent", email="siri@example.com", role="agent")
    agent = next(u["id"] for u in sandbox.get("zendesk", "records/users") if u["email"] == "siri@example.com")
    [ticket] = _seed(sandbox, 1, tags=["vip"])
    actions = [
        _action(ActionKind.SET_STAGE, 1, record_id=str(ticket), status="pending", add_tags=["stage_2"]),
        _action(ActionKind.ASSIGN_OWNER, 2, record_id=str(ticket), assignee_id=agent),
        _action(ActionKind.ADD_NOTE, 3, record_id=str(ticket), body="Kickoff call booked", add_tags=["booked"]),
        _action(ActionKind.ADD_NOTE, 4, record_id=str(ticket), body="Agenda sent"),
    ]
    since = sandbox.last_seq()
    results = zendesk.apply(actions, DUE)
    assert {r.status for r in results} == {ResultStatus.DONE}
    assert sandbox.counts("zendesk", since=since)[UPDATE_MANY] == 2  # the second note needs its own round
    stored = _tickets(sandbox)[ticket]
    assert (stored["status"], stored["assignee_id"]) == ("pending", agent)
    assert stored["tags"] == ["booked", "stage_2", "vip"]
    notes = sandbox.get("zendesk", "records/comments")[str(ticket)]
    assert [(c["body"], c["public"]) for c in notes[1:]] == [("Kickoff call booked", False), ("Agenda sent", False)]


@pytest.mark.parametrize(("kind", "payload", "words"), [
    (ActionKind.SET_STAGE, {"record_id": "12"}, "set_stage needs"),
    (ActionKind.ASSIGN_OWNER, {"record_id": "12"}, "assign_owner needs"),
    (ActionKind.ADD_NOTE, {"record_id": "ticket-12", "body": "hi"}, "record_id"),
    (ActionKind.SET_STAGE, {"record_id": "12", "status": "open", "tags": ["x"]}, "tags"),
    (ActionKind.NOTIFY, {"body": "hi"}, "takes no such action"),
])
def test_given_a_bad_payload_then_it_is_refused_before_any_connector_sees_it(
        kind: ActionKind, payload: dict[str, Any], words: str) -> None:
    with pytest.raises(PayloadRefused) as refused:
        _action(kind, 1, **payload)
    assert refused.value.tool == "zendesk" and words in str(refused.value)


def test_given_429_storm_when_updating_tickets_then_waits_out_retry_after_and_finishes(
        zendesk: ZendeskConnector, sandbox: SandboxControl) -> None:
    ids = _seed(sandbox, 3)
    sandbox.add_fault(vendor="zendesk", kind="error", status=429, times=2, path="update_many")
    started = time.monotonic()
    results = zendesk.apply([_action(ActionKind.SET_STAGE, n, record_id=str(i), status="solved")
                             for n, i in enumerate(ids)], DUE)
    assert [r.status for r in results] == [ResultStatus.DONE] * 3
    assert time.monotonic() - started >= 2.0  # two Retry-After: 1 honoured
    counts = sandbox.counts("zendesk")
    assert counts["zendesk 429"] == 2 and counts[UPDATE_MANY] == 3
    assert {t["status"] for t in _tickets(sandbox).values()} == {"solved"}


def test_given_the_plan_limit_spent_when_reading_then_the_429_is_waited_out(
        zendesk: ZendeskConnector, sandbox: SandboxControl) -> None:
    _seed(sandbox, 2)
    sandbox.set_clock(advance_seconds=61)
    sandbox.set_limits("zendesk", requests=2, window_seconds=1)
    zendesk.client.users.me()
    zendesk.client.users.me()  # the window's budget is spent: the export's first call gets a 429
    result = zendesk.read_changes(None, now=DUE)
    assert len(result.deliveries) == 2 and sandbox.counts("zendesk")["zendesk 429"] >= 1


def test_given_applied_but_no_answer_when_creating_a_ticket_then_found_by_key_and_not_created_twice(
        zendesk: ZendeskConnector, sandbox: SandboxControl) -> None:
    sandbox.add_fault(vendor="zendesk", kind="no_answer", method="POST", path=r"/api/v2/tickets\.json$", times=1)
    action = _action(ActionKind.CREATE_RECORD, 1, subject="Onboarding: Fjord Bakeri AS", body="Contract signed",
                     requester={"name": "Nora Fjord", "email": "nora@example.com"}, tags=["onboarding"])
    [result] = zendesk.apply([action], DUE)
    tickets = list(_tickets(sandbox).values())
    assert result.status == ResultStatus.DONE and len(tickets) == 1
    assert result.external_id == str(tickets[0]["id"]) and tickets[0]["external_id"] == action.idempotency_key
    counts = sandbox.counts("zendesk")
    assert counts["zendesk POST /api/v2/tickets.json"] == 1 and counts["zendesk GET /api/v2/tickets.json"] == 1


def test_given_a_replayed_creation_when_applied_again_then_the_same_ticket_is_returned(
        zendesk: ZendeskConnector, sandbox: SandboxControl) -> None:
    action = _action(ActionKind.CREATE_RECORD, 1, subject="Onboarding: Lysaker IT", body="Welcome", requester_id=1)
    first, second = zendesk.apply([action], DUE), zendesk.apply([action], DUE)
    assert first[0].external_id == second[0].external_id and len(_tickets(sandbox)) == 1


def test_given_a_wrong_api_token_when_applying_then_auth_results(sandbox: SandboxControl, kickoff_config: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENDESK_API_TOKEN", "not-the-token")
    results = _connector(kickoff_config).apply([_action(ActionKind.SET_STAGE, 1, record_id="1", status="open")],
                                               DUE)
    assert results[0].status == ResultStatus.AUTH and "authenticate" in (results[0].reason or "")


# --- reads ----------------------------------------------------------------------------
def test_given_changes_when_read_incrementally_then_cursor_is_followed_and_tombstones_are_told_apart(
        zendesk: ZendeskConnector, sandbox: SandboxControl) -> None:
    ids = _seed(sandbox, 3)
    sandbox.set_clock(advance_seconds=61)
    first = zendesk.read_changes(None, now=DUE)
    assert [d.record_id for d in first.deliveries] == [str(i) for i in ids]
    assert {d.kind for d in first.deliveries} == {"poll"}
    assert zendesk.read_changes(first.next_cursor, now=DUE).deliveries == []
    sandbox.act("zendesk", f"tickets/{ids[0]}", method="PUT", status="open")
    sandbox.act("zendesk", f"tickets/{ids[1]}", method="DELETE")
    sandbox.set_clock(advance_seconds=61)
    second = zendesk.read_changes(first.next_cursor, now=DUE)
    events = {d.record_id: d.payload["event"] for d in second.deliveries}
    assert events == {str(ids[0]): "ticket.changed", str(ids[1]): "ticket.deleted"}
    assert len({d.dedup_key for d in first.deliveries + second.deliveries}) == 5
    calls = [(r["path"], r["status"]) for r in sandbox.requests("zendesk") if r["path"].startswith("/api/v2/incr")]
    assert len(calls) == 3 and sandbox.counts("zendesk")[EXPORT] == 3


def test_given_a_limit_when_reading_then_stops_on_a_page_boundary_and_resumes_there(
        sandbox: SandboxControl, kickoff_config: Any) -> None:
    zendesk = _connector(kickoff_config, per_page=2)
    ids = _seed(sandbox, 5)
    sandbox.set_clock(advance_seconds=61)
    first = zendesk.read_changes(None, now=DUE, limit=2)
    rest = zendesk.read_changes(first.next_cursor, now=DUE)
    assert [d.record_id for d in first.deliveries] == [str(i) for i in ids[:2]]
    assert [d.record_id for d in rest.deliveries] == [str(i) for i in ids[2:]]


def test_given_keys_at_the_cursor_boundary_when_returned_again_then_skipped(zendesk: ZendeskConnector,
                                                                          sandbox: SandboxControl) -> None:
    _seed(sandbox, 2)
    sandbox.set_clock(advance_seconds=61)
    first = zendesk.read_changes(None, now=DUE)
    boundary = ExportCursor.load(first.next_cursor).boundary
    assert boundary == {(d.record_id, d.payload["ticket"]["updated_at"]) for d in first.deliveries}
    replay = ExportCursor(after_cursor=None, boundary=boundary).dump()  # the export repeats the last second
    assert zendesk.read_changes(replay, now=DUE).deliveries == []


# --- webhooks -------------------------------------------------------------------------
@pytest.fixture
def receiver(sandbox: SandboxControl) -> Iterator[WebhookReceiver]:
    """What the sandbox's Zendesk posts (``requests()``: as the gateway would see it)."""
    with WebhookReceiver("/hooks/zendesk") as hook:
        sandbox.set_webhook("zendesk", hook.url)
        yield hook


def _signed(body: bytes, secret: str = "zd-sandbox-webhook-secret", at: datetime | None = None) -> WebhookRequest:
    stamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()).decode()
    return WebhookRequest("POST", "/hooks/zendesk", {"X-Zendesk-Webhook-Signature": signature,
                                                     "X-Zendesk-Webhook-Signature-Timestamp": stamp}, body)


def test_given_event_subscription_webhooks_when_verified_and_parsed_then_one_delivery_per_event_id(
        zendesk: ZendeskConnector, sandbox: SandboxControl, receiver: WebhookReceiver) -> None:
    ticket = sandbox.act("zendesk", "tickets", subject="Churn risk: Acme AS", comment={"body": "Leaving"})
    sandbox.act("zendesk", f"tickets/{ticket['id']}", method="PUT", status="open", additional_tags=["churn_risk"])
    assert sandbox.flush_webhooks()
    deliveries = []
    for request in receiver.requests():
        zendesk.verify_webhook(request, datetime.now(UTC))
        deliveries += zendesk.parse_webhook(request, DUE)
    types = [d.payload["type"].rsplit(".", 1)[-1] for d in deliveries]
    assert types == ["created", "status_changed", "tags_changed"]
    assert [d.dedup_key for d in deliveries] == [f"zendesk:event:{d.payload['id']}" for d in deliveries]
    assert {d.record_id for d in deliveries} == {str(ticket["id"])} and {d.kind for d in deliveries} == {"webhook"}
    assert {d.received_at for d in deliveries} == {DUE}  # the time passed in, not the wall clock


def test_given_a_forged_or_stale_or_unsigned_webhook_then_rejected_401(zendesk: ZendeskConnector,
                                                                       sandbox: SandboxControl) -> None:
    body = json.dumps({"type": "zen:event-type:ticket.created", "id": "e1", "subject": "zen:ticket:1"}).encode()
    zendesk.verify_webhook(_signed(body), datetime.now(UTC))
    forged = _signed(body, secret="guessed-secret")
    tampered = _signed(body)
    tampered.body = body.replace(b"ticket:1", b"ticket:2")
    stale = _signed(body, at=datetime.now(UTC) - timedelta(minutes=10))
    unsigned = WebhookRequest("POST", "/hooks/zendesk", {}, body)
    for request in (forged, tampered, stale, unsigned):
        with pytest.raises(WebhookRejected) as info:
            zendesk.verify_webhook(request, datetime.now(UTC))
        assert info.value.status == 401


def test_given_trigger_webhooks_when_parsed_then_stored_as_they_came_one_delivery_per_change(
        zendesk: ZendeskConnector, sandbox: SandboxControl, receiver: WebhookReceiver) -> None:
    ticket = sandbox.act("zendesk", "tickets", subject="Hardware request", comment={"body": "Two scanners"})
    template = {"ticket": {"id": "{{ticket.id}}", "updated": "{{ticket.updated_at_with_timestamp}}",
                           "status": "{{ticket.status}}"}, "kind": "hardware"}
    sandbox.act("zendesk", f"tickets/{ticket['id']}/trigger", template=template)
    sandbox.act("zendesk", f"tickets/{ticket['id']}/trigger", template=template)  # the same change, sent again
    sandbox.set_clock(advance_seconds=5)
    sandbox.act("zendesk", f"tickets/{ticket['id']}", method="PUT", status="pending")
    sandbox.act("zendesk", f"tickets/{ticket['id']}/trigger", template=template)  # a new change
    assert sandbox.flush_webhooks()
    triggers = [d for r in receiver.requests() for d in zendesk.parse_webhook(r, DUE) if "type" not in d.payload]

    assert [d.payload["ticket"]["status"] for d in triggers] == ["new", "new", "pending"]
    assert triggers[0].payload == {"ticket": {"id": str(ticket["id"]), "updated": ticket["updated_at"],
                                              "status": "new"}, "kind": "hardware"}
    assert triggers[0].dedup_key == triggers[1].dedup_key != triggers[2].dedup_key
    assert all(d.dedup_key.startswith("zendesk:trigger:") for d in triggers)
    assert {d.record_id for d in triggers} == {None}  # which ticket it is, the mapping reads by its table


def test_given_the_same_trigger_body_twice_then_one_dedup_key_and_another_body_another(
        zendesk: ZendeskConnector) -> None:
    body = {"ticket": {"id": "7", "updated": "2026-03-02T09:00:00Z"}, "kind": "hardware"}
    first = zendesk.parse_webhook(WebhookRequest("POST", "/hooks/zendesk", {}, json.dumps(body).encode()), DUE)
    again = zendesk.parse_webhook(WebhookRequest("POST", "/hooks/zendesk", {}, json.dumps(body, indent=2).encode()),
                                  DUE)
    later = {**body, "ticket": {"id": "7", "updated": "2026-03-02T09:05:00Z"}}
    other = zendesk.parse_webhook(WebhookRequest("POST", "/hooks/zendesk", {}, json.dumps(later).encode()), DUE)
    assert first[0].dedup_key == again[0].dedup_key != other[0].dedup_key
    assert first[0].payload == body and first[0].received_at == DUE


@pytest.mark.parametrize(("body", "words"), [
    (json.dumps({"type": "zen:event-type:ticket.created", "subject": "zen:ticket:1"}).encode(), "no 'id'"),
    (json.dumps({"type": "zen:event-type:ticket.created", "id": "e1"}).encode(), "no 'subject'"),
    (b"{}", "empty object"),
])
def test_given_a_malformed_webhook_when_parsed_then_400_saying_what_is_wrong(
        zendesk: ZendeskConnector, body: bytes, words: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        zendesk.parse_webhook(WebhookRequest("POST", "/hooks/zendesk", {}, body), DUE)
    assert info.value.status == 400 and words in info.value.reason


def test_given_a_full_run_when_logging_at_debug_then_no_secret_appears(
        zendesk: ZendeskConnector, sandbox: SandboxControl, caplog: pytest.LogCaptureFixture,
        sandbox_env: dict[str, str]) -> None:
    caplog.set_level(logging.DEBUG)
    ids = _seed(sandbox, 2)
    sandbox.add_fault(vendor="zendesk", kind="error", status=503, times=1)
    zendesk.apply([_action(ActionKind.SET_STAGE, 1, record_id=str(ids[0]), status="open"),
                   _action(ActionKind.CREATE_RECORD, 2, subject="New", body="Hello", requester_id=1)], DUE)
    sandbox.set_clock(advance_seconds=61)
    zendesk.read_changes(None, now=DUE)
    zendesk.verify_webhook(_signed(b"{}"), datetime.now(UTC))
    secrets = [sandbox_env["ZENDESK_API_TOKEN"], sandbox_env["ZENDESK_WEBHOOK_SECRET"],
               base64.b64encode(f"{sandbox_env['ZENDESK_EMAIL']}/token:{sandbox_env['ZENDESK_API_TOKEN']}".encode()).decode()]
    assert caplog.records and not [s for s in secrets if s in caplog.text]
