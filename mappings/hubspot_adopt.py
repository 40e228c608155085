"""HubSpot tickets already under way, read as onboardings (``kickoff adopt``).

The running ones are the tickets of the tenant's pipeline in an open stage. Each is read as:
its stage (the table's stage ids, reversed); a contract signed on its creation date, for the
account named in its subject (the ticket prefix taken off), with its org number; a delivery
start date the day before the ticket entered ``flow_stage`` (rule A2 moves it there the day
after the start date: HubSpot's "Date entered <stage>", ``hs_v2_date_entered_<stage id>``),
if it did; and, in a stage the table maps to an event (``stage_events``: "Manuell
uppföljning" pauses the flow), that event when it entered it. The ticket is the onboarding's
record (the playbook line ``main_record`` would have made it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from kickoff.events import EventType
from kickoff.model import Event, EventSource
from kickoff.playbooks.adopt import Running, Unplaced
from kickoff.tools.hubspot import CREATED, MODIFIED, PIPELINE, STAGE, SUBJECT
from mappings.base import MappingContext
from mappings.common import parse_datetime

DATE_ENTERED = "hs_v2_date_entered_"


def running_query(table: Any, stages: Sequence[str]) -> dict[str, Any] | None:
    """The pipeline's tickets in the open ``stages``, with what ``adopt`` reads."""
    ids = [table.stages[s] for s in stages if table.stages.get(s)]
    if not ids:
        return None
    properties = [SUBJECT, PIPELINE, STAGE, CREATED, MODIFIED, *table.ticket_fields.values(),
                  *(DATE_ENTERED + sid for sid in table.stages.values() if sid)]
    return {"object": "tickets", "equal": {PIPELINE: table.pipeline}, "within": {STAGE: ids},
            "properties": list(dict.fromkeys(properties))}


def adopt(record: dict[str, Any], table: Any, ctx: MappingContext, subject: str) -> Running | Unplaced:
    props = dict(record.get("properties") or {})
    rid = str(record.get("id") or props.get("hs_object_id") or "")
    title = str(props.get(SUBJECT) or "")
    label = f"HubSpot ticket {rid} {title!r}"
    by_id = {sid: name for name, sid in table.stages.items() if sid}
    stage = by_id.get(str(props.get(STAGE)))
    if stage is None:
        return Unplaced("hubspot", rid, label, f"its stage id {props.get(STAGE)!r} is not in the table's stages")
    created = _moment(props.get(CREATED))
    if created is None:
        return Unplaced("hubspot", rid, label, "it has no createdate")
    prefix = f"{table.ticket_prefix} - " if table.ticket_prefix else ""
    name = title[len(prefix):] if prefix and title.startswith(prefix) else title
    if not name.strip():
        return Unplaced("hubspot", rid, label, "its subject names no customer")
    zone = ctx.tenant.zone
    entered = {canonical: _moment(props.get(DATE_ENTERED + sid)) for canonical, sid in table.stages.items() if sid}
    flow_entered = entered.get(table.flow_stage) if table.flow_stage else None
    data = {"account_name": name.strip(), "signed_on": created.astimezone(zone).date().isoformat(),
            "org_number": props.get(table.ticket_fields.get("org_number", "")) or None}
    if flow_entered is not None:
        data["start_on"] = (flow_entered.astimezone(zone).date() - timedelta(days=1)).isoformat()
    source = EventSource(tool="hubspot", record_id=rid)
    history = [Event(id=f"adopt-hubspot-{rid}-start", type=EventType.CONTRACT_SIGNED, occurred_at=created,
                     subject=subject, tenant=ctx.tenant_key, data={k: v for k, v in data.items() if v}, source=source)]
    event = table.stage_events.get(stage)
    if event is not None:
        at = entered.get(stage) or _moment(props.get(MODIFIED)) or created
        data = {"reason": f"in {stage} in HubSpot"} if event == EventType.ONBOARDING_PAUSED else {}
        history.append(Event(id=f"adopt-hubspot-{rid}-{stage}", type=event, occurred_at=max(at, created),
                             subject=subject, tenant=ctx.tenant_key, data=data, source=source))
    return Running(subject=subject, tenant=ctx.tenant_key, tool="hubspot", record_id=rid, record_kind="ticket",
                   label=label, stage=stage, history=history, records={table.main_record: rid})


def _moment(value: Any) -> datetime | None:
    return parse_datetime(value) if value not in (None, "") else None
