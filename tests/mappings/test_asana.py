"""Asana (retention-alerts): requests and their tasks land on the seeded board's columns, and
a task Kickoff created, completed or dragged to the done column, comes back as task.updated."""

from __future__ import annotations

import pytest

from connectors.asana import AsanaConnector
from kickoff.events import EventType
from kickoff.model import ActionKind, Event, ResultStatus
from kickoff.playbooks import decide, find_playbook
from kickoff.retry import FAST_POLICY
from kickoff.settings import RateLimit
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import NOW, action

PROJECT, NEW, RESOLVED = "1209500000000100", "1209500000000101", "1209500000000103"
AM_INTERN = "1209500000000202"
SUBJECT = "retention:requester-42"


@pytest.fixture
def asana(kickoff_config, seeded, tables) -> AsanaConnector:
    base = kickoff_config.tools["asana"]
    return AsanaConnector(base.model_copy(update={"rate_limit": RateLimit(requests=1500, per_seconds=60)}),
                          retry=FAST_POLICY, reads=mapping_for("asana").reads(tables["asana"]))


@pytest.fixture
def ctx(ledger, tables, tenants):
    return ledger.context("retention", "asana", tables, tenants)


def create(asana, ledger, ctx, a):
    [result] = asana.apply([mapping_for("asana").to_vendor(a, ctx)], NOW)
    assert result.status is ResultStatus.DONE, result.reason
    ledger.created(a, result.external_id, "request" if a.kind is ActionKind.CREATE_RECORD else "task")
    return result.external_id


def request_and_task(asana, ledger, ctx) -> tuple[str, str, object]:
    request = action("asana", ActionKind.CREATE_RECORD, {"object": "request", "fields": {
        "section": "new_request", "submitter": "support", "subject": "Red alert: Salon Exemple",
        "partner_link": "https://support.example.com/partners/42", "meeting_day": "None"}},
        onboarding=SUBJECT, rule="W7")
    task = action("asana", ActionKind.CREATE_TASK, {"subject": "red alert", "owner": "am_intern",
                                                    "due_at": NOW.isoformat(), "task_type": "call",
                                                    "target": request.idempotency_key}, onboarding=SUBJECT, n=1,
                  rule="W3")
    with pytest.raises(MappingError) as caught:  # the request is not on the board yet
        mapping_for("asana").to_vendor(task, ctx)
    assert caught.value.retry is True
    return create(asana, ledger, ctx, request), create(asana, ledger, ctx, task), task


def test_W7_W3_given_a_request_and_its_task_then_both_land_in_the_new_request_column(seeded, asana, ledger, ctx):
    request_gid, task_gid, _ = request_and_task(asana, ledger, ctx)
    stored = {t["gid"]: t for t in seeded.get("asana", "records/tasks")}
    request, task = stored[request_gid], stored[task_gid]
    columns = {(m["project"]["gid"], m["section"]["gid"]) for t in (request, task) for m in t["memberships"]}
    assert columns == {(PROJECT, NEW)} and request["name"] == "Red alert: Salon Exemple"
    fields = {f["gid"]: f.get("text_value") for f in request["custom_fields"]}
    assert fields["1209500000000302"] == "https://support.example.com/partners/42"
    assert fields["1209500000000301"] == "support" and "meeting_day" not in request["notes"]
    assert task["assignee"]["gid"] == AM_INTERN
    assert f"Request: https://app.asana.com/0/0/{request_gid}" in task["notes"]


def test_W1_given_the_task_completed_then_task_updated_by_poll_and_our_completion_echoes(
        seeded, asana, receiver, ledger, ctx):
    _, task_gid, task = request_and_task(asana, ledger, ctx)
    mapping = mapping_for("asana")
    seeded.set_webhook("asana", receiver.url, secret="hook-secret")
    done = action("asana", ActionKind.COMPLETE_TASK, {"task_key": task.idempotency_key}, onboarding=SUBJECT, n=2,
                  rule="W1")
    vendor = mapping.to_vendor(done, ctx)
    assert vendor.payload.model_dump(exclude_unset=True) == {"record_id": task_gid, "project": PROJECT,
                                                             "section": RESOLVED}
    assert asana.apply([vendor], NOW)[0].status is ResultStatus.DONE

    [polled] = [d for d in asana.read_changes(None, now=NOW).deliveries if d.record_id == task_gid]
    [event] = mapping.to_events(polled, ctx)
    assert (event.type, event.subject, event.data) == (EventType.TASK_UPDATED, SUBJECT,
                                                       {"task_key": task.idempotency_key, "status": "completed"})
    assert seeded.flush_webhooks()
    hooks = [d for i in range(len(receiver.received)) for d in asana.parse_webhook(receiver.request(i), NOW)]
    written = set(mapping.write_fingerprints(vendor))
    ours = [d for d in hooks if d.payload.get("action") != "removed"]
    assert ours and all(set(mapping.delivery_fingerprints(d)) <= written for d in ours)


def test_W7_given_a_person_drags_the_request_to_the_done_column_then_task_updated_from_the_webhook(
        seeded, asana, receiver, ledger, ctx):
    request_gid, _, _ = request_and_task(asana, ledger, ctx)
    seeded.set_webhook("asana", receiver.url, secret="hook-secret")
    seeded.act("asana", f"tasks/{request_gid}/move", section="meeting set or resolved")
    assert seeded.flush_webhooks()
    hooks = [d for i in range(len(receiver.received)) for d in asana.parse_webhook(receiver.request(i), NOW)]
    events = [e for d in hooks for e in mapping_for("asana").to_events(d, ctx)]
    assert [(e.type, e.subject, e.data["status"]) for e in events] == [(EventType.TASK_UPDATED, SUBJECT, "completed")]


def test_given_an_unknown_column_then_mapping_error_names_it(ctx, ledger):
    move = action("asana", ActionKind.SET_STAGE, {"stage": "archived", "target": "k" * 32}, onboarding=SUBJECT)
    ledger.link("k" * 32, "asana", "999", "request")
    with pytest.raises(MappingError) as caught:
        mapping_for("asana").to_vendor(move, ctx)
    assert caught.value.field == "section" and not caught.value.retry


def test_given_the_tenants_tables_then_the_connector_reads_their_boards_and_nothing_is_configured_twice(
        tables, kickoff_config):
    reads = mapping_for("asana").reads(tables["asana"])
    assert reads["projects"] == [PROJECT] and {"completed", "notes", "modified_at"} <= set(reads["tasks"])
    assert "projects" not in kickoff_config.tools["asana"].options
    other = {"retention": tables["asana"]["retention"], "second": {**tables["asana"]["retention"], "project": "42"}}
    assert mapping_for("asana").reads(other)["projects"] == ["1209500000000100", "42"]
    assert mapping_for("asana").reads({}) == {}


def test_W9_given_the_intern_completes_the_verification_then_task_updated_and_the_request_is_resolved(
        seeded, asana, ledger, ctx, tenants):
    """The closed loop through the sandbox: the playbook's W9 task ("verify the meeting set"),
    completed by the intern in Asana, is polled back as task.updated; the playbook then moves the
    request to "meeting set or resolved" and posts the ✅."""
    playbook, zone = find_playbook("retention-alerts"), tenants["retention"].zone
    submitted = Event(id="ev-request", type=EventType.REQUEST_SUBMITTED, occurred_at=NOW, subject=SUBJECT, data={
        "submitter": "support expert", "subject": "Wants to cancel", "partner_link": "https://support.example.com/p/42",
        "description": "Unhappy", "ticket_link": "https://support.example.com/t/4242", "meeting_day": "2026-03-04",
        "meeting_am": "an AM"})
    decision = decide(None, submitted, NOW, playbook, tz=zone, tenant="retention")
    ledger.states[SUBJECT] = decision.state
    [request] = [a for a in decision.actions if a.tool == "asana" and a.kind is ActionKind.CREATE_RECORD]
    [verify] = [a for a in decision.actions if a.rule == "W9"]
    create(asana, ledger, ctx, request)
    task_gid = create(asana, ledger, ctx, verify)
    mapping = mapping_for("asana")
    before = asana.read_changes(None, now=NOW)

    seeded.act("asana", f"tasks/{task_gid}/complete")
    [done] = [e for d in asana.read_changes(before.next_cursor, now=NOW).deliveries if d.record_id == task_gid
              for e in mapping.to_events(d, ctx)]

    assert done.data == {"task_key": verify.idempotency_key, "status": "completed"}
    after = decide(decision.state, done, NOW, playbook, tz=zone, tenant="retention")
    assert [(a.rule, a.kind, a.payload.get("stage")) for a in after.actions] == [
        ("W7", ActionKind.SET_STAGE, "resolved"), ("W1", ActionKind.NOTIFY, None)]
    assert after.actions[1].payload["body"].startswith(":white_check_mark:")
