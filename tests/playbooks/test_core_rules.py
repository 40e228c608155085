"""Rules M1-M10 (seed 004, CORE implementation) on the core-implementation playbook."""

from __future__ import annotations

import pytest

from kickoff.playbooks import decide
from tests.playbooks.conftest import Done, acts, ev, run, t, when

PAID_AT = "2024-08-05T09:00:00-03:00"  # a Monday, São Paulo
PAYMENT = {"account_name": "Loja Exemplo", "plan": "premium", "phone": "+55 11 0000-0000", "phone_type": "landline"}
S1 = "2024-08-07T14:00:00-03:00"
S2 = "2024-08-14T14:00:00-03:00"


@pytest.fixture()
def pb(playbooks):
    return playbooks["core-implementation"]


def paid(**changes):
    return ev("payment.confirmed", PAID_AT, {**PAYMENT, **changes})


def booked(start=S1, at="2024-08-05T15:00:00-03:00", **data):
    return ev("meeting.booked", at, {"meeting_id": f"core-{start[:10]}", "start": start, "booked_by": "gr", **data})


def completed(at, **data):
    return ev("meeting.completed", at, data)


def posts(result):
    return [(a.action.rule, a.action.payload["description"]) for a in result.actions if a.action.kind == "post_action"]


def test_M1_payment_confirmed_creates_the_implementation_ticket(pb):
    decision = decide(None, paid(), t(PAID_AT), pb)
    [ticket] = [a for a in decision.actions if a.rule == "M1" and a.kind == "create_record"]
    assert ticket.tool == "movidesk"
    assert ticket.payload["fields"]["subject"] == "CORE - Implementação e onboarding - Loja Exemplo"
    assert decision.state.stage == "scheduling"


def test_M2_one_ticket_holds_everything_and_closes_only_at_the_end(pb):
    events = [paid(), booked(), completed("2024-08-07T15:30:00-03:00", next_start=S2),
              ev("case.updated", "2024-08-08T10:00:00-03:00", {"case": "ticket", "status": "closed"}),
              completed("2024-08-14T15:30:00-03:00", end_onboarding=True)]
    result = run(pb, events)
    movidesk = [a.action for a in result.actions if a.action.tool == "movidesk"]
    assert len(movidesk) > 10
    assert all("target" not in a.payload and "record" not in a.payload for a in movidesk)  # the main ticket
    [reopen] = acts(result, "M2", "post_action")
    assert (reopen.action.payload["status"], reopen.action.payload["public"]) == ("in_progress", False)
    closing = [a for a in result.actions if a.action.kind == "post_action" and a.action.payload.get("status") == "closed"]
    assert [a.at.isoformat() for a in closing] == ["2024-08-14T15:30:00-03:00"]


def test_M3_gr_confirmation_action_and_landline_check(pb):
    result = run(pb, [paid(phone_type="mobile"), booked()], until="2024-08-05T16:00:00-03:00")
    [confirm] = acts(result, "M3", "post_action")
    assert confirm.action.payload == {"description": "GR - Confirmação de agendamento", "public": True}
    [task] = acts(result, "M3", "create_task")
    assert task.action.payload["owner"] == "gr" and "landline" in task.action.payload["subject"]


@pytest.mark.parametrize("extra", [{"phone_type": "landline"}, {"phone_type": "mobile", "whatsapp_exception": True}])
def test_M3_landline_or_stated_exception_passes(pb, extra):
    result = run(pb, [paid(**extra), booked()], until="2024-08-05T16:00:00-03:00")
    assert acts(result, "M3", "create_task") == []


def test_M4_gr_books_the_slot_task_closed_by_the_booking(pb):
    result = run(pb, [paid(), booked()], until="2024-08-05T16:00:00-03:00")
    [task] = acts(result, "M4", "create_task")
    assert task.action.payload["owner"] == "gr" and task.action.payload["due_at"] == "2024-08-06T09:00:00-03:00"
    [done] = acts(result, "M4", "complete_task")
    assert done.action.payload["task_key"] == task.action.idempotency_key


def test_M5_session_by_phone_or_video_with_remote_access(pb):
    decision = decide(None, paid(), t(PAID_AT), pb)
    decision = decide(decision.state, booked(channel="video"), t("2024-08-05T15:00:00-03:00"), pb)
    [task] = [a for a in decision.actions if a.rule == "M5"]
    assert task.payload["owner"] == "io_analyst" and task.payload["due_at"] == S1
    assert task.payload["fields"]["channel"] == "video"
    assert "camera on" in task.payload["body"] and "TeamViewer" in task.payload["body"]


def test_M6_M10_two_appointments_before_the_end(pb):
    one = run(pb, [paid(), booked(), completed("2024-08-07T15:30:00-03:00", end_onboarding=True)])
    assert ("M10", "IO - Finalização de Onboarding") not in posts(one)
    [m6] = acts(one, "M6", "create_task")
    assert m6.action.payload["subject"].startswith("At least 2 CORE appointments")
    assert one.states["ob-1"].stage != "closed"
    two = run(pb, [paid(), booked(), completed("2024-08-07T15:30:00-03:00", next_start=S2),
                   completed("2024-08-14T15:30:00-03:00", end_onboarding=True)])
    assert ("M10", "IO - Finalização de Onboarding") in posts(two)
    assert acts(two, "M6") == []
    assert two.states["ob-1"].stage == "closed" and two.pending == {}


def test_M6_individual_gr_booking_is_exempt_and_basic_plan_gets_a_short_second_session(pb):
    exempt = run(pb, [paid(), booked(booked_by="gr_individual"), completed("2024-08-07T15:30:00-03:00", end_onboarding=True)])
    assert exempt.states["ob-1"].stage == "closed" and acts(exempt, "M6") == []
    basic = run(pb, [paid(plan="basic"), booked(), completed("2024-08-07T15:30:00-03:00"),
                     booked(start=S2, at="2024-08-08T10:00:00-03:00")], until="2024-08-09T00:00:00-03:00")
    shorts = [a.action.payload["fields"]["short_session"] for a in acts(basic, "M5", "create_task")]
    assert shorts == [False, True]


def test_M6_each_appointment_ends_by_fixing_the_next(pb):
    result = run(pb, [paid(), booked(), completed("2024-08-07T15:30:00-03:00")])
    [task] = acts(result, "M6", "create_task")
    assert task.action.payload["subject"].startswith("Each CORE ends by fixing the next one")
    assert result.states["ob-1"].stage == "scheduling"


def test_M7_alert_at_5_and_no_contact_actions_at_15_minutes(pb):
    result = run(pb, [paid(), booked()], until="2024-08-07T18:00:00-03:00")
    [alert] = acts(result, "M7", "notify")
    assert alert.at == t("2024-08-07T14:05:00-03:00")
    assert (alert.action.tool, alert.action.payload["to"]) == ("slack", ["#sem_contato_agendamento"])
    at_15 = [(a.at.isoformat(), a.action.kind, a.action.payload.get("description") or a.action.payload.get("subject"))
             for a in acts(result, "M7") if a.action.kind != "notify"]
    assert at_15 == [
        ("2024-08-07T14:15:00-03:00", "create_task", "Send the form SEM CONTATO / CANCELAMENTO AGENDAMENTO"),
        ("2024-08-07T14:15:00-03:00", "post_action", "IO - Sem contato / Não agendado"),
        ("2024-08-07T14:15:00-03:00", "post_action", "IO - Sem contato core"),
        ("2024-08-07T14:15:00-03:00", "set_stage", None),
    ]
    publics = [a.action.payload["public"] for a in acts(result, "M7", "post_action")]
    assert publics == [False, True]


@pytest.mark.parametrize(("contact_at", "expected"), [("2024-08-07T14:03:00-03:00", []), ("2024-08-07T14:07:00-03:00", ["notify"])])
def test_M7_contact_stops_the_no_contact_routine(pb, contact_at, expected):
    contact = ev("contact.made", contact_at, {"session": 1, "channel": "phone"})
    result = run(pb, [paid(), booked(), contact], until="2024-08-07T18:00:00-03:00")
    assert [a.action.kind for a in acts(result, "M7")] == expected


def test_M8_customer_cancels_gr_action_and_follow_up_to_reschedule(pb):
    cancel = ev("meeting.cancelled", "2024-08-06T10:00:00-03:00", {"meeting_id": "core-2024-08-07"})
    result = run(pb, [paid(), booked(), cancel], until="2024-08-08T00:00:00-03:00")
    m8 = acts(result, "M8")
    assert m8[0].action.payload == {"description": "GR - Agendamento cancelado", "public": True}
    [task] = [a for a in m8 if a.action.kind == "create_task"]
    assert task.action.payload["owner"] == "gr" and task.action.payload["due_at"] == "2024-08-07T10:00:00-03:00"
    assert acts(result, "M7") == []  # the cancelled session's timers are gone
    assert result.states["ob-1"].stage == "scheduling"


def test_M9_end_of_appointment_action_with_the_next_date(pb):
    result = run(pb, [paid(), booked(), contact_made(), completed("2024-08-07T15:30:00-03:00", next_start=S2, topics="stock")],
                 until="2024-08-14T14:30:00-03:00")
    [end] = acts(result, "M9", "post_action")
    assert end.action.payload["description"] == "IO - Finalização de agendamento" and end.action.payload["public"] is True
    assert end.action.payload["justification"] == "Next: 2024-08-14T14:00:00-03:00; topics: stock"
    assert when(acts(result, "M7", "notify")) == ["2024-08-14T14:05:00-03:00"]  # the next session is watched


def test_M10_finalizacao_de_onboarding_closes_the_ticket(pb):
    result = run(pb, [paid(), booked(), completed("2024-08-07T15:30:00-03:00", next_start=S2),
                      completed("2024-08-14T15:30:00-03:00", end_onboarding=True)])
    m10 = acts(result, "M10")
    assert m10[0].action.payload == {
        "description": "IO - Finalização de Onboarding",
        "public": True,
        "status": "closed",
        "justification": "Topics confirmed; further questions through the chat channel.",
    }
    assert m10[1].action.payload == {"stage": "closed"}
    assert result.states["ob-1"].status == "completed"


def contact_made():
    return ev("contact.made", "2024-08-07T14:01:00-03:00", {"session": 1})


def test_M4_business_days_skip_good_friday_and_tiradentes(pb):
    # Brazil's national holidays are not business days: paid on Thursday 17 April 2025, GR's
    # booking task is due after Good Friday (18th) and Tiradentes (Monday 21st)
    decision = decide(None, ev("payment.confirmed", "2025-04-17T10:00:00-03:00", PAYMENT), t("2025-04-17T10:00:00-03:00"), pb)
    [book] = [a for a in decision.actions if a.rule == "M4"]
    assert book.payload["due_at"] == "2025-04-22T10:00:00-03:00"


def test_M4_a_slot_gr_marked_booked_in_movidesk_is_not_completed_again(pb):
    result = run(pb, [paid(), Done("book_slot", "2024-08-05T14:00:00-03:00"), booked()])
    assert acts(result, "M4", "complete_task") == []  # the person closed it; Kickoff posts no second one
    assert result.states["ob-1"].facts["_done"] == [acts(result, "M4", "create_task")[0].action.idempotency_key]


def test_M1_a_customer_who_comes_back_is_implemented_again(pb):
    """Two cycles: implemented in August 2024 (two COREs, closed); a new payment in 2025 opens
    a new ticket, and its onboarding again needs at least 2 appointments (M6)."""
    first = [paid(), booked(), completed("2024-08-07T15:30:00-03:00", next_start=S2),
             completed("2024-08-14T15:30:00-03:00", end_onboarding=True)]
    again_at = "2025-03-10T09:00:00-03:00"
    again = ev("payment.confirmed", again_at, {**PAYMENT, "plan": "basic", "phone_type": "mobile"})
    s1 = "2025-03-12T14:00:00-03:00"
    session = booked(start=s1, at="2025-03-10T15:00:00-03:00")
    ended = completed("2025-03-12T15:30:00-03:00", end_onboarding=True)
    reached = ev("contact.made", "2025-03-12T14:01:00-03:00", {"session": 1})
    result = run(pb, [*first, again, session, reached, ended])
    second = [a for a in result.actions if a.at >= t(again_at)]
    assert [(a.action.rule, a.action.kind) for a in second] == [
        ("M1", "create_record"), ("M1", "set_stage"), ("M4", "create_task"),  # a new ticket, GR books
        ("M3", "post_action"), ("M3", "set_stage"), ("M3", "create_task"),  # mobile: a landline is asked for again
        ("M4", "complete_task"), ("M5", "create_task"),
        ("M5", "complete_task"), ("M9", "post_action"),  # the 1st CORE of this implementation
        ("M6", "create_task"),  # "pelo menos 02 Agendamentos": not closed after one
    ]
    assert second[0].action.idempotency_key != acts(result, "M1", "create_record")[0].action.idempotency_key
    assert second[7].action.payload["subject"] == "CORE 1 by phone"
    state = result.states["ob-1"]
    assert (state.stage, state.status, state.facts["sessions_done"], state.facts["_cycle"]["n"]) == (
        "scheduled", "active", 1, 2)
