"""The five procedures of the demo, played through the vendors' front doors.

Each procedure is a list of ``Act``s (what a person does in a tool, or what the network's
platform posts) from a start moment, and a list of checks: functions that read the
sandbox's state through its admin API (and the ledger, for when things happened) and say
whether it holds what the seed says it should. A check reads only through its ``World``
and reads everything its label claims, so each can fail (tests/flows/test_demo.py breaks
each rule and sees its check fail). Every name is invented; every address is
``example.com``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import requests

from flows.demo.clock import Act
from flows.runtime import Runtime
from kickoff.model import Onboarding
from sandbox.control import SandboxControl

Check = tuple[str, bool, str]
DEMO_START = date(2026, 3, 2)  # a Monday; Europe moves its clocks on day 27 (29 March)


class Reader(Protocol):
    """Reads a vendor's state through the sandbox's admin routes (SandboxControl, World)."""

    def get(self, vendor: str, path: str, **params: Any) -> Any: ...


@dataclass
class World:
    """What a check reads, only through the first four methods: the sandbox (admin API) and
    the ledger (when Kickoff's writes were done, what it still waits for)."""

    control: SandboxControl
    rt: Runtime
    memo: dict[str, Any]

    def get(self, vendor: str, path: str, **params: Any) -> Any:
        return self.control.get(vendor, path, **params)

    def mails(self) -> list[dict[str, Any]]:
        return self.control.emails()

    def outbox(self) -> list[dict[str, Any]]:
        return self.rt.ledger.outbox_rows()

    def state(self, onboarding: str) -> Onboarding | None:
        return self.rt.ledger.load_state(onboarding)

    def rows(self, tenant: str) -> list[dict[str, Any]]:
        return [r for r in self.outbox() if r["onboarding_id"].startswith(f"{tenant}:")]

    def moves(self, tenant: str) -> list[tuple[datetime, str]]:
        """The stage moves of the tenant's onboardings' own records, as done, in order."""
        return sorted((r["updated_at"], r["payload"]["stage"]) for r in self.rows(tenant)
                      if r["kind"] == "set_stage" and r["status"] == "done"
                      and not {"target", "record"} & set(r["payload"]))

    def done_at(self, tenant: str, external_id: str | None) -> datetime | None:
        """When Kickoff's write that made ``external_id`` was done (virtual time)."""
        for row in self.rows(tenant):
            if external_id and row["external_id"] == external_id and row["status"] == "done":
                return row["updated_at"]
        return None

    def emails(self, to: str, subject: str = "") -> list[dict[str, Any]]:
        return [m for m in self.mails() if to in " ".join(m["rcpt_tos"]) and m["subject"].startswith(subject)]

    def email_at(self, tenant: str, message: dict[str, Any]) -> datetime | None:
        return self.done_at(tenant, message.get("message_id"))


@dataclass
class Procedure:
    key: str            # the tenant in config/tenants.yaml
    family: str         # the rules' letter in RULES.md
    title: str
    timezone: str       # the tenant's
    acts: list[Act]
    checks: list[Callable[[World], Check]]
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def run_checks(self, control: SandboxControl, rt: Runtime) -> list[Check]:
        return self.check_world(World(control, rt, self.memo))

    def check_world(self, world: World) -> list[Check]:
        """Every check on ``world``; a check that cannot read is a failed check."""
        results = []
        for check in self.checks:
            try:
                results.append(check(world))
            except Exception as exc:  # noqa: BLE001 - a check that cannot read is a failed check
                name = (check.__doc__ or check.__name__).strip().splitlines()[0]
                results.append((name, False, f"{type(exc).__name__}: {exc}"))
        return results


def local(zone: str, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(zone))


def _ok(name: str, ok: bool, detail: str) -> Check:
    return (name, bool(ok), detail)


def _in_zone(moment: datetime | None, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M") if moment else "never"


# =========================================================================================
# A - Assist customers, Sweden: Dealbuilder signature -> HubSpot ticket and its workflow
# =========================================================================================
PRE_ONBOARDING, ONBOARDING_TEAM = "Pre-onboarding in the customer's account", "51200102"


def assist(start: date = DEMO_START) -> Procedure:
    zone = "Europe/Stockholm"
    signed = local(zone, start, 10)
    delivery_start = start + timedelta(days=2)
    flow_day0 = local(zone, delivery_start + timedelta(days=1), 8)  # A2: the day after, 08:00
    pre_onboarded = local(zone, delivery_start, 15)  # A6 done by the team before its due time, the move
    booked_at = local(zone, flow_day0.date() + timedelta(days=8), 10)  # ~day 10 after the signature
    meeting_start = local(zone, flow_day0.date() + timedelta(days=12), 10)
    customer, email = "Lövberg Bygg AB", "maja.lind@lovberg-bygg.example.com"
    memo: dict[str, Any] = {}

    def sign(control: SandboxControl, rt: Runtime) -> None:
        document = {
            "id": "DB-2026-0042", "title": "Avonova Assist avtal",
            "Parties": [
                {"role": "seller", "companyName": "Assist AB",
                 "contacts": [{"role": "seller", "name": "Sara Säljare", "email": "sara@assist.example.com"}]},
                {"role": "customer", "companyName": customer, "organizationNumber": "556677-1234",
                 "contacts": [{"role": "main_user", "name": "Maja Lind", "email": email}]},
            ],
            "customFields": [{"name": "licences", "value": "12"},
                             {"name": "delivery_start", "value": delivery_start.isoformat()}],
        }
        control.act("dealbuilder", "documents", **document)
        control.act("dealbuilder", f"documents/{document['id']}/accept")

    def ticket(reader: Reader) -> dict[str, Any]:
        found = [t for t in reader.get("hubspot", "records/tickets")
                 if str(t["properties"].get("subject", "")).endswith(customer)]
        if len(found) != 1:
            raise LookupError(f"{len(found)} HubSpot tickets for {customer}")
        return found[0]

    def book(control: SandboxControl, rt: Runtime) -> None:
        end = meeting_start + timedelta(minutes=45)
        control.act("hubspot", "meetings", ticket_id=ticket(control)["id"], properties={
            "hs_meeting_title": f"Uppstartsmöte {customer}", "hs_timestamp": meeting_start.isoformat(),
            "hs_meeting_start_time": meeting_start.isoformat(), "hs_meeting_end_time": end.isoformat()})

    def pre_onboarding_done(control: SandboxControl, rt: Runtime) -> None:
        [task] = [t for t in linked(control, "tasks") if t["properties"].get("hs_task_subject") == PRE_ONBOARDING]
        control.act("hubspot", f"tasks/{task['id']}", method="PATCH", properties={"hs_task_status": "COMPLETED"})

    def linked(reader: Reader, kind: str) -> list[dict[str, Any]]:
        tid = ticket(reader)["id"]
        return [r for r in reader.get("hubspot", f"records/{kind}")
                if any(a["toObjectType"] == "tickets" and str(a["toObjectId"]) == str(tid)
                       for a in r.get("associations", []))]

    def a1_ticket(w: World) -> Check:
        """A1 HubSpot ticket 'SE …' in Solutions Order/Faktura"""
        props = ticket(w)["properties"]
        return _ok("A1 HubSpot ticket 'SE …' in pipeline Solutions Order/Faktura",
                   props["subject"].startswith("SE") and props.get("hs_pipeline") == "28734901",
                   f"{props['subject']!r}, pipeline {props.get('hs_pipeline')}")

    def a13_closed(w: World) -> Check:
        """A2→A13 the ticket's stages"""
        stage = ticket(w)["properties"].get("hs_pipeline_stage")
        moves = w.moves("assist")
        wanted = [(flow_day0, "onboarding_in_progress"), (booked_at, "closed")]
        return _ok("A2→A13 ticket moved to Onboarding – Pågår the day after the start date at 08:00, to "
                   "Avslutad at the booking, and is Avslutad now", moves == wanted and stage == "84561206",
                   ", ".join(f"{name} at {_in_zone(at, zone)}" for at, name in moves)
                   + f"; stage id now {stage} (Avslutad is 84561206)")

    def a3_note(w: World) -> Check:
        """A3 note 'Ny kund'"""
        notes = [n["properties"].get("hs_note_body", "") for n in linked(w, "notes")]
        ok = any(b.startswith("Ny kund") and "51200101" in b for b in notes)
        return _ok("A3 note 'Ny kund' tags the new-customer coordinator", ok, f"{len(notes)} note(s) on the ticket")

    def a5_owner(w: World) -> Check:
        """A5 owner 'No owner'"""
        owner = ticket(w)["properties"].get("hubspot_owner_id")
        return _ok("A5 ticket owner cleared to 'No owner' (the portal's workflow gives new tickets the contracts "
                   "team)", owner in (None, ""), f"hubspot_owner_id={owner!r}")

    def a2_welcome(w: World) -> Check:
        """A2 welcome e-mail"""
        mails = w.emails(email, "Välkommen till Assist")
        when = w.email_at("assist", mails[0]) if mails else None
        body = mails[0]["body"] if mails else ""
        says = "onboarding calendar" in body and "Log in" in body
        return _ok("A2 welcome e-mail (calendar, log-in) the day after the start date at 08:00",
                   len(mails) == 1 and when == flow_day0 and says,
                   f"{len(mails)} sent, at {_in_zone(when, zone)}, {'with' if says else 'WITHOUT'} calendar and log-in")

    def a8_calls(w: World) -> Check:
        """A8 call tasks day 3 and day 7"""
        tasks = [t["properties"] for t in linked(w, "tasks")
                 if "no kick-off booked yet" in str(t["properties"].get("hs_task_subject", ""))]
        days = sorted(datetime.fromisoformat(str(t["hs_timestamp"])).astimezone(ZoneInfo(zone)).date()
                      for t in tasks)
        wanted = [flow_day0.date() + timedelta(days=3), flow_day0.date() + timedelta(days=7)]
        return _ok("A8 exactly two call tasks, due day 3 and day 7; none after the booking",
                   days == wanted, "due " + (", ".join(d.isoformat() for d in days) or "none"))

    def a7_call(w: World) -> Check:
        """A6→A7 the call to the main user"""
        tasks = [t["properties"] | {"id": t["id"]} for t in linked(w, "tasks")]
        done = [t.get("hs_task_status") for t in tasks if t.get("hs_task_subject") == PRE_ONBOARDING]
        calls = [t for t in tasks if str(t.get("hs_task_subject", "")).startswith("Call the main user: welcome")]
        due = [datetime.fromisoformat(str(t["hs_timestamp"])) for t in calls]
        made = [w.done_at("assist", t["id"]) for t in calls]
        ok = (done == ["COMPLETED"] and due == [flow_day0 + timedelta(hours=9)] and made == [flow_day0]
              and calls[0].get("hubspot_owner_id") == ONBOARDING_TEAM)
        return _ok("A6→A7 pre-onboarding marked done in HubSpot; the call to the main user at the move, due 17:00, "
                   "for the onboarding team", ok,
                   f"pre-onboarding {done or 'missing'}; {len(calls)} call task(s), made at "
                   f"{', '.join(_in_zone(m, zone) for m in made) or 'never'}, due "
                   f"{', '.join(_in_zone(d, zone) for d in due) or 'never'}, owner "
                   f"{calls[0].get('hubspot_owner_id') if calls else None}")

    def a13_mail(w: World) -> Check:
        """A13 team e-mailed"""
        mails = w.emails("onboarding@assist.example.com", "Uppstartsmöte inbokat")
        when = w.email_at("assist", mails[0]) if mails else None
        return _ok("A13 booking e-mailed to the team when it happened", len(mails) == 1 and when == booked_at,
                   f"{len(mails)} sent, at {_in_zone(when, zone)}")

    def a13_stopped(w: World) -> Check:
        """A13 the automatic flow stopped"""
        state = w.state("assist:DB-2026-0042")
        waiting = sorted((state.facts.get("_timers") or {}) if state else [])
        after = [m["subject"] for m in w.emails(email) if (w.email_at("assist", m) or booked_at) > booked_at]
        ok = state is not None and state.status == "completed" and not waiting and not after
        return _ok("A13 flow stopped at the booking: no timer left, no e-mail to the customer after it", ok,
                   f"status {state.status if state else None}, pending timers {waiting or 'none'}, "
                   f"e-mails after the booking: {after or 'none'}")

    acts = [
        Act(signed, "assist", "Dealbuilder: the customer signs the contract (DocumentAccepted webhook)", sign),
        Act(pre_onboarded, "assist", "HubSpot: the onboarding team marks the pre-onboarding done (task completed)",
            pre_onboarding_done, poll=("hubspot",)),
        Act(booked_at, "assist", "HubSpot: the customer books the kick-off meeting (meetings link)", book),
    ]
    return Procedure("assist", "A", "Assist customers, Sweden (Dealbuilder + HubSpot)", zone, acts,
                     [a1_ticket, a5_owner, a3_note, a2_welcome, a7_call, a8_calls, a13_mail, a13_closed, a13_stopped],
                     memo)


# =========================================================================================
# T - marketplace partner, classic onboarding (Salesforce)
# =========================================================================================
AM, SALES = "0055g00000001oxAAA", "0055g00000001ovAAA"


def marketplace(start: date = DEMO_START) -> Procedure:
    zone = "Europe/Paris"
    signed = local(zone, start + timedelta(days=1), 11)
    sd = signed.date() + timedelta(days=10)
    webinar = sd - timedelta(days=3)
    published = local(zone, sd, 9, 30)
    partner = "Salon Rivoli"
    memo: dict[str, Any] = {}

    def sign(control: SandboxControl, rt: Runtime) -> None:
        account = control.act("salesforce", "records/Account", Name=partner, Self_Onboarding__c=False,
                              Starting_Date__c=sd.isoformat(), Signature_Date__c=signed.date().isoformat(),
                              Plan__c="Advanced", Org_Number__c="FR-552100123", OwnerId=SALES)
        memo["account"] = account["Id"]

    def publish(control: SandboxControl, rt: Runtime) -> None:
        control.act("salesforce", f"records/Account/{memo['account']}", method="PATCH", Venue_Online__c=True)

    def done(subject: str) -> Callable[[SandboxControl, Runtime], None]:
        def do(control: SandboxControl, rt: Runtime) -> None:
            [task] = [t for t in control.get("salesforce", "records/Task")
                      if str(t.get("Subject", "")).startswith(subject) and t.get("Status") != "Completed"]
            control.act("salesforce", f"records/Task/{task['Id']}", method="PATCH", Status="Completed")
        return do

    def records(w: World, sobject: str) -> list[dict[str, Any]]:
        return w.get("salesforce", f"records/{sobject}")

    def cases(w: World, subject: str) -> list[dict[str, Any]]:
        return [c for c in records(w, "Case") if c.get("Subject") == subject and c.get("AccountId") == memo["account"]]

    def t6_to_train(w: World) -> Check:
        """T6 case To train for the AM"""
        found = cases(w, "To train")
        ok = len(found) == 1 and found[0].get("OwnerId") == AM
        return _ok("T6 case 'To train' assigned to the AM", ok,
                   f"{len(found)} case(s), owner {found[0].get('OwnerId') if found else None}")

    def t6_account(w: World) -> Check:
        """T6/T7 account owner and status"""
        account = w.get("salesforce", f"records/Account/{memo['account']}")
        moves = w.moves("marketplace")
        ok = (account.get("OwnerId") == AM and account.get("Onboarding_Stage__c") == "Check Usage"
              and moves == [(signed, "training"), (published, "check_usage")])
        return _ok("T6→T7 account owned by the AM; Training at the signature, Check Usage once online", ok,
                   f"owner {account.get('OwnerId')}, stage {account.get('Onboarding_Stage__c')!r}; "
                   + ", ".join(f"{name} at {_in_zone(at, zone)}" for at, name in moves))

    def t1_fee(w: World) -> Check:
        """T1 set-up fee"""
        fees = [o for o in records(w, "Opportunity") if o.get("AccountId") == memo["account"]]
        ok = len(fees) == 1 and float(fees[0].get("Amount") or 0) == 149 and fees[0].get("StageName") == "Closed Won"
        return _ok("T1 the 149 € set-up fee line", ok,
                   f"{len(fees)} line(s): " + ", ".join(f"{o.get('Name')} {o.get('Amount')}" for o in fees))

    def t4_webinar(w: World) -> Check:
        """T4 webinar 3 days before the SD"""
        webinar = (sd - timedelta(days=3)).isoformat()
        tasks = [t for t in records(w, "Task") if "training webinar" in str(t.get("Subject"))]
        ok = len(tasks) == 1 and webinar in tasks[0]["Subject"] and tasks[0].get("OwnerId") == SALES
        return _ok(f"T4 webinar registration for {webinar} (SD − 3) to sales", ok,
                   tasks[0]["Subject"] if tasks else "no task")

    def t7_cases(w: World) -> Check:
        """T7/T8 To train completed, Enable Marketplace"""
        train, enable = cases(w, "To train"), cases(w, "Enable Marketplace")
        ok = (len(train) == 1 and train[0].get("Status") == "Closed" and len(enable) == 1
              and enable[0].get("OwnerId") == AM and enable[0].get("Status") == "New")
        return _ok("T7/T8 'To train' completed once online; 'Enable Marketplace' opened for the AM", ok,
                   f"To train {train[0].get('Status') if train else None}, "
                   f"Enable Marketplace {enable[0].get('Status') if enable else None}")

    def t7_tasks(w: World) -> Check:
        """T7 the AM's calls"""
        train = [c["Id"] for c in cases(w, "To train")]
        found = [str(t.get("Subject", "")) for t in records(w, "Task")
                 if t.get("WhatId") in train and t.get("OwnerId") == AM]
        wanted = ("To train: first call", "To train: make sure the partner attends the webinar",
                  "To train: call the partner after the webinar")
        mine = [x for x in found if x.startswith("To train:")]
        ok = len(train) == 1 and len(mine) == 3 and all(sum(x.startswith(w_) for x in mine) == 1 for w_ in wanted)
        return _ok("T7 first call, webinar, call after the webinar: tasks for the AM on 'To train'", ok,
                   f"{len(found)} task(s) on 'To train' for the AM")

    def t5_billing(w: World) -> Check:
        """T5 billing"""
        mails = w.emails("billing@marketplace.example.com", "Go-live and start of billing")
        when = w.email_at("marketplace", mails[0]) if mails else None
        return _ok("T5 billing told on the Starting Date at 08:00", len(mails) == 1 and when == local(zone, sd, 8),
                   f"{len(mails)} sent, at {_in_zone(when, zone)}")

    def t10_visible(w: World) -> Check:
        """T10 visible on the agreed date"""
        notes = [t for t in records(w, "Task") if "Visible on the marketplace" in str(t.get("Description"))]
        late = w.emails("after-sales-lead@marketplace.example.com")
        return _ok("T10 visible on the marketplace on the agreed date (no escalation)", len(notes) == 1 and not late,
                   f"{len(notes)} note(s), {len(late)} escalation(s)")

    acts = [
        Act(signed, "marketplace", "Salesforce: sales signs the partner, self-onboarding unticked, SD in 10 days", sign),
        Act(local(zone, signed.date() + timedelta(days=1), 10), "marketplace",
            "Salesforce: sales registers the partner for the webinar, marks the task done",
            done("Register the partner for the training webinar"), poll=("salesforce",)),
        Act(local(zone, signed.date() + timedelta(days=1), 15), "marketplace",
            "Salesforce: the AM's first call is done (task completed)", done("To train: first call"),
            poll=("salesforce",)),
        Act(local(zone, webinar + timedelta(days=1), 10), "marketplace",
            "Salesforce: the AM calls the partner after the webinar (task completed)",
            done("To train: call the partner after the webinar"), poll=("salesforce",)),
        Act(published, "marketplace", "Salesforce: the AM publishes the venue (Venue online)", publish),
    ]
    return Procedure("marketplace", "T", "Marketplace partner, classic onboarding (Salesforce)", zone, acts,
                     [t1_fee, t4_webinar, t6_to_train, t7_tasks, t5_billing, t10_visible, t7_cases, t6_account],
                     memo)


# =========================================================================================
# W - retention alerts (Zendesk feed -> Asana board and tasks, Slack)
# =========================================================================================
def retention(start: date = DEMO_START) -> Procedure:
    zone = "Europe/Paris"
    churn_at = local(zone, start + timedelta(days=2), 10)
    nps_at = local(zone, start + timedelta(days=3), 11)
    red_at = local(zone, start + timedelta(days=4), 15)
    competitor_day = red_at.date() + timedelta(days=14)
    meeting_at = local(zone, red_at.date() + timedelta(days=5), 10)
    memo: dict[str, Any] = {}
    who = {"churn": "contact@barbier-lilas.example.com", "nps": "gerante@institut-opale.example.com",
           "red": "accueil@spa-horizon.example.com"}

    def alert(kind: str, **fields: Any) -> Callable[[SandboxControl, Runtime], None]:
        def do(control: SandboxControl, rt: Runtime) -> None:
            ticket = control.act("zendesk", "tickets", requester_email=who[kind], **fields)
            memo[kind] = ticket
        return do

    def meeting_set(control: SandboxControl, rt: Runtime) -> None:
        control.act("zendesk", f"tickets/{memo['red']['id']}", method="PUT", additional_tags=["meeting_set"])

    def task_done(control: SandboxControl, rt: Runtime) -> None:
        [task] = [t for t in control.get("asana", "records/tasks") if t.get("name") == "red alert"]
        control.act("asana", f"tasks/{task['gid']}/complete")

    def tasks(w: World, name: str) -> list[dict[str, Any]]:
        return [t for t in w.get("asana", "records/tasks") if t.get("name") == name]

    def assignee(task: dict[str, Any]) -> str | None:
        value = task.get("assignee")
        return value.get("gid") if isinstance(value, dict) else value

    def w2_task(w: World) -> Check:
        """W2 rdc infos & rdv"""
        found = tasks(w, "rdc infos & rdv")
        ok = len(found) == 1 and found[0].get("due_on") == churn_at.date().isoformat() \
            and assignee(found[0]) == "1209500000000201"
        return _ok("W2 churn risk: task 'rdc infos & rdv' for the AM, due the same day", ok,
                   f"{len(found)} task(s), due {found[0].get('due_on') if found else None}")

    def w2_opportunity(w: World) -> Check:
        """W2 churn-risk opportunity"""
        found = [t for t in w.get("zendesk", "records/tickets") if "churn_risk_opportunity" in (t.get("tags") or [])]
        whose = [t.get("requester_id") for t in found]
        return _ok("W2 churn-risk opportunity created (one, for the churn alert only)",
                   whose == [memo["churn"]["requester_id"]],
                   f"{len(found)} opportunity ticket(s), for requester(s) {whose or 'none'} "
                   f"(the churn alert's is {memo['churn']['requester_id']})")

    def w4_nps(w: World) -> Check:
        """W4 NPS 5"""
        found = [t for t in w.get("asana", "records/tasks")
                 if str(t.get("name", "")).startswith("Set a follow-up meeting with the account's AM (NPS 5/10, medium)")]
        ok = len(found) == 1 and found[0].get("due_on") == nps_at.date().isoformat()
        return _ok("W4 NPS 5/10 = medium: follow-up meeting with the AM, due the same day", ok,
                   f"{len(found)} task(s), due {found[0].get('due_on') if found else None}")

    def w3_red(w: World) -> Check:
        """W3 red alert"""
        found = tasks(w, "red alert")
        wanted = (competitor_day - timedelta(days=7)).isoformat()
        ok = len(found) == 1 and found[0].get("due_on") == wanted
        return _ok(f"W3 red alert: task due a week before the competitor's visit ({wanted}), never the same day",
                   ok, f"{len(found)} task(s), due {found[0].get('due_on') if found else None}")

    def account(kind: str) -> str:
        return f"retention:requester-{memo[kind]['requester_id']}"

    def w7_board(w: World) -> Check:
        """W7 requests on the board"""
        names = {s["gid"]: s["name"] for s in w.get("asana", "records/sections")}

        def column(task: dict[str, Any]) -> str:
            sections = [m.get("section") for m in task.get("memberships") or []]
            return ", ".join(names.get(x.get("gid") if isinstance(x, dict) else x, "?") for x in sections)

        board = {t["name"].removeprefix("Retention alert: "): column(t) for t in w.get("asana", "records/tasks")
                 if str(t.get("name", "")).startswith("Retention alert")}
        wanted = {account("nps"): "new request", account("red"): "meeting set or resolved"}
        return _ok("W7 NPS and red alert are requests on the board; the red alert's moved to the last column",
                   board == wanted, "; ".join(f"{k}: {v}" for k, v in board.items()) or "no request")

    def w1_slack(w: World) -> Check:
        """W1 Slack ✅"""
        texts = [str(m.get("text")) for m in w.get("slack", "messages") if m.get("channel") == "C0RETENTION1"]
        done = [t for t in texts if ":white_check_mark:" in t]
        posted = [r["updated_at"] for r in w.rows("retention")
                  if r["rule"] == "W1" and r["tool"] == "slack" and r["status"] == "done"]
        ok = (done == [f":white_check_mark: {account('red')}: meeting set"]
              and posted == [meeting_at + timedelta(minutes=10)])
        return _ok("W1 done only with a meeting set: ✅ in #retention-alerts when the red alert's task is completed",
                   ok, f"{len(texts)} message(s): {', '.join(done) or 'no ✅'}, at "
                       + (", ".join(_in_zone(at, zone) for at in posted) or "never"))

    acts = [
        Act(churn_at, "retention", "Zendesk: a churn-risk ticket in the alerts feed", alert(
            "churn", subject="Risque de churn: Barbier des Lilas", tags=["churn_risk"],
            comment={"body": "Le gérant parle de résilier: trop cher pour deux fauteuils."})),
        Act(nps_at, "retention", "Zendesk: an NPS answer, 5/10", alert(
            "nps", subject="NPS: Institut Opale", tags=["nps", "nps_score_5"],
            comment={"body": "Bien, mais l'agenda est lent le samedi."})),
        Act(red_at, "retention", "Zendesk: a red alert, the customer booked a competitor", alert(
            "red", subject="Red alert: Spa Horizon", tags=["red_alert"],
            comment={"body": "Un RDV a été mis à jour chez un concurrent."},
            custom_fields=[{"id": 360000102, "value": "Agenda Concurrent SA"},
                           {"id": 360000103, "value": competitor_day.isoformat()}])),
        Act(red_at + timedelta(minutes=2), "retention", "Kickoff: reads Zendesk's export (the alert's custom fields)",
            lambda control, rt: None, poll=("zendesk",)),
        Act(meeting_at, "retention", "Zendesk: the intern sets a meeting with the AM (tag meeting_set)", meeting_set),
        Act(meeting_at + timedelta(minutes=10), "retention", "Asana: the intern completes the 'red alert' task",
            task_done),
    ]
    return Procedure("retention", "W", "Retention alerts (Zendesk → Asana, Slack)", zone, acts,
                     [w2_opportunity, w2_task, w4_nps, w3_red, w7_board, w1_slack], memo)


# =========================================================================================
# M - CORE implementation (Movidesk, Slack)
# =========================================================================================
GR, IO = "900000201", "900000202"


def core(start: date = DEMO_START) -> Procedure:
    zone = "America/Sao_Paulo"
    paid_at = local(zone, start, 10)
    booked_at = local(zone, start + timedelta(days=1), 10)
    session = local(zone, start + timedelta(days=3), 14)
    customer = "Padaria Boa Massa"
    memo: dict[str, Any] = {}

    def sell(control: SandboxControl, rt: Runtime) -> None:
        fields = [{"customFieldId": f, "customFieldRuleId": 1, "line": 1, "value": v, "items": []}
                  for f, v in ((202, "Basic"), (203, "+55 11 3000-0000"), (204, "Fixo"))]
        control.seed({"movidesk": {"persons": [  # the customer, as sales registered it
            {"id": "900000302", "businessName": customer, "personType": 2, "profileType": 2,
             "emails": [{"emailType": "Profissional", "email": "contato@padaria-boa-massa.example.com",
                         "isDefault": True}]}]}})
        ticket = control.act("movidesk", "tickets", type=2, subject=f"{customer} - contrato",
                             createdBy={"id": "900000001"}, clients=[{"id": "900000302"}], customFieldValues=fields,
                             actions=[{"type": 1, "description": "Venda fechada: plano Basic",
                                       "createdBy": {"id": "900000001"}}])
        memo["sales_ticket"] = ticket["id"]

    def pay(control: SandboxControl, rt: Runtime) -> None:
        control.act("movidesk", f"tickets/{memo['sales_ticket']}/custom-fields", customFieldId=201, value="Sim")

    def implementation(reader: Reader) -> dict[str, Any]:
        found = [t for t in reader.get("movidesk", "records/tickets")
                 if str(t.get("subject", "")).startswith("CORE - Implementação e onboarding")]
        if len(found) != 1:
            raise LookupError(f"{len(found)} implementation tickets")
        return reader.get("movidesk", f"tickets/{found[0]['id']}")

    def book(control: SandboxControl, rt: Runtime) -> None:
        text = (f"GR - Agendamento CORE\nData: {session.strftime('%d/%m/%Y %H:%M')}\nCanal: vídeo\n"
                "Tipo de telefone: fixo")
        control.act("movidesk", f"tickets/{implementation(control)['id']}/actions", type=2, createdBy=GR,
                    description=text)

    def actions(w: World) -> list[dict[str, Any]]:
        return implementation(w).get("actions") or []

    def m1_ticket(w: World) -> Check:
        """M1 implementation ticket"""
        ticket = implementation(w)
        ok = customer in ticket.get("subject", "") and ticket.get("status") == "Aguardando"
        return _ok("M1 payment confirmed → one implementation ticket (back to scheduling after the no-show)", ok,
                   f"#{ticket.get('id')} {ticket.get('subject')!r}, status {ticket.get('status')}")

    def m3_confirmed(w: World) -> Check:
        """M3 confirmation"""
        found = [a for a in actions(w) if a.get("description", "").startswith("GR - Confirmação de agendamento")]
        ok = len(found) == 1 and found[0].get("type") == 2
        return _ok("M3 public action 'GR - Confirmação de agendamento' (landline on the ticket)", ok,
                   f"{len(found)} action(s)")

    def m7_slack(w: World) -> Check:
        """M7 Slack 5 minutes"""
        rows = [r for r in w.rows("core") if r["tool"] == "slack" and r["rule"] == "M7" and r["status"] == "done"]
        messages = [m for m in w.get("slack", "messages") if m.get("channel") == "C0SEMCONTATO"]
        when = rows[0]["updated_at"] if rows else None
        ok = len(messages) == 1 and len(rows) == 1 and when == session + timedelta(minutes=5)
        return _ok("M7 no contact: alert in #sem_contato_agendamento at 5 minutes", ok,
                   f"{len(messages)} message(s), at {_in_zone(when, zone)}")

    def m7_actions(w: World) -> Check:
        """M7 actions at 15 minutes"""
        wanted = {"IO - Sem contato / Não agendado": 1, "IO - Sem contato core": 2}
        found = {a["description"].split("\n")[0]: a.get("type") for a in actions(w)
                 if a.get("description", "").split("\n")[0] in wanted}
        rows = [r for r in w.rows("core") if r["rule"] == "M7" and r["kind"] == "post_action" and r["status"] == "done"]
        at = {_in_zone(r["updated_at"], zone) for r in rows}
        ok = found == wanted and at == {_in_zone(session + timedelta(minutes=15), zone)}
        return _ok("M7 at 15 minutes: internal 'IO - Sem contato / Não agendado', public 'IO - Sem contato core'",
                   ok, f"{sorted(found)} at {', '.join(sorted(at)) or 'never'}")

    def m4_reschedule(w: World) -> Check:
        """M4 new slot"""
        found = [a for a in actions(w) if "GR: no contact at the CORE: book a new slot" in a.get("description", "")]
        return _ok("M4 GR asked to book a new slot", len(found) == 1, f"{len(found)} task action(s)")

    acts = [
        Act(paid_at - timedelta(minutes=30), "core", "Movidesk: sales opens the customer's ticket (plan, landline)",
            sell),
        Act(paid_at, "core", "Movidesk: finance ticks 'Pagamento confirmado'", pay),
        Act(booked_at, "core", "Movidesk: GR books the 1st CORE (action 'GR - Agendamento CORE')", book),
    ]
    return Procedure("core", "M", "CORE implementation (Movidesk, Slack)", zone, acts,
                     [m1_ticket, m3_confirmed, m7_slack, m7_actions, m4_reschedule], memo)


# =========================================================================================
# E - network platform onboarding (canonical intake -> e-mails, HubSpot)
# =========================================================================================
def network(start: date = DEMO_START) -> Procedure:
    zone = "Europe/Paris"
    signup = local(zone, start, 14)
    booked = local(zone, start, 16, 20)
    appointment = local(zone, start + timedelta(days=3), 10)
    pro, email, subject = "Gîte du Vallon", "bonjour@gite-du-vallon.example.com", "network:gite-du-vallon"
    memo: dict[str, Any] = {}

    def sign_up(control: SandboxControl, rt: Runtime) -> None:
        event = {"id": f"signup-{uuid.uuid5(uuid.NAMESPACE_URL, subject).hex[:12]}", "type": "account.created",
                 "occurred_at": signup.isoformat(), "subject": subject, "tenant": "network",
                 "data": {"account_name": pro, "origin": "transformation", "network": "alpes-tourisme",
                          "leisure": False, "email": email}}
        response = requests.post(f"{os.environ['KICKOFF_PUBLIC_URL']}/webhooks/events", json=event, timeout=30,
                                 headers={"Authorization": f"Bearer {os.environ['KICKOFF_EVENTS_TOKEN']}"})
        response.raise_for_status()

    def ticket(reader: Reader) -> dict[str, Any]:
        found = [t for t in reader.get("hubspot", "records/tickets")
                 if t["properties"].get("hs_pipeline") == "28734902" and pro in str(t["properties"].get("subject"))]
        if len(found) != 1:
            raise LookupError(f"{len(found)} network tickets for {pro}")
        return found[0]

    def book(control: SandboxControl, rt: Runtime) -> None:
        control.act("hubspot", "meetings", ticket_id=ticket(control)["id"], properties={
            "hs_meeting_title": f"OnBoarding {pro}", "hs_timestamp": appointment.isoformat(),
            "hs_meeting_start_time": appointment.isoformat(),
            "hs_meeting_end_time": (appointment + timedelta(minutes=20)).isoformat()})

    def sent(w: World, to: str, subject_: str) -> tuple[list[dict[str, Any]], datetime | None]:
        mails = w.emails(to, subject_)
        return mails, (w.email_at("network", mails[0]) if mails else None)

    def e1_ticket(w: World) -> Check:
        """E1→E4 HubSpot ticket"""
        props = ticket(w)["properties"]
        created = datetime.fromisoformat(str(props.get("createdate")))
        moves = w.moves("network")
        ok = created == signup and moves == [(booked, "appointment_booked")] and \
            props.get("hs_pipeline_stage") == "84562202"
        return _ok("E1→E4 the pro's ticket in the network pipeline from the sign-up, 'Rendez-vous OnBoarding pris' "
                   "since the booking", ok,
                   f"{props.get('subject')!r} created {_in_zone(created, zone)}, stage {props.get('hs_pipeline_stage')}; "
                   + (", ".join(f"{name} at {_in_zone(at, zone)}" for at, name in moves) or "never moved"))

    def e2_notified(w: World) -> Check:
        """E2 referents and team"""
        mails, when = sent(w, "referents@network.example.com", "New account on the alpes-tourisme network")
        both = bool(mails) and "onboarding@network.example.com" in " ".join(mails[0]["rcpt_tos"])
        return _ok("E2 referents and onboarding team e-mailed at the sign-up", both and when == signup,
                   f"{len(mails)} sent, at {_in_zone(when, zone)}")

    def e3_welcome(w: World) -> Check:
        """E3 welcome after 30 minutes"""
        mails, when = sent(w, email, "Bienvenue")
        ok = len(mails) == 1 and when == signup + timedelta(minutes=30)
        return _ok("E3 welcome e-mail 30 minutes after the sign-up", ok, f"{len(mails)} sent, at {_in_zone(when, zone)}")

    def e4_reminders(w: World) -> Check:
        """E4 confirmation and reminders"""
        got = []
        for subject_, moment in (("Votre rendez-vous OnBoarding", booked),
                                 ("Rappel : votre rendez-vous OnBoarding demain", appointment - timedelta(days=1)),
                                 ("Rappel : votre rendez-vous OnBoarding dans une heure", appointment - timedelta(hours=1))):
            mails, when = sent(w, email, subject_)
            got.append((len(mails) == 1 and when == moment, f"{_in_zone(when, zone)}"))
        return _ok("E4 confirmation at booking, reminders 1 day and 1 hour before", all(ok for ok, _ in got),
                   "at " + ", ".join(d for _, d in got))

    def e5_call(w: World) -> Check:
        """E5 call within 2 days"""
        tid = ticket(w)["id"]
        calls = [t["properties"] for t in w.get("hubspot", "records/tasks")
                 if any(str(a["toObjectId"]) == str(tid) for a in t.get("associations", []))
                 and str(t["properties"].get("hs_task_subject", "")).startswith("Phone the professional")]
        due = (datetime.fromisoformat(str(calls[0]["hs_timestamp"])).astimezone(ZoneInfo(zone))
               if calls else None)
        ok = (len(calls) == 1 and due is not None and signup < due <= signup + timedelta(days=2)
              and calls[0].get("hubspot_owner_id") == "51200105")
        return _ok("E5 call task for the onboarding team, due within 2 days", ok,
                   f"{len(calls)} task(s), due {_in_zone(due, zone)}")

    acts = [
        Act(signup, "network", "Platform: a professional creates an account (canonical account.created)", sign_up),
        Act(booked, "network", "HubSpot: the pro books the OnBoarding appointment", book),
    ]
    return Procedure("network", "E", "Network platform onboarding (sign-up platform → e-mail, HubSpot)", zone, acts,
                     [e1_ticket, e2_notified, e3_welcome, e4_reminders, e5_call], memo)


def all_procedures(start: date = DEMO_START) -> list[Procedure]:
    return [assist(start), marketplace(start), retention(start), core(start), network(start)]
