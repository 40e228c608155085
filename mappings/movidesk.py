"""Movidesk (core-implementation): tickets and their actions <-> canonical CORE facts.

Inbound: a ticket whose payment is confirmed (a custom field or a status, as the table says)
opens an onboarding (``payment.confirmed``, subject ``core:<ticket id>``), once. On the
implementation ticket Kickoff created, each new action written by a person is matched by
the table's ``actions`` (description patterns such as "GR - Agendamento CORE") into
``meeting.booked/completed/cancelled/no_show`` or ``contact.made``, its ``Label: value``
lines read into the event's data; the ticket closed by hand is ``case.updated`` (closed).
An action is new when it was created at the ticket's ``lastUpdate``: the change this
delivery reports. Actions carrying Kickoff's marker are its own writes and never facts.
The API's camelCase ticket and the trigger's PascalCase body are read alike.

Outbound: stages as status + justification, owner roles as agent + team, macros as public
or internal actions. Movidesk has no tasks: a task becomes an internal action naming its
owner, due time and key ("Chave:"), and its completion another, on the one ticket (M2). A
person marks a task done with an action the table's ``actions`` read as ``task.updated``
(e.g. "Tarefa concluída" with the task's "Chave: <key>" line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

from kickoff.actions import (
    AddNote,
    AssignOwner,
    CompleteTask,
    CreateRecord,
    CreateTask,
    PostAction,
    SetStage,
)
from kickoff.contracts.subscriptions import KICKOFF_PREFIX, Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.events import EventType
from kickoff.model import Action, ActionKind, Delivery, Event
from kickoff.paths import first_value
from kickoff.playbooks.adopt import Running, Unplaced
from kickoff.tools import movidesk as mv
from mappings.base import MappingContext, MappingError, TableModel, ToolMapping, default, role_value
from mappings.common import as_bool, as_int, change_fingerprint, parse_datetime

LABEL_LINE = re.compile(r"^\s*([^:\n]{1,40}):\s*(.+?)\s*$", re.MULTILINE)
DATETIME_FIELDS = {"start", "next_start"}
BOOL_FIELDS = {"end_onboarding", "whatsapp_exception", "experienced"}
INT_FIELDS = {"session", "duration_minutes"}
ACTION_TOLERANCE = timedelta(milliseconds=1)  # an action of this change: stamped with the ticket's lastUpdate
TICKET_FIELDS = ("subject", "status", "baseStatus", "ownerTeam", "owner.id", "clients.id",
                 "customFieldValues")
"""What ``to_events`` and the echo fingerprints read of every ticket (the connector adds the
cursor's ``id`` and ``lastUpdate``); the tables' paths add theirs."""
ACTION_FIELDS = ("actions.id", "actions.description", "actions.createdDate", "actions.isDeleted")
"""What the table's ``actions`` rules read of each action of a ticket."""


class PaymentRule(TableModel):
    field_path: str | None = None
    values: list[str] = default(["Sim", "true"])
    statuses: list[str] = default([])
    data: dict[str, list[str]] = default({"account_name": ["clients[0].businessName", "subject"]})


class ActionRule(TableModel):
    match: str
    event: EventType
    data: dict[str, Any] = default({})


class StageSpec(TableModel):
    status: str
    justification: str | None = None


class OwnerSpec(TableModel):
    owner_id: str | None = None
    owner_team: str | None = None
    label: str | None = None


class MovideskTable(TableModel):
    webhook_body: Literal["ticket", "notice"] = "ticket"
    agent_id: str
    main_record: str = "ticket"
    payment: PaymentRule = default(PaymentRule())
    actions: list[ActionRule] = default([])
    labels: dict[str, str] = default({})
    value_maps: dict[str, dict[str, Any]] = default({})
    stages: dict[str, StageSpec]
    statuses: dict[str, StageSpec] = default({})
    owners: dict[str, OwnerSpec]
    ticket: dict[str, Any] = default({"type": mv.ActionType.PUBLIC.value})
    ticket_fields: dict[str, str] = default({"subject": "subject", "category": "category"})
    default_client: str | None = None
    closed_base_statuses: list[mv.BaseStatus] = default([mv.BaseStatus.RESOLVED,
                                                         mv.BaseStatus.CLOSED])


def _stamp(value: Any) -> Any:
    return parse_datetime(value) if value else None


def _literal(text: str) -> str:
    """An OData string literal (a quote doubled)."""
    return "'" + text.replace("'", "''") + "'"


class MovideskMapping(ToolMapping):
    tool = "movidesk"
    Table = MovideskTable

    # --- inbound ---------------------------------------------------------------------------
    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        if delivery.kind == "webhook" and table.webhook_body == "notice":
            return []  # only a notice: the read ticket (poll) carries the facts
        ticket = mv.camel(delivery.payload) if isinstance(delivery.payload, dict) else {}
        ticket_id = str(ticket.get("id") or delivery.record_id or "")
        if not ticket_id:
            raise MappingError("the ticket has no id", field="id")
        at = _stamp(ticket.get("lastUpdate")) or delivery.received_at
        onboarding = self.onboarding_of(ctx, ticket_id)
        if onboarding is None:
            return self._payment(delivery, ticket, ticket_id, at, table, ctx)
        events = [self._action_event(delivery, action, rule, onboarding, table, ctx, n)
                  for n, (action, rule) in enumerate(self._new_actions(ticket, at, table))]
        state = ctx.ledger.state_for(onboarding)
        if ticket.get("baseStatus") in table.closed_base_statuses and not events and (
                state is None or state.stage != "closed"):
            events.append(self.event(delivery, ctx, EventType.CASE_UPDATED, onboarding,
                                     {"case_id": ticket_id, "case": "ticket", "status": "closed",
                                      "subject": ticket.get("subject")}, occurred_at=at))
        return events

    def _payment(self, delivery: Delivery, ticket: dict[str, Any], ticket_id: str, at: Any,
                 table: MovideskTable, ctx: MappingContext) -> list[Event]:
        rule = table.payment
        paid = str(ticket.get("status")) in rule.statuses
        if rule.field_path:
            paid = paid or str(first_value(ticket, rule.field_path)) in rule.values
        subject = self.new_subject(ctx, ticket_id)
        if not paid or ctx.ledger.state_for(subject) is not None:
            return []
        data = {name: self._convert(name, first_value(ticket, paths), table, ctx) for name, paths in rule.data.items()}
        if not data.get("account_name"):
            raise MappingError("the paid ticket names no customer", field="account_name")
        client = first_value(ticket, ["clients[0].id"])
        data["client_id"] = str(client) if client else None
        return [self.event(delivery, ctx, EventType.PAYMENT_CONFIRMED, subject, data, occurred_at=at)]

    def _new_actions(self, ticket: dict[str, Any], at: Any,
                     table: MovideskTable) -> list[tuple[dict[str, Any], ActionRule]]:
        """The person-written actions of this change, each with the rule it matches."""
        found = []
        for action in ticket.get("actions") or []:
            text = str(action.get("description") or "")
            created = _stamp(action.get("createdDate"))
            if action.get("isDeleted") or mv.MARKER.search(text) or created is None:
                continue
            if abs(created - at) > ACTION_TOLERANCE:
                continue
            rule = next((r for r in table.actions if re.search(r.match, text, re.IGNORECASE | re.MULTILINE)), None)
            if rule is not None:
                found.append((action, rule))
        return found

    def _action_event(self, delivery: Delivery, action: dict[str, Any], rule: ActionRule, onboarding: str,
                      table: MovideskTable, ctx: MappingContext, n: int) -> Event:
        data: dict[str, Any] = dict(rule.data)
        for label, value in LABEL_LINE.findall(str(action.get("description") or "")):
            name = table.labels.get(label.strip().lower())
            if name:
                data[name] = self._convert(name, value, table, ctx)
        if rule.event not in (EventType.CONTACT_MADE, EventType.TASK_UPDATED):
            data.setdefault("meeting_id", f"{delivery.record_id}:{action.get('id')}")
        return self.event(delivery, ctx, rule.event, onboarding, data, occurred_at=_stamp(action.get("createdDate")),
                          n=n)

    def _convert(self, name: str, value: Any, table: MovideskTable, ctx: MappingContext) -> Any:
        """A label's text as the event field's type (the tenant's zone for typed times)."""
        if value in (None, ""):
            return None
        mapped = table.value_maps.get(name, {})
        if mapped:
            key = str(value).strip().lower()
            return next((v for k, v in mapped.items() if k.lower() == key), None)
        try:
            if name in DATETIME_FIELDS:
                return parse_datetime(value, ctx.tenant.zone)
        except ValueError:
            raise MappingError(f"{value!r} is not a date and time (dd/mm/yyyy hh:mm)", field=name) from None
        if name in BOOL_FIELDS:
            return as_bool(value)
        if name in INT_FIELDS:
            return as_int(value)
        return str(value).strip()

    # --- outbound --------------------------------------------------------------------------
    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        table = self.table(ctx)
        payload = self.payload(action)
        if isinstance(payload, CreateRecord):
            return self.vendor(action, {"fields": self._ticket(payload, table), "created_by": table.agent_id})
        rid = self.record_id(action, ctx, payload, main_record=table.main_record)
        if isinstance(payload, SetStage):
            spec = role_value(table.stages, payload.stage, "stage")
            return self.vendor(action, {"record_id": rid, "status": spec.status,
                                        "justification": payload.justification or spec.justification})
        if isinstance(payload, AssignOwner):
            owner = role_value(table.owners, payload.owner, "owner")
            return self.vendor(action, {"record_id": rid, "owner_id": owner.owner_id,
                                        "owner_team": payload.team or owner.owner_team})
        if isinstance(payload, PostAction):
            status = role_value(table.statuses, payload.status, "status") if payload.status else None
            return self.vendor(action, {"record_id": rid, "description": payload.description,
                                        "public": payload.public, "status": status.status if status else None,
                                        "justification": payload.justification or (status.justification if status else None),
                                        "created_by": table.agent_id})
        if isinstance(payload, AddNote):
            return self.vendor(action, {"record_id": rid, "body": payload.body, "created_by": table.agent_id})
        if isinstance(payload, CreateTask):
            owner = role_value(table.owners, payload.owner, "owner") if payload.owner else None
            due = payload.due_at.astimezone(ctx.tenant.zone).strftime("%d/%m/%Y %H:%M")
            lines = [f"Tarefa: {payload.subject}",
                     f"Responsável: {(owner.label or payload.owner) if owner else '-'}", f"Prazo: {due}",
                     f"Chave: {action.idempotency_key}"]
            if payload.body:
                lines.append(payload.body)
            return self.vendor(_as_post(action), {"record_id": rid, "description": "\n".join(lines),
                                                  "public": False, "created_by": table.agent_id})
        if isinstance(payload, CompleteTask):
            return self.vendor(_as_post(action), {
                "record_id": rid, "description": f"Tarefa concluída ({payload.task_key[:12]})",
                "public": False, "created_by": table.agent_id})
        raise MappingError(f"Movidesk takes no {action.kind.value} actions", field="kind")

    def _ticket(self, payload: CreateRecord, table: MovideskTable) -> dict[str, Any]:
        fields = payload.fields
        body = {**table.ticket}
        body.update({vendor: fields[name] for name, vendor in table.ticket_fields.items()
                     if fields.get(name) not in (None, "", "None")})
        client = fields.get("client_id") or table.default_client
        if not client or client == "None":
            raise MappingError("the ticket needs a client: give client_id in the fields or the table's "
                               "default_client", field="client_id")
        body["clients"] = [{"id": str(client)}]
        details = [f"{k}: {v}" for k, v in fields.items()
                   if k not in table.ticket_fields and k != "client_id" and v not in (None, "None")]
        body["actions"] = [{"type": mv.ActionType.INTERNAL.value,
                            "description": "\n".join(["Implementação aberta pelo Kickoff", *details])}]
        return body

    # --- what the connector reads -----------------------------------------------------------
    def reads(self, tables: Mapping[str, dict[str, Any]]) -> dict[str, list[str]]:
        """The ticket fields ``to_events`` reads: the state every delivery is compared on, the
        fields the tables' payment rule names, and the actions when a table matches them."""
        if not tables:
            return {}
        fields = list(TICKET_FIELDS)
        for raw in tables.values():
            table = MovideskTable.model_validate(raw)
            data_paths = [p for paths in table.payment.data.values() for p in paths]
            paths = [table.payment.field_path, *data_paths]
            fields += [_read_field(p) for p in paths if p]
            if table.actions:
                fields += ACTION_FIELDS
        return {mv.TICKET: list(dict.fromkeys(fields))}

    # --- implementation tickets already under way (``kickoff adopt``) -----------------------
    adopt_starts = frozenset({EventType.PAYMENT_CONFIRMED})

    def running_query(self, ctx: MappingContext, stages: Sequence[str]) -> dict[str, Any] | None:
        """The tenant's implementation tickets (the ``ticket`` category) in an open stage's
        status, with what the payment rule and the action rules read, and their dates."""
        table = self.table(ctx)
        statuses = sorted({table.stages[s].status for s in stages if s in table.stages})
        if not statuses:
            return None
        clauses = [f"({' or '.join(f'status eq {_literal(s)}' for s in statuses)})"]
        if table.ticket.get("category"):
            clauses.insert(0, f"category eq {_literal(str(table.ticket['category']))}")
        fields = [*self.reads({ctx.tenant_key: ctx.table})[mv.TICKET], "justification", "createdDate", "category",
                  *ACTION_FIELDS]
        return {"filter": " and ".join(clauses), "fields": list(dict.fromkeys(fields))}

    def adopt(self, record: dict[str, Any], ctx: MappingContext) -> Running | Unplaced:
        """A payment confirmed when the ticket was created (M1 made it then), then each action a
        person posted that a rule reads (bookings, sessions held, no-shows), in time order."""
        table, ticket = self.table(ctx), mv.camel(record)
        rid, title = str(ticket.get("id") or ""), str(ticket.get("subject") or "")
        label = f"Movidesk ticket {rid} {title!r}"
        stage = next((name for name, spec in table.stages.items() if spec.status == ticket.get("status")
                      and spec.justification in (None, ticket.get("justification"))), None)
        created = _stamp(ticket.get("createdDate"))
        if stage is None or created is None:
            why = "it has no createdDate" if stage else f"its status {ticket.get('status')!r} is no stage of the table's"
            return Unplaced(self.tool, rid, label, why)
        subject = self.new_subject(ctx, f"movidesk-ticket-{rid}")
        delivery = Delivery(tool="movidesk", kind="poll", dedup_key=f"adopt:movidesk:{rid}", received_at=created,
                            payload=ticket, record_id=rid)
        data = {name: self._convert(name, first_value(ticket, paths), table, ctx)
                for name, paths in table.payment.data.items()}
        if not data.get("account_name"):
            return Unplaced(self.tool, rid, label, "it names no customer")
        history = [self.event(delivery, ctx, EventType.PAYMENT_CONFIRMED, subject, data, occurred_at=created)]
        posted = sorted((a for a in ticket.get("actions") or [] if _stamp(a.get("createdDate"))),
                        key=lambda a: _stamp(a.get("createdDate")))
        for n, action in enumerate(posted, start=1):
            text = str(action.get("description") or "")
            rule = next((r for r in table.actions if re.search(r.match, text, re.IGNORECASE | re.MULTILINE)), None)
            if rule is not None and not action.get("isDeleted") and not mv.MARKER.search(text):
                history.append(self._action_event(delivery, action, rule, subject, table, ctx, n))
        return Running(subject=subject, tenant=ctx.tenant_key, tool=self.tool, record_id=rid, record_kind="ticket",
                       label=label, stage=stage, history=history, records={table.main_record: rid})

    def wanted_webhooks(self, tables: Mapping[str, dict[str, Any]]) -> list[Wanted]:
        """An automation trigger that calls Kickoff when a ticket is created or changed (the
        body a notice, or the whole ticket, per the tables' ``webhook_body``)."""
        if not tables:
            return []
        bodies = sorted({MovideskTable.model_validate(t).webhook_body for t in tables.values()})
        return [Wanted("trigger", f"{KICKOFF_PREFIX}: ticket changes",
                       {"on": ["ticket created", "ticket changed"], "body": bodies})]

    # --- echo suppression ------------------------------------------------------------------
    def write_fingerprints(self, vendor_action: VendorAction,
                           external_id: str | None = None) -> list[tuple[str, str]]:
        p = vendor_action.payload
        rid = str(getattr(p, "record_id", None) or external_id or "")
        if not rid:
            return []
        prints: list[tuple[str, Any]] = []
        if isinstance(p, mv.SetStage | mv.PostAction) and p.status:
            prints.append(("status", p.status))
        if isinstance(p, mv.PostAction | mv.AddNote | mv.CreateRecord):
            prints.append(("action", mv.marker(vendor_action.idempotency_key)))
        if isinstance(p, mv.AssignOwner):
            owner = (("owner_id", p.owner_id), ("owner_team", p.owner_team))
            prints += [(k, v) for k, v in owner if v]
        return [(rid, change_fingerprint(rid, f, v)) for f, v in prints]

    def delivery_fingerprints(self, delivery: Delivery) -> list[tuple[str, str]]:
        """The actions of this change by their Kickoff marker (or text); without new actions,
        the ticket's state: status, owner, custom fields."""
        ticket = mv.camel(delivery.payload) if isinstance(delivery.payload, dict) else {}
        rid = str(ticket.get("id") or delivery.record_id or "")
        at = _stamp(ticket.get("lastUpdate"))
        prints = []
        for action in ticket.get("actions") or []:
            created = _stamp(action.get("createdDate"))
            if at is not None and created is not None and abs(created - at) <= ACTION_TOLERANCE:
                text = str(action.get("description") or "").strip()
                marker = mv.MARKER.search(text)
                prints.append(("action", marker.group(0).strip() if marker else text))
        if not prints:
            prints = [("status", ticket.get("status")), ("owner_id", (ticket.get("owner") or {}).get("id")),
                      ("owner_team", ticket.get("ownerTeam")),
                      *[(f"custom_field:{f.get('customFieldId')}", f.get("value"))
                        for f in ticket.get("customFieldValues") or []]]
        return [(rid, change_fingerprint(rid, f, v)) for f, v in prints]


def _as_post(action: Action) -> Action:
    """Movidesk has no tasks: a task (or its completion) is written as an internal action."""
    return action.model_copy(update={"kind": ActionKind.POST_ACTION})


def _read_field(path: str) -> str:
    """A table's payload path as a field to read: ``clients[0].businessName`` is the clients'
    ``businessName``; a path that picks an item by a key (``customFieldValues[customFieldId=201]``)
    needs the whole property."""
    head, _, rest = path.partition(".")
    name, picks = head.partition("[")[0], head.partition("[")[2]
    sub = rest.partition(".")[0].partition("[")[0]
    if name in mv.TICKET_NAVIGATIONS and sub and "=" not in picks:
        return f"{name}.{sub}"
    return name


MAPPING = MovideskMapping()
