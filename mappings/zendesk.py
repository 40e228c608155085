"""Zendesk (retention-alerts): the alerts feed's tickets <-> canonical retention facts.

A new ticket of the feed is classified by the table's ``alerts`` (first match on tags, form
or a custom field) into ``churn_risk.reported``, ``red_alert.reported`` (competitor date),
``nps.received`` (score), ``upsell.requested``, ``hardware.requested`` or
``request.submitted``; each fact's data is read from custom fields, tags (``nps_7``) or
ticket paths. Later changes of an account's tickets: the case-stage field or the status is
``case.updated``; a call or meeting tag added is ``call.logged`` / ``meeting.booked``. A
churn-risk opportunity (a ticket with the tags of the table's ``records.opportunity``), made
by Kickoff or by a person, reports its own status as ``case.updated`` with ``case``
``opportunity`` (open, or closed once solved): W2's "déjà créée" is one still open.
The onboarding is the account (``retention:requester-<id>`` or ``organization-<id>``); each
case of it is a cycle, linked to the ticket it came in on, and a later change on the ticket of
a case since closed is no fact of the case open now.

Event-subscription webhooks carry no custom field values: the connector's ``enrich`` reads the
ticket of a ``ticket.created`` event into its ``detail.custom_fields``; an alert whose data
needs a custom field and comes without them is left to the incremental export (the poll).
For a red alert or churn risk, ``enrich`` also searches the account's open opportunities:
``open_opportunity`` says whether there is one (absent from a poll: then the case's own facts).
A trigger webhook's body is whatever the trigger's template says: the table's ``trigger``
names the path (or alternative paths) of each ticket field in it; a field it does not name
is read at the top level under its own name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from kickoff.actions import AddNote, AssignOwner, CreateRecord, SetStage
from kickoff.contracts.subscriptions import KICKOFF_PREFIX, Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.events import EventType, validate_event_data
from kickoff.model import Action, Delivery, Event
from kickoff.paths import dig, first_value
from kickoff.playbooks.adopt import Running, Unplaced
from kickoff.tools.zendesk import (
    OPEN_OPPORTUNITIES,
    AddNotePayload,
    AssignOwnerPayload,
    CreateRecordPayload,
    Priority,
    SetStagePayload,
    Status,
    TicketChange,
    TicketType,
)
from mappings.base import MappingContext, MappingError, TableModel, ToolMapping, default, role_value
from mappings.common import change_fingerprint, parse_datetime

EVENT_PREFIX = "zen:event-type:ticket."
LINKED_EVENTS = (EventType.UPSELL_REQUESTED, EventType.HARDWARE_REQUESTED, EventType.REQUEST_SUBMITTED)
OPPORTUNITY_EVENTS = (EventType.RED_ALERT, EventType.CHURN_RISK)
"""The alerts W2 weighs an open churn-risk opportunity for (a red alert may become a churn risk)."""
TRIGGER_PATHS: dict[str, str | list[str]] = {"id": ["ticket_id", "id"],
                                             "form_id": ["form_id", "ticket_form_id"]}
"""Where a trigger body has a ticket's fields when the table says nothing else."""
CHANGES_HOOK = f"{KICKOFF_PREFIX}: ticket changes"
ALERTS_HOOK = f"{KICKOFF_PREFIX}: new alert tickets"
CONDITIONAL = "conditional_ticket_events"
PLACEHOLDERS = {"organization_id": "ticket.organization.id", "requester_id": "ticket.requester.id",
                "assignee_id": "ticket.assignee.id", "group_id": "ticket.group.id", "id": "ticket.id",
                "form_id": "ticket.ticket_form_id", "subject": "ticket.title", "status": "ticket.status",
                "tags": "ticket.tags", "description": "ticket.description",
                "created_at": "ticket.created_at_with_timestamp", "updated_at": "ticket.updated_at_with_timestamp"}
"""A trigger body's field -> the Zendesk placeholder that fills it."""


def _placeholder(name: str) -> str:
    """``{{name}}``: a Zendesk placeholder, filled in when the trigger fires."""
    return "{{" + name + "}}"


class ValueSpec(TableModel):
    """Where one fact's value is: a custom field, a tag's suffix, a ticket path, or fixed."""

    field: int | None = None
    tag_prefix: str | None = None
    path: str | None = None
    value: Any = None


class AlertRule(TableModel):
    event: EventType
    tags_any: list[str] = default([])
    form_id: int | None = None
    field: int | None = None
    equals: Any = None
    data: dict[str, ValueSpec] = default({})


class StageSpec(TableModel):
    status: Status | None = None
    value: str | None = None


class RecordSpec(TableModel):
    subject: str
    type: TicketType | None = "task"
    priority: Priority | None = None
    tags: list[str] = default([])
    stage: str | None = "new"


class ZendeskTable(TableModel):
    account_from: list[str] = default(["organization_id", "requester_id"])
    alerts: list[AlertRule]
    case_field: int | None = None
    case_values: dict[str, str] = default({})
    case_statuses: dict[str, str] = default({"pending": "waiting", "solved": "closed"})
    call_tags: dict[str, Literal["answered", "no_answer"]] = default({})
    meeting_tags: list[str] = default([])
    stages: dict[str, StageSpec]
    owners: dict[str, int]
    groups: dict[str, int] = default({})
    main_record: str = "opportunity"
    main_kind: str | None = "ticket"
    records: dict[str, RecordSpec] = default({})
    trigger: dict[str, str | list[str]] = default(TRIGGER_PATHS)


class _Ticket:
    """A ticket as one shape: from the export (poll), an event webhook or a trigger body
    (its fields at the ``trigger`` paths)."""

    def __init__(self, delivery: Delivery, trigger: Mapping[str, str | list[str]]) -> None:
        body = delivery.payload if isinstance(delivery.payload, dict) else {}
        self.kind = "poll"
        self.change: dict[str, Any] = {}
        if delivery.kind == "poll" and isinstance(body.get("ticket"), dict):  # the export
            raw = body["ticket"]
            self.kind = "deleted" if body.get("event") == "ticket.deleted" else "poll"
            self.form_id = raw.get("ticket_form_id")
        elif str(body.get("type", "")).startswith(EVENT_PREFIX):
            raw = body.get("detail") or {}
            self.kind = str(body["type"])[len(EVENT_PREFIX):]
            self.change = body.get("event") or {}
            self.form_id = raw.get("form_id")
        else:
            found = {name: first_value(body, paths) for name, paths in trigger.items()}
            raw = {**body, **{name: value for name, value in found.items() if value is not None}}
            self.kind = "trigger"
            self.form_id = raw.get("form_id")
        self.raw = raw
        self.id = str(raw.get("id") or delivery.record_id or "")
        self.status = str(raw.get("status") or "").lower()
        tags = raw.get("tags") or []
        self.tags = set(tags.split() if isinstance(tags, str) else tags)
        self.fields = {str(f.get("id")): f.get("value") for f in raw.get("custom_fields") or [] if isinstance(f, dict)}
        if self.kind == "custom_field_changed":
            self.fields[str((self.change.get("custom_field") or {}).get("id"))] = self.change.get("current")
        stamp = raw.get("updated_at") or body.get("time")
        self.at = parse_datetime(stamp) if stamp else delivery.received_at
        self.created_at = parse_datetime(raw["created_at"]) if raw.get("created_at") else self.at

    @property
    def is_new(self) -> bool:
        return self.kind == "created" or (self.kind in ("poll", "trigger") and self.created_at == self.at)

    def added_tags(self) -> set[str]:
        if self.kind == "tags_changed":
            return set(self.change.get("tags_added") or [])
        return set()


class ZendeskMapping(ToolMapping):
    tool = "zendesk"
    Table = ZendeskTable

    # --- inbound ---------------------------------------------------------------------------
    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        ticket = _Ticket(delivery, table.trigger)
        if not ticket.id:
            raise MappingError("the delivery names no ticket", field="id")
        if ticket.kind in ("deleted", "soft_deleted"):
            return []
        subject = self._subject(ticket, table, ctx)
        opportunity = table.records.get("opportunity")
        if opportunity is not None and opportunity.tags and ticket.tags >= set(opportunity.tags):
            return self._opportunity(delivery, ticket, table, subject, ctx)
        if ticket.is_new:
            return self._alert(delivery, ticket, table, subject, ctx)
        if ctx.ledger.state_for(subject) is None:
            return []  # a change on an account with no retention case
        if self.of_closed_cycle(ctx, ticket.id):
            return []  # the ticket of a case since closed: it drives nothing of the one open now
        return self._change(delivery, ticket, table, subject, ctx)

    def _subject(self, ticket: _Ticket, table: ZendeskTable, ctx: MappingContext) -> str:
        for name in table.account_from:
            value = ticket.raw.get(name)
            if value not in (None, ""):
                return self.new_subject(ctx, f"{name.removesuffix('_id')}-{value}")
        raise MappingError(f"the ticket names no account ({' or '.join(table.account_from)})",
                           field=table.account_from[0])

    def _alert(self, delivery: Delivery, ticket: _Ticket, table: ZendeskTable, subject: str,
               ctx: MappingContext) -> list[Event]:
        rule = next((r for r in table.alerts if self._matches(r, ticket)), None)
        if rule is None:
            return []
        if (ticket.kind == "created" and "custom_fields" not in ticket.raw
                and any(spec.field is not None for spec in rule.data.values())):
            return []  # its data is in custom fields, which a bare webhook lacks: the export brings them
        data = {name: self._value(spec, ticket, ctx) for name, spec in rule.data.items()}
        data = {k: v for k, v in data.items() if v is not None}
        if rule.event in LINKED_EVENTS:
            data.setdefault("ticket_link", f"zendesk:ticket:{ticket.id}")
        if rule.event in OPPORTUNITY_EVENTS and isinstance(ticket.raw.get(OPEN_OPPORTUNITIES), list):
            data["open_opportunity"] = bool(ticket.raw[OPEN_OPPORTUNITIES])  # W2, as enrich read it
        try:
            validate_event_data(rule.event, data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise MappingError(f"{rule.event}: {err['msg']}", field=".".join(str(p) for p in err["loc"])) from None
        return [self.event(delivery, ctx, rule.event, subject, data, occurred_at=ticket.created_at,
                           record_id=ticket.id)]

    def _opportunity(self, delivery: Delivery, ticket: _Ticket, table: ZendeskTable, subject: str,
                     ctx: MappingContext) -> list[Event]:
        """The opportunity's status, for an account with a retention case."""
        if ctx.ledger.state_for(subject) is None or not ticket.status:
            return []
        status = "closed" if table.case_statuses.get(ticket.status) == "closed" or ticket.status == "closed" else "open"
        return [self.event(delivery, ctx, EventType.CASE_UPDATED, subject,
                           {"case_id": ticket.id, "case": "opportunity", "status": status,
                            "subject": ticket.raw.get("subject")}, occurred_at=ticket.at, record_id=ticket.id)]

    @staticmethod
    def _matches(rule: AlertRule, ticket: _Ticket) -> bool:
        if rule.tags_any and not ticket.tags & set(rule.tags_any):
            return False
        if rule.form_id is not None and str(ticket.form_id) != str(rule.form_id):
            return False
        if rule.field is not None and str(ticket.fields.get(str(rule.field))) != str(rule.equals):
            return False
        return bool(rule.tags_any or rule.form_id is not None or rule.field is not None)

    @staticmethod
    def _value(spec: ValueSpec, ticket: _Ticket, ctx: MappingContext) -> Any:
        if spec.field is not None:
            value = ticket.fields.get(str(spec.field))
        elif spec.tag_prefix:
            value = next((t[len(spec.tag_prefix):] for t in sorted(ticket.tags) if t.startswith(spec.tag_prefix)), None)
        elif spec.path:
            value = dig(ticket.raw, spec.path)
        else:
            value = spec.value
        return None if value in ("", []) else value

    def _change(self, delivery: Delivery, ticket: _Ticket, table: ZendeskTable, subject: str,
                ctx: MappingContext) -> list[Event]:
        events: list[Event] = []
        status = None
        if table.case_field is not None and str(table.case_field) in ticket.fields and ticket.kind in (
                "custom_field_changed", "poll", "trigger"):
            value = ticket.fields[str(table.case_field)]
            status = table.case_values.get(str(value)) if value is not None else None
        if status is None and ticket.kind in ("status_changed", "poll", "trigger"):
            status = table.case_statuses.get(ticket.status)
        if status:
            events.append(self.event(delivery, ctx, EventType.CASE_UPDATED, subject,
                                     {"case_id": ticket.id, "case": "ticket", "status": status,
                                      "subject": ticket.raw.get("subject")}, occurred_at=ticket.at,
                                     record_id=ticket.id))
        for n, tag in enumerate(sorted(ticket.added_tags()), start=1):
            if tag in table.call_tags:
                events.append(self.event(delivery, ctx, EventType.CALL_LOGGED, subject,
                                         {"outcome": table.call_tags[tag]}, occurred_at=ticket.at, n=n))
            elif tag in table.meeting_tags:
                events.append(self.event(delivery, ctx, EventType.MEETING_BOOKED, subject,
                                         {"meeting_id": f"{ticket.id}:{tag}", "booked_by": "am"},
                                         occurred_at=ticket.at, n=n))
        return events

    def reads(self, tables: Mapping[str, dict[str, Any]]) -> dict[str, list[str]]:
        """What the connector's ``enrich`` adds to a bare ``ticket.created`` webhook, over every
        tenant's table: the ids of the custom fields read (alerts, case stage); and for the
        alerts W2 weighs an open opportunity for (by their tags), the account's open tickets
        with the opportunity's tags (the account: the ``account_from`` fields)."""
        ids: set[int] = set()
        alerts: set[str] = set()
        opportunity: set[str] = set()
        accounts: list[str] = []
        for raw in tables.values():
            table = self.Table.model_validate(raw)
            ids |= {rule.field for rule in table.alerts if rule.field is not None}
            ids |= {spec.field for rule in table.alerts for spec in rule.data.values()
                    if spec.field is not None}
            ids |= {table.case_field} if table.case_field is not None else set()
            spec = table.records.get("opportunity")
            if spec is not None and spec.tags:
                opportunity |= set(spec.tags)
                alerts |= {tag for rule in table.alerts if rule.event in OPPORTUNITY_EVENTS for tag in rule.tags_any}
                accounts += [name for name in table.account_from if name not in accounts]
        wanted = {"custom_fields": [str(i) for i in sorted(ids)]} if ids else {}
        if alerts:
            wanted |= {"opportunity_alerts": sorted(alerts), "opportunity_tags": sorted(opportunity),
                       "accounts": accounts}
        return wanted

    # --- alert tickets already under way (``kickoff adopt``) --------------------------------
    adopt_starts = frozenset(EventType)  # the table's alert rules say which fact a new ticket is

    def running_query(self, ctx: MappingContext, stages: Sequence[str]) -> dict[str, Any] | None:
        """The unsolved tickets an alert rule matches (tags, forms), as the export reads them."""
        table = self.table(ctx)
        tags = sorted({tag for rule in table.alerts for tag in rule.tags_any})
        forms = sorted({str(rule.form_id) for rule in table.alerts if rule.form_id is not None})
        return {"statuses": ["new", "open", "pending", "hold"], "tags_any": tags, "form_ids": forms} if (
            tags or forms) else None

    def adopt(self, record: dict[str, Any], ctx: MappingContext) -> Running | Unplaced:
        """The alert the ticket opened with (as a new ticket of the feed is read), at its stage:
        the case field's value, else its status."""
        table = self.table(ctx)
        delivery = Delivery(tool="zendesk", kind="poll", dedup_key=f"adopt:zendesk:{record.get('id')}",
                            received_at=ctx.now, payload={"ticket": record}, record_id=str(record.get("id")))
        ticket = _Ticket(delivery, table.trigger)
        label = f"Zendesk ticket {ticket.id} {record.get('subject')!r}"
        try:
            subject = self._subject(ticket, table, ctx)
            started = self._alert(delivery, ticket, table, subject, ctx)
        except MappingError as exc:
            return Unplaced(self.tool, ticket.id, label, exc.reason)
        if not started:
            return Unplaced(self.tool, ticket.id, label, "no alert rule matches it")
        value = ticket.fields.get(str(table.case_field)) if table.case_field is not None else None
        stage = next((name for name, spec in table.stages.items() if value is not None and spec.value == value),
                     None) or next((name for name, spec in table.stages.items() if spec.status == ticket.status),
                                   "new")
        return Running(subject=subject, tenant=ctx.tenant_key, tool=self.tool, record_id=ticket.id,
                       record_kind=table.main_kind or "ticket", label=label, stage=stage, history=started)

    # --- what Zendesk must send ------------------------------------------------------------
    def wanted_webhooks(self, tables: Mapping[str, dict[str, Any]]) -> list[Wanted]:
        """A webhook subscribed to the ticket events ``_change`` reads, and a trigger that posts
        each new alert ticket (the ``alerts`` rules' tags, forms, fields) to a second webhook
        with the fields ``_alert`` reads, custom fields included (no read per alert). The
        trigger's body puts each field where the tables' ``trigger`` paths look for it."""
        parsed = [self.Table.model_validate(t) for t in tables.values()]
        if not parsed:
            return []
        events = {kind for t in parsed for kind, used in (
            ("status_changed", t.case_statuses), ("custom_field_changed", t.case_field is not None),
            ("tags_changed", t.call_tags or t.meeting_tags)) if used}
        wanted = [Wanted("webhook", CHANGES_HOOK, {"subscriptions": sorted(EVENT_PREFIX + e for e in events)})]
        rules = [rule for t in parsed for rule in t.alerts]
        if not rules:
            return wanted if events else []
        tags = sorted({tag for rule in rules for tag in rule.tags_any})
        some = [{"field": "current_tags", "operator": "includes", "value": " ".join(tags)}] if tags else []
        some += [{"field": "ticket_form_id", "operator": "is", "value": str(f)}
                 for f in sorted({r.form_id for r in rules if r.form_id is not None})]
        some += [{"field": f"custom_fields_{r.field}", "operator": "is", "value": str(r.equals)}
                 for r in rules if r.field is not None]
        conditions = {"all": [{"field": "update_type", "operator": "is", "value": "Create"}], "any": some}
        trigger = {"webhook": ALERTS_HOOK, "conditions": conditions, "body": self._trigger_body(parsed, tables)}
        return [*(wanted if events else []), Wanted("webhook", ALERTS_HOOK, {"subscriptions": [CONDITIONAL]}),
                Wanted("trigger", f"{KICKOFF_PREFIX}: new alert ticket", trigger)]

    def _trigger_body(self, parsed: list[ZendeskTable], tables: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
        """The template: every field the tables read, under the key their paths read first."""
        body: dict[str, Any] = {}
        for table in parsed:
            names = [*table.account_from, "subject", "status", "tags", "description", "created_at", "updated_at"]
            for name in dict.fromkeys(["id", "form_id", *names]):
                paths = table.trigger.get(name, name)
                first = (paths if isinstance(paths, list) else [paths])[0]
                key = first if first.isidentifier() else name
                body[key] = _placeholder(PLACEHOLDERS.get(name, f"ticket.{name}"))
        fields = self.reads(tables).get("custom_fields", [])
        body["custom_fields"] = [{"id": int(f), "value": _placeholder(f"ticket.ticket_field_{f}")} for f in fields]
        return body

    # --- outbound --------------------------------------------------------------------------
    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        table = self.table(ctx)
        payload = self.payload(action)
        if isinstance(payload, CreateRecord):
            return self.vendor(action, self._create(action, table, payload))
        if payload.record == "contact":  # a note "on the contact": on its ticket, for the AM to read
            payload = payload.model_copy(update={"record": None})
        rid = self.record_id(action, ctx, payload, main_record=table.main_record, main_kind=table.main_kind)
        if isinstance(payload, SetStage):
            spec = role_value(table.stages, payload.stage, "stage")
            fields = [{"id": table.case_field, "value": spec.value}] if table.case_field and spec.value else []
            return self.vendor(action, {"record_id": rid, "status": spec.status, "custom_fields": fields or None,
                                        "add_tags": [f"kickoff_{payload.stage}"]})
        if isinstance(payload, AssignOwner):
            owner = role_value(table.owners, payload.owner, "owner")
            return self.vendor(action, {"record_id": rid, "assignee_id": owner,
                                        "group_id": table.groups.get(payload.owner)})
        if isinstance(payload, AddNote):
            return self.vendor(action, {"record_id": rid, "body": payload.body, "public": False})
        raise MappingError(f"Zendesk takes no {action.kind.value} actions", field="kind")

    def _create(self, action: Action, table: ZendeskTable, payload: CreateRecord) -> dict[str, Any]:
        spec = role_value(table.records, payload.object, "record")
        fields = payload.fields
        account = action.onboarding_id.partition(":")[2]
        who, _, number = account.partition("-")
        body = str(fields.get("description") or "") or spec.subject
        values: dict[str, Any] = {
            "subject": spec.subject.format(account=account, **{k: v for k, v in fields.items() if k != "account"}),
            "body": body if body != "None" else spec.subject, "type": spec.type, "priority": spec.priority,
            "tags": sorted({*spec.tags, *([str(fields["type"])] if fields.get("type") else [])}),
        }
        if who == "requester" and number.isdigit():
            values["requester_id"] = int(number)
        stage = table.stages.get(spec.stage or "")
        if table.case_field and stage and stage.value:
            values["custom_fields"] = [{"id": table.case_field, "value": stage.value}]
        return values

    # --- echo suppression ------------------------------------------------------------------
    def write_fingerprints(self, vendor_action: VendorAction,
                           external_id: str | None = None) -> list[tuple[str, str]]:
        p = vendor_action.payload
        prints: list[tuple[str, Any]] = []
        if isinstance(p, SetStagePayload):
            prints += [("status", p.status)] if p.status else []
            prints += [(f"custom_field:{item.id}", item.value) for item in p.custom_fields]
        elif isinstance(p, AssignOwnerPayload):
            who = (("assignee_id", p.assignee_id), ("group_id", p.group_id))
            prints += [(f, v) for f, v in who if v is not None]
        elif isinstance(p, AddNotePayload):
            prints.append(("comment", p.body))
        if isinstance(p, TicketChange):
            rid = p.record_id
            prints += [("tag", t) for t in p.add_tags]
        else:  # a creation: its ticket is known once it is made
            rid = str(external_id or "")
            prints = [("created", "")] if isinstance(p, CreateRecordPayload) and external_id else []
        return [(rid, change_fingerprint(rid, f, v)) for f, v in prints] if rid else []

    def delivery_fingerprints(self, delivery: Delivery) -> list[tuple[str, str]]:
        # no tenant here: a trigger whose template the default paths do not read names no ticket
        t = _Ticket(delivery, TRIGGER_PATHS)
        if not t.id:
            return []
        c = t.change
        if t.kind == "created":
            prints = [("created", "")]
        elif t.kind == "status_changed":
            prints = [("status", str(c.get("current") or "").lower())]
        elif t.kind == "agent_assignment_changed":
            prints = [("assignee_id", c.get("current"))]
        elif t.kind == "group_assignment_changed":
            prints = [("group_id", c.get("current"))]
        elif t.kind == "custom_field_changed":
            prints = [(f"custom_field:{(c.get('custom_field') or {}).get('id')}", c.get("current"))]
        elif t.kind == "tags_changed":
            prints = [("tag", tag) for tag in c.get("tags_added") or []] + [
                ("tag_removed", tag) for tag in c.get("tags_removed") or []]
        elif t.kind == "comment_added":
            prints = [("comment", (c.get("comment") or {}).get("body"))]
        elif t.kind in ("poll", "trigger"):
            prints = [("status", t.status), ("assignee_id", t.raw.get("assignee_id")),
                      ("group_id", t.raw.get("group_id")), *[("tag", tag) for tag in sorted(t.tags)],
                      *[(f"custom_field:{k}", v) for k, v in sorted(t.fields.items())]]
        else:
            prints = [(t.kind, "")]
        return [(t.id, change_fingerprint(t.id, f, v)) for f, v in prints]


MAPPING = ZendeskMapping()
