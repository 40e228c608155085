"""The Asana connector against the sandbox through the official client: batches of ten,
per-action failures, 429s, lost answers, polling, the webhook handshake and signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.asana import AsanaConnector
from kickoff.contracts.vendor import PayloadRefused, VendorAction
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Action, ActionKind, ResultStatus, idempotency_key
from kickoff.retry import RetryPolicy
from kickoff.settings import RateLimit
from mappings.base import mapping_for
from tests.webhook_receiver import WebhookReceiver

WS, KEY_FIELD, TYPE_FIELD, PRICE = "1000", "2001", "2002", "2101"
PROJECT, NEW, WAITING, DONE = "3001", "3101", "3102", "3103"
BOARD = {"asana": {
    "workspaces": [{"gid": WS, "name": "Example Co"}],
    "users": [{"gid": "1001", "name": "Alex Example", "email": "alex@example.com", "workspace": WS}],
    "custom_fields": [
        {"gid": KEY_FIELD, "name": "Kickoff key", "resource_subtype": "text", "workspace": WS},
        {"gid": TYPE_FIELD, "name": "Churn-risk type", "resource_subtype": "enum", "workspace": WS,
         "enum_options": [{"gid": PRICE, "name": "Price"}]},
    ],
    "projects": [{"gid": PROJECT, "name": "Retention requests", "workspace": WS, "sections": [
        {"gid": NEW, "name": "New request"}, {"gid": WAITING, "name": "Waiting on partner"},
        {"gid": DONE, "name": "Meeting set or resolved"}]}],
}}
BATCH = "asana POST /api/1.0/batch"


def now() -> datetime:
    """The time a test passes to the connector (the flows read the clock; tests may too)."""
    return datetime.now(UTC)

WEBHOOK_SECRET = "asana-hook-secret-for-tests"


def no_sleep_policy(slept: list[float] | None = None) -> RetryPolicy:
    """The real decisions, without the waiting (waits are recorded instead)."""
    return RetryPolicy(base_seconds=0.001, max_backoff_seconds=0.01, sleep=(slept.append if slept is not None else lambda s: None))


@pytest.fixture
def board(sandbox):
    sandbox.seed(BOARD)
    return sandbox


@pytest.fixture
def make_connector(kickoff_config, monkeypatch):
    monkeypatch.setenv("ASANA_WEBHOOK_SECRET", WEBHOOK_SECRET)
    base = kickoff_config.tools["asana"]

    # what the mapping has the connector read, for a tenant whose board is the test's project
    reads = mapping_for("asana").reads({"test": {"project": PROJECT, "sections": {}, "owners": {}}})

    def make(retry: RetryPolicy | None = None, **options: Any) -> AsanaConnector:
        config = base.model_copy(update={
            "options": {"key_field": KEY_FIELD, **options},
            "credentials": {**base.credentials, "webhook_secret": "env:ASANA_WEBHOOK_SECRET"},
            "rate_limit": RateLimit(requests=1500, per_seconds=60),  # a paid domain: tests stay fast
        })
        return AsanaConnector(config, retry=retry or no_sleep_policy(), reads=reads)

    return make


def action(kind: ActionKind, n: int, **payload: Any) -> VendorAction:
    """A canonical action with its payload in Asana's terms, validated by the declaration."""
    canonical = Action(kind=kind, tool="asana", onboarding_id="onb-1", payload={},
                       idempotency_key=idempotency_key("onb-1", kind, n), rule="W7", due_at=now())
    return VendorAction.of(canonical, payload)


def request(n: int, **extra: Any) -> VendorAction:
    return action(ActionKind.CREATE_RECORD, n, project=PROJECT, name=f"Red alert {n}: Example Salon",
                  notes="Competitor visit next week.", **extra)


def tasks(board) -> list[dict[str, Any]]:
    return board.get("asana", "records/tasks")


def test_given_30_requests_when_applying_then_3_batch_calls_create_them_in_the_new_column(board, make_connector):
    actions = [request(i, custom_fields={TYPE_FIELD: PRICE}) for i in range(30)]

    results = make_connector().apply(actions, now())

    assert [r.status for r in results] == [ResultStatus.DONE] * 30
    assert board.counts("asana")[BATCH] == 3
    created = {t["gid"]: t for t in tasks(board)}
    assert sorted(created) == sorted(r.external_id for r in results)
    for act, result in zip(actions, results, strict=True):
        task = created[result.external_id]
        assert task["memberships"][0]["section"]["gid"] == NEW
        fields = {f["gid"]: f for f in task["custom_fields"]}
        assert fields[KEY_FIELD]["text_value"] == act.idempotency_key
        assert task["notes"].endswith(f"kickoff-key: {act.idempotency_key}")


def test_given_some_refused_in_a_batch_then_they_fail_with_asanas_reason_and_the_rest_are_not_resent(board, make_connector):
    actions = [request(i, custom_fields={TYPE_FIELD: "999" if i in (3, 7) else PRICE}) for i in range(10)]

    results = make_connector().apply(actions, now())

    refused = [i for i, r in enumerate(results) if r.status is ResultStatus.PERMANENT]
    assert refused == [3, 7]
    assert results[3].reason == "asana: enum_value: Not a recognized ID: 999"
    assert len(tasks(board)) == 8 and board.counts("asana")[BATCH] == 1


def test_given_429_storm_when_creating_then_waits_as_asked_and_finishes(board, make_connector):
    board.add_fault(vendor="asana", path="/batch$", kind="error", status=429, times=3)
    slept: list[float] = []

    results = make_connector(retry=no_sleep_policy(slept)).apply([request(i) for i in range(12)], now())

    assert all(r.status is ResultStatus.DONE for r in results)
    assert board.counts("asana")["asana 429"] == 3 and board.counts("asana")[BATCH] == 5
    assert len(slept) == 3 and min(slept) >= 1.0  # the Retry-After of each 429
    assert len(tasks(board)) == 12


def test_given_the_real_limit_spent_when_assigning_then_retry_after_is_honoured(board, make_connector):
    connector = make_connector(retry=RetryPolicy(base_seconds=0.01, max_backoff_seconds=0.05))
    created = connector.apply([request(i) for i in range(3)], now())
    board.set_limits("asana", requests=3, window_seconds=1)
    assigns = [action(ActionKind.ASSIGN_OWNER, i, record_id=r.external_id, assignee="alex@example.com")
               for i, r in enumerate(created)]

    connector.apply(assigns, now())
    started = time.monotonic()
    results = connector.apply(assigns, now())

    assert time.monotonic() - started >= 0.9
    assert board.counts("asana")["asana 429"] >= 1
    assert all(r.status is ResultStatus.DONE for r in results)
    assert {t["assignee"]["gid"] for t in tasks(board)} == {"1001"}


def test_given_no_answer_after_a_batch_when_retrying_then_writes_are_found_by_key_not_repeated(board, make_connector):
    connector = make_connector()
    task = connector.apply([request(0)], now())[0].external_id
    board.add_fault(vendor="asana", path="/batch$", kind="no_answer", times=1)
    before = board.counts("asana")[BATCH]

    results = connector.apply([request(1), request(2),
                               action(ActionKind.ADD_NOTE, 3, record_id=task, text="Called the partner.")], now())

    assert [r.status for r in results] == [ResultStatus.DONE] * 3
    assert board.counts("asana")[BATCH] - before == 1  # the lost batch was not sent again
    assert len(tasks(board)) == 3
    notes = [s for s in board.get("asana", "records/stories") if s["target"]["gid"] == task]
    assert len(notes) == 1 and results[2].external_id == notes[0]["gid"]
    assert sorted(r.external_id for r in results[:2]) == sorted(t["gid"] for t in tasks(board) if t["gid"] != task)


def test_given_an_update_lost_without_answer_then_it_is_sent_again(board, make_connector):
    connector = make_connector()
    task = connector.apply([request(0)], now())[0].external_id
    board.add_fault(vendor="asana", path="/batch$", kind="no_answer", times=1)

    result = connector.apply([action(ActionKind.SET_STAGE, 1, record_id=task, project=PROJECT,
                                     section="waiting on partner")], now())[0]

    assert result.status is ResultStatus.DONE
    assert board.get("asana", f"tasks/{task}")["memberships"][0]["section"]["gid"] == WAITING


def test_when_completing_a_request_then_it_is_completed_and_moved_to_the_last_column(board, make_connector):
    connector = make_connector()
    task = connector.apply([request(0)], now())[0].external_id

    result = connector.apply([action(ActionKind.COMPLETE_TASK, 1, record_id=task, project=PROJECT)], now())[0]

    got = board.get("asana", f"tasks/{task}")
    assert result.status is ResultStatus.DONE and result.external_id == task
    assert got["completed"] is True and [m["section"]["gid"] for m in got["memberships"]] == [DONE]


def test_given_an_unknown_column_then_permanent_without_a_batch_call(board, make_connector):
    results = make_connector().apply([action(ActionKind.SET_STAGE, 1, record_id="1", project=PROJECT,
                                             section="Nope")], now())

    assert results[0].status is ResultStatus.PERMANENT and "no column 'Nope'" in results[0].reason
    assert BATCH not in board.counts("asana")


@pytest.mark.parametrize(("kind", "payload", "words"), [
    (ActionKind.ASSIGN_OWNER, {"assignee": "x"}, "record_id"),
    (ActionKind.SET_STAGE, {"record_id": "1", "project": PROJECT}, "section"),
    (ActionKind.CREATE_TASK, {"project": PROJECT, "name": "Call", "due_on": "2026-05-04",
                              "due_at": "2026-05-04T08:00:00Z"}, "exclude each other"),
    (ActionKind.ADD_NOTE, {"record_id": "task-1", "text": "hi"}, "record_id"),
    (ActionKind.NOTIFY, {"text": "hi"}, "takes no such action"),
])
def test_given_a_bad_payload_then_it_is_refused_before_any_connector_sees_it(kind, payload, words):
    with pytest.raises(PayloadRefused) as refused:
        action(kind, 1, **payload)
    assert refused.value.tool == "asana" and words in str(refused.value)


def test_given_a_wrong_token_then_auth(board, make_connector, monkeypatch):
    monkeypatch.setenv("ASANA_ACCESS_TOKEN", "not-the-token")
    results = make_connector().apply([action(ActionKind.ASSIGN_OWNER, 1, record_id="1", assignee="x")], now())
    assert results[0].status is ResultStatus.AUTH and "Not Authorized" in results[0].reason


def test_given_no_token_in_the_environment_then_auth_without_a_call(board, make_connector, monkeypatch):
    monkeypatch.delenv("ASANA_ACCESS_TOKEN")
    results = make_connector().apply([action(ActionKind.ASSIGN_OWNER, 1, record_id="1", assignee="x")], now())
    assert results[0].status is ResultStatus.AUTH and board.counts("asana") == {}


def test_given_changes_when_polling_then_each_change_once_in_order_and_nothing_twice(board, make_connector):
    connector = make_connector()
    board.set_clock(at="2026-05-04T08:00:00+00:00", frozen=True)
    made = [r.external_id for r in connector.apply([request(i) for i in range(3)], now())]

    first = connector.read_changes(None, now=now())
    again = connector.read_changes(first.next_cursor, now=now())
    board.set_clock(advance_seconds=60)
    board.act("asana", f"tasks/{made[1]}/complete")
    later = connector.read_changes(first.next_cursor, now=now())

    assert sorted(d.record_id for d in first.deliveries) == sorted(made)
    assert again.deliveries == [] and again.next_cursor == first.next_cursor
    assert [d.record_id for d in later.deliveries] == [made[1]]
    assert later.deliveries[0].payload["completed"] is True
    keys = {d.dedup_key for d in first.deliveries + later.deliveries}
    assert len(keys) == 4 and all(d.kind == "poll" for d in later.deliveries)


def test_given_a_limit_when_polling_then_the_rest_comes_next_time(board, make_connector):
    connector = make_connector()
    board.set_clock(at="2026-05-04T08:00:00+00:00", frozen=True)  # all four share one modified_at
    made = {r.external_id for r in connector.apply([request(i) for i in range(4)], now())}

    first = connector.read_changes(None, now=now(), limit=3)
    rest = connector.read_changes(first.next_cursor, now=now(), limit=3)

    assert len(first.deliveries) == 3 and len(rest.deliveries) == 1
    assert {d.record_id for d in first.deliveries + rest.deliveries} == made


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver("/hooks/asana") as hook:
        yield hook


def webhook(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    return WebhookRequest("POST", "https://kickoff.example.com/hooks/asana", headers or {}, body)


def test_given_a_handshake_then_the_secret_is_echoed_and_returned_for_storage(make_connector):
    connector = make_connector()
    shake = webhook(b"", {"X-Hook-Secret": "abc123"})

    assert connector.is_handshake(shake) and not connector.is_handshake(webhook(b"{}"))
    answer = connector.handshake(shake)
    assert answer.headers == {"X-Hook-Secret": "abc123"} and answer.secret == "abc123"
    with pytest.raises(WebhookRejected) as err:
        connector.handshake(webhook(b""))
    assert err.value.status == 400


def test_given_sandbox_deliveries_then_signatures_verify_and_events_parse(board, make_connector, receiver):
    connector = make_connector()
    task = connector.apply([request(0)], now())[0].external_id
    board.set_webhook("asana", receiver.url, secret=WEBHOOK_SECRET)
    board.act("asana", f"tasks/{task}/move", section="Meeting set or resolved")
    board.act("asana", f"tasks/{task}/complete")
    assert board.flush_webhooks()

    deliveries = []
    for post in receiver.received:
        req = webhook(post.body, post.headers)
        connector.verify_webhook(req, now())
        deliveries += connector.parse_webhook(req, now())

    assert [(d.payload["action"], d.record_id) for d in deliveries] == [("added", task), ("removed", task), ("changed", task)]
    assert deliveries[2].payload["change"]["field"] == "completed"
    assert len({d.dedup_key for d in deliveries}) == 3 and all(d.kind == "webhook" for d in deliveries)


def test_given_a_forged_or_missing_signature_then_401(make_connector):
    connector = make_connector()
    body = b'{"events":[]}'
    good = hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    connector.verify_webhook(webhook(body, {"X-Hook-Signature": good}), now())

    forged = hmac.new(b"someone else", body, hashlib.sha256).hexdigest()
    for headers in ({"X-Hook-Signature": forged}, {}):
        with pytest.raises(WebhookRejected) as err:
            connector.verify_webhook(webhook(body, headers), now())
        assert err.value.status == 401
    with pytest.raises(WebhookRejected):
        connector.verify_webhook(webhook(body + b" ", {"X-Hook-Signature": good}), now())


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"data": []}', '"events" list'),
    (b'{"events": [{"action": "changed", "created_at": "2026-05-04T08:00:00.000Z"}]}', "no resource gid"),
    (b'{"events": [{"resource": {"gid": "1"}, "action": "changed"}]}', "no action or created_at"),
])
def test_given_a_malformed_delivery_then_400_with_a_clear_reason(make_connector, body, reason):
    with pytest.raises(WebhookRejected) as err:
        make_connector().parse_webhook(webhook(body), now())
    assert err.value.status == 400 and reason in err.value.reason


def test_given_a_heartbeat_then_no_deliveries(make_connector):
    assert make_connector().parse_webhook(webhook(b'{"events": []}'), now()) == []


def test_given_a_run_with_failures_then_no_secret_appears_in_logs(board, make_connector, caplog, sandbox_env):
    caplog.set_level(logging.DEBUG)
    board.add_fault(vendor="asana", path="/batch$", kind="no_answer", times=1)
    connector = make_connector()
    connector.apply([request(0), request(1, custom_fields={TYPE_FIELD: "999"})], now())
    connector.read_changes(None, now=now())
    with pytest.raises(WebhookRejected):
        connector.verify_webhook(webhook(b"{}", {"X-Hook-Signature": "00"}), now())

    assert caplog.records  # the run did log
    for secret in (sandbox_env["ASANA_ACCESS_TOKEN"], WEBHOOK_SECRET):
        assert secret not in caplog.text
    assert json.dumps(sandbox_env["ASANA_ACCESS_TOKEN"]) not in caplog.text


def test_the_official_clients_thread_pool_is_closed_as_kickoff_makes_no_async_calls(make_connector):
    """asana.ApiClient starts a thread pool for ``async_req`` on construction; left open it holds
    threads for the process's life and its ``__del__`` fails at interpreter exit."""
    before = {t.ident for t in threading.enumerate()}
    client = make_connector().client
    started = [t for t in threading.enumerate() if t.ident not in before and t.is_alive()]
    assert started == [] and not hasattr(client, "pool")
