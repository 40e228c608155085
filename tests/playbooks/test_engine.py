"""The decision function's guarantees: pure, deterministic keys, rule and cause on every action."""

from __future__ import annotations

from datetime import datetime

import pytest

from kickoff.playbooks import decide, timer_event
from kickoff.playbooks.expr import ExprError, compile_expr, evaluate, render
from kickoff.playbooks.timecalc import add_business_days, shift
from tests.playbooks.conftest import ev, t

SIGNED = {"account_name": "Exempel AB", "signed_on": "2024-10-14", "start_on": "2024-10-21",
          "main_user_email": "anna@example.com"}


@pytest.fixture()
def pb(playbooks):
    return playbooks["assist-se"]


def test_decide_is_pure_same_inputs_same_decision(pb):
    event = ev("contract.signed", "2024-10-14T10:00:00+02:00", SIGNED, id="e-1")
    first = decide(None, event, t("2024-10-14T10:00:05+02:00"), pb)
    second = decide(None, event, t("2024-10-14T10:00:05+02:00"), pb)
    assert first == second
    before = first.state.model_copy(deep=True)
    decide(first.state, ev("call.logged", "2024-10-22T10:00:00+02:00", {"outcome": "no_answer"}), t("2024-10-22T10:00:00+02:00"), pb)
    assert first.state == before  # the input state is not changed


def test_redelivered_event_gets_the_same_keys_even_with_a_new_id(pb):
    now = t("2024-10-14T10:00:05+02:00")
    a = decide(None, ev("contract.signed", "2024-10-14T10:00:00+02:00", SIGNED, id="delivery-1"), now, pb)
    b = decide(None, ev("contract.signed", "2024-10-14T10:00:00+02:00", SIGNED, id="delivery-2"), t("2024-10-14T11:00:00+02:00"), pb)
    assert [x.idempotency_key for x in a.actions] == [x.idempotency_key for x in b.actions]
    other = decide(None, ev("contract.signed", "2024-10-14T10:00:00+02:00", {**SIGNED, "licences": 3}), now, pb)
    assert {x.idempotency_key for x in other.actions}.isdisjoint({x.idempotency_key for x in a.actions})
    assert len({x.idempotency_key for x in a.actions}) == len(a.actions)


def test_every_action_carries_its_rule_and_cause_and_the_audit_says_so(pb):
    event = ev("contract.signed", "2024-10-14T10:00:00+02:00", SIGNED, id="e-1")
    decision = decide(None, event, t("2024-10-14T10:00:00+02:00"), pb)
    assert all(a.rule and a.caused_by_event == "e-1" and a.caused_by_timer is None for a in decision.actions)
    [timer] = [tm for tm in decision.set_timers if tm.key == "a2_start"]
    assert timer.fire_at == t("2024-10-22T08:00:00+02:00") and timer.rule == "A2"
    fired = decide(decision.state, timer_event(timer), t("2024-10-22T08:00:02+02:00"), pb)
    assert {a.caused_by_timer for a in fired.actions} == {"a2_start"}
    assert {a.caused_by_event for a in fired.actions} == {"e-1"}  # the event that set the timer
    assert fired.audit[0].startswith("timer a2_start (rule A2) fired at 2024-10-22T08:00:00+02:00, set by event e-1")
    assert any(line.startswith("A2: set_stage -> hubspot 'onboarding_in_progress' (timer a2_start, event e-1)") for line in fired.audit)


def test_a_cancelled_or_replaced_timer_firing_changes_nothing(pb):
    decision = decide(None, ev("contract.signed", "2024-10-14T10:00:00+02:00", SIGNED), t("2024-10-14T10:00:00+02:00"), pb)
    [timer] = [tm for tm in decision.set_timers if tm.key == "a2_start"]
    booked = decide(decision.state, ev("meeting.booked", "2024-10-15T10:00:00+02:00", {}), t("2024-10-15T10:00:00+02:00"), pb)
    assert "a2_start" in booked.cancel_timers
    late = decide(booked.state, timer_event(timer), t("2024-10-22T08:00:00+02:00"), pb)
    assert late.actions == [] and late.state == booked.state
    assert "not pending" in late.audit[0]


def test_timer_event_is_deterministic_and_carries_key_and_rule(pb):
    decision = decide(None, ev("contract.signed", "2024-10-14T10:00:00+02:00", SIGNED), t("2024-10-14T10:00:00+02:00"), pb)
    timer = decision.set_timers[0]
    event = timer_event(timer)
    assert event == timer_event(timer)
    assert event.type == "timer.fired" and event.data["timer"] == timer.key and event.data["rule"] == timer.rule
    assert event.occurred_at == timer.fire_at and event.subject == "ob-1"


def test_now_must_be_aware(pb):
    with pytest.raises(ValueError):
        decide(None, ev("contract.signed", "2024-10-14T10:00:00+02:00", SIGNED), datetime(2024, 10, 14, 10), pb)


def test_tenant_time_zone_overrides_the_playbook_default(pb):
    decision = decide(None, ev("contract.signed", "2024-10-14T10:00:00+02:00", SIGNED), t("2024-10-14T10:00:00+02:00"), pb,
                      tz="America/Sao_Paulo", tenant="elsewhere")
    [timer] = [tm for tm in decision.set_timers if tm.key == "a2_start"]
    assert timer.fire_at == t("2024-10-22T08:00:00-03:00")
    assert decision.state.tenant == "elsewhere"


def test_wall_clock_days_and_elapsed_hours_across_dst():
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("Europe/Paris")
    before = t("2024-10-26T08:00:00+02:00")
    assert shift(before, zone, days=1) == t("2024-10-27T08:00:00+01:00")
    assert shift(before, zone, hours=24) == t("2024-10-27T07:00:00+01:00")
    assert shift(t("2024-03-31T01:30:00+01:00"), zone, at=datetime.strptime("02:30", "%H:%M").time()) == t("2024-03-31T03:30:00+02:00")
    assert add_business_days(datetime(2024, 4, 12).date(), 2).isoformat() == "2024-04-16"
    assert add_business_days(datetime(2024, 4, 16).date(), -2).isoformat() == "2024-04-12"


def test_a_moment_worked_out_once_is_not_reused_for_another_fold_zone_or_calendar():
    """The tick keeps moments it worked out (``timecalc._moment``): two anchors that compare
    equal in one zone but are different instants (the repeated hour at the end of DST), the
    same anchor in another zone, or a calendar with another holiday, each get their own."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from kickoff.calendar import Calendar
    from kickoff.playbooks.spec import TimeSpec
    from kickoff.playbooks.timecalc import resolve

    paris = ZoneInfo("Europe/Paris")
    first = datetime(2024, 10, 27, 2, 30, tzinfo=paris)  # 02:30 CEST
    second = first.replace(fold=1)  # 02:30 CET, an hour later
    an_hour_on = TimeSpec.model_validate({"from": "data.at", "hours": 1})
    # (an ambiguous local time never equals a time of another zone: compared as timestamps)
    assert resolve(an_hour_on, paris, lambda _: first).timestamp() == t("2024-10-27T02:30:00+01:00").timestamp()
    assert resolve(an_hour_on, paris, lambda _: second).timestamp() == t("2024-10-27T03:30:00+01:00").timestamp()
    next_day_at_eight = TimeSpec.model_validate({"from": "data.day", "business_days": 1, "time": "08:00"})
    friday = date(2024, 11, 1)
    assert resolve(next_day_at_eight, paris, lambda _: friday) == t("2024-11-04T08:00:00+01:00")
    assert resolve(next_day_at_eight, ZoneInfo("America/Sao_Paulo"), lambda _: friday) == t("2024-11-04T08:00:00-03:00")
    closed_monday = Calendar(closed_days=frozenset({date(2024, 11, 4)}))
    assert resolve(next_day_at_eight, paris, lambda _: friday, closed_monday) == t("2024-11-05T08:00:00+01:00")


@pytest.mark.parametrize("source", ["__import__('os')", "data.__class__.x", "open('f')", "facts['x']", "lambda: 1", "x.y"])
def test_expressions_refuse_what_is_not_allowed(source):
    with pytest.raises(ExprError):
        compile_expr(source)


def test_expressions_read_missing_values_as_none_without_crashing():
    env = {"data": {"score": None}, "facts": {}}
    assert evaluate("data.score > 3", env) is False
    assert evaluate("data.nothing.deeper is None", env) is True
    assert render("{data.score}", env) is None
    assert render("score: {data.score}!", env) == "score: !"
    assert compile_expr("days_between(signed_on, start_on) > 14 and facts.ok").reads == {"signed_on", "start_on", "facts.ok"}
