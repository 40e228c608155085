"""The Zendesk sandbox behaves as Zendesk does, seen through the unmodified ``zenpy`` client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket
from zenpy.lib.exception import APIException, RatelimitBudgetExceeded

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from tests.webhook_receiver import WebhookReceiver

EMAIL = "kickoff-agent@example.com"
TOKEN = "zd-sandbox-api-token"


class _ToSandbox(HTTPAdapter):
    """Sends zenpy's https://sandbox.zendesk.com/... to the sandbox; zenpy still sees its own URL."""

    def __init__(self, base_url: str) -> None:
        super().__init__(max_retries=0)
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        original = request.url or ""
        path = urlsplit(original)
        request.url = f"{self.base_url}{path.path}?{path.query}"
        response = super().send(request, **kwargs)
        request.url = response.url = original
        return response


def _zenpy(server: SandboxServer, *, token: str = TOKEN, seen: list[requests.Response] | None = None) -> Zenpy:
    session = requests.Session()
    session.mount("https://", _ToSandbox(server.url))
    if seen is not None:
        session.hooks["response"].append(lambda response, *a, **k: seen.append(response))
    return Zenpy(subdomain="sandbox", email=EMAIL, token=token, session=session,
                 disable_cache=True, ratelimit_budget=1)


@pytest.fixture
def zd(sandbox: SandboxControl, sandbox_server: SandboxServer) -> Zenpy:
    return _zenpy(sandbox_server)


def _new_ticket(zd: Zenpy, subject: str = "Onboarding for Acme AS", **fields: Any) -> Ticket:
    return zd.tickets.create(Ticket(subject=subject, comment=Comment(body="Welcome aboard"), **fields)).ticket


def _age(sandbox: SandboxControl, seconds: float = 61) -> None:
    """Move the sandbox clock on, past the export's "last minute left out"."""
    sandbox.set_clock(advance_seconds=seconds)


def test_given_api_token_when_asking_who_am_i_then_the_agent_is_returned(zd: Zenpy) -> None:
    me = zd.users.me()
    assert me.email == EMAIL and me.role == "admin"


def test_given_wrong_token_when_calling_then_401_couldnt_authenticate(sandbox: SandboxControl,
                                                                      sandbox_server: SandboxServer) -> None:
    with pytest.raises(APIException) as info:
        _zenpy(sandbox_server, token="wrong").users.me()
    assert info.value.response.status_code == 401
    assert info.value.response.json() == {"error": "Couldn't authenticate you"}


def test_given_oauth_bearer_token_when_calling_then_accepted(sandbox: SandboxControl,
                                                            sandbox_server: SandboxServer) -> None:
    answer = requests.get(f"{sandbox_server.url}/api/v2/users/me.json", timeout=5,
                          headers={"Authorization": "Bearer zd-sandbox-oauth-token"})
    assert answer.status_code == 200 and answer.json()["user"]["email"] == EMAIL


def test_given_a_created_ticket_when_read_back_then_fields_and_timestamps_match(zd: Zenpy,
                                                                               sandbox: SandboxControl) -> None:
    sandbox.set_clock(at="2026-03-02T09:00:00+00:00", frozen=True)
    created = _new_ticket(zd, tags=["onboarding"], priority="high", external_id="kick-0001",
                          custom_fields=[{"id": 3601, "value": "kickoff"}])
    ticket = zd.tickets(id=created.id)
    assert (ticket.subject, ticket.status, ticket.priority, ticket.external_id) == (
        "Onboarding for Acme AS", "new", "high", "kick-0001")
    assert ticket.tags == ["onboarding"] and ticket.custom_fields == [{"id": 3601, "value": "kickoff"}]
    assert ticket.created_at == ticket.updated_at == "2026-03-02T09:00:00Z"
    assert [t.id for t in zd.tickets(ids=[created.id])] == [created.id]


def test_given_a_ticket_without_description_when_created_then_422_record_invalid(zd: Zenpy) -> None:
    with pytest.raises(APIException) as info:
        zd.tickets.create(Ticket(subject="No body"))
    assert info.value.response.status_code == 422
    assert info.value.response.json()["error"] == "RecordInvalid"


def test_given_same_idempotency_key_and_body_when_created_twice_then_one_ticket_and_lookup_hit(
        zd: Zenpy, sandbox: SandboxControl) -> None:
    zd.tickets.session.headers["Idempotency-Key"] = "kick-key-0001"
    seen: list[str] = []
    zd.tickets.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.headers.get("x-idempotency-lookup")))
    first = _new_ticket(zd, external_id="kick-key-0001")
    second = _new_ticket(zd, external_id="kick-key-0001")
    assert first.id == second.id and seen == ["miss", "hit"]
    assert len(sandbox.get("zendesk", "records/tickets")) == 1
    with pytest.raises(APIException) as info:
        _new_ticket(zd, subject="Another body, same key")
    assert info.value.response.status_code == 400


def test_given_external_id_when_listing_tickets_then_only_that_ticket_is_found(zd: Zenpy) -> None:
    wanted = _new_ticket(zd, external_id="kick-0002")
    _new_ticket(zd, external_id="kick-0003")
    assert [t.id for t in zd.tickets(external_id="kick-0002")] == [wanted.id]
    assert list(zd.tickets(external_id="nobody")) == []


def test_given_an_internal_note_when_updating_then_comment_is_private(zd: Zenpy) -> None:
    ticket = _new_ticket(zd)
    zd.tickets.update(Ticket(id=ticket.id, status="open", comment=Comment(body="Kickoff booked", public=False)))
    comments = list(zd.tickets.comments(ticket=ticket.id))
    assert [(c.body, c.public) for c in comments] == [("Welcome aboard", True), ("Kickoff booked", False)]
    assert zd.tickets(id=ticket.id).status == "open"


def test_given_tag_endpoints_when_adding_setting_deleting_then_add_does_not_replace(zd: Zenpy,
                                                                                  sandbox: SandboxControl) -> None:
    ticket = _new_ticket(zd, tags=["vip"])
    zd.tickets.add_tags(ticket.id, ["onboarding"])
    assert zd.tickets(id=ticket.id).tags == ["onboarding", "vip"]
    zd.tickets.delete_tags(ticket.id, ["vip"])
    assert zd.tickets(id=ticket.id).tags == ["onboarding"]
    zd.tickets.set_tags(ticket.id, ["churn_risk"])
    assert zd.tickets(id=ticket.id).tags == ["churn_risk"]


def test_given_update_many_with_101_tickets_then_refused_with_too_many_values(zd: Zenpy) -> None:
    with pytest.raises(APIException) as info:
        zd.tickets.update([Ticket(id=n, status="open") for n in range(1, 102)])
    assert info.value.response.status_code == 400
    assert info.value.response.json()["error"] == "TooManyValues"


def test_given_update_many_when_following_the_job_then_per_ticket_results(zd: Zenpy,
                                                                         sandbox: SandboxControl) -> None:
    good = _new_ticket(zd)
    closed = _new_ticket(zd, status="closed")
    job = zd.tickets.update([Ticket(id=good.id, status="pending", additional_tags=["kickoff"]),
                             Ticket(id=closed.id, status="open"), Ticket(id=999999, status="open")])
    states = [job.status]
    while states[-1] != "completed":
        states.append(zd.job_status(id=job.id).status)
    final = zd.job_status(id=job.id)
    assert states == ["queued", "working", "completed"]
    results = {r.id: r for r in final.results}
    assert (results[good.id].action, results[good.id].success, results[good.id].status) == ("update", True, "Updated")
    assert results[closed.id].success is False and "closed" in results[closed.id].errors
    assert results[999999].success is False and results[999999].errors
    ticket = zd.tickets(id=good.id)
    assert ticket.status == "pending" and ticket.tags == ["kickoff"]


def test_given_several_jobs_when_polled_with_show_many_then_each_is_reported(zd: Zenpy) -> None:
    ticket = _new_ticket(zd)
    jobs = [zd.tickets.update([Ticket(id=ticket.id, priority=p)]) for p in ("low", "high")]
    statuses = zd.job_status(ids=[j.id for j in jobs])["job_statuses"]
    assert [s.id for s in statuses] == [j.id for j in jobs] and {s.status for s in statuses} == {"working"}


def _the_31st_refused(sandbox_server: SandboxServer,
                      update: Callable[[Zenpy, int, str], object]) -> requests.Response:
    """30 updates of one new ticket (``update(zd, ticket id, subject)``) pass and the 31st is
    refused (zenpy raises); the last response."""
    seen: list[requests.Response] = []
    zd = _zenpy(sandbox_server, seen=seen)
    ticket = _new_ticket(zd)
    for n in range(30):
        update(zd, ticket.id, f"Update {n}")
    with pytest.raises(RatelimitBudgetExceeded):
        update(zd, ticket.id, "One too many")
    return seen[-1]


def test_given_30_jobs_in_flight_when_another_update_many_then_429(sandbox: SandboxControl,
                                                                  sandbox_server: SandboxServer) -> None:
    last = _the_31st_refused(sandbox_server, lambda zd, ticket_id, _: zd.tickets.update(
        [Ticket(id=ticket_id, priority="low")]))
    assert last.status_code == 429 and last.json()["error"] == "TooManyJobs"


def test_given_changes_when_exporting_incrementally_then_pages_follow_the_cursor_to_end_of_stream(
        zd: Zenpy, sandbox: SandboxControl) -> None:
    sandbox.set_clock(at="2026-03-02T09:00:00+00:00")
    ids = [_new_ticket(zd, subject=f"Customer {n}").id for n in range(5)]
    _age(sandbox)
    first = zd.tickets.incremental(start_time=0, per_page=2)
    pages = [[t.id for t in first.values]]
    assert first.end_of_stream is False
    cursor = first.after_cursor
    while True:
        page = zd.tickets.incremental(cursor=cursor)  # zenpy drops per_page on cursor calls
        pages.append([t.id for t in page.values or []])
        cursor = page.after_cursor
        if page.end_of_stream:
            break
    assert [i for p in pages for i in p] == ids and pages[:2] == [ids[:2], ids[2:]]
    again = zd.tickets.incremental(cursor=cursor)
    assert again.values is None and again.end_of_stream is True and again.after_cursor == cursor


def test_given_the_zenpy_generator_when_iterated_then_it_stops_at_end_of_stream(zd: Zenpy,
                                                                               sandbox: SandboxControl) -> None:
    ids = [_new_ticket(zd).id for _ in range(3)]
    _age(sandbox)
    generator = zd.tickets.incremental(start_time=0, per_page=2)
    assert [t.id for t in generator] == ids and generator.end_of_stream is True


def test_given_a_change_in_the_last_minute_when_exporting_then_it_waits_for_the_next_read(
        zd: Zenpy, sandbox: SandboxControl) -> None:
    old = _new_ticket(zd)
    _age(sandbox)
    fresh = _new_ticket(zd)
    page = zd.tickets.incremental(start_time=0)
    assert [t.id for t in page.values] == [old.id]
    _age(sandbox)
    later = zd.tickets.incremental(cursor=page.after_cursor)
    assert [t.id for t in later.values] == [fresh.id]


def test_given_a_deleted_ticket_when_exporting_then_a_tombstone_appears_and_the_api_says_404(
        zd: Zenpy, sandbox: SandboxControl) -> None:
    ticket = _new_ticket(zd)
    sandbox.act("zendesk", f"tickets/{ticket.id}", method="DELETE")
    _age(sandbox)
    page = zd.tickets.incremental(start_time=0)
    assert [(t.id, t.status) for t in page.values] == [(ticket.id, "deleted")]
    with pytest.raises(APIException) as info:
        zd.tickets(id=ticket.id)
    assert info.value.response.status_code == 404


def test_given_start_time_and_cursor_together_then_zenpy_refuses_and_so_does_the_api(
        zd: Zenpy, sandbox_server: SandboxServer) -> None:
    with pytest.raises(ValueError):
        zd.tickets.incremental(start_time=0, cursor="abc")
    answer = requests.get(f"{sandbox_server.url}/api/v2/incremental/tickets/cursor.json?start_time=0&cursor=x",
                          auth=(f"{EMAIL}/token", TOKEN), timeout=5)
    assert answer.status_code == 400


def test_given_11_export_calls_in_a_minute_then_429_with_retry_after(sandbox: SandboxControl,
                                                                     sandbox_server: SandboxServer) -> None:
    seen: list[requests.Response] = []
    zd = _zenpy(sandbox_server, seen=seen)
    for _ in range(10):
        zd.tickets.incremental(start_time=0)
    with pytest.raises(RatelimitBudgetExceeded):
        zd.tickets.incremental(start_time=0)
    limited = seen[-1]
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"] == "APIRateLimitExceeded"


def test_given_the_plan_limit_spent_when_calling_then_429_with_rate_limit_headers(
        sandbox: SandboxControl, sandbox_server: SandboxServer) -> None:
    sandbox.set_limits("zendesk", requests=3, window_seconds=60)
    seen: list[requests.Response] = []
    zd = _zenpy(sandbox_server, seen=seen)
    for _ in range(3):
        zd.users.me()
    assert seen[0].headers["X-Rate-Limit"] == "3" and seen[0].headers["X-Rate-Limit-Remaining"] == "2"
    with pytest.raises(RatelimitBudgetExceeded):
        zd.users.me()
    limited = seen[-1]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1 and limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert "ratelimit-reset" in limited.headers


def test_given_31_updates_of_one_ticket_in_10_minutes_then_the_31st_is_429(sandbox: SandboxControl,
                                                                          sandbox_server: SandboxServer) -> None:
    last = _the_31st_refused(sandbox_server, lambda zd, ticket_id, subject: zd.tickets.update(
        Ticket(id=ticket_id, subject=subject)))
    assert last.status_code == 429


def test_given_users_when_searching_by_email_then_the_user_is_found(zd: Zenpy, sandbox: SandboxControl) -> None:
    sandbox.act("zendesk", "users", name="Kari Nordmann", email="kari@example.com", role="agent")
    found = list(zd.users.search(query="email:kari@example.com"))
    assert [u.name for u in found] == ["Kari Nordmann"]
    assert zd.users(id=found[0].id).role == "agent"
    assert {u.email for u in zd.users()} >= {EMAIL, "kari@example.com"}


# --- webhooks -----------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A local endpoint that records what Zendesk posts."""
    with WebhookReceiver("/hooks/zendesk") as hook:
        yield hook


def _signature(secret: str, timestamp: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()).decode()


def test_given_a_person_changes_status_and_tags_then_signed_event_webhooks_arrive(
        sandbox: SandboxControl, receiver: WebhookReceiver) -> None:
    sandbox.set_webhook("zendesk", receiver.url, secret="whsec-test")
    ticket = sandbox.act("zendesk", "tickets", subject="Churn risk: Acme AS", requester_email="ola@example.com",
                         comment={"body": "We are thinking of leaving"}, tags=["churn_risk"])
    sandbox.act("zendesk", f"tickets/{ticket['id']}", method="PUT", status="open", additional_tags=["escalated"])
    assert sandbox.flush_webhooks()
    events = [json.loads(body) for body in receiver.bodies]
    assert [e["type"] for e in events] == ["zen:event-type:ticket.created", "zen:event-type:ticket.status_changed",
                                           "zen:event-type:ticket.tags_changed"]
    status = events[1]
    assert status["subject"] == f"zen:ticket:{ticket['id']}" and status["account_id"]
    assert status["event"]["current"] == "OPEN" and status["event"]["previous"] == "NEW"
    assert {"id", "time", "zendesk_event_version", "detail"} <= set(status)
    assert events[2]["event"]["tags_added"] == ["escalated"]
    assert len({e["id"] for e in events}) == 3
    for post in receiver.received:
        stamp = post.headers["X-Zendesk-Webhook-Signature-Timestamp"]
        assert post.headers["X-Zendesk-Webhook-Signature"] == _signature("whsec-test", stamp, post.body)


def test_given_a_trigger_template_when_it_fires_then_placeholders_are_filled(
        sandbox: SandboxControl, receiver: WebhookReceiver) -> None:
    ticket = sandbox.act("zendesk", "tickets", subject="Hardware request", comment={"body": "Two scanners"})
    sandbox.set_webhook("zendesk", receiver.url, secret="whsec-test")
    sandbox.act("zendesk", f"tickets/{ticket['id']}/trigger",
                template={"ticket_id": "{{ticket.id}}", "status": "{{ticket.status}}", "kind": "hardware"})
    assert sandbox.flush_webhooks()
    assert [json.loads(body) for body in receiver.bodies] == [{"ticket_id": str(ticket["id"]), "status": "new", "kind": "hardware"}]
