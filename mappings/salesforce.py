"""Salesforce (marketplace-classic): the partner's Account and its cases <-> canonical facts.

Inbound (polled rows or Outbound Message fields, read alike): an Account with
"self-onboarding" unticked is ``contract.signed`` (T2) with its Starting Date, once per
onboarding, and again only when the Starting Date changes (T3 checks it anew); the venue
flagged online while in training is ``partner.online``; usage fields while checking usage
are ``usage.reported``; a Case change is ``case.updated`` (which case by its subject, the
status in canonical words); a completed Task Kickoff created is ``task.updated``.

Outbound: the account's stage field and its cases' statuses, owner roles as User ids,
tasks and notes on the account (or on the case a ``target`` names), and the records the
table's ``records`` describe (a case, the set-up fee line). Onboarding ids are
``<tenant>:<Account Id>``, so the account of an onboarding is known without a lookup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kickoff.actions import (
    AddNote,
    AssignOwner,
    CompleteTask,
    CreateRecord,
    CreateTask,
    Payload,
    SetStage,
)
from kickoff.contracts.subscriptions import KICKOFF_PREFIX, Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.events import EventType
from kickoff.model import Action, Delivery, Event
from kickoff.playbooks.adopt import Running, Unplaced
from kickoff.tools import salesforce as sf
from mappings import salesforce_adopt
from mappings.base import MappingContext, MappingError, TableModel, ToolMapping, default, role_value
from mappings.common import as_bool, as_int, change_fingerprint, parse_date, parse_datetime

IDENTITY = {*sf.SYSTEM_FIELDS, "LastModifiedDate", "CreatedDate", "CaseNumber", "Name", "Subject",
            "AccountId", "WhatId", "Description", "attributes", "object", sf.KEY_FIELD}
"""Fields that say which record a row is, not what state it is in (no echo fingerprints)."""
TASK_FIELDS = ("Status", "WhatId", sf.KEY_FIELD)
"""What ``_task`` reads of a Task: is it one of Kickoff's, completed, on which record."""


class AccountFields(TableModel):
    self_onboarding: str = "Self_Onboarding__c"
    starting_date: str = "Starting_Date__c"
    signed_on: str | None = "Signature_Date__c"
    plan: str | None = "Plan__c"
    org_number: str | None = "Org_Number__c"
    stage: str = "Onboarding_Stage__c"
    online: str | None = "Venue_Online__c"


class RecordSpec(TableModel):
    """How a canonical record (``case``, ``order_line``) is written: its sObject, field names,
    fixed values, and for records with stages the status values both ways."""

    object: str
    fields: dict[str, str] = default({})
    defaults: dict[str, Any] = default({})
    numeric: list[str] = default([])
    link_field: str | None = "AccountId"
    today_fields: list[str] = default([])
    stage_field: str = "Status"
    stages: dict[str, str] = default({})
    statuses: dict[str, str] = default({})
    names: dict[str, str] = default({})


class SalesforceTable(TableModel):
    account: AccountFields = default(AccountFields())
    stages: dict[str, str]
    owners: dict[str, str]
    usage_fields: dict[str, str] = default({})
    records: dict[str, RecordSpec] = default({})
    task_fields: dict[str, str] = default({})
    task_types: dict[str, str] = default({"call": "Call", "email": "Email", "todo": "Other", "meeting": "Meeting"})
    priorities: dict[str, str] = default({"low": "Low", "medium": "Normal", "high": "High"})
    note_subject: str = "Kickoff note"


def _fields(delivery: Delivery) -> tuple[str, dict[str, Any]]:
    """(sObject type, fields) of a polled row (flat) or an Outbound Message (``fields``)."""
    body = delivery.payload if isinstance(delivery.payload, dict) else {}
    fields = body.get("fields") if isinstance(body.get("fields"), dict) else body
    sobject = str(body.get("object") or (fields.get("attributes") or {}).get("type") or "")
    return sobject, fields


class SalesforceMapping(ToolMapping):
    tool = "salesforce"
    Table = SalesforceTable

    # --- inbound ---------------------------------------------------------------------------
    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        sobject, fields = _fields(delivery)
        if not fields.get("Id"):
            raise MappingError("the record has no Id", field="Id")
        if as_bool(fields.get("IsDeleted")):
            return []
        handler = {sf.ACCOUNT: self._account, sf.CASE: self._case, sf.TASK: self._task}.get(sobject)
        return handler(delivery, fields, ctx) if handler else []

    def _at(self, fields: dict[str, Any], delivery: Delivery) -> Any:
        stamp = fields.get("SystemModstamp")
        return parse_datetime(stamp) if stamp else delivery.received_at

    def _account(self, delivery: Delivery, fields: dict[str, Any], ctx: MappingContext) -> list[Event]:
        table, zone = self.table(ctx), ctx.tenant.zone
        names = table.account
        at = self._at(fields, delivery)
        subject = self.new_subject(ctx, str(fields["Id"]))
        state = ctx.ledger.state_for(subject)
        events: list[Event] = []
        start_on = self._date(fields.get(names.starting_date), names.starting_date, zone)
        if as_bool(fields.get(names.self_onboarding)) is False and (
                state is None or (start_on is not None and start_on != state.start_on)):
            if not fields.get("Name") and state is None:
                raise MappingError("the signed account has no Name", field="Name")
            signed = self._date(fields.get(names.signed_on or ""), names.signed_on or "", zone)
            data = {"account_name": fields.get("Name") or (state.account_name if state else None),
                    "signed_on": signed or at.astimezone(zone).date(), "start_on": start_on,
                    "self_onboarding": False, "plan": fields.get(names.plan or ""),
                    "org_number": fields.get(names.org_number or "")}
            events.append(self.event(delivery, ctx, EventType.CONTRACT_SIGNED, subject, data, occurred_at=at))
        if state is None:
            return events
        if names.online and as_bool(fields.get(names.online)) and state.stage == "training":
            events.append(self.event(delivery, ctx, EventType.PARTNER_ONLINE, subject,
                                     {"online_on": at.astimezone(zone).date()}, occurred_at=at, n=1))
        usage = {name: fields.get(field) for name, field in table.usage_fields.items() if field in fields}
        if state.stage == "check_usage" and any(v not in (None, "") for v in usage.values()) \
                and state.facts.get("usage_ok") is not True:
            data = {name: as_int(value) if name == "appointments" else as_bool(value) for name, value in usage.items()}
            events.append(self.event(delivery, ctx, EventType.USAGE_REPORTED, subject, data, occurred_at=at, n=2))
        return events

    def _case(self, delivery: Delivery, fields: dict[str, Any], ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        onboarding = self._onboarding(ctx, str(fields["Id"]), fields.get("AccountId"))
        if onboarding is None or self.of_closed_cycle(ctx, str(fields["Id"])):
            return []  # no onboarding's, or a case of a partner's onboarding since completed
        spec = _case_spec(table)
        status = fields.get(spec.stage_field)
        owners: dict[str, str] = {}
        for role, user in table.owners.items():
            owners.setdefault(user, role)  # the first role listed for a user names it
        data = {"case_id": fields["Id"], "case": spec.names.get(str(fields.get("Subject") or "")),
                "status": spec.statuses.get(str(status), str(status).lower() if status else None),
                "owner": owners.get(str(fields.get("OwnerId")), fields.get("OwnerId")),
                "subject": fields.get("Subject"), "description": fields.get("Description")}
        return [self.event(delivery, ctx, EventType.CASE_UPDATED, onboarding, data,
                           occurred_at=self._at(fields, delivery))]

    def _task(self, delivery: Delivery, fields: dict[str, Any], ctx: MappingContext) -> list[Event]:
        key = fields.get(sf.KEY_FIELD)
        if not key or fields.get("Status") != sf.TASK_COMPLETED:
            return []
        onboarding = (ctx.ledger.onboarding_of_action(key)
                      or self._onboarding(ctx, str(fields["Id"]), fields.get("WhatId")))
        if onboarding is None:
            return []
        return [self.event(delivery, ctx, EventType.TASK_UPDATED, onboarding,
                           {"task_key": key, "status": "completed"}, occurred_at=self._at(fields, delivery))]

    def _onboarding(self, ctx: MappingContext, record_id: str, account_id: Any) -> str | None:
        found = self.onboarding_of(ctx, record_id)
        if found is None and account_id:
            subject = self.new_subject(ctx, str(account_id))
            found = subject if ctx.ledger.state_for(subject) is not None else None
        return found

    @staticmethod
    def _date(value: Any, field: str, zone: Any) -> Any:
        try:
            return parse_date(value, zone)
        except (TypeError, ValueError):
            raise MappingError(f"{value!r} is not a date", field=field) from None

    # --- outbound --------------------------------------------------------------------------
    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        table = self.table(ctx)
        payload = self.payload(action)
        if isinstance(payload, SetStage):
            kind, rid = self._where(action, ctx, table, payload)
            if kind is None:
                return self.vendor(action, {"record_id": rid, "object": sf.ACCOUNT,
                                            "field": table.account.stage,
                                            "stage": role_value(table.stages, payload.stage, "stage")})
            spec = self._spec(table, kind)
            return self.vendor(action, {"record_id": rid, "object": spec.object, "field": spec.stage_field,
                                        "stage": role_value(spec.stages, payload.stage, "stage")})
        if isinstance(payload, AssignOwner):
            _, rid = self._where(action, ctx, table, payload)
            return self.vendor(action, {"record_id": rid, "owner": role_value(table.owners, payload.owner, "owner")})
        if isinstance(payload, CreateTask):
            _, rid = self._where(action, ctx, table, payload)
            extra = {table.task_fields[k]: v for k, v in payload.fields.items() if k in table.task_fields}
            if payload.task_type in table.task_types:
                extra["Type"] = table.task_types[payload.task_type]
            return self.vendor(action, {
                "record_id": rid, "subject": payload.subject[:255], "body": payload.body,
                "owner": role_value(table.owners, payload.owner, "owner"),
                "due_date": payload.due_at.astimezone(ctx.tenant.zone).date().isoformat(),
                "priority": table.priorities.get(payload.priority), "fields": extra})
        if isinstance(payload, CompleteTask):
            task = ctx.ledger.record_for(payload.task_key, self.tool, "task")
            if task is None:
                raise MappingError(f"task {payload.task_key[:12]} is not created yet", field="task_key", retry=True,
                                   waits_for=payload.task_key)
            return self.vendor(action, {"record_id": str(task)})
        if isinstance(payload, AddNote):
            _, rid = self._where(action, ctx, table, payload)
            return self.vendor(action, {"record_id": rid, "body": payload.body, "subject": table.note_subject})
        if isinstance(payload, CreateRecord):
            return self.vendor(action, self._record(action, ctx, table, payload))
        raise MappingError(f"Salesforce takes no {action.kind.value} actions", field="kind")

    def _account_id(self, action: Action) -> str:
        _, _, account = action.onboarding_id.partition(":")
        if not account:
            raise MappingError(f"onboarding {action.onboarding_id} names no account", field="onboarding_id")
        return account

    def _where(self, action: Action, ctx: MappingContext, table: SalesforceTable,
               payload: Payload) -> tuple[str | None, str]:
        """(canonical record kind or None for the account, the record's Id)."""
        if payload.record_id:
            return payload.record, str(payload.record_id)
        if payload.target:
            for kind in table.records:
                found = ctx.ledger.record_for(payload.target, self.tool, kind)
                if found:
                    return kind, str(found)
            raise MappingError(f"the record created by {payload.target[:12]} does not exist yet", field="target",
                               retry=True, waits_for=payload.target)
        if payload.record:
            return payload.record, self.record_id(action, ctx, payload)
        return None, self._account_id(action)

    def _spec(self, table: SalesforceTable, kind: str) -> RecordSpec:
        return role_value(table.records, kind, "record")

    def _record(self, action: Action, ctx: MappingContext, table: SalesforceTable,
                payload: CreateRecord) -> dict[str, Any]:
        spec = self._spec(table, payload.object)
        values: dict[str, Any] = dict(spec.defaults)
        for name, value in payload.fields.items():
            field = spec.fields.get(name)
            if field is None or value in (None, "", "None"):
                continue
            if name == "owner":
                value = role_value(table.owners, value, "owner")
            elif field == spec.stage_field and spec.stages:
                value = role_value(spec.stages, value, "stage")
            elif field in spec.numeric:
                value = float(value)
            values[field] = value
        if spec.link_field:
            values[spec.link_field] = self._account_id(action)
        for field in spec.today_fields:
            values[field] = ctx.now.astimezone(ctx.tenant.zone).date().isoformat()
        return {"object": spec.object, "fields": values}

    # --- what the connector reads -----------------------------------------------------------
    def reads(self, tables: Mapping[str, dict[str, Any]]) -> dict[str, list[str]]:
        """Per sObject, the fields ``to_events`` reads (the connector adds Id, IsDeleted and
        SystemModstamp): the account fields and case fields every tenant's table names, and
        what tells a completed Task of Kickoff's."""
        if not tables:
            return {}
        account: list[str | None] = []
        case: list[str | None] = []
        for raw in tables.values():
            table = SalesforceTable.model_validate(raw)
            names, spec = table.account, _case_spec(table)
            account += ["Name", "OwnerId", names.self_onboarding, names.starting_date,
                        names.signed_on, names.plan, names.org_number, names.stage, names.online,
                        *table.usage_fields.values()]
            case += ["Subject", "Status", "OwnerId", "AccountId", "Description", spec.stage_field,
                     spec.link_field, *spec.fields.values()]
        return {sf.CASE: _names(case), sf.ACCOUNT: _names(account), sf.TASK: list(TASK_FIELDS)}

    # --- Accounts already in onboarding (``kickoff adopt``) ----------------------------------
    adopt_starts = frozenset({EventType.CONTRACT_SIGNED})

    def running_query(self, ctx: MappingContext, stages: Sequence[str]) -> dict[str, Any] | None:
        return salesforce_adopt.running_query(self.table(ctx), stages)

    def adopt(self, record: dict[str, Any], ctx: MappingContext) -> Running | Unplaced:
        return salesforce_adopt.adopt(record, self.table(ctx), ctx, self.new_subject(ctx, str(record.get("Id"))))

    def wanted_webhooks(self, tables: Mapping[str, dict[str, Any]]) -> list[Wanted]:
        """An Outbound Message per object whose changes ``to_events`` reads by webhook (the
        account and the case), with the fields it reads; Salesforce has no API for them here."""
        reads = self.reads(tables)
        return [Wanted("outbound message", f"{KICKOFF_PREFIX}: {name}", {"object": name, "fields": reads[name]})
                for name in (sf.ACCOUNT, sf.CASE) if reads.get(name)]

    # --- echo suppression ------------------------------------------------------------------
    def write_fingerprints(self, vendor_action: VendorAction,
                           external_id: str | None = None) -> list[tuple[str, str]]:
        p = vendor_action.payload
        if isinstance(p, sf.SetStage):
            return [(p.record_id, change_fingerprint(p.record_id, p.field, p.stage))]
        if isinstance(p, sf.AssignOwner):
            return [(p.record_id, change_fingerprint(p.record_id, "OwnerId", p.owner))]
        if isinstance(p, sf.CompleteTask):
            return [(p.record_id, change_fingerprint(p.record_id, "Status", sf.TASK_COMPLETED))]
        if isinstance(p, sf.CreateRecord) and external_id:
            return [(external_id, change_fingerprint(external_id, f, v))
                    for f, v in p.fields.items() if f not in IDENTITY]
        return []

    def delivery_fingerprints(self, delivery: Delivery) -> list[tuple[str, str]]:
        """A row carries the whole record: every state-bearing field (not the identity ones)."""
        _, fields = _fields(delivery)
        rid = str(fields.get("Id") or delivery.record_id or "")
        return [(rid, change_fingerprint(rid, name, value)) for name, value in fields.items()
                if name not in IDENTITY]


def _case_spec(table: SalesforceTable) -> RecordSpec:
    """How the table writes a case; a Case with the defaults when it names none."""
    return table.records.get("case") or RecordSpec(object=sf.CASE)


def _names(fields: list[str | None]) -> list[str]:
    """Field names once each, in order, without the unset ones."""
    return [f for f in dict.fromkeys(fields) if f]


MAPPING = SalesforceMapping()
