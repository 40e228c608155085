"""``kickoff demo`` on its fast path (the flows called directly, no Prefect server): the same
acts through the vendors' front doors, the same virtual clock, the same checks read back
from the sandbox. Every check must pass; and every check must fail when the rule it claims
is broken.

The demo is played once for the module. Each rule is then broken by changing one reading of
that world (the real sandbox and ledger, read over HTTP and SQL) to what it would be had the
rule not run, or run wrong: the ticket still with the owner the portal's workflow gave it,
a reminder sent an hour late, a task in the wrong column. The check must then say no.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.demo.main import Played, played, report, run_demo
from flows.demo.procedures import Check, World, all_procedures
from kickoff.model import Onboarding

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
Rows = list[dict[str, Any]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    patch = pytest.MonkeyPatch()
    patch.delenv("PREFECT_API_URL", raising=False)  # the fast path: no Prefect, in-process limits
    patch.setenv("KICKOFF_CONFIG_DIR", str(REPO / "config"))
    try:
        with played(tmp_path_factory.mktemp("demo"), days=60, use_prefect=False, out=lambda line: None) as game:
            yield game
    finally:
        patch.undo()


def test_the_demo_plays_the_five_procedures_and_every_check_passes(demo: Played) -> None:
    lines: list[str] = []

    passed = report(demo, lines.append)

    output = "\n".join(lines)
    failed = [line for line in lines if line.lstrip().startswith("✗")]
    assert passed, f"failed checks: {failed}\n{output[-4000:]}"
    total = sum(len(p.checks) for p in all_procedures())
    assert f"{total}/{total} checks passed" in output
    for family in ("A", "T", "W", "M", "E"):
        assert f"== {family} · " in output  # a timeline per procedure
    assert "DEAD" not in output  # no action ended as a dead letter


def test_each_procedure_starts_from_acts_and_has_checks() -> None:
    procedures = all_procedures()
    assert [p.key for p in procedures] == ["assist", "marketplace", "retention", "core", "network"]
    for procedure in procedures:
        assert procedure.acts and procedure.checks
        assert all(act.procedure == procedure.key and act.at.tzinfo is not None for act in procedure.acts)


def test_a_demo_with_nothing_to_play_exits_non_zero(tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_demo(tmp_path, procedures=[], use_prefect=False, out=lines.append) == 1
    assert "nothing to play" in lines[-1]


# --- breaking each rule -------------------------------------------------------------------
@dataclass
class Break:
    """One rule broken: ``check`` must fail when the world reads as ``why`` says."""

    check: str
    why: str
    records: dict[tuple[str, str], Callable[[Any], Any]] = field(default_factory=dict)
    mails: Callable[[Rows], Rows] | None = None
    outbox: Callable[[Rows], Rows] | None = None
    state: Callable[[Onboarding], Onboarding] | None = None


@dataclass
class Broken(World):
    """The played world with the readings of one ``Break`` changed."""

    broken: Break | None = None

    def get(self, vendor: str, path: str, **params: Any) -> Any:
        value = super().get(vendor, path, **params)
        for (name, prefix), change in (self.broken.records if self.broken else {}).items():
            if name == vendor and path.startswith(prefix):
                value = change(copy.deepcopy(value))
        return value

    def mails(self) -> Rows:
        return self._changed(super().mails(), self.broken.mails if self.broken else None)

    def outbox(self) -> Rows:
        return self._changed(super().outbox(), self.broken.outbox if self.broken else None)

    def state(self, onboarding: str) -> Onboarding | None:
        found = super().state(onboarding)
        change = self.broken.state if self.broken else None
        return change(found.model_copy(deep=True)) if found is not None and change else found

    @staticmethod
    def _changed(rows: Rows, change: Callable[[Rows], Rows] | None) -> Rows:
        return change(copy.deepcopy(rows)) if change else rows


Match = Callable[[dict[str, Any]], bool]


def edit(match: Match, change: Callable[[dict[str, Any]], None]) -> Callable[[Any], Any]:
    """Records (or a single record) with ``change`` applied to those that ``match``."""
    def apply(value: Any) -> Any:
        for record in value if isinstance(value, list) else [value]:
            if match(record):
                change(record)
        return value
    return apply


def setting(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda record: record.update(fields)


def props(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda record: record["properties"].update(fields)


def drop(match: Match) -> Callable[[Rows], Rows]:
    return lambda rows: [r for r in rows if not match(r)]


def shift(match: Match, delta: timedelta) -> Callable[[Rows], Rows]:
    """Kickoff's matching writes done ``delta`` later (earlier if negative)."""
    return edit(match, lambda row: row.update(updated_at=row["updated_at"] + delta))


def row(rule: str, tool: str | None = None, kind: str | None = None, says: str = "") -> Match:
    return lambda r: (r["rule"] == rule and tool in (None, r["tool"]) and kind in (None, r["kind"])
                      and says in str(r["payload"]))


def subject(text: str, key: str = "subject") -> Match:
    return lambda r: text in str(r.get(key) or (r.get("properties") or {}).get(key) or "")


def to(address: str, title: str = "") -> Match:
    return lambda m: address in " ".join(m["rcpt_tos"]) and m["subject"].startswith(title)


def a_late_reminder(mails: Rows, outbox: Rows) -> tuple[Rows, Rows]:
    """A booking reminder e-mailed to the customer three days after the booking."""
    booked = next(r["updated_at"] for r in outbox if r["rule"] == "A13" and r["tool"] == "email")
    mail = next(m for m in mails if m["subject"].startswith("Boka ert uppstartsmöte"))
    late = {**mail, "message_id": "<late@example.com>"}
    return [*mails, late], [*outbox, {**outbox[0], "onboarding_id": "assist:DB-2026-0042", "rule": "A9",
                                      "tool": "email", "kind": "notify", "status": "done",
                                      "external_id": late["message_id"], "updated_at": booked + timedelta(days=3)}]


def a_timer_left(state: Onboarding) -> Onboarding:
    state.facts.setdefault("_timers", {})["a8_call"] = {"fire_at": "2026-04-01T06:00:00+00:00", "rule": "A8"}
    return state


HOUR, DAY = timedelta(hours=1), timedelta(days=1)
SE = subject("Lövberg Bygg AB")
CALL = subject("no kick-off booked yet", "hs_task_subject")
AM, SALES = "0055g00000001oxAAA", "0055g00000001ovAAA"
HS_TICKETS, HS_TASKS = ("hubspot", "records/tickets"), ("hubspot", "records/tasks")
SF_TASKS, SF_CASES = ("salesforce", "records/Task"), ("salesforce", "records/Case")
ASANA = ("asana", "records/tasks")
MV_TICKET = ("movidesk", "tickets/")


def first_call_task_due_later(tasks: Rows) -> Rows:
    calls = sorted((t for t in tasks if CALL(t)), key=lambda t: t["properties"]["hs_timestamp"])
    calls[0]["properties"]["hs_timestamp"] = calls[1]["properties"]["hs_timestamp"]
    return tasks


def a_third_call_task(tasks: Rows) -> Rows:
    extra = copy.deepcopy(next(t for t in tasks if CALL(t)))
    extra["id"], extra["properties"]["hs_timestamp"] = "999", "2026-03-20T15:00:00.000Z"
    return [*tasks, extra]


def action(says: str, change: Callable[[dict[str, Any]], None] | None = None) -> Callable[[Any], Any]:
    """The implementation ticket's actions that say ``says`` changed (or dropped)."""
    def apply(ticket: Any) -> Any:
        mine = [a for a in ticket["actions"] if says in a.get("description", "")]
        ticket["actions"] = [a for a in ticket["actions"] if change is not None or a not in mine]
        for item in mine if change else []:
            change(item)
        return ticket
    return apply


def in_first_column(tasks: Rows) -> Rows:
    """The request that W7 moved on (the red alert's) put back in the first column."""
    alerts = [t for t in tasks if str(t.get("name", "")).startswith("Retention alert")]
    first = next(m["section"] for t in alerts for m in t.get("memberships") or []
                 if m["section"].get("name") == "new request")
    for task in alerts:
        task["memberships"] = [{**m, "section": first} for m in task["memberships"]]
    return tasks


def red_alert_task_completed_early(outbox: Rows) -> Rows:
    return shift(row("W1", "slack"), -10 * timedelta(minutes=1))(outbox)


BREAKS = [
    # A - Assist
    Break("a1_ticket", "A1 puts the ticket in HubSpot's default pipeline", {HS_TICKETS: edit(SE, props(hs_pipeline="0"))}),
    Break("a5_owner", "A5 did not clear the owner the portal's workflow gave the ticket",
          {HS_TICKETS: edit(SE, props(hubspot_owner_id="51200103"))}),
    Break("a3_note", "A3 wrote no note", {("hubspot", "records/notes"): drop(subject("Ny kund", "hs_note_body"))}),
    Break("a3_note", "A3's note tags nobody",
          {("hubspot", "records/notes"): edit(subject("Ny kund", "hs_note_body"), props(hs_note_body="Ny kund"))}),
    Break("a2_welcome", "A2 welcomes on the start date, a day early", outbox=shift(row("A2", "email"), -DAY)),
    Break("a2_welcome", "A2's welcome has no log-in",
          mails=edit(to("maja.lind", "Välkommen"), setting(body="Välkommen! Book your kick-off in the onboarding calendar."))),
    Break("a7_call", "A7 calls though the pre-onboarding is not done",
          {HS_TASKS: edit(subject("Pre-onboarding", "hs_task_subject"), props(hs_task_status="NOT_STARTED"))}),
    Break("a7_call", "A7's call is made a day before the move", outbox=shift(row("A7", "hubspot", "create_task"), -DAY)),
    Break("a7_call", "A7's call is due the next day",
          {HS_TASKS: edit(subject("Call the main user: welcome", "hs_task_subject"),
                          props(hs_timestamp="2026-03-06T16:00:00.000Z"))}),
    Break("a7_call", "A7's call goes to the contracts team",
          {HS_TASKS: edit(subject("Call the main user: welcome", "hs_task_subject"), props(hubspot_owner_id="51200103"))}),
    Break("a8_calls", "A8 goes on calling after the booking", {HS_TASKS: a_third_call_task}),
    Break("a8_calls", "A8's first call is due day 7", {HS_TASKS: first_call_task_due_later}),
    Break("a13_mail", "A13 tells the team an hour after the booking", outbox=shift(row("A13", "email"), HOUR)),
    Break("a13_mail", "A13 tells nobody", mails=drop(to("onboarding@assist", "Uppstartsmöte inbokat"))),
    Break("a13_closed", "A13 leaves the ticket in Onboarding – Pågår",
          {HS_TICKETS: edit(SE, props(hs_pipeline_stage="84561202"))}),
    Break("a13_closed", "A2 moves the ticket a day late", outbox=shift(row("A2", "hubspot", "set_stage"), DAY)),
    Break("a13_stopped", "A13 leaves a call timer pending", state=a_timer_left),
    # T - marketplace
    Break("t1_fee", "T1 books no fee", {("salesforce", "records/Opportunity"): lambda rows: []}),
    Break("t1_fee", "T1 books the fee at 0 €",
          {("salesforce", "records/Opportunity"): edit(lambda r: True, setting(Amount=0))}),
    Break("t4_webinar", "T4 gives the registration to the AM",
          {SF_TASKS: edit(subject("training webinar", "Subject"), setting(OwnerId=AM))}),
    Break("t4_webinar", "T4 registers for a webinar on another day",
          {SF_TASKS: edit(subject("training webinar", "Subject"),
                          setting(Subject="Register the partner for the training webinar on 1999-01-01"))}),
    Break("t6_to_train", "T6 leaves 'To train' to sales", {SF_CASES: edit(subject("To train", "Subject"), setting(OwnerId=SALES))}),
    Break("t7_tasks", "T7 plans no call after the webinar", {SF_TASKS: drop(subject("call the partner after", "Subject"))}),
    Break("t7_tasks", "T7's first call goes to sales",
          {SF_TASKS: edit(subject("To train: first call", "Subject"), setting(OwnerId=SALES))}),
    Break("t5_billing", "T5 tells billing an hour late", outbox=shift(row("T5", "email"), HOUR)),
    Break("t10_visible", "T10 escalates though the venue is online",
          mails=lambda mails: [*mails, {**mails[0], "rcpt_tos": ["after-sales-lead@marketplace.example.com"],
                                        "subject": "Salon Rivoli is not online on its Starting Date"}]),
    Break("t10_visible", "T10 notes nothing", {SF_TASKS: drop(subject("Visible on the marketplace", "Description"))}),
    Break("t7_cases", "T7 never completes 'To train'", {SF_CASES: edit(subject("To train", "Subject"), setting(Status="New"))}),
    Break("t7_cases", "T8 opens no 'Enable Marketplace'", {SF_CASES: drop(subject("Enable Marketplace", "Subject"))}),
    Break("t6_account", "T7 leaves the account in Training",
          {("salesforce", "records/Account/"): edit(lambda r: True, setting(Onboarding_Stage__c="Training"))}),
    Break("t6_account", "T7 moves to Check Usage before the venue is online",
          outbox=shift(row("T7", "salesforce", "set_stage", "check_usage"), -DAY)),
    Break("t6_account", "T6 leaves the account with sales",
          {("salesforce", "records/Account/"): edit(lambda r: True, setting(OwnerId=SALES))}),
    # W - retention
    Break("w2_opportunity", "W2 opens an opportunity for the NPS answer too",
          {("zendesk", "records/tickets"): edit(subject("NPS: Institut Opale"),
                                                lambda t: t["tags"].append("churn_risk_opportunity"))}),
    Break("w2_task", "W2's task is due the next day",
          {ASANA: edit(lambda t: t["name"] == "rdc infos & rdv", setting(due_on="2099-01-01"))}),
    Break("w4_nps", "W4's task is due the next day",
          {ASANA: edit(subject("Set a follow-up meeting", "name"), setting(due_on="2099-01-01"))}),
    Break("w3_red", "W3's task is due the day of the alert",
          {ASANA: edit(lambda t: t["name"] == "red alert", setting(due_on="2026-03-06"))}),
    Break("w7_board", "W7 leaves the red alert's request in the first column", {ASANA: in_first_column}),
    Break("w1_slack", "W1 says ✅ without a meeting",
          {("slack", "messages"): edit(subject(":white_check_mark:", "text"),
                                       setting(text=":white_check_mark: retention:requester-17: case created and assigned"))}),
    Break("w1_slack", "W1 says ✅ before the task is completed", outbox=red_alert_task_completed_early),
    # M - CORE
    Break("m1_ticket", "M1's ticket is not back to scheduling", {MV_TICKET: lambda t: {**t, "status": "Novo"}}),
    Break("m3_confirmed", "M3's confirmation is internal", {MV_TICKET: action("GR - Confirmação", setting(type=1))}),
    Break("m7_slack", "M7 alerts at 10 minutes", outbox=shift(row("M7", "slack"), timedelta(minutes=5))),
    Break("m7_actions", "M7's actions come at 20 minutes", outbox=shift(row("M7", "movidesk", "post_action"), timedelta(minutes=5))),
    Break("m7_actions", "M7's 'Sem contato core' is internal", {MV_TICKET: action("IO - Sem contato core", setting(type=1))}),
    Break("m4_reschedule", "M4 asks nobody for a new slot", {MV_TICKET: action("book a new slot")}),
    # E - network
    Break("e1_ticket", "E4 leaves the ticket in 'Compte créé'",
          {HS_TICKETS: edit(subject("Gîte du Vallon"), props(hs_pipeline_stage="84562201"))}),
    Break("e1_ticket", "E1 creates the ticket a day after the sign-up",
          {HS_TICKETS: edit(subject("Gîte du Vallon"), props(createdate="2026-03-03T13:00:00.000Z"))}),
    Break("e2_notified", "E2 leaves the onboarding team out",
          mails=edit(to("referents@network"), setting(rcpt_tos=["referents@network.example.com"]))),
    Break("e3_welcome", "E3 welcomes at the sign-up, not 30 minutes later",
          outbox=shift(row("E3", "email"), -30 * timedelta(minutes=1))),
    Break("e4_reminders", "E4 reminds two days before, not one", outbox=shift(row("E4", "email", says="demain"), -DAY)),
    Break("e4_reminders", "E4 sends no hour-before reminder", mails=drop(to("bonjour@gite", "Rappel : votre rendez-vous OnBoarding dans"))),
    Break("e5_call", "E5's call is due three days after the sign-up",
          {HS_TASKS: edit(subject("Phone the professional", "hs_task_subject"), props(hs_timestamp="2026-03-05T13:00:00.000Z"))}),
    Break("e5_call", "E5's call goes to someone outside the onboarding team",
          {HS_TASKS: edit(subject("Phone the professional", "hs_task_subject"), props(hubspot_owner_id="51200101"))}),
]


def run(demo: Played, name: str, broken: Break | None) -> Check:
    [(procedure, check)] = [(p, c) for p in demo.procedures for c in p.checks if c.__name__ == name]
    return check(Broken(demo.control, demo.rt, procedure.memo, broken))


def test_every_check_of_the_demo_has_a_break() -> None:
    checks = {c.__name__ for p in all_procedures() for c in p.checks}
    assert {b.check for b in BREAKS} == checks


@pytest.mark.parametrize("broken", BREAKS, ids=lambda b: f"{b.check}: {b.why}")
def test_each_check_fails_when_its_rule_is_broken(demo: Played, broken: Break) -> None:
    label, ok, detail = run(demo, broken.check, None)
    assert ok, f"{label} does not hold on the demo as played: {detail}"

    label, ok, detail = run(demo, broken.check, broken)

    assert not ok, f"{label!r} still passes when {broken.why}: {detail}"


def test_a13_stopped_fails_when_the_customer_is_still_reminded_after_the_booking(demo: Played) -> None:
    outbox = demo.rt.ledger.outbox_rows()
    broken = Break("a13_stopped", "A9 still reminds the customer after the booking",
                   mails=lambda mails: a_late_reminder(mails, outbox)[0],
                   outbox=lambda rows: a_late_reminder(demo.control.emails(), rows)[1])
    _, ok, detail = run(demo, "a13_stopped", broken)
    assert not ok and "Boka ert uppstartsmöte" in detail, detail
