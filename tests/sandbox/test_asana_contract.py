"""The Asana sandbox, called through the unmodified official client (``asana`` 5.x), behaves
as Asana documents: batch limits and per-action results, board sections, sync tokens,
rate limits, the webhook handshake and ``X-Hook-Signature``."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import asana
import pytest
from asana.rest import ApiException
from urllib3.util.retry import Retry

from tests.webhook_receiver import WebhookReceiver

WS, KEY_FIELD, TYPE_FIELD, PRICE = "1000", "2001", "2002", "2101"
PROJECT, NEW, WAITING, DONE = "3001", "3101", "3102", "3103"
BOARD = {
    "asana": {
        "workspaces": [{"gid": WS, "name": "Example Co"}],
        "users": [{"gid": "1001", "name": "Alex Example", "email": "alex@example.com", "workspace": WS}],
        "custom_fields": [
            {"gid": KEY_FIELD, "name": "Kickoff key", "resource_subtype": "text", "workspace": WS},
            {"gid": TYPE_FIELD, "name": "Churn-risk type", "resource_subtype": "enum", "workspace": WS,
             "enum_options": [{"gid": PRICE, "name": "Price"}, {"gid": "2102", "name": "Product"}]},
        ],
        "projects": [{"gid": PROJECT, "name": "Retention requests", "workspace": WS, "sections": [
            {"gid": NEW, "name": "New request"}, {"gid": WAITING, "name": "Waiting on partner"},
            {"gid": DONE, "name": "Meeting set or resolved"}]}],
    }
}


@pytest.fixture
def board(sandbox):
    sandbox.seed(BOARD)
    return sandbox


def api_client(sandbox_server, token: str = "asana-sandbox-token") -> asana.ApiClient:
    cfg = asana.Configuration()
    cfg.host = f"{sandbox_server.url}/api/1.0"
    cfg.access_token = token
    cfg.retry_strategy = Retry(total=False)  # the sandbox's answer, not urllib3's retries
    return asana.ApiClient(cfg)


def error_message(exc: ApiException) -> str:
    return json.loads(exc.body)["errors"][0]["message"]


def create(client: asana.ApiClient, name: str, **data: Any) -> dict[str, Any]:
    body = {"name": name, "memberships": [{"project": PROJECT, "section": NEW}], **data}
    return asana.TasksApi(client).create_task({"data": body}, {})


def test_given_board_when_creating_a_request_then_the_client_reads_back_section_and_fields(board, sandbox_server):
    client = api_client(sandbox_server)
    task = create(client, "Red alert: Example Salon", notes="kickoff-key: abc12345", assignee="alex@example.com",
                  due_on="2026-05-04", custom_fields={KEY_FIELD: "abc12345", TYPE_FIELD: PRICE})

    got = asana.TasksApi(client).get_task(task["gid"], {})

    assert got["memberships"] == [{"project": {"gid": PROJECT, "name": "Retention requests", "resource_type": "project"},
                                   "section": {"gid": NEW, "name": "New request", "resource_type": "section"}}]
    fields = {f["gid"]: f for f in got["custom_fields"]}
    assert fields[KEY_FIELD]["text_value"] == "abc12345"
    assert fields[TYPE_FIELD]["enum_value"]["name"] == "Price"
    assert got["assignee"]["gid"] == "1001" and got["due_on"] == "2026-05-04"
    assert got["modified_at"].endswith("Z")


def test_given_unknown_enum_option_when_creating_then_400_with_asanas_message(board, sandbox_server):
    with pytest.raises(ApiException) as err:
        create(api_client(sandbox_server), "x", custom_fields={TYPE_FIELD: "999"})
    assert err.value.status == 400
    assert error_message(err.value) == "enum_value: Not a recognized ID: 999"


def test_given_eleven_actions_when_posting_a_batch_then_asana_refuses_it(board, sandbox_server):
    actions = [{"relative_path": "/tasks", "method": "post", "data": {"name": f"t{i}", "projects": [PROJECT]}}
               for i in range(11)]
    with pytest.raises(ApiException) as err:
        asana.BatchAPIApi(api_client(sandbox_server)).create_batch_request(
            {"data": {"actions": actions}}, {}, full_payload=True)
    assert err.value.status == 400
    assert "maximum is 10" in error_message(err.value)
    assert board.get("asana", "records/tasks") == []


def test_given_a_bad_action_in_a_batch_then_each_action_answers_in_order(board, sandbox_server):
    actions = [
        {"relative_path": "/tasks", "method": "post", "data": {"name": "good", "projects": [PROJECT]}},
        {"relative_path": "/tasks", "method": "post", "data": {"name": "bad", "projects": ["404404"]}},
        {"relative_path": "/tasks/1", "method": "put", "data": {"completed": True}},
    ]
    answer = asana.BatchAPIApi(api_client(sandbox_server)).create_batch_request(
        {"data": {"actions": actions}}, {}, full_payload=True)

    results = answer["data"]
    assert [r["status_code"] for r in results] == [201, 400, 404]
    assert results[0]["headers"]["location"] == f"/tasks/{results[0]['body']['data']['gid']}"
    assert results[1]["body"]["errors"][0]["message"] == "projects: Not a recognized ID: 404404"
    assert [t["name"] for t in board.get("asana", "records/tasks")] == ["good"]


def test_when_adding_a_task_to_a_section_then_it_leaves_the_projects_other_sections(board, sandbox_server):
    client = api_client(sandbox_server)
    task = create(client, "Meeting to set")

    asana.SectionsApi(client).add_task_for_section(DONE, {"body": {"data": {"task": task["gid"]}}})

    in_done = list(asana.TasksApi(client).get_tasks({"section": DONE}))
    in_new = list(asana.TasksApi(client).get_tasks({"section": NEW}))
    assert [t["gid"] for t in in_done] == [task["gid"]] and in_new == []
    memberships = asana.TasksApi(client).get_task(task["gid"], {"opt_fields": "memberships.section.name"})["memberships"]
    assert [m["section"]["name"] for m in memberships] == ["Meeting set or resolved"]


def test_given_no_sync_token_when_reading_events_then_412_with_a_token_then_events_since_it(board, sandbox_server):
    client = api_client(sandbox_server)
    events_api = asana.EventsApi(client)
    with pytest.raises(ApiException) as err:
        events_api.get_events(PROJECT, {}, full_payload=True)
    assert err.value.status == 412
    token = json.loads(err.value.body)["sync"]

    task = create(client, "Churn risk")
    board.act("asana", f"tasks/{task['gid']}/complete")
    page = events_api.get_events(PROJECT, {"sync": token}, full_payload=True)

    changes = [(e["action"], (e.get("change") or {}).get("field"), (e.get("parent") or {}).get("resource_type"))
               for e in page["data"]]
    assert changes == [("added", None, "project"), ("added", None, "section"), ("changed", "completed", None)]
    assert page["sync"] != token and page["has_more"] is False
    assert events_api.get_events(PROJECT, {"sync": page["sync"]}, full_payload=True)["data"] == []


def test_given_a_sync_token_older_than_24_hours_then_412_with_a_fresh_token(board, sandbox_server):
    events_api = asana.EventsApi(api_client(sandbox_server))
    with pytest.raises(ApiException) as first:
        events_api.get_events(PROJECT, {}, full_payload=True)
    token = json.loads(first.value.body)["sync"]
    board.set_clock(advance_seconds=24 * 3600 + 60)

    with pytest.raises(ApiException) as err:
        events_api.get_events(PROJECT, {"sync": token}, full_payload=True)
    assert err.value.status == 412
    assert json.loads(err.value.body)["sync"] not in ("", token)


def test_given_modified_since_when_listing_project_tasks_then_only_later_changes_page_by_page(board, sandbox_server):
    client = api_client(sandbox_server)
    board.set_clock(at="2026-05-01T08:00:00+00:00", frozen=True)
    old = create(client, "old")
    board.set_clock(at="2026-05-01T09:00:00+00:00", frozen=True)
    fresh = [create(client, f"new {i}")["gid"] for i in range(3)]

    pages = asana.TasksApi(client).get_tasks_for_project(
        PROJECT, {"modified_since": "2026-05-01T08:30:00.000Z", "opt_fields": "modified_at,name", "limit": 2})

    got = list(pages)
    assert sorted(t["gid"] for t in got) == sorted(fresh) and old["gid"] not in [t["gid"] for t in got]
    assert set(got[0]) == {"gid", "modified_at", "name"}
    assert board.counts("asana")["asana GET /api/1.0/projects/{project_gid}/tasks"] == 2


def test_given_the_minute_spent_when_calling_then_429_with_retry_after(board, sandbox_server):
    board.set_limits("asana", requests=2, window_seconds=60)
    users = asana.UsersApi(api_client(sandbox_server))
    users.get_user("me", {})
    users.get_user("me", {})
    with pytest.raises(ApiException) as err:
        users.get_user("me", {})
    assert err.value.status == 429
    assert 1 <= int(err.value.headers["Retry-After"]) <= 60
    assert "too many requests" in error_message(err.value)


def test_given_a_batch_of_three_actions_then_it_counts_as_three_requests(board, sandbox_server):
    board.set_limits("asana", requests=3, window_seconds=60)
    actions = [{"relative_path": "/users/me", "method": "get"}] * 3
    batch = asana.BatchAPIApi(api_client(sandbox_server))
    batch.create_batch_request({"data": {"actions": actions}}, {}, full_payload=True)
    with pytest.raises(ApiException) as err:
        batch.create_batch_request({"data": {"actions": actions[:1]}}, {}, full_payload=True)
    assert err.value.status == 429


def test_given_a_wrong_token_then_401_not_authorized(board, sandbox_server):
    with pytest.raises(ApiException) as err:
        asana.UsersApi(api_client(sandbox_server, token="wrong")).get_user("me", {})
    assert err.value.status == 401 and error_message(err.value) == "Not Authorized"


def test_given_text_field_when_searching_then_found_only_after_the_index_lag(board, sandbox_server):
    client = api_client(sandbox_server)
    task = create(client, "keyed", custom_fields={KEY_FIELD: "key-42"})
    search = asana.TasksApi(client)

    def find() -> list[str]:
        return [t["gid"] for t in search.search_tasks_for_workspace(WS, {f"custom_fields.{KEY_FIELD}.value": "key-42"})]

    assert find() == []
    board.set_clock(advance_seconds=11)
    assert find() == [task["gid"]]
    assert board.counts("asana")["asana GET /api/1.0/workspaces/{workspace_gid}/tasks/search"] == 2


def test_given_a_free_workspace_when_searching_then_402(board, sandbox_server):
    board.set_limits("asana", extra={"premium": 0})
    with pytest.raises(ApiException) as err:
        list(asana.TasksApi(api_client(sandbox_server)).search_tasks_for_workspace(WS, {"text": "x"}))
    assert err.value.status == 402


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver("/hooks/asana", echo_secret=True) as hook:
        yield hook


def test_given_handshake_echoed_then_webhook_is_created_and_deliveries_carry_a_valid_signature(board, sandbox_server, receiver):
    client = api_client(sandbox_server)
    hook = asana.WebhooksApi(client).create_webhook({"data": {"resource": PROJECT, "target": receiver.url}}, {})
    assert hook["active"] is True and hook["resource"]["gid"] == PROJECT
    secret = receiver.received[0].header("x-hook-secret")

    task = create(client, "Request from support")
    board.act("asana", f"tasks/{task['gid']}/move", section="Waiting on partner")
    assert board.flush_webhooks()

    deliveries = receiver.received[1:]
    assert len(deliveries) == 2
    for post in deliveries:
        expected = hmac.new(secret.encode(), post.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(post.header("x-hook-signature"), expected)
    moved = json.loads(deliveries[1].body)["events"]
    assert {(e["action"], e["parent"]["gid"]) for e in moved} == {("added", WAITING), ("removed", NEW)}
    assert moved[0]["resource"] == {"gid": task["gid"], "resource_type": "task", "resource_subtype": "default_task"}


def test_given_handshake_not_echoed_then_creating_the_webhook_fails(board, sandbox_server):
    with WebhookReceiver("/hooks/asana") as silent, pytest.raises(ApiException) as err:
        asana.WebhooksApi(api_client(sandbox_server)).create_webhook(
            {"data": {"resource": PROJECT, "target": silent.url}}, {})
    assert err.value.status == 400 and "handshake" in error_message(err.value)
