"""Zendesk's table against a live account: ``propose`` fills in the "Case stage" field, its
values per stage, the agents and groups behind the owner roles and the alert fields (by the
playbook's names); ``verify`` checks every field, value, agent and group the table names."""

from __future__ import annotations

import copy
from typing import Any

from kickoff.contracts.account import Account
from mappings.discovery import Names, Problem, Problems, Proposal


def propose(table: dict[str, Any], account: Account, names: Names, *, own_account: bool) -> Proposal:
    found = Proposal(copy.deepcopy(table))
    t = found.table
    fields = [f for f in account.fields if f.object == "tickets"]
    exists = lambda i: account.field("tickets", str(i)) is not None
    case = found.pick("case_field", fields, names.of_tool("case_field"), "ticket field", keep=exists)
    if case is not None:
        t["case_field"] = int(case)
        field = account.field("tickets", str(case))
        if field is not None:
            for stage, stage_names in names.stages.items():
                if stage in (t.get("stages") or {}):
                    found.pick(f"stages.{stage}.value", field.options, stage_names, f"value of {field.label!r}",
                               keep=lambda v, f=field: v in f.option_values())
    active = [p for p in account.people if p.active]
    for role, role_names in names.roles().items():
        if role_names is not None and found.pick(f"owners.{role}", active, role_names, "active agent",
                                                 keep=lambda i: any(p.id == i for p in active)):
            t["owners"][role] = int(t["owners"][role])
    for role, label in (names.tool.get("groups") or {}).items():
        if found.pick(f"groups.{role}", account.groups, [label], "group",
                      keep=lambda i: account.group(i) is not None):
            t["groups"][role] = int(t["groups"][role])
    wanted = names.tool.get("fields") or {}
    for index, alert in enumerate(t.get("alerts") or []):
        for key, spec in (alert.get("data") or {}).items():
            if not (isinstance(spec, dict) and "field" in spec and key in wanted):
                continue
            field_id = found.match(f"alerts.{index}.data.{key}.field", spec["field"], fields, [wanted[key]],
                                   "ticket field", keep=exists)
            if field_id is not None:
                spec["field"] = int(field_id)
    return found


def verify(table: dict[str, Any], account: Account) -> list[Problem]:
    problems = Problems()
    case = problems.field("case_field", account, "tickets", table.get("case_field"), ("enum",))
    for stage, spec in (table.get("stages") or {}).items():
        problems.option(f"stages.{stage}.value", case, (spec or {}).get("value"))
    for value in table.get("case_values") or {}:
        problems.option("case_values", case, value)
    for role, agent in (table.get("owners") or {}).items():
        problems.person(f"owners.{role}", account, agent, "agent")
    for role, group in (table.get("groups") or {}).items():
        if account.group(str(group)) is None:
            known = ", ".join(f"{g.id} ({g.name})" for g in account.groups)
            problems.add(f"groups.{role}", f"no group {group} in zendesk (groups: {known or 'none'})")
    for index, alert in enumerate(table.get("alerts") or []):
        if alert.get("field") is not None:
            problems.field(f"alerts.{index}.field", account, "tickets", alert["field"])
        for key, spec in (alert.get("data") or {}).items():
            if isinstance(spec, dict) and spec.get("field") is not None:
                problems.field(f"alerts.{index}.data.{key}.field", account, "tickets", spec["field"])
    return list(problems)
