"""Rules T1-T11 (seed 001, marketplace classic onboarding) on the marketplace-classic playbook."""

from __future__ import annotations

import pytest

from kickoff.playbooks import decide
from tests.playbooks.conftest import Done, acts, ev, run, t, when

SIGNED_AT = "2024-05-02T11:00:00+02:00"  # a Thursday
CONTRACT = {
    "account_name": "Institut Exemple",
    "signed_on": "2024-05-02",
    "start_on": "2024-05-13",
    "self_onboarding": False,
    "plan": "Advanced",
}
FULL_RECAP = "\n".join(f"{n}. point {n}: Oui" for n in range(1, 16))


@pytest.fixture()
def pb(playbooks):
    return playbooks["marketplace-classic"]


def signed(**changes):
    return ev("contract.signed", SIGNED_AT, {**CONTRACT, **changes})


def online(at="2024-05-12T16:00:00+02:00"):
    return ev("partner.online", at, {"online_on": at[:10]})


def trained():
    """The AM marks both To train calls done in Salesforce, then the partner is online."""
    return [Done("first_call", "2024-05-03T10:00:00+02:00"), Done("call_after_webinar", "2024-05-10T17:00:00+02:00"),
            online()]


def test_T1_classic_onboarding_books_the_149_eur_setup_fee(pb):
    decision = decide(None, signed(), t(SIGNED_AT), pb)
    [fee] = [a for a in decision.actions if a.rule == "T1"]
    assert (fee.tool, fee.kind) == ("salesforce", "create_record")
    assert fee.payload == {
        "object": "order_line",
        "fields": {"product": "classic_onboarding_setup_fee", "amount": 149, "currency": "EUR"},
    }


@pytest.mark.parametrize(("self_onboarding", "starts"), [(False, True), (True, False), (None, False)])
def test_T2_only_an_unticked_self_onboarding_starts_classic(pb, self_onboarding, starts):
    decision = decide(None, signed(self_onboarding=self_onboarding), t(SIGNED_AT), pb)
    assert (decision is not None) is starts
    if starts:
        assert decision.state.facts["plan"] == "Advanced"
        assert [a.kind for a in decision.actions if a.rule == "T2"] == ["add_note"]


def test_T3_refuses_a_start_date_more_than_14_days_after_signature(pb):
    decision = decide(None, signed(start_on="2024-05-17"), t(SIGNED_AT), pb)  # 15 days
    [task] = [a for a in decision.actions if a.rule == "T3"]
    assert task.kind == "create_task" and task.payload["owner"] == "sales"
    assert task.payload["subject"].startswith("Starting Date refused: 2024-05-17")
    assert task.payload["due_at"] == "2024-05-03T11:00:00+02:00"
    assert not [a for a in decision.actions if a.rule in ("T4", "T10")]
    assert {tm.key for tm in decision.set_timers}.isdisjoint({"t5_go_live", "t10_visible"})
    assert decision.state.go_live_on is None


def test_T3_accepts_exactly_14_days(pb):
    decision = decide(None, signed(start_on="2024-05-16"), t(SIGNED_AT), pb)
    assert not [a for a in decision.actions if a.rule == "T3"]
    assert decision.state.facts["sd_ok"] is True


def test_T3_refuses_a_start_date_before_signature_or_missing(pb):
    for start in ("2024-05-01", None):
        decision = decide(None, signed(start_on=start), t(SIGNED_AT), pb)
        assert [a.kind for a in decision.actions if a.rule == "T3"] == ["create_task"]


def test_T4_webinar_registration_for_three_days_before_the_start_date(pb):
    decision = decide(None, signed(), t(SIGNED_AT), pb)
    [task] = [a for a in decision.actions if a.rule == "T4"]
    assert task.payload["fields"] == {"webinar_on": "2024-05-10"}
    assert "webinar on 2024-05-10" in task.payload["subject"]
    assert task.payload["due_at"] == "2024-05-03T11:00:00+02:00"  # next working day, before the webinar


def test_T4_due_before_the_webinar_when_it_is_close(pb):
    decision = decide(None, signed(start_on="2024-05-06"), t(SIGNED_AT), pb)  # webinar Fri 3 May
    [task] = [a for a in decision.actions if a.rule == "T4"]
    assert task.payload["due_at"] == "2024-05-02T12:00:00+02:00"


def test_T5_start_date_is_go_live_and_billing_start(pb):
    result = run(pb, [signed()], until="2024-05-14T00:00:00+02:00")
    assert result.states["ob-1"].go_live_on.isoformat() == "2024-05-13"
    [billing] = acts(result, "T5", "notify")
    assert billing.at == t("2024-05-13T08:00:00+02:00")
    assert billing.action.payload["to"] == ["billing"]


def test_T6_team_leader_rule_assigns_am_training_and_to_train_case(pb):
    decision = decide(None, signed(), t(SIGNED_AT), pb)
    t6 = [a for a in decision.actions if a.rule == "T6"]
    assert [(a.kind, a.payload.get("owner") or a.payload.get("stage") or a.payload.get("object")) for a in t6] == [
        ("assign_owner", "am"), ("set_stage", "training"), ("create_record", "case"),
    ]
    assert t6[2].payload["fields"] == {"subject": "To train", "owner": "am", "status": "new"}
    assert decision.state.stage == "training" and decision.state.owner == "am"


def test_T7_to_train_calls_webinar_and_completed_once_online(pb):
    result = run(pb, [signed(), *trained()], until="2024-05-12T17:00:00+02:00")
    to_train_key = acts(result, "T6", "create_record")[0].action.idempotency_key
    tasks = acts(result, "T7", "create_task")
    assert [(a.action.payload["due_at"], a.action.payload["target"]) for a in tasks] == [
        ("2024-05-03T11:00:00+02:00", to_train_key),  # first call, next working day
        ("2024-05-10T09:00:00+02:00", to_train_key),  # attends the webinar
        ("2024-05-11T18:00:00+02:00", to_train_key),  # call after the webinar: same or next day
    ]
    [completed] = acts(result, "T7", "set_stage")[:1]
    assert completed.action.payload == {"stage": "completed", "target": to_train_key}
    assert completed.at == t("2024-05-12T16:00:00+02:00")
    assert result.states["ob-1"].stage == "check_usage"
    # the call after the webinar marked done: the webinar is behind, its task is completed
    [attended] = acts(result, "T7", "complete_task")
    assert attended.action.payload == {"task_key": tasks[1].action.idempotency_key}


def test_T7_online_before_the_calls_are_done_waits_for_them(pb):
    # "Une fois le partenaire en ligne, on peut 'complete' la case 'To train'", the case the AM
    # completes "en passant un premier call" and with "un call ... après le webinar"
    events = [signed(), Done("first_call", "2024-05-03T10:00:00+02:00"), online(),
              Done("call_after_webinar", "2024-05-13T09:30:00+02:00")]
    result = run(pb, events, until="2024-05-14T00:00:00+02:00")
    [reminder] = [a for a in acts(result, "T7", "create_task") if a.at == t("2024-05-12T16:00:00+02:00")]
    assert reminder.action.payload["subject"].startswith("The partner is online: mark the To train calls done")
    [completed] = [a for a in acts(result, "T7", "set_stage") if a.action.payload.get("target")]
    assert completed.at == t("2024-05-13T09:30:00+02:00")
    assert result.states["ob-1"].stage == "check_usage"
    not_yet = run(pb, events[:3], until="2024-05-14T00:00:00+02:00")
    assert not_yet.states["ob-1"].stage == "training" and acts(not_yet, "T8") == []


def test_T4_registration_done_is_noted_on_to_train(pb):
    result = run(pb, [signed(), Done("register_webinar", "2024-05-03T09:00:00+02:00")], until="2024-05-11T00:00:00+02:00")
    to_train_key = acts(result, "T6", "create_record")[0].action.idempotency_key
    notes = [a.action.payload for a in acts(result, "T4", "add_note")]
    assert notes == [{"body": "Registered for the training webinar on 2024-05-10: the partner must attend it.",
                      "mentions": [], "target": to_train_key}]
    assert [a.action.kind for a in acts(result, "T4")] == ["create_task", "add_note"]  # no alarm on the day


def test_T4_not_registered_on_the_webinars_morning_tells_sales(pb):
    result = run(pb, [signed()], until="2024-05-11T00:00:00+02:00")
    [late] = [a for a in acts(result, "T4", "create_task") if a.at == t("2024-05-10T08:00:00+02:00")]
    assert late.action.payload["owner"] == "sales" and late.action.payload["priority"] == "high"
    assert late.action.payload["subject"].startswith("The partner is not registered for today's webinar")


def test_T2_a_partner_who_comes_back_is_onboarded_again(pb):
    """Two cycles: activated in May 2024 (the To train and Enable Marketplace cases), a new
    classic contract in 2025 is a new fee, Starting Date check, webinar, calls and To train case."""
    good = ev("usage.reported", "2024-05-20T09:00:00+02:00",
              {"appointments": 12, "cash_register_used": True, "pss": True, "stripe_kyc": True})
    asked = ev("case.updated", "2024-05-22T10:00:00+02:00",
               {"case": "enable_marketplace", "status": "validation_requested", "description": FULL_RECAP})
    completed = ev("case.updated", "2024-05-23T10:00:00+02:00", {"case": "enable_marketplace", "status": "completed"})
    again_at = "2025-02-03T10:00:00+01:00"  # a Monday
    again = ev("contract.signed", again_at, {**CONTRACT, "signed_on": "2025-02-03", "start_on": "2025-02-14",
                                              "plan": "Essential"})
    self_onboarded = ev("contract.signed", "2025-01-06T10:00:00+01:00",
                        {**CONTRACT, "signed_on": "2025-01-06", "start_on": "2025-01-10", "self_onboarding": True})
    result = run(pb, [signed(), *trained(), good, asked, completed, self_onboarded, again],
                 until="2025-02-04T00:00:00+01:00")
    second = [a for a in result.actions if a.at >= t("2025-01-01T00:00:00+01:00")]
    assert [(a.action.rule, a.action.kind) for a in second] == [
        ("T2", "add_note"), ("T1", "create_record"),  # a self-onboarding contract started nothing
        ("T4", "create_task"), ("T6", "assign_owner"), ("T6", "set_stage"), ("T6", "create_record"),
        ("T7", "create_task"), ("T7", "create_task"), ("T7", "create_task"), ("T10", "create_task"),
    ]
    assert all(a.at == t(again_at) for a in second)
    assert second[2].action.payload["fields"] == {"webinar_on": "2025-02-11"}
    assert second[5].action.payload["fields"]["subject"] == "To train"
    state = result.states["ob-1"]
    assert (state.stage, state.status, state.owner, state.facts["plan"], state.facts["online"]) == (
        "training", "active", "am", "Essential", False)
    assert state.facts["_cycle"]["n"] == 2


def test_T8_enable_marketplace_case_and_usage_criteria(pb):
    short = ev("usage.reported", "2024-05-20T09:00:00+02:00",
               {"appointments": 8, "cash_register_used": False, "pss": True, "stripe_kyc": True})
    again = ev("usage.reported", "2024-05-21T09:00:00+02:00",
               {"appointments": 9, "cash_register_used": False, "pss": True, "stripe_kyc": True})
    result = run(pb, [signed(), *trained(), short, again], until="2024-05-22T00:00:00+02:00")
    [case] = acts(result, "T8", "create_record")
    assert case.action.payload["fields"]["subject"] == "Enable Marketplace"
    tasks = acts(result, "T8", "create_task")
    assert tasks[0].action.payload["subject"] == (
        "Enable Marketplace: criteria not met yet: agenda: at least 10 appointments, "
        "cash register used (Advanced/Global plan)"
    )
    assert tasks[0].action.payload["target"] == case.action.idempotency_key
    assert tasks[0].action.idempotency_key == tasks[1].action.idempotency_key  # one task, the ledger drops the rest


def test_T8_criteria_met_is_noted(pb):
    good = ev("usage.reported", "2024-05-20T09:00:00+02:00",
              {"appointments": 12, "cash_register_used": True, "pss": True, "stripe_kyc": True})
    result = run(pb, [signed(), *trained(), good], until="2024-05-21T00:00:00+02:00")
    assert [a.action.kind for a in acts(result, "T8")] == ["create_record", "add_note"]
    assert result.states["ob-1"].facts["usage_ok"] is True


def test_T9_recap_checklist_must_have_all_15_points(pb):
    recap = FULL_RECAP.replace("7. point 7: Oui", "7. point 7:").replace("12. point 12: Oui", "12. point 12: ")
    asked = ev("case.updated", "2024-05-22T10:00:00+02:00",
               {"case": "enable_marketplace", "status": "validation_requested", "description": recap})
    result = run(pb, [signed(), *trained(), asked], until="2024-05-23T00:00:00+02:00")
    [task] = acts(result, "T9", "create_task")
    assert task.action.payload["subject"].endswith("points 7, 12 are empty")
    assert acts(result, "T11") == []


def test_T10_publish_task_and_visibility_check_on_the_agreed_date(pb):
    result = run(pb, [signed()], until="2024-05-14T00:00:00+02:00")
    [publish] = acts(result, "T10", "create_task")[:1]
    assert publish.action.payload["due_at"] == "2024-05-13T09:00:00+02:00"
    late = acts(result, "T10")[1:]
    assert [(a.at.isoformat(), a.action.kind) for a in late] == [
        ("2024-05-13T12:00:00+02:00", "create_task"),
        ("2024-05-13T12:00:00+02:00", "notify"),
    ]
    assert late[1].action.payload["to"] == ["team_leader"]


def test_T10_online_in_time_completes_publish_and_passes(pb):
    result = run(pb, [signed(), online()], until="2024-05-14T00:00:00+02:00")
    publish_key = acts(result, "T10", "create_task")[0].action.idempotency_key
    [done] = acts(result, "T10", "complete_task")
    assert done.action.payload == {"task_key": publish_key}
    assert [a.action.kind for a in acts(result, "T10")] == ["create_task", "complete_task", "add_note"]


def test_T11_team_leader_completes_enable_marketplace_account_active(pb):
    good = ev("usage.reported", "2024-05-20T09:00:00+02:00",
              {"appointments": 12, "cash_register_used": True, "pss": True, "stripe_kyc": True})
    asked = ev("case.updated", "2024-05-22T10:00:00+02:00",
               {"case": "enable_marketplace", "status": "validation_requested", "description": FULL_RECAP})
    completed = ev("case.updated", "2024-05-23T10:00:00+02:00", {"case": "enable_marketplace", "status": "completed"})
    result = run(pb, [signed(), *trained(), good, asked, completed])
    enable_key = acts(result, "T8", "create_record")[0].action.idempotency_key
    t11 = [a.action.payload for a in acts(result, "T11")]
    assert t11 == [
        {"owner": "team_leader", "target": enable_key},
        {"stage": "completed", "target": enable_key},
        {"stage": "active"},
        {"owner": "account_owner"},
    ]
    state = result.states["ob-1"]
    assert (state.stage, state.owner, state.status) == ("active", "account_owner", "completed")
    assert when(acts(result, "T11"))[0] == "2024-05-22T10:00:00+02:00"
