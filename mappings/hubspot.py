"""HubSpot (assist-se): tickets, meetings, calls and tasks <-> canonical events and actions.

Inbound: a person moving the onboarding ticket to a pause stage ("Manuell uppföljning") is
``onboarding.paused``; the "Restart onboarding" property set to yes is
``onboarding.restarted``; a meeting booked or given an outcome (``hs_meeting_outcome``) is
``meeting.booked/completed/no_show/rescheduled/cancelled``; a logged call is ``call.logged``
by its disposition; a task Kickoff created, completed, is ``task.updated``. Webhook events
(one property each) and polled or read records (all properties) are read the same way.

Outbound: canonical stages and owner roles become the pipeline's stage ids and owner ids;
the record is the onboarding's ticket (the playbook's ``ticket`` record) unless the action
names another (a meeting's outcome, the company's owner: ``object`` tells the connector).
A meeting or call webhook carries no associations: the connector's ``enrich`` reads the record
and merges its ``properties`` and ``associations`` into the event. Which properties it reads
(per object type, each tenant's restart and resume properties included) is ``reads``; what
HubSpot itself fixes (object types, property names, enumerations, payload models) is
``kickoff.tools.hubspot``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any, Literal

from kickoff.actions import AddNote, AssignOwner, CompleteTask, CreateRecord, CreateTask, SetStage
from kickoff.contracts.subscriptions import Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.events import EventType
from kickoff.model import Action, Delivery, Event
from kickoff.playbooks.adopt import Running, Unplaced
from kickoff.tools.hubspot import (
    CALL_DISPOSITION,
    CREATED,
    CREATES,
    KEY_PROPERTY,
    MEETING_OUTCOME,
    MODIFIED,
    OBJECT_TYPES,
    OWNER,
    PIPELINE,
    STAGE,
    SUBJECT,
    TASK_STATUS,
    MeetingOutcome,
    TaskPriority,
    TaskType,
    UpdatePayload,
    object_type,
)
from mappings import hubspot_adopt
from mappings.base import MappingContext, MappingError, TableModel, ToolMapping, default, role_value
from mappings.common import as_bool, change_fingerprint, parse_datetime

WATCHED = (STAGE, OWNER, MEETING_OUTCOME, TASK_STATUS, CALL_DISPOSITION, "restart_onboarding")
CREATED_FINGERPRINT = "(created)"
MEETING_READS = [MEETING_OUTCOME, "hs_meeting_start_time", MODIFIED]
CALL_READS = [CALL_DISPOSITION, "hs_call_body", MODIFIED]
TASK_READS = [TASK_STATUS, MODIFIED, KEY_PROPERTY, OWNER]
"""A task is polled (HubSpot sends no webhook for tasks): its status, Kickoff's key, and its
owner (the tables' ``route`` tells the tenant by it)."""
TICKET_READS = [SUBJECT, PIPELINE, STAGE, OWNER, MODIFIED, CREATED, KEY_PROPERTY]
"""The ticket's own properties read with every change: the stage the mapping reads, and what
the push writes (owner, pipeline), so a polled echo is recognised by its fingerprints."""


class HubSpotTable(TableModel):
    pipeline: str
    pipelines: dict[str, str] = default({})
    ticket_prefix: str = ""
    main_record: str = "ticket"
    objects: dict[str, str] = default({"ticket": "ticket"})
    initial_stage: str = "new"
    stages: dict[str, str]
    owners: dict[str, str]
    stage_events: dict[str, EventType] = default({"manual_follow_up": EventType.ONBOARDING_PAUSED})
    restart_property: str = "restart_onboarding"
    resume_property: str | None = None
    meeting_outcomes: dict[MeetingOutcome, EventType] = default({
        "SCHEDULED": EventType.MEETING_BOOKED, "COMPLETED": EventType.MEETING_COMPLETED,
        "NO_SHOW": EventType.MEETING_NO_SHOW, "RESCHEDULED": EventType.MEETING_RESCHEDULED,
        "CANCELED": EventType.MEETING_CANCELLED})
    meeting_stages: dict[str, MeetingOutcome] = default({"booked": "SCHEDULED", "completed": "COMPLETED", "no_show": "NO_SHOW",
                                              "rescheduled": "RESCHEDULED", "cancelled": "CANCELED"})
    call_outcomes: dict[str, Literal["answered", "no_answer"]] = default({})
    ticket_fields: dict[str, str] = default({"name": "subject", "org_number": "org_number"})
    task_types: dict[str, TaskType] = default({"call": "CALL", "email": "EMAIL", "todo": "TODO", "meeting": "TODO"})
    priorities: dict[str, TaskPriority] = default({"low": "LOW", "medium": "MEDIUM", "high": "HIGH"})
    flow_stage: str | None = "onboarding_in_progress"
    """``kickoff adopt``: the stage a ticket enters the day after its delivery start date (A2)."""


class _Change:
    """One delivery read the same way whatever its shape: which object, which properties
    (only the changed one for a webhook event; all for a read record), and when."""

    def __init__(self, delivery: Delivery) -> None:
        body = delivery.payload if isinstance(delivery.payload, dict) else {}
        self.body = body
        kind = str(body.get("subscriptionType") or "")
        self.webhook = bool(kind)
        singular, _, self.action = kind.partition(".")
        self.object_type = object_type(body.get("objectTypeId") or singular
                                       or body.get("objectType") or "")
        self.id = str(body.get("objectId") or body.get("id") or delivery.record_id or "")
        self.read = dict(body.get("properties") or {})  # a read record's properties (an enriched event's too)
        if self.action == "propertyChange":
            self.properties = {str(body.get("propertyName")): body.get("propertyValue")}
        else:
            self.properties = dict(self.read)
        stamp = body.get("occurredAt") or self.properties.get(MODIFIED) or body.get("updatedAt")
        self.at = parse_datetime(stamp) if stamp else delivery.received_at

    @property
    def created(self) -> bool:
        return self.action == "creation"

    def associated(self, object_type: str) -> list[str]:
        """Ids of associated records, from a v3 read (``associations.tickets.results``) or the
        sandbox's admin view (``[{toObjectType, toObjectId}]``)."""
        links = self.body.get("associations")
        if isinstance(links, dict):
            return [str(r.get("id") or r.get("toObjectId")) for r in (links.get(object_type) or {}).get("results", [])]
        if isinstance(links, list):
            return [str(x.get("toObjectId")) for x in links if x.get("toObjectType") == object_type]
        return []


class HubSpotMapping(ToolMapping):
    tool = "hubspot"
    Table = HubSpotTable

    # --- inbound ---------------------------------------------------------------------------
    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        change = _Change(delivery)
        if not change.id:
            raise MappingError("the delivery names no HubSpot object", field="objectId")
        handler = {"tickets": self._ticket, "meetings": self._meeting, "calls": self._call,
                   "tasks": self._task}.get(change.object_type)
        return handler(delivery, change, ctx) if handler else []

    def _ticket(self, delivery: Delivery, change: _Change, ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        onboarding = self.onboarding_of(ctx, change.id)
        if onboarding is None or change.created or self.of_closed_cycle(ctx, change.id):
            return []  # not an onboarding's ticket, or the ticket of an earlier contract
        state = ctx.ledger.state_for(onboarding)
        events = []
        stage_id = change.properties.get(STAGE)
        canonical = next((name for name, sid in table.stages.items() if sid == str(stage_id)), None)
        if canonical in table.stage_events and (state is None or state.stage != canonical):
            data: dict[str, Any] = {}
            if table.stage_events[canonical] == EventType.ONBOARDING_PAUSED:
                data = {"reason": f"moved to {canonical} in HubSpot",
                        "resume_on": self._date(change.properties.get(table.resume_property or ""), ctx)}
            events.append(self.event(delivery, ctx, table.stage_events[canonical], onboarding, data,
                                     occurred_at=change.at, record_id=change.id))
        if as_bool(change.properties.get(table.restart_property)):
            events.append(self.event(delivery, ctx, EventType.ONBOARDING_RESTARTED, onboarding, {},
                                     occurred_at=change.at, record_id=change.id, n=1))
        return events

    def _meeting(self, delivery: Delivery, change: _Change, ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        onboarding = self._onboarding_via_ticket(change, ctx)
        outcome = "SCHEDULED" if change.created else change.properties.get(MEETING_OUTCOME)
        if outcome in (None, ""):
            return []
        event_type = _known(table, "meeting_outcomes", outcome, "meeting outcome", MEETING_OUTCOME)
        props = {**change.read, **change.properties}  # the changed property over the record as read
        data = {"meeting_id": change.id, "kind": "kickoff",
                "start": parse_datetime(props.get("hs_meeting_start_time")) if props.get("hs_meeting_start_time") else None,
                "restart_onboarding": as_bool(props.get(table.restart_property))}
        return [self.event(delivery, ctx, event_type, onboarding, data, occurred_at=change.at, record_id=change.id)]

    def _call(self, delivery: Delivery, change: _Change, ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        disposition = change.properties.get(CALL_DISPOSITION)
        if disposition in (None, ""):
            return []
        outcome = _known(table, "call_outcomes", disposition, "call disposition",
                         CALL_DISPOSITION)
        onboarding = self._onboarding_via_ticket(change, ctx)
        data = {"outcome": outcome, "note": change.properties.get("hs_call_body", change.read.get("hs_call_body"))}
        return [self.event(delivery, ctx, EventType.CALL_LOGGED, onboarding, data, occurred_at=change.at,
                           record_id=change.id)]

    def _task(self, delivery: Delivery, change: _Change, ctx: MappingContext) -> list[Event]:
        status = change.properties.get(TASK_STATUS)
        if status not in ("COMPLETED", "NOT_STARTED") or (not change.webhook and status != "COMPLETED"):
            return []  # a polled task tells only when it is done (else every poll would say "open")
        key = change.properties.get(KEY_PROPERTY) or ctx.ledger.onboarding_for(self.tool, change.id)
        onboarding = ctx.ledger.onboarding_of_action(key) if key and ctx.ledger.onboarding_of_action else None
        onboarding = onboarding or (self._onboarding_via_ticket(change, ctx) if change.associated("tickets") else None)
        if not key or not onboarding:
            return []  # not a task Kickoff created
        data = {"task_key": key, "status": "completed" if status == "COMPLETED" else "open"}
        return [self.event(delivery, ctx, EventType.TASK_UPDATED, onboarding, data, occurred_at=change.at,
                           record_id=change.id)]

    def _onboarding_via_ticket(self, change: _Change, ctx: MappingContext) -> str:
        """A meeting's or call's onboarding: its own crosswalk link, else its ticket's."""
        for candidate in [change.id, *change.associated("tickets")]:
            onboarding = self.onboarding_of(ctx, candidate)
            if onboarding:
                return onboarding
        raise MappingError(f"{change.object_type} {change.id} is tied to no onboarding ticket (a webhook event "
                           "carries no associations: read the record with its ticket association)",
                           field="associations")

    @staticmethod
    def _date(value: Any, ctx: MappingContext) -> Any:
        if value in (None, ""):
            return None
        moment = parse_datetime(value, ctx.tenant.zone)
        return moment.astimezone(ctx.tenant.zone).date() if moment else None

    # --- outbound --------------------------------------------------------------------------
    def stage_of(self, record: dict[str, Any], ctx: MappingContext) -> str | None:
        """The canonical stage of a ticket as read: its stage id looked up in the table."""
        stage_id = str((record.get("properties") or {}).get(STAGE) or "")
        table = self.table(ctx)
        return next((name for name, sid in table.stages.items() if sid == stage_id), None)

    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        table = self.table(ctx)
        payload = self.payload(action)
        if isinstance(payload, SetStage):
            return self._set_stage(action, ctx, table, payload)
        if isinstance(payload, AssignOwner):
            owner = role_value(table.owners, payload.owner, "owner")
            return self.vendor(action, {"record_id": self._record(action, ctx, table, payload), "owner": owner,
                                        "object": self._object(table, payload.record)})
        if isinstance(payload, CreateTask):
            return self.vendor(action, {
                "record_id": self._record(action, ctx, table, payload), "subject": payload.subject,
                "body": payload.body, "due_at": payload.due_at.astimezone(UTC),
                "owner": role_value(table.owners, payload.owner, "owner") or None,
                "task_type": table.task_types.get(payload.task_type, "TODO"),
                "priority": table.priorities.get(payload.priority, "MEDIUM")})
        if isinstance(payload, CompleteTask):
            task = ctx.ledger.record_for(payload.task_key, self.tool, "task")
            if task is None:
                raise MappingError(f"task {payload.task_key[:12]} is not created in HubSpot yet", field="task_key",
                                   retry=True, waits_for=payload.task_key)
            return self.vendor(action, {"record_id": str(task)})
        if isinstance(payload, AddNote):
            mentions = [f"@{role} ({role_value(table.owners, role, 'owner') or 'no owner'})" for role in payload.mentions]
            body = payload.body + ("\n\n" + " ".join(mentions) if mentions else "")
            return self.vendor(action, {"record_id": self._record(action, ctx, table, payload), "body": body,
                                        "timestamp": action.due_at.astimezone(UTC)})
        if isinstance(payload, CreateRecord):
            properties = self._ticket_properties(table, payload)
            return self.vendor(action, {"object": "tickets", "properties": properties})
        raise MappingError(f"HubSpot takes no {action.kind.value} actions", field="kind")

    def _record(self, action: Action, ctx: MappingContext, table: HubSpotTable, payload: Any) -> str:
        return self.record_id(action, ctx, payload, main_record=table.main_record)

    @staticmethod
    def _object(table: HubSpotTable, record: str | None) -> str | None:
        """The HubSpot object an update of a non-ticket record goes to (``companies``); None
        for the onboarding's ticket and records the table keeps as tickets."""
        if record is None or table.objects.get(record, record) == "ticket":
            return None
        if record not in OBJECT_TYPES:
            raise MappingError(f"HubSpot has no {record!r} records to write to", field="record")
        return OBJECT_TYPES[record]

    def _set_stage(self, action: Action, ctx: MappingContext, table: HubSpotTable,
                   payload: SetStage) -> VendorAction:
        if payload.record == "meeting":
            outcome = role_value(table.meeting_stages, payload.stage, "stage")
            if not payload.record_id:
                raise MappingError("a meeting's outcome needs the meeting's id (record_id)", field="record_id")
            return self.vendor(action, {"record_id": payload.record_id, "object": "meetings",
                                        "property": MEETING_OUTCOME, "stage": outcome})
        stage = role_value(table.stages, payload.stage, "stage")
        return self.vendor(action, {"record_id": self._record(action, ctx, table, payload), "stage": stage,
                                    "pipeline": table.pipeline})

    def _ticket_properties(self, table: HubSpotTable, payload: CreateRecord) -> dict[str, Any]:
        if table.objects.get(payload.object) != "ticket":
            raise MappingError(f"HubSpot records of kind {payload.object!r} are not created by Kickoff "
                               "(the table's objects say which canonical objects are tickets)", field="object")
        fields = payload.fields
        props = {prop: fields[name] for name, prop in table.ticket_fields.items()
                 if fields.get(name) not in (None, "", "None")}
        subject = str(props.get(SUBJECT) or "")
        if table.ticket_prefix and not subject.startswith(table.ticket_prefix):
            props[SUBJECT] = f"{table.ticket_prefix} - {subject}".strip(" -")
        pipeline = fields.get("pipeline")
        props[PIPELINE] = table.pipelines.get(str(pipeline), table.pipeline)
        props[STAGE] = role_value(table.stages, str(fields.get("stage") or table.initial_stage), "stage")
        return props

    # --- what the connector reads ----------------------------------------------------------
    def reads(self, tables: Mapping[str, dict[str, Any]]) -> dict[str, list[str]]:
        """The properties read per object type: the ones this mapping reads (and the ticket's
        written ones, for echoes), plus every tenant's restart and resume properties."""
        tickets, meetings = list(TICKET_READS), list(MEETING_READS)
        for table in tables.values():
            typed = self.Table.model_validate(table)
            tickets += [typed.restart_property, typed.resume_property or ""]
            meetings.append(typed.restart_property)
        return {"tickets": _unique(tickets), "meetings": _unique(meetings),
                "calls": list(CALL_READS), "tasks": list(TASK_READS)}

    # --- tickets already under way (``kickoff adopt``) ---------------------------------------
    adopt_starts = frozenset({EventType.CONTRACT_SIGNED})

    def running_query(self, ctx: MappingContext, stages: Sequence[str]) -> dict[str, Any] | None:
        return hubspot_adopt.running_query(self.table(ctx), stages)

    def adopt(self, record: dict[str, Any], ctx: MappingContext) -> Running | Unplaced:
        subject = self.new_subject(ctx, f"hubspot-ticket-{record.get('id')}")
        return hubspot_adopt.adopt(record, self.table(ctx), ctx, subject)

    # --- what HubSpot must send ------------------------------------------------------------
    def wanted_webhooks(self, tables: Mapping[str, dict[str, Any]]) -> list[Wanted]:
        """The app's target URL, and one subscription per change ``to_events`` reads: the
        ticket's stage (when a stage means an event), restart and resume properties; meetings
        booked and their outcome; calls' dispositions; tasks' status. Meetings, calls and
        tasks are subscribed as ``object.*`` with their type id."""
        parsed = [self.Table.model_validate(t) for t in tables.values()]
        if not parsed:
            return []
        type_id = {plural: key for key, plural in OBJECT_TYPES.items() if key.startswith("0-")}
        wanted: list[tuple[str, str | None, str | None]] = [
            ("object.propertyChange", TASK_STATUS, type_id["tasks"])]
        for table in parsed:
            wanted += [("ticket.propertyChange", STAGE, None)] if table.stage_events else []
            wanted += [("ticket.propertyChange", p, None) for p in (table.restart_property, table.resume_property) if p]
            if table.meeting_outcomes:
                wanted += [("object.creation", None, type_id["meetings"]),
                           ("object.propertyChange", MEETING_OUTCOME, type_id["meetings"])]
            if table.call_outcomes:
                wanted.append(("object.propertyChange", CALL_DISPOSITION, type_id["calls"]))
        subs = [Wanted("subscription", " ".join(x for x in (event, type_ids, prop) if x),
                       {"eventType": event, "propertyName": prop, "objectTypeId": type_ids})
                for event, prop, type_ids in sorted(set(wanted), key=str)]
        return [Wanted("settings", "target URL", {"throttling": {"maxConcurrentRequests": 10}}), *subs]

    # --- echo suppression ------------------------------------------------------------------
    def write_fingerprints(self, vendor_action: VendorAction,
                           external_id: str | None = None) -> list[tuple[str, str]]:
        p = vendor_action.payload
        if isinstance(p, UpdatePayload):
            return [(p.record_id, change_fingerprint(p.record_id, name, value))
                    for name, value in p.writes().items()]
        if external_id and isinstance(p, CREATES):
            return [(external_id, change_fingerprint(external_id, CREATED_FINGERPRINT, ""))]
        return []

    def delivery_fingerprints(self, delivery: Delivery) -> list[tuple[str, str]]:
        change = _Change(delivery)
        if change.created:
            return [(change.id, change_fingerprint(change.id, CREATED_FINGERPRINT, ""))]
        if change.webhook:
            return [(change.id, change_fingerprint(change.id, name, value)) for name, value in change.properties.items()]
        return [(change.id, change_fingerprint(change.id, name, change.properties.get(name)))
                for name in WATCHED if name in change.properties]


def _known(table: HubSpotTable, column: str, value: Any, what: str, prop: str) -> Any:
    """The table's ``column`` entry for a value of HubSpot's ``prop`` (a meeting outcome, a
    call disposition); a value the table does not list is a MappingError naming it."""
    found = getattr(table, column).get(str(value))
    if found is None:
        raise MappingError(f"{what} {value!r} is not in the table's {column}", field=prop)
    return found


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(n for n in names if n))


MAPPING = HubSpotMapping()
