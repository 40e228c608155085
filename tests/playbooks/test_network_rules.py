"""Rules E1-E6 (seed 000, network platform) on the network-onboarding playbook."""

from __future__ import annotations

import pytest

from kickoff.playbooks import decide
from tests.playbooks.conftest import acts, ev, run, t, when

CREATED_AT = "2024-04-09T10:00:00+02:00"  # a Tuesday
SIGNUP = {
    "account_name": "Gîte Exemple",
    "origin": "transformation",
    "network": "valdexemple",
    "leisure": False,
    "email": "gite@example.com",
}


@pytest.fixture()
def pb(playbooks):
    return playbooks["network-onboarding"]


def created(at=CREATED_AT, **changes):
    return ev("account.created", at, {**SIGNUP, **changes})


@pytest.mark.parametrize("origin", ["transformation", "diy"])
def test_E1_signup_records_transformation_or_diy(pb, origin):
    decision = decide(None, created(origin=origin), t(CREATED_AT), pb)
    assert decision.state.facts["origin"] == origin
    [contact] = [a for a in decision.actions if a.rule == "E1"]
    assert (contact.tool, contact.kind) == ("hubspot", "create_record")
    assert contact.payload["fields"]["origin"] == origin
    assert contact.payload["fields"]["network"] == "valdexemple"


def test_E2_referents_and_onboarding_team_notified_at_creation(pb):
    decision = decide(None, created(), t(CREATED_AT), pb)
    [mail] = [a for a in decision.actions if a.rule == "E2"]
    assert (mail.tool, mail.kind) == ("email", "notify")
    assert mail.payload["to"] == ["network_referents", "onboarding_team"]
    assert mail.due_at == t(CREATED_AT)
    assert decision.state.stage == "signed_up"


def test_E3_welcome_email_30_minutes_after_creation(pb):
    result = run(pb, [created()], until="2024-04-09T12:00:00+02:00")
    [welcome] = acts(result, "E3", "notify")
    assert welcome.at == t("2024-04-09T10:30:00+02:00")
    payload = welcome.action.payload
    assert payload["to"] == ["gite@example.com"] and payload["template"] == "welcome"
    assert payload["fields"]["phone"] == "+33 1 00 00 00 00"  # no dedicated line: the switchboard
    assert payload["fields"]["platform_url"] == "https://valdexemple.platform.example.com"
    assert payload["fields"]["logo"] == "valdexemple"


def test_E3_dedicated_line_and_leisure_variant(pb):
    result = run(pb, [created(leisure=True, network_phone="+33 4 00 00 00 01")], until="2024-04-09T12:00:00+02:00")
    [welcome] = acts(result, "E3", "notify")
    assert welcome.action.payload["template"] == "welcome_leisure"
    assert welcome.action.payload["fields"]["phone"] == "+33 4 00 00 00 01"


def test_E4_confirmation_now_reminders_a_day_and_an_hour_before(pb):
    booked = ev("meeting.booked", "2024-04-10T09:00:00+02:00", {"meeting_id": "r-1", "start": "2024-04-12T14:00:00+02:00"})
    result = run(pb, [created(), booked], until="2024-04-13T00:00:00+02:00")
    e4 = acts(result, "E4", "notify")
    assert [(a.at.isoformat(), a.action.payload["template"]) for a in e4] == [
        ("2024-04-10T09:00:00+02:00", "appointment_confirmation"),
        ("2024-04-11T14:00:00+02:00", "appointment_reminder_day"),
        ("2024-04-12T13:00:00+02:00", "appointment_reminder_hour"),
    ]
    assert e4[0].action.payload["fields"]["duration_minutes"] == 20  # transformation: the short one


def test_E4_duration_50_minutes_for_diy_and_reminders_across_dst(pb):
    booked = ev("meeting.booked", "2024-03-28T09:00:00+01:00", {"meeting_id": "r-1", "start": "2024-03-31T14:00:00+02:00"})
    result = run(pb, [created(at="2024-03-27T10:00:00+01:00", origin="diy"), booked], until="2024-04-01T00:00:00+02:00")
    e4 = acts(result, "E4", "notify")
    assert when(e4) == ["2024-03-28T09:00:00+01:00", "2024-03-30T14:00:00+01:00", "2024-03-31T13:00:00+02:00"]
    assert e4[0].action.payload["fields"]["duration_minutes"] == 50


def test_E4_cancelled_appointment_drops_reminders(pb):
    booked = ev("meeting.booked", "2024-04-10T09:00:00+02:00", {"meeting_id": "r-1", "start": "2024-04-12T14:00:00+02:00"})
    cancelled = ev("meeting.cancelled", "2024-04-10T18:00:00+02:00", {"meeting_id": "r-1"})
    result = run(pb, [created(), booked, cancelled], until="2024-04-13T00:00:00+02:00")
    assert [a.action.payload["template"] for a in acts(result, "E4", "notify")] == ["appointment_confirmation"]
    assert result.states["ob-1"].stage == "signed_up"


@pytest.mark.parametrize(
    ("created_at", "due"),
    [
        ("2024-04-09T10:00:00+02:00", "2024-04-11T10:00:00+02:00"),  # Tuesday -> Thursday
        ("2024-04-12T16:00:00+02:00", "2024-04-16T16:00:00+02:00"),  # Friday -> Tuesday
    ],
)
def test_E5_phone_call_within_2_working_days(pb, created_at, due):
    decision = decide(None, created(at=created_at), t(created_at), pb)
    [task] = [a for a in decision.actions if a.rule == "E5"]
    assert task.payload["task_type"] == "call" and task.payload["owner"] == "onboarding_team"
    assert task.payload["due_at"] == due


def test_E5_logged_call_completes_the_task(pb):
    call = ev("call.logged", "2024-04-10T11:00:00+02:00", {"outcome": "answered"})
    result = run(pb, [created(), call], until="2024-04-10T12:00:00+02:00")
    [task] = acts(result, "E5", "create_task")
    [done] = acts(result, "E5", "complete_task")
    assert done.action.payload == {"task_key": task.action.idempotency_key}


def test_E6_regular_follow_ups_after_the_onboarding(pb):
    booked = ev("meeting.booked", "2024-04-10T09:00:00+02:00", {"meeting_id": "r-1", "start": "2024-04-12T14:00:00+02:00"})
    done = ev("meeting.completed", "2024-04-12T15:00:00+02:00", {"meeting_id": "r-1"})
    result = run(pb, [created(), booked, done])
    assert acts(result, "E6", "set_stage")[0].action.payload == {"stage": "onboarded"}
    follow_ups = acts(result, "E6", "create_task")
    assert when(follow_ups) == ["2024-04-19T10:00:00+02:00", "2024-05-10T10:00:00+02:00", "2024-07-05T10:00:00+02:00"]
    assert len({a.action.idempotency_key for a in follow_ups}) == 3
    assert result.states["ob-1"].stage == "closed" and result.pending == {}
