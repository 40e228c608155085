"""Rules A1-A15 (seed 002, Assist Sweden) proven on the real assist-se playbook."""

from __future__ import annotations

import pytest

from kickoff.playbooks import decide
from tests.playbooks.conftest import Done, acts, ev, payloads, run, t, when

CONTRACT = {
    "account_name": "Exempel Bygg AB",
    "signed_on": "2024-10-14",
    "start_on": "2024-10-21",
    "main_user": "Anna Exempel",
    "main_user_email": "anna@example.com",
    "licences": 25,
}
SIGNED_AT = "2024-10-14T10:12:00+02:00"
MOVE_AT = "2024-10-22T08:00:00+02:00"  # the day after the start date, 08:00 Stockholm


@pytest.fixture()
def pb(playbooks):
    return playbooks["assist-se"]


def signed(**changes):
    return ev("contract.signed", SIGNED_AT, {**CONTRACT, **changes})


PRE_ONBOARDING_DONE = Done("pre_onboarding", "2024-10-21T15:00:00+02:00")
"""A6 marked done in HubSpot on the delivery start date, before the move."""


def test_A1_contract_creates_se_ticket_in_stage_new(pb):
    decision = decide(None, signed(), t(SIGNED_AT), pb)
    assert decision is not None
    assert decision.state.id == "ob-1" and decision.state.stage == "new"
    [ticket] = [a for a in decision.actions if a.rule == "A1"]
    assert (ticket.tool, ticket.kind) == ("hubspot", "create_record")
    assert ticket.payload["object"] == "ticket"
    assert ticket.payload["fields"]["name"] == "SE - Exempel Bygg AB"
    assert ticket.payload["fields"]["pipeline"] == "solutions_order_invoice"
    assert ticket.payload["fields"]["stage"] == "new"


def test_A1_other_events_start_nothing(pb):
    assert decide(None, ev("meeting.booked", SIGNED_AT, {}), t(SIGNED_AT), pb) is None


def test_A2_moves_at_0800_stockholm_the_day_after_the_start_date(pb):
    result = run(pb, [signed()], until="2024-10-23T00:00:00+02:00")
    [move] = acts(result, "A2", "set_stage")
    assert move.action.payload == {"stage": "onboarding_in_progress"}
    assert move.at == t(MOVE_AT)
    assert move.at.utcoffset().total_seconds() == 7200
    [welcome] = acts(result, "A2", "notify")
    assert welcome.at == t(MOVE_AT)  # only then is the welcome e-mail sent
    assert welcome.action.payload["to"] == ["anna@example.com"]
    assert welcome.action.payload["template"] == "welcome_onboarding_calendar"
    assert welcome.action.caused_by_timer == "a2_start"
    before = [a for a in result.actions if a.at < t(MOVE_AT)]
    assert not [a for a in before if a.action.kind == "notify" and a.action.tool == "email" and a.action.rule != "A5"]


@pytest.mark.parametrize(
    ("start_on", "expected"),
    [
        ("2024-10-26", "2024-10-27T08:00:00+01:00"),  # the move falls on the day summer time ends
        ("2024-10-27", "2024-10-28T08:00:00+01:00"),  # the day after
        ("2024-10-25", "2024-10-26T08:00:00+02:00"),  # still summer time
        ("2025-03-29", "2025-03-30T08:00:00+02:00"),  # the day summer time starts
    ],
)
def test_A2_move_is_at_0800_local_across_dst_changes(pb, start_on, expected):
    result = run(pb, [signed(start_on=start_on, signed_on="2024-10-14")], until="2025-04-01T00:00:00+02:00")
    [move] = [a for a in acts(result, "A2", "set_stage")]
    assert move.at == t(expected)
    assert move.at.astimezone(pb.zone).strftime("%H:%M") == "08:00"


def test_A2_missing_start_date_creates_a_task_not_silence(pb):
    decision = decide(None, signed(start_on=None), t(SIGNED_AT), pb)
    [task] = [a for a in decision.actions if a.rule == "A2"]
    assert task.kind == "create_task" and task.payload["owner"] == "new_customer_coordinator"
    assert task.payload["due_at"] == "2024-10-15T10:12:00+02:00"
    assert not decision.set_timers or all(tm.key != "a2_start" for tm in decision.set_timers)


def test_A3_note_ny_kund_tags_the_coordinator(pb):
    decision = decide(None, signed(), t(SIGNED_AT), pb)
    [note] = [a for a in decision.actions if a.rule == "A3"]
    assert (note.tool, note.kind) == ("hubspot", "add_note")
    assert note.payload == {"body": "Ny kund", "mentions": ["new_customer_coordinator"]}


def test_A4_product_account_differing_from_contract_creates_task(pb):
    product = ev("account.created", "2024-10-16T14:05:00+02:00",
                 {"account_name": "Exempel Bygg AB", "main_user": "Anna Exempel", "email": "anna@example.com", "licences": 20})
    result = run(pb, [signed(), product], until="2024-10-16T15:00:00+02:00")
    [task] = acts(result, "A4", "create_task")
    assert task.at == t("2024-10-16T14:05:00+02:00")
    assert "25 licences" in task.action.payload["body"] and "20 licences" in task.action.payload["body"]
    assert task.action.payload["due_at"] == "2024-10-17T14:05:00+02:00"


def test_A4_matching_product_account_passes_and_no_task_at_move(pb):
    product = ev("account.created", "2024-10-16T14:05:00+02:00",
                 {"account_name": "Exempel Bygg AB", "main_user": "anna exempel ", "email": "ANNA@example.com", "licences": 25})
    result = run(pb, [signed(), product], until="2024-10-23T00:00:00+02:00")
    assert acts(result, "A4") == []
    assert result.states["ob-1"].facts["product_checked"] is True


def test_A4_product_never_checked_creates_task_at_the_move(pb):
    result = run(pb, [signed()], until="2024-10-23T00:00:00+02:00")
    [task] = acts(result, "A4", "create_task")
    assert task.at == t(MOVE_AT)
    assert task.action.payload["due_at"] == "2024-10-22T12:00:00+02:00"


def test_A5_owner_no_owner_and_contracts_team_told(pb):
    decision = decide(None, signed(), t(SIGNED_AT), pb)
    a5 = [a for a in decision.actions if a.rule == "A5"]
    assert [(a.tool, a.kind) for a in a5] == [("hubspot", "assign_owner"), ("email", "notify")]
    assert a5[0].payload == {"owner": "no_owner"}
    assert a5[1].payload["to"] == ["contracts_team"]
    assert "billing from 2024-10-21" in a5[1].payload["body"]
    assert decision.state.owner == "no_owner"


def test_A6_pre_onboarding_done_brings_the_call_to_the_main_user(pb):
    # Seed 002: "Pre-onboarding: Logga in på kundens konto ... Ring huvudbrukare": the call
    # follows the pre-onboarding; done after the move, the call task comes then.
    late = Done("pre_onboarding", "2024-10-22T13:20:00+02:00")
    result = run(pb, [signed(), late], until="2024-10-23T00:00:00+02:00")
    [call] = acts(result, "A7", "create_task")
    assert call.at == t("2024-10-22T13:20:00+02:00")
    assert call.action.payload["due_at"] == "2024-10-22T17:00:00+02:00"
    before = run(pb, [signed()], until="2024-10-23T00:00:00+02:00")
    assert acts(before, "A7", "create_task") == []  # not done: no call yet (A8's calls still come)


def test_A6_pre_onboarding_done_before_the_move_calls_at_the_move(pb):
    result = run(pb, [signed(), PRE_ONBOARDING_DONE], until="2024-10-23T00:00:00+02:00")
    assert when(acts(result, "A7", "create_task")) == [MOVE_AT]
    assert result.states["ob-1"].facts["pre_onboarding_done"] is True


def test_A6_pre_onboarding_task_due_at_the_move(pb):
    decision = decide(None, signed(), t(SIGNED_AT), pb)
    [task] = [a for a in decision.actions if a.rule == "A6"]
    assert task.payload["subject"] == "Pre-onboarding in the customer's account"
    assert task.payload["owner"] == "onboarding_team"
    assert task.payload["due_at"] == "2024-10-22T08:00:00+02:00"


def test_A7_call_task_at_move_and_answered_call_closes_ticket(pb):
    answered = ev("call.logged", "2024-10-22T10:00:00+02:00", {"outcome": "answered"})
    result = run(pb, [signed(), PRE_ONBOARDING_DONE, answered], until="2025-02-01T00:00:00+01:00")
    [call] = acts(result, "A7", "create_task")
    assert call.at == t(MOVE_AT)
    assert call.action.payload["task_type"] == "call"
    assert call.action.payload["due_at"] == "2024-10-22T17:00:00+02:00"
    [done] = acts(result, "A7", "complete_task")
    assert done.action.payload["task_key"] == call.action.idempotency_key
    assert [a.action.payload for a in acts(result, "A7", "set_stage")] == [{"stage": "closed"}]
    assert acts(result, "A8", "create_task") == []  # the flow stopped
    assert result.pending == {}


def test_A8_call_task_day_3_and_7_while_no_meeting(pb):
    no_answer = ev("call.logged", "2024-10-22T10:30:00+02:00", {"outcome": "no_answer"})
    result = run(pb, [signed(), no_answer], until="2024-11-01T00:00:00+01:00")
    [note] = acts(result, "A8", "add_note")
    assert note.action.payload["body"] == "Inget svar – försök till kontakt för onboarding"
    tasks = acts(result, "A8", "create_task")
    assert when(tasks) == ["2024-10-25T08:00:00+02:00", "2024-10-29T08:00:00+01:00"]  # day 3, day 7
    assert [p["task_type"] for p in payloads(tasks)] == ["call", "call"]
    assert "(day 3)" in tasks[0].action.payload["subject"] and "(day 7)" in tasks[1].action.payload["subject"]
    assert tasks[0].action.idempotency_key != tasks[1].action.idempotency_key


def test_A8_no_call_task_on_day_7_once_a_meeting_is_booked(pb):
    booked = ev("meeting.booked", "2024-10-27T12:00:00+01:00", {"meeting_id": "m-1", "start": "2024-11-04T10:00:00+01:00"})
    result = run(pb, [signed(), booked], until="2024-12-31T00:00:00+01:00")
    assert when(acts(result, "A8", "create_task")) == ["2024-10-25T08:00:00+02:00"]


def test_A8_call_tasks_go_on_weekly_until_the_customer_starts(pb):
    result = run(pb, [signed()], until="2024-11-20T00:00:00+01:00")
    assert when(acts(result, "A8", "create_task")) == [
        "2024-10-25T08:00:00+02:00",
        "2024-10-29T08:00:00+01:00",
        "2024-11-05T08:00:00+01:00",
        "2024-11-12T08:00:00+01:00",
        "2024-11-19T08:00:00+01:00",
    ]


def test_A9_two_emails_ask_to_book_the_kickoff(pb):
    result = run(pb, [signed()], until="2024-11-20T00:00:00+01:00")
    mails = acts(result, "A9", "notify")
    assert when(mails) == ["2024-10-25T09:00:00+02:00", "2024-11-05T09:00:00+01:00"]
    assert {p["template"] for p in payloads(mails)} == {"book_kickoff"}


def test_A10_follow_up_after_30_days_with_two_more_emails_and_calls(pb):
    result = run(pb, [signed()], until="2024-12-20T00:00:00+01:00")
    [move] = acts(result, "A10", "set_stage")
    assert move.at == t("2024-11-21T08:00:00+01:00")  # day 30 of the flow
    assert move.action.payload == {"stage": "follow_up"}
    assert when(acts(result, "A10", "notify")) == ["2024-11-28T09:00:00+01:00", "2024-12-12T09:00:00+01:00"]
    later_calls = [a for a in acts(result, "A8", "create_task") if a.at > move.at]
    assert when(later_calls)[:2] == ["2024-11-26T08:00:00+01:00", "2024-12-03T08:00:00+01:00"]


def test_A11_manual_follow_up_pauses_the_flow(pb):
    paused = ev("onboarding.paused", "2024-10-24T15:00:00+02:00", {"reason": "holiday"})
    result = run(pb, [signed(), paused], until="2025-01-31T00:00:00+01:00")
    [stage] = acts(result, "A11", "set_stage")
    assert stage.action.payload == {"stage": "manual_follow_up"}
    assert [a for a in result.actions if a.at > stage.at] == []
    assert result.states["ob-1"].status == "paused"
    assert result.pending == {}


def test_A11_resume_date_restarts_the_flow(pb):
    paused = ev("onboarding.paused", "2024-10-24T15:00:00+02:00", {"resume_on": "2024-11-11"})
    result = run(pb, [signed(), paused], until="2024-11-16T00:00:00+01:00")
    stages = [(a.at.isoformat(), a.action.payload["stage"]) for a in acts(result, "A11", "set_stage")]
    assert stages == [
        ("2024-10-24T15:00:00+02:00", "manual_follow_up"),
        ("2024-11-11T08:00:00+01:00", "onboarding_in_progress"),
    ]
    assert when(acts(result, "A8", "create_task")) == ["2024-11-14T08:00:00+01:00"]  # day 3 again


def test_A12_inactive_after_60_days_manual_work_from_then_on(pb):
    result = run(pb, [signed()], until="2025-06-01T00:00:00+02:00")
    [move] = acts(result, "A12", "set_stage")
    assert move.at == t("2024-12-21T08:00:00+01:00")  # day 60 of the flow
    assert move.action.payload == {"stage": "inactive"}
    [task] = acts(result, "A12", "create_task")
    assert task.action.payload["priority"] == "high"
    assert [a for a in result.actions if a.at > move.at] == []
    assert result.pending == {}


def test_A13_booking_emails_team_closes_and_stops_everything(pb):
    booked = ev("meeting.booked", "2024-10-23T13:00:00+02:00", {"meeting_id": "m-1", "start": "2024-11-04T10:00:00+01:00"})
    result = run(pb, [signed(), PRE_ONBOARDING_DONE, booked], until="2025-06-01T00:00:00+02:00")
    a13 = acts(result, "A13")
    assert [(a.action.tool, a.action.kind) for a in a13] == [
        ("email", "notify"), ("hubspot", "set_stage"), ("hubspot", "complete_task"),
    ]
    assert a13[0].action.payload["to"] == ["onboarding_team"]
    assert a13[1].action.payload == {"stage": "closed"}
    assert [a for a in result.actions if a.at > a13[0].at] == []  # no more e-mails or tasks
    assert result.pending == {}
    assert result.states["ob-1"].stage == "closed"


def test_A14_after_kickoff_segment_outcome_completed_sam_owner(pb):
    booked = ev("meeting.booked", "2024-10-23T13:00:00+02:00", {"meeting_id": "m-1", "start": "2024-11-04T10:00:00+01:00"})
    done = ev("meeting.completed", "2024-11-04T11:00:00+01:00", {"meeting_id": "m-1"})
    result = run(pb, [signed(), booked, done])
    a14 = acts(result, "A14")
    assert [a.action.payload for a in a14[:2]] == [
        {"stage": "completed", "record": "meeting", "record_id": "m-1"},
        {"owner": "sam_advisor", "record": "company"},
    ]
    assert a14[2].action.payload["subject"].startswith("Segment the company as an A, B, C or D")
    assert a14[2].action.payload["due_at"] == "2024-11-05T12:00:00+01:00"


def test_A15_no_show_restarts_the_flow_and_asks_to_rebook(pb):
    booked = ev("meeting.booked", "2024-10-23T13:00:00+02:00", {"meeting_id": "m-1", "start": "2024-11-04T10:00:00+01:00"})
    no_show = ev("meeting.no_show", "2024-11-04T10:30:00+01:00", {"meeting_id": "m-1", "restart_onboarding": True})
    result = run(pb, [signed(), booked, no_show], until="2024-11-12T00:00:00+01:00")
    a15 = acts(result, "A15")
    assert [a.action.payload.get("stage") for a in a15 if a.action.kind == "set_stage"] == ["no_show", "onboarding_in_progress"]
    [rebook] = [a for a in a15 if a.action.kind == "create_task"]
    assert rebook.action.payload["due_at"] == "2024-11-04T12:30:00+01:00"
    restarted_calls = [a for a in acts(result, "A8", "create_task") if a.at > t("2024-11-04T10:30:00+01:00")]
    assert when(restarted_calls) == ["2024-11-07T08:00:00+01:00", "2024-11-11T08:00:00+01:00"]
    assert result.states["ob-1"].status == "active"


def test_A15_cancelled_meeting_outcome_rescheduled_and_restart(pb):
    booked = ev("meeting.booked", "2024-10-23T13:00:00+02:00", {"meeting_id": "m-1", "start": "2024-11-04T10:00:00+01:00"})
    cancelled = ev("meeting.cancelled", "2024-10-30T09:00:00+01:00", {"meeting_id": "m-1", "restart_onboarding": True})
    result = run(pb, [signed(), booked, cancelled], until="2024-11-01T00:00:00+01:00")
    stages = [a.action.payload for a in acts(result, "A15", "set_stage")]
    assert stages[0] == {"stage": "rescheduled", "record": "meeting", "record_id": "m-1"}
    assert result.states["ob-1"].stage == "onboarding_in_progress"


@pytest.mark.parametrize("outcome", ["meeting.no_show", "meeting.cancelled"])
@pytest.mark.parametrize("restart", [None, False])
def test_A15_no_restart_unless_restart_onboarding_is_yes(pb, outcome, restart):
    # Seed 002: "'Restart onboarding' trycker du på 'Yes' och sparar. Detta gör att det
    # automatiska workflowet startar om på nytt": a field left empty is not a Yes.
    booked = ev("meeting.booked", "2024-10-23T13:00:00+02:00", {"meeting_id": "m-1", "start": "2024-11-04T10:00:00+01:00"})
    data = {"meeting_id": "m-1"} | ({} if restart is None else {"restart_onboarding": restart})
    missed = ev(outcome, "2024-11-04T10:30:00+01:00", data)
    result = run(pb, [signed(), booked, missed], until="2024-12-01T00:00:00+01:00")
    after = [a for a in result.actions if a.at >= t("2024-11-04T10:30:00+01:00")]
    assert [(a.action.rule, a.action.kind, a.action.payload.get("stage") or a.action.payload.get("subject"))
            for a in after] == [
        ("A15", "set_stage", "no_show" if outcome == "meeting.no_show" else "rescheduled"),
        ("A15", "create_task", "Contact the customer to book a new kick-off meeting"),  # "kontaktar du kund"
    ]  # no move back to Pågår, no call tasks, no e-mails
    assert (result.states["ob-1"].stage, result.states["ob-1"].status) == ("closed", "completed")
    assert result.pending == {}


def test_A15_restart_onboarding_yes_restarts_from_inactive(pb):
    restart = ev("onboarding.restarted", "2025-01-07T09:00:00+01:00", {})
    result = run(pb, [signed(), restart], until="2025-01-11T00:00:00+01:00")
    assert [a.action.payload["stage"] for a in acts(result, "A15", "set_stage")] == ["onboarding_in_progress"]
    assert when([a for a in acts(result, "A8", "create_task") if a.at > t("2025-01-07T09:00:00+01:00")]) == [
        "2025-01-10T08:00:00+01:00"
    ]


def test_A14_business_days_skip_midsommarafton(pb):
    # Sweden's public holidays, and Midsommarafton (a de facto holiday: offices close), are
    # not business days: a kick-off held on Thursday 19 June 2025 is segmented on Monday
    held = ev("meeting.completed", "2025-06-19T10:00:00+02:00", {"meeting_id": "m-1"})
    signed_2025 = ev("contract.signed", "2025-06-02T09:00:00+02:00", {**CONTRACT, "signed_on": "2025-06-02",
                                                                       "start_on": "2025-06-09"})
    result = run(pb, [signed_2025, held], until="2025-06-19T12:00:00+02:00")
    [segment] = [a for a in acts(result, "A14", "create_task")]
    assert segment.action.payload["due_at"] == "2025-06-23T12:00:00+02:00"


def test_A1_a_customer_who_comes_back_signs_again(pb):
    """Two cycles: onboarded in autumn 2024 (kick-off booked, ticket closed), a new contract in
    spring 2025 is a new SE ticket in "Ny" and the whole procedure again."""
    booked = ev("meeting.booked", "2024-10-23T13:00:00+02:00", {"meeting_id": "m-1", "start": "2024-11-04T10:00:00+01:00"})
    first = [signed(), PRE_ONBOARDING_DONE, booked]
    again_at = "2025-03-03T09:00:00+01:00"
    again = ev("contract.signed", again_at, {**CONTRACT, "signed_on": "2025-03-03", "start_on": "2025-03-10",
                                              "main_user": "Berit Exempel", "main_user_email": "berit@example.com",
                                              "licences": 40})
    product = ev("account.created", "2025-03-05T09:00:00+01:00", {"account_name": "Exempel Bygg AB", "main_user": "Berit Exempel",
                                                                 "email": "berit@example.com", "licences": 40})
    result = run(pb, [*first, again, product], until="2025-03-14T08:30:00+01:00")
    second = [a for a in result.actions if a.at >= t(again_at)]
    assert [(a.at.strftime("%m-%d %H:%M"), a.action.rule, a.action.kind) for a in second] == [
        ("03-03 09:00", "A1", "create_record"),  # a new ticket, in "Ny"
        ("03-03 09:00", "A3", "add_note"),
        ("03-03 09:00", "A5", "assign_owner"),  # set again: the owner belonged to the first cycle
        ("03-03 09:00", "A5", "notify"),
        ("03-03 09:00", "A6", "create_task"),
        ("03-11 08:00", "A2", "set_stage"),  # the day after the new start date
        ("03-11 08:00", "A2", "notify"),
        ("03-14 08:00", "A8", "create_task"),  # day 3 of the new flow, no kick-off booked: a call task
    ]  # the product matches the new contract: no A4 task; pre-onboarding not done yet: no call
    assert second[0].action.payload["fields"]["name"] == "SE - Exempel Bygg AB"
    assert second[0].action.idempotency_key != acts(result, "A1", "create_record")[0].action.idempotency_key
    assert second[6].action.payload["to"] == ["berit@example.com"]
    state = result.states["ob-1"]
    assert (state.stage, state.status, state.facts["meeting_booked"], state.facts["_cycle"]["n"]) == (
        "onboarding_in_progress", "active", False, 2)
    assert state.created_record("ticket") == second[0].action.idempotency_key  # later writes go to the new ticket
