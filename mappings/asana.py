"""Asana (retention-alerts): the account managers' request board <-> canonical facts.

Inbound: a task Kickoff created (a request or a task on it), completed or dragged into a
"done" column, is ``task.updated`` (completed), its key read from the ``kickoff-key:`` line
the connector writes. A polled task carries everything; a webhook event carries only gids,
so only a move into a done column (the section is its parent) is a fact from it, unless the
connector's ``enrich`` read the task (a ``completed`` change): then it is read as a polled task.

Outbound: canonical columns (``new_request``, ``waiting``, ``resolved``) and owner roles
become section and user gids; a request's fields become the board's custom fields.

Reads: the connector polls every tenant's board (``project``) for the task fields read here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kickoff.actions import AddNote, AssignOwner, CompleteTask, CreateRecord, CreateTask, SetStage
from kickoff.contracts.subscriptions import KICKOFF_PREFIX, Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.events import EventType
from kickoff.model import Action, Delivery, Event
from kickoff.tools.asana import (
    AddNotePayload,
    AssignOwnerPayload,
    CompleteTaskPayload,
    SetStagePayload,
    TaskChange,
    key_in,
)
from mappings.base import MappingContext, MappingError, TableModel, ToolMapping, default, role_value
from mappings.common import change_fingerprint, parse_datetime

TASK_FIELDS = ("completed", "completed_at", "memberships.section.name", "modified_at", "notes")
"""What ``to_events`` reads of a polled (or enriched) task."""


class AsanaTable(TableModel):
    project: str
    sections: dict[str, str]
    owners: dict[str, str]
    done_sections: list[str] = default(["resolved"])
    request_fields: dict[str, str] = default({})
    main_record: str = "request"


class AsanaMapping(ToolMapping):
    tool = "asana"
    Table = AsanaTable

    # --- inbound ---------------------------------------------------------------------------
    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        body = delivery.payload if isinstance(delivery.payload, dict) else {}
        done = {table.sections[name] for name in table.done_sections if name in table.sections}
        if "action" in body:  # a webhook event: gids only
            parent = body.get("parent") or {}
            resource = body.get("resource") or {}
            if not (body["action"] == "added" and resource.get("resource_type") == "task"
                    and parent.get("resource_type") == "section" and parent.get("gid") in done):
                return []
            gid, key, at = str(resource["gid"]), None, parse_datetime(body.get("created_at"))
        else:
            gid, key = str(body.get("gid") or delivery.record_id or ""), key_in(body.get("notes"))
            sections = {str((m.get("section") or {}).get("gid")) for m in body.get("memberships") or []}
            if not (body.get("completed") or sections & done):
                return []
            at = parse_datetime(body.get("completed_at") or body.get("modified_at"))
        key = key or ctx.ledger.onboarding_for(self.tool, gid)
        onboarding = ctx.ledger.onboarding_of_action(key) if key else None
        onboarding = onboarding or self.onboarding_of(ctx, gid)
        if onboarding is None or key is None:
            return []  # not a task Kickoff created
        return [self.event(delivery, ctx, EventType.TASK_UPDATED, onboarding,
                           {"task_key": key, "status": "completed"}, occurred_at=at or delivery.received_at,
                           record_id=gid)]

    def reads(self, tables: Mapping[str, dict[str, Any]]) -> dict[str, list[str]]:
        """Every tenant's board, and the task fields ``to_events`` reads."""
        projects = sorted({self.Table.model_validate(table).project for table in tables.values()})
        return {"projects": projects, "tasks": list(TASK_FIELDS)} if projects else {}

    # --- outbound --------------------------------------------------------------------------
    def wanted_webhooks(self, tables: Mapping[str, dict[str, Any]]) -> list[Wanted]:
        """One webhook per tenant's board, posting to the tenant's own path (its handshake
        secret kept under that name): tasks added (to a column) and completed, what
        ``to_events`` reads of an event."""
        filters = [{"resource_type": "task", "action": "added"},
                   {"resource_type": "task", "action": "changed", "fields": ["completed"]}]
        return [Wanted("webhook", f"{KICKOFF_PREFIX}: board {table['project']}",
                       {"resource": str(table["project"]), "filters": filters}, path=tenant, tenant=tenant)
                for tenant, table in sorted(tables.items())]

    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        table = self.table(ctx)
        payload = self.payload(action)
        if isinstance(payload, CreateRecord):
            return self.vendor(action, self._request(table, payload))
        if isinstance(payload, CreateTask):
            notes = payload.body or ""
            if payload.target:
                request = self.record_id(action, ctx, payload)
                notes = f"{notes}\n\nRequest: https://app.asana.com/0/0/{request}".strip()
            return self.vendor(action, {
                "project": table.project, "section": role_value(table.sections, payload.section or "new_request",
                                                                "section"),
                "name": payload.subject, "notes": notes or None,
                "assignee": role_value(table.owners, payload.owner, "owner"),
                "due_at": payload.due_at.isoformat()})
        if isinstance(payload, CompleteTask):
            task = ctx.ledger.record_for(payload.task_key, self.tool, "task")
            if task is None:
                raise MappingError(f"task {payload.task_key[:12]} is not created in Asana yet", field="task_key",
                                   retry=True, waits_for=payload.task_key)
            done = payload.section or table.done_sections[0]
            return self.vendor(action, {"record_id": str(task), "project": table.project,
                                        "section": role_value(table.sections, done, "section")})
        rid = self.record_id(action, ctx, payload, main_record=table.main_record)
        if isinstance(payload, SetStage):
            return self.vendor(action, {"record_id": rid, "project": table.project,
                                        "section": role_value(table.sections, payload.stage, "section")})
        if isinstance(payload, AssignOwner):
            return self.vendor(action, {"record_id": rid, "assignee": role_value(table.owners, payload.owner, "owner")})
        if isinstance(payload, AddNote):
            return self.vendor(action, {"record_id": rid, "text": payload.body})
        raise MappingError(f"Asana takes no {action.kind.value} actions", field="kind")

    def _request(self, table: AsanaTable, payload: CreateRecord) -> dict[str, Any]:
        if payload.object != "request":
            raise MappingError(f"Asana records of kind {payload.object!r} are not created by Kickoff", field="object")
        fields = {k: v for k, v in payload.fields.items() if v not in (None, "", "None")}
        custom = {gid: str(fields[name]) for name, gid in table.request_fields.items() if name in fields}
        notes = "\n".join(f"{k}: {v}" for k, v in fields.items() if k not in ("section", "subject"))
        return {"project": table.project,
                "section": role_value(table.sections, str(fields.get("section") or "new_request"), "section"),
                "name": str(fields.get("subject") or "Request"), "notes": notes or None,
                "custom_fields": custom or None}

    # --- echo suppression ------------------------------------------------------------------
    def write_fingerprints(self, vendor_action: VendorAction,
                           external_id: str | None = None) -> list[tuple[str, str]]:
        p = vendor_action.payload
        prints: list[tuple[str, Any]] = []
        if isinstance(p, CompleteTaskPayload):
            prints = [("completed", ""), ("section", p.section)]
        elif isinstance(p, SetStagePayload):
            prints = [("section", p.section)]
        elif isinstance(p, AssignOwnerPayload):
            prints = [("assignee", "")]
        elif isinstance(p, AddNotePayload):
            prints = [("story", "")]
        elif external_id:
            prints = [("created", "")]
        rid = p.record_id if isinstance(p, TaskChange) else str(external_id or "")
        return [(rid, change_fingerprint(rid, f, v)) for f, v in prints] if rid else []

    def delivery_fingerprints(self, delivery: Delivery) -> list[tuple[str, str]]:
        body = delivery.payload if isinstance(delivery.payload, dict) else {}
        rid = str(delivery.record_id or body.get("gid") or "")
        if "action" not in body:
            return []  # a polled task carries no change, only a state
        parent = body.get("parent") or {}
        resource = body.get("resource") or {}
        if resource.get("resource_type") == "story":
            prints = [("story", "")]
        elif body["action"] == "added" and parent.get("resource_type") == "section":
            prints = [("section", parent.get("gid"))]
        elif body["action"] == "added":
            prints = [("created", "")]
        elif body["action"] == "changed":
            prints = [(str((body.get("change") or {}).get("field")), "")]
        else:
            prints = [(str(body["action"]), "")]
        return [(rid, change_fingerprint(rid, f, v)) for f, v in prints]


MAPPING = AsanaMapping()
