"""Per tool: a typical batch of actions (already in the tool's terms, as ``mappings/`` hands
them to the connector), the sandbox records they need, and the fewest calls the vendor's
batch sizes allow for them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import ceil
from typing import Any

from kickoff.model import Action, ActionKind, idempotency_key

DUE = datetime(2026, 3, 2, 8, tzinfo=UTC)
HS_PIPELINE, HS_NEW, HS_ONBOARDING, HS_OWNER = "28734901", "84561201", "84561202", "51200102"
MD_AGENT, MD_CLIENT = "900000001", "300000001"
ASANA_PROJECT = "1209500000000100"
ASANA_BOARD = {"asana": {"projects": [{"gid": ASANA_PROJECT, "name": "AM requests", "sections": [
    {"gid": "1209500000000101", "name": "new request"}, {"gid": "1209500000000102", "name": "waiting"},
    {"gid": "1209500000000103", "name": "meeting set or resolved"}]}]}}

_runs = itertools.count(1)


def action(tool: str, kind: ActionKind, n: int, run: int, **payload: Any) -> Action:
    return Action(kind=kind, tool=tool, onboarding_id=f"bench-{n % 997}", payload=payload,  # type: ignore[arg-type]
                  idempotency_key=idempotency_key("bench", tool, kind.value, run, n), rule="T1", due_at=DUE)


@dataclass
class Workload:
    """``prepare(control, n)`` seeds the sandbox and returns n actions; ``minimum(n)`` is the
    fewest calls the vendor allows for them; ``why`` says how that minimum is made up."""

    tool: str
    label: str
    prepare: Callable[[Any, int], list[Action]]
    minimum: Callable[[int], int]
    why: str
    options: dict[str, Any] = field(default_factory=dict)


# --- HubSpot ----------------------------------------------------------------------------------
def hubspot_tasks(control: Any, n: int) -> list[Action]:
    ticket = control.act("hubspot", "tickets", properties={"subject": "SE Bench AB", "hs_pipeline": HS_PIPELINE,
                                                           "hs_pipeline_stage": HS_NEW})["id"]
    run = next(_runs)
    return [action("hubspot", ActionKind.CREATE_TASK, i, run, record_id=ticket, subject=f"Ring kunden #{i}",
                   due_at=DUE.isoformat(), task_type="CALL", priority="HIGH", owner=HS_OWNER) for i in range(n)]


def hubspot_tickets(control: Any, n: int) -> list[Action]:
    """n actions = stage + owner on n/2 tickets (merged per ticket into one batch input)."""
    tickets = ceil(n / 2)
    before = {t["id"] for t in control.get("hubspot", "records/tickets")}
    control.seed({"hubspot": {"generate": {"tickets": {"count": tickets, "properties": {
        "subject": "SE Kund {n}", "hs_pipeline": HS_PIPELINE, "hs_pipeline_stage": HS_NEW}}}}})
    ids = [t["id"] for t in control.get("hubspot", "records/tickets") if t["id"] not in before]
    run = next(_runs)
    out: list[Action] = []
    for i, ticket in enumerate(ids):
        out.append(action("hubspot", ActionKind.SET_STAGE, 2 * i, run, record_id=ticket, stage=HS_ONBOARDING))
        out.append(action("hubspot", ActionKind.ASSIGN_OWNER, 2 * i + 1, run, record_id=ticket, owner=HS_OWNER))
    return out[:n]


# --- Salesforce -------------------------------------------------------------------------------
def salesforce_cases(control: Any, n: int) -> list[Action]:
    before = {c["Id"] for c in control.get("salesforce", "records/Case")}
    control.seed({"salesforce": {"records": {"Case": [{"Subject": f"Onboarding {i}"} for i in range(n)]}}})
    ids = [c["Id"] for c in control.get("salesforce", "records/Case") if c["Id"] not in before]
    run = next(_runs)
    return [action("salesforce", ActionKind.SET_STAGE, i, run, record_id=rid, stage="Working")
            for i, rid in enumerate(ids)]


def salesforce_tasks(control: Any, n: int) -> list[Action]:
    run = next(_runs)
    return [action("salesforce", ActionKind.CREATE_TASK, i, run, subject=f"Call partner {i}", due_at=DUE.isoformat())
            for i in range(n)]


# --- Zendesk ----------------------------------------------------------------------------------
def zendesk_tickets(control: Any, n: int, repeat: int = 1) -> list[Action]:
    """n actions on n/repeat tickets; with ``repeat`` > 1 each 1,000 consecutive actions still
    touch 1,000 different tickets (so no two land in one update_many)."""
    count = ceil(n / repeat)
    control.seed({"zendesk": {"tickets": [{"subject": f"Onboarding {i}", "description": "Welcome"}
                                          for i in range(count)]}})
    ids = [t["id"] for t in control.get("zendesk", "records/tickets")][-count:]
    run = next(_runs)
    statuses = ("open", "pending")
    return [action("zendesk", ActionKind.SET_STAGE, i, run, record_id=str(ids[i % count]),
                   status=statuses[(i // count) % 2], add_tags=["kickoff"]) for i in range(n)]


def zendesk_minimum(n: int) -> int:
    jobs = ceil(n / 100)
    return jobs + ceil(jobs / 30)  # update_many calls + one job_statuses/show_many per wave of <= 30 jobs


# --- Movidesk ---------------------------------------------------------------------------------
def movidesk_tickets(control: Any, n: int) -> list[Action]:
    """n actions = a status change + a public action on n/2 tickets (one PATCH per ticket)."""
    tickets = ceil(n / 2)
    first = 100_000 + next(_runs) * 10_000
    control.seed({"movidesk": {
        "persons": [{"id": MD_CLIENT, "businessName": "Exemplo Ltda", "personType": 2, "profileType": 2}],
        "tickets": [{"id": first + i, "subject": f"Implantação {i}", "clients": [{"id": MD_CLIENT}],
                     "actions": [{"type": 1, "description": "Contrato assinado"}]} for i in range(tickets)]}})
    run = next(_runs)
    out: list[Action] = []
    for i in range(tickets):
        ticket = str(first + i)
        out.append(action("movidesk", ActionKind.SET_STAGE, 2 * i, run, record_id=ticket, status="Em atendimento"))
        out.append(action("movidesk", ActionKind.POST_ACTION, 2 * i + 1, run, record_id=ticket,
                          description="Bem-vindo! Vamos agendar a implantação.", public=True))
    return out[:n]


# --- Asana ------------------------------------------------------------------------------------
def asana_requests(control: Any, n: int) -> list[Action]:
    control.seed(ASANA_BOARD)
    run = next(_runs)
    return [action("asana", ActionKind.CREATE_RECORD, i, run, project=ASANA_PROJECT, name=f"Red alert {i}: Example Salon",
                   notes="Competitor visit next week.") for i in range(n)]


# --- Slack and e-mail -------------------------------------------------------------------------
def slack_messages(control: Any, n: int) -> list[Action]:
    run = next(_runs)
    return [action("slack", ActionKind.NOTIFY, i, run, channel="C0SUPPORT", text=f"Red alert {i}: call the partner")
            for i in range(n)]


def emails(control: Any, n: int) -> list[Action]:
    run = next(_runs)
    return [action("email", ActionKind.NOTIFY, i, run, to=[f"am{i % 7}@example.com"], subject=f"Follow-up {i}",
                   body="Call the partner about the kick-off.") for i in range(n)]


CALLS: list[Workload] = [
    Workload("hubspot", "create_task", hubspot_tasks, lambda n: ceil(n / 100), "batch/create, 100 inputs"),
    Workload("hubspot", "set_stage+assign_owner", hubspot_tickets, lambda n: ceil(ceil(n / 2) / 100),
             "2 actions/ticket merged, batch/update 100"),
    Workload("salesforce", "set_stage (Case)", salesforce_cases, lambda n: ceil(n / 200), "composite/sobjects, 200"),
    Workload("zendesk", "set_stage (status+tag)", zendesk_tickets, zendesk_minimum,
             "update_many 100 + 1 job poll per wave"),
    Workload("movidesk", "set_stage+post_action", movidesk_tickets, lambda n: ceil(n / 2),
             "no batch: 1 PATCH/ticket, 2 actions/ticket"),
    Workload("asana", "create_record", asana_requests, lambda n: ceil(n / 10), "/batch of 10"),
    Workload("slack", "notify", slack_messages, lambda n: n, "no batch: 1 chat.postMessage/action"),
    Workload("email", "notify", emails, lambda n: n, "SMTP: 1 message/action"),
]
