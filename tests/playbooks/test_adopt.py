"""The adoption engine (``kickoff.playbooks.adopt``): an onboarding already under way in a tool
gets the playbook's state at its record's stage, its past taken as done (never emitted), and
the timers from now on; what it cannot place is said, with the reason."""

from __future__ import annotations

from datetime import date

from kickoff.calendar import Calendar
from kickoff.model import ActionKind
from kickoff.playbooks import Playbook
from kickoff.playbooks.adopt import Adoption, Running, Unplaced, adopt
from tests.playbooks.conftest import ev, t

SUBJECT = "assist:hubspot-ticket-1001"
NOW = t("2026-03-20T12:00:00+01:00")


def _running(stage: str = "onboarding_in_progress", start_on: str | None = "2026-03-04", **more: object) -> Running:
    data = {"account_name": "Nordljus Bygg AB", "signed_on": "2026-03-02", **({"start_on": start_on} if start_on else {})}
    history = [ev("contract.signed", "2026-03-02T09:00:00+01:00", data, subject=SUBJECT, id="adopt-start")]
    history += list(more.pop("extra", []))  # type: ignore[call-overload]
    return Running(subject=SUBJECT, tenant="assist", tool="hubspot", record_id="1001", record_kind="ticket",
                   label="HubSpot ticket 1001", stage=stage, history=history, records={"ticket": "1001"})


def _adopted(playbooks: dict[str, Playbook], running: Running) -> Adoption:
    found = adopt(playbooks["assist-se"], running, NOW, tz="Europe/Stockholm")
    assert isinstance(found, Adoption), found
    return found


def test_A2_A8_adopted_in_progress_ticket_keeps_its_flow_timers_from_the_day_it_moved(playbooks) -> None:
    adoption = _adopted(playbooks, _running())
    timers = {timer.key: timer.fire_at.isoformat() for timer in adoption.timers}
    # the flow started 2026-03-05 08:00 (A2: the day after the start date): call tasks on days 3, 7,
    # 14 are past; the next on day 21; A10 at day 30 and A12 at day 60 still ahead
    assert timers == {"a8_call": "2026-03-26T08:00:00+01:00", "a10_follow_up": "2026-04-04T08:00:00+02:00",
                      "a12_inactive": "2026-05-04T08:00:00+02:00"}
    assert adoption.state.stage == "onboarding_in_progress" and adoption.state.version == 0
    assert [a.at.isoformat() for a in adoption.upcoming][:1] == ["2026-03-26T08:00:00+01:00"]


def test_A1_A3_A9_past_steps_are_taken_as_done_and_nothing_before_now_is_upcoming(playbooks) -> None:
    adoption = _adopted(playbooks, _running())
    done = {(a.action.rule, str(a.action.kind)) for a in adoption.done}
    assert {("A1", "create_record"), ("A3", "add_note"), ("A2", "set_stage"), ("A9", "notify")} <= done
    assert all(a.at <= NOW for a in adoption.done) and all(a.at > NOW for a in adoption.upcoming)
    keys = {a.action.idempotency_key for a in adoption.done}
    assert not keys & {a.action.idempotency_key for a in adoption.upcoming}  # nothing of the past sent again


def test_given_the_record_is_the_playbooks_ticket_then_it_is_linked_as_that_line_and_no_task_stays_open(
        playbooks) -> None:
    adoption = _adopted(playbooks, _running())
    created = next(a.action for a in adoption.done if a.action.kind is ActionKind.CREATE_RECORD)
    assert [(x.canonical_id, x.external_id, x.object_kind) for x in adoption.links] == [
        (created.idempotency_key, "1001", "ticket")]
    assert adoption.state.created_record("ticket") == created.idempotency_key
    assert adoption.state.facts["_tasks"] == {}  # the past's call tasks were not Kickoff's to complete


def test_A11_a_ticket_parked_in_manual_follow_up_is_adopted_paused_with_no_flow(playbooks) -> None:
    paused = ev("onboarding.paused", "2026-03-15T10:00:00+01:00", {"reason": "in manual_follow_up"}, subject=SUBJECT)
    adoption = _adopted(playbooks, _running("manual_follow_up", extra=[paused]))
    assert adoption.state.stage == "manual_follow_up" and adoption.state.status == "paused"
    assert adoption.timers == [] and adoption.upcoming == []


def test_given_the_record_stands_elsewhere_than_the_playbook_alone_would_then_the_record_wins(playbooks) -> None:
    adoption = _adopted(playbooks, _running("follow_up"))
    assert adoption.state.stage == "follow_up"
    assert any("the record is at follow_up" in note for note in adoption.notes)


def test_given_a_terminal_stage_or_no_start_then_the_record_is_unplaced_with_the_reason(playbooks) -> None:
    closed = adopt(playbooks["assist-se"], _running("closed"), NOW)
    assert isinstance(closed, Unplaced) and "ends" in closed.reason
    later = Running(**{**_running().__dict__, "history": [ev("contract.signed", "2026-04-01T09:00:00+02:00",
                                                                {"account_name": "X", "signed_on": "2026-04-01"},
                                                                subject=SUBJECT)]})
    unstarted = adopt(playbooks["assist-se"], later, NOW)
    assert isinstance(unstarted, Unplaced) and "no start before now" in unstarted.reason
    wrong = Running(**{**_running().__dict__, "history": [ev("payment.confirmed", "2026-03-02T09:00:00+01:00",
                                                             {"account_name": "X"}, subject=SUBJECT)]})
    refused = adopt(playbooks["assist-se"], wrong, NOW)
    assert isinstance(refused, Unplaced) and "start no assist-se onboarding" in refused.reason


def test_A6_A7_a_task_a_rule_waits_for_is_taken_as_done_so_what_follows_it_is_past_too(playbooks) -> None:
    """The pre-onboarding task (A6) of an onboarding adopted in progress was not Kickoff's: no
    completion of it can come, so it is taken as done by its due time and A7's call to the main
    user, which follows it, is a step of the past as well."""
    adoption = _adopted(playbooks, _running())
    done = [(a.action.rule, str(a.action.kind), a.at.isoformat()) for a in adoption.done]
    assert ("A7", "create_task", "2026-03-05T08:00:00+01:00") in done  # at the move, as in a run
    assert adoption.state.facts["pre_onboarding_done"] and adoption.state.facts["main_user_called"]
    assert adoption.state.facts["_tasks"] == {} and adoption.state.cycle == 1  # its first cycle to Kickoff
    assert any("pre_onboarding" in note for note in adoption.notes)
    assert not [a for a in adoption.upcoming if a.action.rule in ("A6", "A7")]


def test_given_the_tenants_calendar_then_the_adopted_timers_count_its_business_days(playbooks) -> None:
    plain = _adopted(playbooks, _running())
    closed = adopt(playbooks["assist-se"], _running(), NOW, tz="Europe/Stockholm",
                   calendar=Calendar(country="SE", categories=["public", "de_facto"], closed_days=[date(2026, 4, 8)]))
    assert isinstance(closed, Adoption)

    def a10_emails(adoption: Adoption) -> list[str]:
        return [a.at.date().isoformat() for a in adoption.upcoming if a.action.rule == "A10" and a.action.kind == "notify"]

    assert a10_emails(plain) and a10_emails(closed) != a10_emails(plain)  # one day the team does not work
