"""Rules W1-W9 (seed 003, retention alerts) on the retention-alerts playbook."""

from __future__ import annotations

import pytest

from kickoff.playbooks import decide
from kickoff.playbooks.functions import nps_band
from tests.playbooks.conftest import acts, ev, run, t

AT = "2024-06-03T10:00:00+02:00"  # a Monday
REQUEST = {
    "submitter": "support expert",
    "subject": "Partner threatens to cancel",
    "partner_link": "https://support.example.com/partners/42",
    "description": "Called support, unhappy with the agenda.",
    "ticket_link": "https://support.example.com/tickets/4242",
}


@pytest.fixture()
def pb(playbooks):
    return playbooks["retention-alerts"]


def test_W1_upsell_request_handled_the_same_day(pb):
    decision = decide(None, ev("upsell.requested", AT, {"description": "two more staff"}), t(AT), pb)
    w1 = [a for a in decision.actions if a.rule == "W1"]
    assert [(a.tool, a.kind) for a in w1] == [("asana", "create_task")]
    assert w1[0].payload["due_at"] == "2024-06-03T18:00:00+02:00"
    [request] = [a for a in decision.actions if a.rule == "W7"]
    assert request.payload["fields"]["section"] == "new_request"


def test_W1_done_only_when_a_meeting_is_set_or_a_case_assigned(pb):
    hardware = ev("hardware.requested", AT, {"description": "a card reader"})
    too_early = ev("task.updated", "2024-06-03T12:00:00+02:00", {"status": "completed"})
    booked = ev("meeting.booked", "2024-06-03T15:00:00+02:00", {"start": "2024-06-05T10:00:00+02:00"})
    done = ev("task.updated", "2024-06-03T15:05:00+02:00", {"status": "completed"})
    result = run(pb, [hardware, too_early, booked, done])
    w1 = [(a.at.isoformat(), a.action.tool, a.action.kind) for a in acts(result, "W1")]
    assert w1 == [
        ("2024-06-03T10:00:00+02:00", "asana", "create_task"),
        ("2024-06-03T12:00:00+02:00", "slack", "notify"),  # not done: alert and a new task
        ("2024-06-03T12:00:00+02:00", "asana", "create_task"),
        ("2024-06-03T15:05:00+02:00", "slack", "notify"),  # the check mark
    ]
    assert acts(result, "W1")[-1].action.payload["body"].startswith(":white_check_mark:")


def test_W2_churn_risk_opportunity_once_and_task_today(pb):
    first = ev("churn_risk.reported", AT, {"kind": "churn"})
    second = ev("churn_risk.reported", "2024-06-10T19:30:00+02:00", {"kind": "downsell"})
    result = run(pb, [first, second])
    w2 = acts(result, "W2")
    assert [(a.action.tool, a.action.kind) for a in w2] == [
        ("zendesk", "create_record"), ("asana", "create_task"), ("asana", "create_task"),
    ]
    assert w2[0].action.payload["fields"]["type"] == "churn_risk"
    assert [a.action.payload["subject"] for a in w2[1:]] == ["rdc infos & rdv"] * 2
    assert [a.action.payload["due_at"] for a in w2[1:]] == ["2024-06-03T18:00:00+02:00", "2024-06-10T19:30:00+02:00"]


@pytest.mark.parametrize(
    ("alert_at", "competitor_date", "due"),
    [
        ("2024-06-03T10:00:00+02:00", "2024-06-06", "2024-06-04T09:00:00+02:00"),  # next day
        ("2024-06-03T23:30:00+02:00", "2024-06-04", "2024-06-04T09:00:00+02:00"),  # never the same day
        ("2024-06-03T10:00:00+02:00", "2024-07-01", "2024-06-24T09:00:00+02:00"),  # far: a week before
        ("2024-06-03T10:00:00+02:00", "2024-06-11", "2024-06-04T09:00:00+02:00"),  # 8 days: next day
    ],
)
def test_W3_red_alert_task_next_day_or_a_week_before(pb, alert_at, competitor_date, due):
    alert = ev("red_alert.reported", alert_at, {"competitor": "a competitor", "competitor_date": competitor_date})
    decision = decide(None, alert, t(alert_at), pb)
    [task] = [a for a in decision.actions if a.rule == "W3" and a.kind == "create_task"]
    assert task.payload["subject"] == "red alert" and task.payload["due_at"] == due
    assert t(task.payload["due_at"]).date() > t(alert_at).date()
    [note] = [a for a in decision.actions if a.rule == "W3" and a.kind == "add_note"]
    assert note.payload["record"] == "contact"
    assert not [a for a in decision.actions if a.kind == "create_record" and a.payload["object"] == "opportunity"]


def test_W3_red_alert_with_other_alarms_becomes_a_churn_risk(pb):
    alert = ev("red_alert.reported", AT, {"competitor_date": "2024-06-06", "unresolved_tickets": 2})
    decision = decide(None, alert, t(AT), pb)
    [opp] = [a for a in decision.actions if a.kind == "create_record" and a.payload["object"] == "opportunity"]
    assert opp.rule == "W3" and opp.tool == "zendesk"
    assert decision.state.facts["churn_opportunity"] is True


def test_W3_an_earlier_low_nps_counts_as_an_alarm(pb):
    nps = ev("nps.received", AT, {"score": 2})
    alert = ev("red_alert.reported", "2024-06-04T10:00:00+02:00", {"competitor_date": "2024-06-07"})
    result = run(pb, [nps, alert])
    assert [a.action.payload["object"] for a in acts(result, "W3", "create_record")] == ["opportunity"]


@pytest.mark.parametrize(
    ("score", "band", "follow_up"),
    [(10, "high", False), (7, "high", False), (6, "medium", True), (4, "medium", True), (3, "low", True), (0, "low", True)],
)
def test_W4_nps_bands_and_follow_up_meeting(pb, score, band, follow_up):
    assert nps_band(score) == band
    decision = decide(None, ev("nps.received", AT, {"score": score}), t(AT), pb)
    assert decision.state.facts["nps_band"] == band
    [note] = [a for a in decision.actions if a.rule == "W4" and a.kind == "add_note"]
    assert note.payload["body"] == f"NPS {score}/10 ({band})"
    tasks = [a for a in decision.actions if a.rule == "W4" and a.kind == "create_task"]
    assert bool(tasks) is follow_up
    if follow_up:
        assert tasks[0].payload["task_type"] == "meeting"
        assert tasks[0].payload["fields"]["meeting_with"] == "am"
        assert tasks[0].payload["due_at"] == "2024-06-03T18:00:00+02:00"


def test_W5_meeting_already_set_by_support_case_to_am_in_progress(pb):
    submitted = ev("request.submitted", AT, {**REQUEST, "meeting_day": "2024-06-05", "meeting_am": "an AM"})
    decision = decide(None, submitted, t(AT), pb)
    w5 = [(a.tool, a.kind, a.payload.get("owner") or a.payload.get("stage")) for a in decision.actions if a.rule == "W5"]
    assert w5 == [("slack", "notify", None), ("zendesk", "assign_owner", "am"), ("zendesk", "set_stage", "in_progress")]


def test_W5_passes_when_case_already_with_am_in_progress(pb):
    booked = ev("meeting.booked", "2024-06-03T11:00:00+02:00", {"booked_by": "support", "start": "2024-06-05T10:00:00+02:00"})
    nps = ev("nps.received", "2024-06-03T12:00:00+02:00", {"score": 5})
    result = run(pb, [ev("upsell.requested", AT, {}), booked, nps])
    assert acts(result, "W5") == []
    assert result.states["ob-1"].stage == "in_progress"


def test_W6_case_stages_new_assigned_in_progress_closed(pb):
    events = [
        ev("churn_risk.reported", AT, {"kind": "churn"}),
        ev("case.updated", "2024-06-03T10:30:00+02:00", {"status": "assigned"}),
        ev("call.logged", "2024-06-03T11:00:00+02:00", {"outcome": "no_answer"}),
        ev("case.updated", "2024-06-03T11:05:00+02:00", {"status": "assigned"}),
        ev("meeting.booked", "2024-06-04T09:00:00+02:00", {"start": "2024-06-06T10:00:00+02:00"}),
        ev("meeting.completed", "2024-06-06T11:00:00+02:00", {}),
        ev("case.updated", "2024-06-10T09:00:00+02:00", {"status": "saved"}),
    ]
    result = run(pb, events)
    w6 = [(a.at.strftime("%d %H:%M"), a.action.kind, a.action.payload.get("stage") or a.action.payload.get("subject"))
          for a in acts(result, "W6") if a.action.kind != "assign_owner"]
    assert w6 == [
        ("03 10:30", "create_task", "Assigned needs a first call attempt: call the partner first"),
        ("03 11:00", "create_task", "Call the partner back"),
        ("03 11:05", "set_stage", "assigned"),
        ("04 09:00", "set_stage", "in_progress"),
        ("06 11:00", "create_task", "After the meeting: next step with the partner"),
        ("10 09:00", "set_stage", "closed"),
    ]
    assert result.states["ob-1"].status == "completed"


def test_W7_request_board_new_waiting_resolved(pb):
    events = [
        ev("request.submitted", AT, REQUEST),
        ev("case.updated", "2024-06-03T14:00:00+02:00", {"status": "waiting"}),
        ev("meeting.booked", "2024-06-04T09:00:00+02:00", {"start": "2024-06-06T10:00:00+02:00"}),
        ev("task.updated", "2024-06-04T09:05:00+02:00", {"status": "completed"}),
    ]
    result = run(pb, events)
    [request] = acts(result, "W7", "create_record")
    assert request.action.payload["fields"]["section"] == "new_request"
    assert request.action.payload["fields"]["ticket_link"] == REQUEST["ticket_link"]
    moves = [a.action.payload for a in acts(result, "W7", "set_stage")]
    key = request.action.idempotency_key
    assert moves == [{"stage": "waiting", "target": key}, {"stage": "resolved", "target": key}]


@pytest.mark.parametrize("drop", ["submitter", "subject", "partner_link", "description", "ticket_link"])
def test_W8_request_missing_a_required_field_alerts(pb, drop):
    data = {k: v for k, v in REQUEST.items() if k != drop}
    decision = decide(None, ev("request.submitted", AT, data), t(AT), pb)
    [alert] = [a for a in decision.actions if a.rule == "W8"]
    assert (alert.tool, alert.kind) == ("slack", "notify")
    assert alert.payload["body"].endswith(f"misses: {drop}.")


def test_W8_complete_request_passes_with_optional_fields_kept(pb):
    data = {**REQUEST, "churn_risk_type": "price", "ideal_end_date": "2024-06-30"}
    decision = decide(None, ev("request.submitted", AT, data), t(AT), pb)
    assert not [a for a in decision.actions if a.rule == "W8"]
    [request] = [a for a in decision.actions if a.rule == "W7"]
    assert request.payload["fields"]["ideal_end_date"] == "2024-06-30"


def test_W9_verify_a_set_meeting_or_call_to_offer_one(pb):
    with_meeting = decide(None, ev("request.submitted", AT, {**REQUEST, "meeting_day": "2024-06-05", "meeting_am": "an AM"}), t(AT), pb)
    without = decide(None, ev("request.submitted", AT, REQUEST), t(AT), pb)
    [verify] = [a for a in with_meeting.actions if a.rule == "W9"]
    [call] = [a for a in without.actions if a.rule == "W9"]
    assert verify.payload["subject"] == "Verify the meeting set on 2024-06-05 with an AM"
    assert (call.payload["subject"], call.payload["task_type"]) == ("Call the partner to offer a meeting with the AM", "call")
    assert call.payload["owner"] == "am_intern"
