"""A customer who comes back, end to end: the sandbox, the gateway (the vendors' signed
webhooks) and the flow steps called directly (no Prefect server), on the demo's virtual clock.

The second cycle's writes must land on the second cycle's records and nothing of the first
may drive it: a retention account's second case (a new red alert on a new Zendesk ticket,
months after the first case was closed saved) and an Assist customer's second contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.demo.clock import Act
from flows.demo.main import Played, played
from flows.demo.procedures import Procedure, local
from flows.runtime import Runtime
from sandbox.control import SandboxControl

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
Do = Callable[[SandboxControl, Runtime], None]

# --- retention: two cases of one account ---------------------------------------------------
PARIS = "Europe/Paris"
REQUESTER = "accueil@salon-exemple.example.com"
CASE_FIELD, AM, ALERTS_CHANNEL = 360000101, 9100001, "C0RETENTION1"
FIRST_ALERT = local(PARIS, date(2026, 3, 3), 10)
FIRST_MEETING = local(PARIS, date(2026, 3, 5), 10)
FIRST_SAVED = local(PARIS, date(2026, 3, 12), 10)
HIGH_NPS = local(PARIS, date(2026, 6, 9), 10)          # a happy customer, the case long closed
SECOND_ALERT = local(PARIS, date(2026, 9, 8), 10)      # six months later
SECOND_MEETING = local(PARIS, date(2026, 9, 10), 10)
TASK_DONE_AFTER = timedelta(minutes=10)


def retention(memo: dict[str, Any]) -> Procedure:
    def red_alert(n: int, competitor_day: date) -> Do:
        def do(control: SandboxControl, rt: Runtime) -> None:
            if n == 2:  # the first case's ticket as it was left when that case was closed
                memo["first_before"] = (ticket(control, 1, memo), control.get("zendesk", "records/comments")[
                    str(memo["ticket_1"])])
            created = control.act("zendesk", "tickets", requester_email=REQUESTER, subject=f"Red alert {n}",
                                  tags=["red_alert"], comment={"body": "Un RDV chez un concurrent."},
                                  custom_fields=[{"id": 360000102, "value": "Agenda Concurrent SA"},
                                                 {"id": 360000103, "value": competitor_day.isoformat()}])
            memo[f"ticket_{n}"] = created["id"]
        return do

    def meeting_set(n: int) -> Do:
        return lambda control, rt: control.act("zendesk", f"tickets/{memo[f'ticket_{n}']}", method="PUT",
                                               additional_tags=["meeting_set"])

    def task_done(control: SandboxControl, rt: Runtime) -> None:
        [task] = [t for t in control.get("asana", "records/tasks") if t.get("name") == "red alert"
                  and not t.get("completed")]
        control.act("asana", f"tasks/{task['gid']}/complete")

    def high_nps(control: SandboxControl, rt: Runtime) -> None:
        memo["nps_ticket"] = control.act("zendesk", "tickets", requester_email=REQUESTER, subject="NPS",
                                         tags=["nps", "nps_score_9"], comment={"body": "Très satisfaite"})["id"]

    def after_nps(control: SandboxControl, rt: Runtime) -> None:
        memo["after_nps"] = rt.ledger.load_state(f"retention:requester-{ticket(control, 1, memo)['requester_id']}")

    def saved(control: SandboxControl, rt: Runtime) -> None:
        control.act("zendesk", f"tickets/{memo['ticket_1']}", method="PUT",
                    custom_fields=[{"id": CASE_FIELD, "value": "saved"}])

    acts = [
        Act(FIRST_ALERT, "retention", "Zendesk: a red alert (first case)", red_alert(1, date(2026, 3, 17))),
        Act(FIRST_MEETING, "retention", "Zendesk: the intern sets a meeting (tag)", meeting_set(1)),
        Act(FIRST_MEETING + TASK_DONE_AFTER, "retention", "Asana: the red alert task done", task_done),
        Act(FIRST_SAVED, "retention", "Zendesk: the AM marks the case saved", saved),
        Act(HIGH_NPS, "retention", "Zendesk: an NPS of 9 (high)", high_nps),
        Act(HIGH_NPS + timedelta(hours=1), "retention", "(the account as the NPS left it)", after_nps),
        Act(SECOND_ALERT, "retention", "Zendesk: a new red alert on a new ticket", red_alert(2, date(2026, 9, 22))),
        Act(SECOND_MEETING, "retention", "Zendesk: the intern sets a meeting (tag)", meeting_set(2)),
        Act(SECOND_MEETING + TASK_DONE_AFTER, "retention", "Asana: the new red alert task done", task_done),
    ]
    return Procedure("retention", "W", "an account's two cases", PARIS, acts, [], memo)


def ticket(reader: SandboxControl, n: int, memo: dict[str, Any] | None = None) -> dict[str, Any]:
    wanted = (memo or MEMO["retention"])[f"ticket_{n}"]
    return next(t for t in reader.get("zendesk", "records/tickets") if t["id"] == wanted)


# --- assist: two contracts of one customer --------------------------------------------------
STOCKHOLM = "Europe/Stockholm"
CUSTOMER, ORG = "Fjällripa Bygg AB", "556123-0007"
PRE_ONBOARDING = "Pre-onboarding in the customer's account"
FIRST_SIGNED = local(STOCKHOLM, date(2026, 3, 2), 10)      # start 03-04, moved 03-05 08:00
FIRST_PRE_ONBOARDED = local(STOCKHOLM, date(2026, 3, 4), 15)
FIRST_BOOKED = local(STOCKHOLM, date(2026, 3, 13), 10)
SECOND_SIGNED = local(STOCKHOLM, date(2026, 10, 5), 10)    # start 10-07, moved 10-08 08:00
SECOND_PRE_ONBOARDED = local(STOCKHOLM, date(2026, 10, 7), 15)
SECOND_MOVED = local(STOCKHOLM, date(2026, 10, 8), 8)
STAGES = {"closed": "84561206", "onboarding_in_progress": "84561202", "new": "84561201"}


def assist(memo: dict[str, Any]) -> Procedure:
    def sign(n: int, start: date, main_user: str) -> Do:
        def do(control: SandboxControl, rt: Runtime) -> None:
            if n == 2:
                memo["first_before"] = hs_tickets(control)
            document = {
                "id": f"DB-CYCLE-{n}", "title": "Assist avtal",
                "Parties": [{"role": "seller", "companyName": "Assist AB", "contacts": []},
                            {"role": "customer", "companyName": CUSTOMER, "organizationNumber": ORG,
                             "contacts": [{"role": "main_user", "name": main_user,
                                           "email": f"{main_user.split()[0].lower()}@fjallripa.example.com"}]}],
                "customFields": [{"name": "licences", "value": "10"},
                                 {"name": "delivery_start", "value": start.isoformat()}],
            }
            control.act("dealbuilder", "documents", **document)
            control.act("dealbuilder", f"documents/{document['id']}/accept")
        return do

    def pre_onboarding_done(control: SandboxControl, rt: Runtime) -> None:
        [task] = [t for t in control.get("hubspot", "records/tasks")
                  if t["properties"].get("hs_task_subject") == PRE_ONBOARDING
                  and t["properties"].get("hs_task_status") != "COMPLETED"]
        control.act("hubspot", f"tasks/{task['id']}", method="PATCH", properties={"hs_task_status": "COMPLETED"})

    def book(control: SandboxControl, rt: Runtime) -> None:
        [first] = hs_tickets(control)
        starts = (FIRST_BOOKED + timedelta(days=4)).isoformat()
        control.act("hubspot", "meetings", ticket_id=first["id"], properties={
            "hs_meeting_title": "Uppstartsmöte", "hs_timestamp": starts, "hs_meeting_start_time": starts})

    acts = [
        Act(FIRST_SIGNED, "assist", "Dealbuilder: the first contract", sign(1, date(2026, 3, 4), "Alva Exempel")),
        Act(FIRST_PRE_ONBOARDED, "assist", "HubSpot: pre-onboarding done", pre_onboarding_done, poll=("hubspot",)),
        Act(FIRST_BOOKED, "assist", "HubSpot: the kick-off booked", book),
        Act(SECOND_SIGNED, "assist", "Dealbuilder: a second contract, months later",
            sign(2, date(2026, 10, 7), "Berit Exempel")),
        Act(SECOND_PRE_ONBOARDED, "assist", "HubSpot: the new pre-onboarding done", pre_onboarding_done,
            poll=("hubspot",)),
    ]
    return Procedure("assist", "A", "a customer's two contracts", STOCKHOLM, acts, [], memo)


def hs_tickets(reader: SandboxControl) -> list[dict[str, Any]]:
    """The customer's SE tickets, oldest first."""
    return sorted((t for t in reader.get("hubspot", "records/tickets")
                   if str(t["properties"].get("subject", "")).endswith(CUSTOMER)), key=lambda t: int(t["id"]))


def on_ticket(reader: SandboxControl, kind: str, ticket_id: str) -> list[dict[str, Any]]:
    return [r for r in reader.get("hubspot", f"records/{kind}")
            if any(a["toObjectType"] == "tickets" and str(a["toObjectId"]) == str(ticket_id)
                   for a in r.get("associations", []))]


MEMO: dict[str, dict[str, Any]] = {"retention": {}, "assist": {}}


@pytest.fixture(scope="module")
def game(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    patch = pytest.MonkeyPatch()
    patch.delenv("PREFECT_API_URL", raising=False)
    patch.setenv("KICKOFF_CONFIG_DIR", str(REPO / "config"))
    procedures = [retention(MEMO["retention"]), assist(MEMO["assist"])]
    try:
        with played(tmp_path_factory.mktemp("cycles"), days=225, use_prefect=False, out=lambda line: None,
                    procedures=procedures) as world:
            yield world
    finally:
        patch.undo()


def test_W1_a_second_case_writes_on_its_own_ticket_and_leaves_the_first_as_it_was(game: Played) -> None:
    control, rt, memo = game.control, game.rt, MEMO["retention"]
    first, second = ticket(control, 1), ticket(control, 2)
    account = f"retention:requester-{second['requester_id']}"
    assert first["requester_id"] == second["requester_id"]

    before, comments_before = memo["first_before"]
    assert (before["status"], before["assignee_id"]) == ("solved", AM)  # the first case, closed saved
    assert first == before  # nothing of the second case was written on the first case's ticket
    assert control.get("zendesk", "records/comments")[str(first["id"])] == comments_before

    case_stage = {f["id"]: f["value"] for f in second["custom_fields"]}.get(CASE_FIELD)
    assert (second["status"], second["assignee_id"], case_stage) == ("open", AM, "in_progress")
    notes = [c["body"] for c in control.get("zendesk", "records/comments")[str(second["id"])] if not c["public"]]
    assert notes == ["Red alert: appointment with Agenda Concurrent SA on 2026-09-22."]  # W3, on its ticket

    state = rt.ledger.load_state(account)
    assert (state.cycle, state.stage, str(state.status), state.owner) == (2, "in_progress", "active", "am")
    assert rt.ledger.canonical_for("zendesk", str(second["id"])) == f"{account}#2"
    assert rt.ledger.dead_letters() == []


def test_W1_the_new_task_done_posts_one_check_mark_for_the_new_meeting(game: Played) -> None:
    control, rt = game.control, game.rt
    texts = [m.get("text") for m in control.get("slack", "messages") if m.get("channel") == ALERTS_CHANNEL]
    account = f"retention:requester-{ticket(control, 2)['requester_id']}"
    assert [t for t in texts if ":white_check_mark:" in str(t)] == [f":white_check_mark: {account}: meeting set"] * 2
    assert not [t for t in texts if "already set" in str(t)]  # W5: the first case's meeting is not this one's
    posted = sorted(r["updated_at"] for r in rt.ledger.outbox_rows([account])
                    if r["rule"] == "W1" and r["tool"] == "slack" and r["status"] == "done")
    assert posted == [FIRST_MEETING + TASK_DONE_AFTER, SECOND_MEETING + TASK_DONE_AFTER]
    requests = [t for t in control.get("asana", "records/tasks") if str(t.get("name")).startswith("Retention alert")]
    assert len(requests) == 2  # one request per case on the board


def test_W4_a_high_nps_months_after_the_case_was_saved_opens_no_case(game: Played) -> None:
    """W4: only medium and low get a follow-up: a high NPS opens no case nothing would close."""
    memo = MEMO["retention"]
    state = memo["after_nps"]
    assert (state.cycle, state.stage, str(state.status), state.facts["nps_band"]) == (1, "closed", "completed",
                                                                                      "high")
    assert game.rt.ledger.canonical_for("zendesk", str(memo["nps_ticket"])) is None  # no case's ticket
    nps = next(t for t in game.control.get("zendesk", "records/tickets") if t["id"] == memo["nps_ticket"])
    assert [c for c in game.control.get("zendesk", "records/comments")[str(nps["id"])] if not c["public"]] == []


def test_A1_a_second_contract_gets_its_own_ticket_and_calls_and_leaves_the_first_as_it_was(game: Played) -> None:
    control, rt = game.control, game.rt
    first, second = hs_tickets(control)
    [before] = game.procedures[1].memo["first_before"]
    assert first == before  # the first contract's closed ticket is not touched by the second
    assert first["properties"]["hs_pipeline_stage"] == STAGES["closed"]
    assert second["properties"]["hs_pipeline_stage"] == STAGES["onboarding_in_progress"]

    def calls(ticket_id: str) -> list[tuple[str, datetime]]:
        return sorted((t["properties"]["hs_task_subject"], datetime.fromisoformat(t["properties"]["hs_timestamp"]))
                      for t in on_ticket(control, "tasks", ticket_id)
                      if t["properties"].get("hs_task_subject", "").startswith("Call the main user: welcome"))

    first_calls, second_calls = calls(first["id"]), calls(second["id"])
    assert len(first_calls) == 1  # A7 of the first contract, on its own ticket
    assert [due for _, due in second_calls] == [SECOND_MOVED + timedelta(hours=9)]  # A7: 17:00 on the move
    assert all(due < SECOND_SIGNED for _, due in first_calls)
    states = [rt.ledger.load_state(f"assist:DB-CYCLE-{n}") for n in (1, 2)]
    assert [(str(s.status), s.stage) for s in states] == [("completed", "closed"), ("active", "onboarding_in_progress")]
    assert rt.ledger.dead_letters() == []
