"""Rules E1-E6 (seed 000, network platform) on the network-onboarding playbook."""

from __future__ import annotations

import pytest

from kickoff.playbooks import decide
from tests.playbooks.conftest import Done, acts, ev, run, t, when

CREATED_AT = "2024-04-09T10:00:00+02:00"  # a Tuesday
BOOKED_AT = "2024-04-10T09:00:00+02:00"
MEETING_START = "2024-04-12T14:00:00+02:00"  # a Friday
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


def booked(at=BOOKED_AT, start=MEETING_START, meeting_id="r-1"):
    return ev("meeting.booked", at, {"meeting_id": meeting_id, "start": start})


def sent(items):
    """(decision time, template) of each notification."""
    return [(a.at.isoformat(), a.action.payload["template"]) for a in items]


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


@pytest.mark.parametrize(("at", "start", "timeline"), [
    pytest.param(BOOKED_AT, MEETING_START, [
        ("2024-04-10T09:00:00+02:00", "appointment_confirmation"),
        ("2024-04-11T14:00:00+02:00", "appointment_reminder_day"),
        ("2024-04-12T13:00:00+02:00", "appointment_reminder_hour"),
    ], id="two_days_ahead"),
    # Seed 000: "sa confirmation par mail dès la fin de sa prise de rendez-vous ainsi qu'un
    # rappel un jour avant": less than 24 hours ahead, the day before has begun already, so
    # the day reminder ("demain") goes at once.
    pytest.param("2024-04-10T17:00:00+02:00", "2024-04-11T09:30:00+02:00", [
        ("2024-04-10T17:00:00+02:00", "appointment_confirmation"),
        ("2024-04-10T17:00:00+02:00", "appointment_reminder_day"),
        ("2024-04-11T08:30:00+02:00", "appointment_reminder_hour"),
    ], id="less_than_24_hours_ahead"),
])
def test_E4_confirmation_now_reminders_a_day_and_an_hour_before(pb, at, start, timeline):
    result = run(pb, [created(), booked(at, start=start)], until="2024-04-13T00:00:00+02:00")
    e4 = acts(result, "E4", "notify")
    assert sent(e4) == timeline
    assert e4[0].action.payload["fields"]["duration_minutes"] == 20  # transformation: the short one
    assert e4[1].action.payload["subject"].endswith("demain")


def test_E4_duration_50_minutes_for_diy_and_reminders_across_dst(pb):
    meeting = booked("2024-03-28T09:00:00+01:00", start="2024-03-31T14:00:00+02:00")
    result = run(pb, [created(at="2024-03-27T10:00:00+01:00", origin="diy"), meeting], until="2024-04-01T00:00:00+02:00")
    e4 = acts(result, "E4", "notify")
    assert when(e4) == ["2024-03-28T09:00:00+01:00", "2024-03-30T14:00:00+01:00", "2024-03-31T13:00:00+02:00"]
    assert e4[0].action.payload["fields"]["duration_minutes"] == 50


@pytest.mark.parametrize(("booked_at", "hour_reminder"), [("2024-04-10T09:00:00+02:00", True),
                                                           ("2024-04-10T15:30:00+02:00", False)])
def test_E4_same_day_appointment_gets_no_tomorrow_reminder(pb, booked_at, hour_reminder):
    meeting = booked(booked_at, start="2024-04-10T16:00:00+02:00")
    result = run(pb, [created(), meeting], until="2024-04-11T00:00:00+02:00")
    templates = [a.action.payload["template"] for a in acts(result, "E4", "notify")]
    assert templates == ["appointment_confirmation"] + (["appointment_reminder_hour"] if hour_reminder else [])


def test_E4_durations_are_the_playbooks_constants_not_the_seeds(pb):
    # "durée 20mn ou 50mn selon les cas": the seed does not say which case; the playbook's
    # constants do, and a tenant's copy of the playbook may change them
    assert (pb.constants["short_appointment_minutes"], pb.constants["long_appointment_minutes"]) == (20, 50)
    longer = pb.model_copy(update={"constants": {**pb.constants, "short_appointment_minutes": 30}})
    meeting = booked()
    [confirmation, *_] = acts(run(longer, [created(), meeting], until="2024-04-10T10:00:00+02:00"), "E4", "notify")
    assert confirmation.action.payload["fields"]["duration_minutes"] == 30


def test_E4_cancelled_appointment_drops_reminders(pb):
    meeting = booked()
    cancelled = ev("meeting.cancelled", "2024-04-10T18:00:00+02:00", {"meeting_id": "r-1"})
    result = run(pb, [created(), meeting, cancelled], until="2024-04-13T00:00:00+02:00")
    assert [a.action.payload["template"] for a in acts(result, "E4", "notify")] == ["appointment_confirmation"]
    assert result.states["ob-1"].stage == "signed_up"


@pytest.mark.parametrize(
    ("created_at", "due"),
    [
        ("2024-04-09T10:00:00+02:00", "2024-04-11T10:00:00+02:00"),  # Tuesday -> Thursday
        ("2024-04-12T16:00:00+02:00", "2024-04-14T16:00:00+02:00"),  # Friday -> Sunday, not Tuesday
        ("2024-04-11T09:00:00+02:00", "2024-04-13T09:00:00+02:00"),  # Thursday -> Saturday, not Monday
        ("2024-07-12T11:00:00+02:00", "2024-07-14T11:00:00+02:00"),  # a holiday (14 juillet) changes nothing
    ],
)
def test_E5_phone_call_within_2_days_at_the_latest(pb, created_at, due):
    # Seed 000: "le pro est contacté téléphoniquement sous 2 jours maximum": at most two
    # calendar days, and not sooner ("ce délai est volontaire pour éviter toute 'agression'").
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
    # Seed 000: "Le pro est ensuite contacté régulièrement, par mail ou téléphone, dès son
    # OnBoarding effectué": each follow-up done in HubSpot brings the next one.
    meeting = booked()
    done = ev("meeting.completed", "2024-04-12T15:00:00+02:00", {"meeting_id": "r-1"})
    events = [created(), meeting, done, Done("follow_up", "2024-04-19T11:00:00+02:00"),
              Done("follow_up", "2024-05-16T09:00:00+02:00"), Done("follow_up", "2024-06-07T16:00:00+02:00")]
    result = run(pb, events)
    assert acts(result, "E6", "set_stage")[0].action.payload == {"stage": "onboarded"}
    follow_ups = acts(result, "E6", "create_task")
    # 5 business days after the onboarding, then 15 after each one done; France's public
    # holidays (1, 8, 9 and 20 May 2024) are not business days
    assert when(follow_ups) == ["2024-04-19T10:00:00+02:00", "2024-05-15T10:00:00+02:00", "2024-06-07T10:00:00+02:00"]
    assert len({a.action.idempotency_key for a in follow_ups}) == 3
    assert acts(result, "E6", "set_stage")[-1].action.payload == {"stage": "closed"}
    assert result.states["ob-1"].status == "completed" and result.pending == {}


def test_E6_no_next_follow_up_until_the_last_one_is_done(pb):
    meeting = booked()
    done = ev("meeting.completed", "2024-04-12T15:00:00+02:00", {"meeting_id": "r-1"})
    result = run(pb, [created(), meeting, done], until="2024-09-01T00:00:00+02:00")
    assert len(acts(result, "E6", "create_task")) == 1
    assert result.states["ob-1"].stage == "onboarded"


def test_E1_a_professional_who_comes_back_is_onboarded_again(pb):
    """Two cycles of one subject: onboarded and followed up in spring, a new account in autumn."""
    meeting = booked()
    done = ev("meeting.completed", "2024-04-12T15:00:00+02:00", {"meeting_id": "r-1"})
    spring = [created(), meeting, done, Done("follow_up", "2024-04-19T11:00:00+02:00"),
              Done("follow_up", "2024-05-16T09:00:00+02:00"), Done("follow_up", "2024-06-07T16:00:00+02:00")]
    autumn_at = "2024-10-04T16:00:00+02:00"  # a Friday
    again = created(at=autumn_at, origin="diy", email="gite-bis@example.com")
    rebooked = booked("2024-10-05T10:00:00+02:00", start="2024-10-08T11:00:00+02:00", meeting_id="r-2")
    result = run(pb, [*spring, again, rebooked], until="2024-10-09T00:00:00+02:00")
    second = [a for a in result.actions if a.at >= t(autumn_at)]
    assert [(a.action.rule, a.action.kind) for a in second] == [
        ("E1", "create_record"), ("E2", "notify"), ("E5", "create_task"),  # at once
        ("E3", "notify"),  # 30 minutes later
        ("E4", "set_stage"), ("E4", "notify"),  # booked: stage and confirmation
        ("E4", "notify"), ("E4", "notify"),  # a day and an hour before
    ]
    assert second[2].action.payload["due_at"] == "2024-10-06T16:00:00+02:00"  # 2 days at most
    assert second[3].action.payload["to"] == ["gite-bis@example.com"]
    assert second[5].action.payload["fields"]["duration_minutes"] == 50  # DIY this time
    state = result.states["ob-1"]
    assert (state.stage, state.status, state.facts["follow_ups_done"], state.facts["_cycle"]["n"]) == (
        "appointment_booked", "active", 0, 2)
