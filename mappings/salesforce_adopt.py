"""Salesforce Accounts already in onboarding, read as onboardings (``kickoff adopt``).

The running ones are the Accounts with self-onboarding unticked (T2: classic onboarding) whose
onboarding stage is an open one. Each is read as: its stage (the table's stage values,
reversed), and a contract signed on its signature date (else its creation), with its
Starting Date, plan and org number, as T2 reads a signature. The Account is the onboarding's
record; the "To train" case and the fee line its signature made are not looked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from typing import Any

from kickoff.events import EventType
from kickoff.model import Event, EventSource
from kickoff.playbooks.adopt import Running, Unplaced
from mappings.base import MappingContext
from mappings.common import parse_date, parse_datetime


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def running_query(table: Any, stages: Sequence[str]) -> dict[str, Any] | None:
    names = table.account
    values = [table.stages[s] for s in stages if table.stages.get(s)]
    if not values:
        return None
    fields = ["Id", "Name", "CreatedDate", names.stage, names.self_onboarding, names.starting_date,
              *(f for f in (names.signed_on, names.plan, names.org_number) if f)]
    where = (f"{names.stage} IN ({', '.join(_quote(v) for v in values)}) AND {names.self_onboarding} = false "
             "AND IsDeleted = false")
    return {"soql": f"SELECT {', '.join(dict.fromkeys(fields))} FROM Account WHERE {where} ORDER BY CreatedDate ASC"}


def adopt(record: dict[str, Any], table: Any, ctx: MappingContext, subject: str) -> Running | Unplaced:
    names, zone = table.account, ctx.tenant.zone
    rid, name = str(record.get("Id") or ""), record.get("Name")
    label = f"Salesforce Account {rid} {name!r}"
    stage = {value: canonical for canonical, value in table.stages.items()}.get(str(record.get(names.stage)))
    if stage is None:
        return Unplaced("salesforce", rid, label, f"its {names.stage} {record.get(names.stage)!r} is not in the "
                                                  "table's stages")
    if not name:
        return Unplaced("salesforce", rid, label, "it has no Name")
    try:
        signed = parse_date(record.get(names.signed_on), zone) if names.signed_on else None
        start_on = parse_date(record.get(names.starting_date), zone)
        created = parse_datetime(record.get("CreatedDate"))
    except ValueError as exc:
        return Unplaced("salesforce", rid, label, f"a date does not read: {exc}")
    at = datetime.combine(signed, time(9), zone) if signed else created
    if at is None:
        return Unplaced("salesforce", rid, label, "it has no signature date and no CreatedDate")
    data = {"account_name": name, "signed_on": (signed or at.astimezone(zone).date()).isoformat(),
            "start_on": start_on.isoformat() if start_on else None, "self_onboarding": False,
            "plan": record.get(names.plan) if names.plan else None,
            "org_number": record.get(names.org_number) if names.org_number else None}
    start = Event(id=f"adopt-salesforce-{rid}-start", type=EventType.CONTRACT_SIGNED, occurred_at=at, subject=subject,
                  tenant=ctx.tenant_key, data={k: v for k, v in data.items() if v is not None},
                  source=EventSource(tool="salesforce", record_id=rid))
    return Running(subject=subject, tenant=ctx.tenant_key, tool="salesforce", record_id=rid, record_kind="account",
                   label=label, stage=stage, history=[start])
