"""Rules W1-W9 (seed 003, retention alerts) on the retention-alerts playbook."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kickoff.playbooks import decide
from kickoff.playbooks.functions import nps_band
from tests.playbooks.conftest import Done, acts, ev, run, t

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
    too_early = Done("feed_request", "2024-06-03T12:00:00+02:00")
    booked = ev("meeting.booked", "2024-06-03T15:00:00+02:00", {"start": "2024-06-05T10:00:00+02:00"})
    done = Done("request", "2024-06-03T15:05:00+02:00")  # the intern completes the request itself
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


@pytest.mark.parametrize(
    "alarm", [{"unresolved_tickets": 2}, {"low_nps": True}, {"recent_cancellation": True}, {"bugs": True}])
def test_W3_red_alert_with_other_alarms_is_a_churn_risk_W2(pb, alarm):
    # Seed 003: "Sauf si ce red alert est couplé à d'autre signaux alarmants (NPS Bas, RDC
    # récent, Tickets non résolus, bugs etc.) dans ce cas → Création d'un Risque de churn",
    # and a churn risk is "Créer une opport risque de churn + se mettre une tâche 'rdc infos
    # & rdv' pour le jour même (aujourd'hui)".
    alert = ev("red_alert.reported", AT, {"competitor_date": "2024-06-20", **alarm})
    decision = decide(None, alert, t(AT), pb)
    w2 = [(a.tool, a.kind, a.payload.get("object") or a.payload.get("subject")) for a in decision.actions if a.rule == "W2"]
    assert w2 == [("zendesk", "create_record", "opportunity"), ("asana", "create_task", "rdc infos & rdv")]
    [rdc] = [a for a in decision.actions if a.rule == "W2" and a.kind == "create_task"]
    assert rdc.payload["due_at"] == "2024-06-03T18:00:00+02:00"  # the same day
    assert not [a for a in decision.actions if a.payload.get("subject") == "red alert"]
    assert [a.kind for a in decision.actions if a.rule == "W3"] == ["add_note"]  # the note on the contact stays
    assert decision.state.facts["open_opportunity"] is True


def test_W3_a_recent_low_nps_counts_as_an_alarm(pb):
    nps = ev("nps.received", AT, {"score": 2})
    alert = ev("red_alert.reported", "2024-07-02T10:00:00+02:00", {"competitor_date": "2024-07-20"})
    result = run(pb, [nps, alert])
    assert [a.action.payload["object"] for a in acts(result, "W2", "create_record")] == ["opportunity"]
    assert [a.action.payload["subject"] for a in acts(result, "W2", "create_task")] == ["rdc infos & rdv"]


@pytest.mark.parametrize(("days", "recent_days", "churn"), [(31, None, False), (29, None, True), (10, {"nps": 7}, False)])
def test_W3_a_low_nps_counts_only_while_recent(pb, days, recent_days, churn):
    # "NPS Bas" is an alarming signal while it is recent: 30 days unless the tenant says otherwise
    nps = ev("nps.received", AT, {"score": 1}, subject="acct")
    alert_at = (t(AT) + timedelta(days=days)).isoformat()
    alert = ev("red_alert.reported", alert_at, {"competitor_date": "2024-09-30"}, subject="acct")
    result = run(pb, [nps, alert], recent_days=recent_days)
    opportunities = [a for a in result.actions if a.action.payload.get("object") == "opportunity"]
    red_alert_tasks = [a for a in result.actions if a.action.payload.get("subject") == "red alert"]
    assert (len(opportunities), len(red_alert_tasks)) == ((1, 0) if churn else (0, 1))


@pytest.mark.parametrize(("reported", "opportunity"), [(True, False), (False, True), (None, True)])
def test_W2_opportunity_unless_one_is_still_open_in_the_tool(pb, reported, opportunity):
    # "Si l'opportunité risque de churn est déjà créée": one the tool reports open, even if
    # Kickoff did not make it; one the tool reports closed no longer counts.
    data = {"kind": "churn"} | ({} if reported is None else {"open_opportunity": reported})
    decision = decide(None, ev("churn_risk.reported", AT, data), t(AT), pb)
    made = [a for a in decision.actions if a.kind == "create_record" and a.payload["object"] == "opportunity"]
    assert bool(made) is opportunity
    assert [a.payload["subject"] for a in decision.actions if a.kind == "create_task"] == ["rdc infos & rdv"]


def test_W2_the_cases_own_opportunity_counts_though_the_tools_search_does_not_list_it_yet(pb):
    # Zendesk indexes a new ticket for search within minutes: the opportunity this case made
    # a moment ago is "déjà créée" whatever the search said.
    first = ev("churn_risk.reported", AT, {"kind": "churn", "open_opportunity": False})
    again = ev("red_alert.reported", "2024-06-03T10:05:00+02:00",
               {"competitor_date": "2024-06-20", "bugs": True, "open_opportunity": False})
    result = run(pb, [first, again])
    assert len(acts(result, "W2", "create_record")) == 1
    assert [a.action.payload["subject"] for a in acts(result, "W2", "create_task")] == ["rdc infos & rdv"] * 2


def test_W2_one_alert_by_the_enriched_webhook_and_by_the_export_writes_its_actions_once(pb):
    # the webhook's alert carries what Zendesk's search said (open_opportunity), the export's
    # does not: still one alert, whose actions are keyed alike (the ledger keeps them once)
    data = {"kind": "churn", "description": "Parle de résilier"}
    by_hook = decide(None, ev("churn_risk.reported", AT, {**data, "open_opportunity": False}, id="hook"), t(AT), pb)
    by_export = decide(None, ev("churn_risk.reported", AT, data, id="export"), t(AT), pb)
    assert [a.idempotency_key for a in by_hook.actions] == [a.idempotency_key for a in by_export.actions]


def test_W2_an_opportunity_closed_in_the_tool_is_not_already_created(pb):
    first = ev("churn_risk.reported", AT, {"kind": "churn"})
    closed = ev("case.updated", "2024-06-05T10:00:00+02:00", {"case": "opportunity", "status": "closed"})
    again = ev("churn_risk.reported", "2024-06-06T10:00:00+02:00", {"kind": "downsell"})
    result = run(pb, [first, closed, again])
    assert [a.action.payload["fields"]["type"] for a in acts(result, "W2", "create_record")] == ["churn_risk", "downsell_risk"]
    assert result.states["ob-1"].stage == "new"  # the opportunity closing is not the case closing


@pytest.mark.parametrize(
    ("score", "band", "follow_up"),
    [(10, "high", False), (7, "high", False), (6, "medium", True), (4, "medium", True), (3, "low", True), (0, "low", True)],
)
def test_W4_nps_bands_and_follow_up_meeting(pb, score, band, follow_up):
    assert nps_band(score) == band
    nps = ev("nps.received", AT, {"score": score})
    decision = decide(None, nps, t(AT), pb)
    if not follow_up:  # a high NPS opens no case (nothing would close it); on an open one, noted
        assert decision is None
        opened = decide(None, ev("upsell.requested", "2024-06-03T09:00:00+02:00", {}), t("2024-06-03T09:00:00+02:00"), pb)
        decision = decide(opened.state, nps, t(AT), pb)
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
        Done("offer_meeting", "2024-06-04T09:05:00+02:00"),  # "cliquer sur 'marquer comme terminée'"
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


def test_W9_verification_done_in_asana_resolves_the_request(pb):
    # Seed 003: "le rendez-vous est déjà posé : il faudra vérifier les informations
    # renseignées"; "il suffit juste de cliquer sur la tâche en question et cliquer sur 'marquer
    # comme terminée'. La tâche basculera automatiquement ... à Rdv posé ou requête résolu."
    submitted = ev("request.submitted", AT, {**REQUEST, "meeting_day": "2024-06-05", "meeting_am": "an AM"})
    result = run(pb, [submitted, Done("verify_meeting", "2024-06-03T11:00:00+02:00")])
    after = [(a.action.rule, a.action.kind) for a in result.actions if a.at == t("2024-06-03T11:00:00+02:00")]
    assert after == [("W7", "set_stage"), ("W1", "notify")]
    assert acts(result, "W7", "set_stage")[-1].action.payload["stage"] == "resolved"


def test_W9_call_done_without_a_meeting_keeps_the_request_open(pb):
    submitted = ev("request.submitted", AT, REQUEST)
    result = run(pb, [submitted, Done("offer_meeting", "2024-06-03T11:00:00+02:00")])
    after = [(a.action.rule, a.action.kind) for a in result.actions if a.at == t("2024-06-03T11:00:00+02:00")]
    assert after == [("W1", "notify"), ("W1", "create_task")]
    assert "stays open" in acts(result, "W1", "notify")[-1].action.payload["body"]


def test_W1_a_customer_who_comes_back_starts_a_new_case(pb):
    """Two cycles of one account: a churn risk saved in June, a red alert in September."""
    june = [
        ev("churn_risk.reported", AT, {"kind": "churn"}),
        ev("meeting.booked", "2024-06-04T09:00:00+02:00", {"start": "2024-06-06T10:00:00+02:00"}),
        Done("rdc", "2024-06-04T09:05:00+02:00"),
        ev("case.updated", "2024-06-10T09:00:00+02:00", {"status": "saved"}),
    ]
    september = [
        ev("red_alert.reported", "2024-09-02T10:00:00+02:00", {"competitor_date": "2024-09-20"}),
        Done("red_alert", "2024-09-03T10:00:00+02:00"),
        ev("churn_risk.reported", "2024-09-04T10:00:00+02:00", {"kind": "downsell"}),
    ]
    first = run(pb, june)
    stale_rdc = first.states["ob-1"].facts["_done"][0]
    stale = ev("task.updated", "2024-09-03T11:00:00+02:00", {"task_key": stale_rdc, "status": "completed"})
    result = run(pb, [*june, *september[:2], stale, september[2]])
    assert first.states["ob-1"].status == "completed"
    second = [a for a in result.actions if a.at >= t("2024-09-01T00:00:00+02:00")]
    assert [(a.action.rule, a.action.tool, a.action.kind, a.action.payload.get("subject") or a.action.payload.get("object"))
            for a in second] == [
        # W3: a note on the contact, a request on the board and "red alert" for the next day; no
        # "Meeting already set by support" (W5) and no case moved back to in progress
        ("W3", "zendesk", "add_note", None),
        ("W7", "asana", "create_record", "request"),
        ("W3", "asana", "create_task", "red alert"),
        # the intern marks "red alert" done with no meeting set in this case: not ✅, a new task
        ("W1", "slack", "notify", None),
        ("W1", "asana", "create_task", "Not done yet: set a meeting or create and assign a case"),
        # the closed case's task reported done again drives nothing; a churn risk now gets a new
        # opportunity (June's was closed with its case) and "rdc infos & rdv" today
        ("W2", "zendesk", "create_record", "opportunity"),
        ("W2", "asana", "create_task", "rdc infos & rdv"),
    ]
    assert second[2].action.payload["due_at"] == "2024-09-13T09:00:00+02:00"  # a week before the visit
    assert second[-1].action.payload["due_at"] == "2024-09-04T18:00:00+02:00"
    state = result.states["ob-1"]
    assert (state.stage, state.status, state.owner, state.facts["_cycle"]["n"]) == ("new", "active", None, 2)
    assert not [a for a in second if a.action.kind in ("set_stage", "assign_owner") and a.action.tool == "zendesk"]


# W4: "Medium and low get a follow-up meeting" -- a high NPS gets none, so it opens no case.
CLOSED_CASE = [
    ev("red_alert.reported", AT, {"competitor_date": "2024-06-20"}),
    ev("meeting.booked", "2024-06-04T09:00:00+02:00", {"start": "2024-06-06T10:00:00+02:00"}),
    ev("case.updated", "2024-06-10T09:00:00+02:00", {"status": "saved"}),
]
LATER = "2024-09-02T10:00:00+02:00"


def test_W4_a_high_nps_after_a_closed_case_opens_no_case_and_drives_nothing_of_the_closed_one(pb):
    result = run(pb, [*CLOSED_CASE, ev("nps.received", LATER, {"score": 9})])
    after = [a for a in result.actions if a.at >= t(LATER)]
    assert after == []  # no request, no task, no "meeting already set" (W5), no note on the closed case's ticket
    state = result.states["ob-1"]
    assert (state.cycle, state.stage, str(state.status)) == (1, "closed", "completed")
    assert (state.facts["nps_band"], state.facts["nps_score"]) == ("high", 9)  # the account's signal, kept


@pytest.mark.parametrize(("score", "band"), [(6, "medium"), (2, "low")])
def test_W4_a_medium_or_low_nps_after_a_closed_case_opens_a_new_case_with_its_follow_up(pb, score, band):
    result = run(pb, [*CLOSED_CASE, ev("nps.received", LATER, {"score": score})])
    after = [(a.action.rule, a.action.kind) for a in result.actions if a.at >= t(LATER)]
    assert after == [("W4", "add_note"), ("W7", "create_record"), ("W4", "create_task")]
    state = result.states["ob-1"]
    assert (state.cycle, state.stage, str(state.status), state.facts["nps_band"]) == (2, "new", "active", band)


def test_W4_a_high_nps_after_a_closed_case_still_counts_for_the_next_alert(pb):
    """A high NPS replaces an earlier low one: the next red alert is no churn risk (W3)."""
    low = ev("nps.received", "2024-06-05T10:00:00+02:00", {"score": 2})
    high = ev("nps.received", "2024-06-20T10:00:00+02:00", {"score": 8})
    alert = ev("red_alert.reported", "2024-06-25T10:00:00+02:00", {"competitor_date": "2024-07-10"})
    result = run(pb, [*CLOSED_CASE[:2], low, CLOSED_CASE[2], high, alert])
    later = [(a.action.rule, a.action.kind) for a in result.actions if a.at >= t("2024-06-25T10:00:00+02:00")]
    assert ("W2", "create_record") not in later and ("W3", "create_task") in later
    assert result.states["ob-1"].cycle == 2


def test_W6_a_ticket_of_the_account_changing_after_its_case_is_closed_drives_nothing(pb):
    solved = ev("case.updated", LATER, {"case": "ticket", "status": "closed"})
    waiting = ev("case.updated", "2024-09-03T10:00:00+02:00", {"case": "ticket", "status": "waiting"})
    result = run(pb, [*CLOSED_CASE, solved, waiting])
    assert [a for a in result.actions if a.at >= t(LATER)] == []
