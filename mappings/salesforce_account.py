"""Salesforce's table against a live org: ``propose`` fills in the owner roles' users and the
account fields (by label) and stage values (by the playbook's stage names), ``verify`` checks
that every field exists on its object with the right type, every owner is an active user, and
every picklist the playbook writes has every value it writes.
"""

from __future__ import annotations

import copy
from typing import Any

from kickoff.contracts.account import Account, AccountField
from kickoff.tools.salesforce import ACCOUNT
from mappings.discovery import Names, Problem, Problems, Proposal

ACCOUNT_TYPES: dict[str, tuple[str, ...]] = {
    "self_onboarding": ("bool",), "starting_date": ("date", "datetime"), "signed_on": ("date", "datetime"),
    "online": ("bool",), "stage": ("enum", "text"), "plan": ("enum", "text"), "org_number": ("text",)}
"""What each account field must be to hold what the mapping reads and writes."""


def propose(table: dict[str, Any], account: Account, names: Names, *, own_account: bool) -> Proposal:
    found = Proposal(copy.deepcopy(table))
    fields = [f for f in account.fields if f.object == ACCOUNT]
    for key, label in (names.tool.get("account") or {}).items():
        found.pick(f"account.{key}", fields, [label], "Account field",
                   keep=lambda i: account.field(ACCOUNT, i) is not None)
    for key, label in (names.tool.get("usage_fields") or {}).items():
        found.pick(f"usage_fields.{key}", fields, [label], "Account field",
                   keep=lambda i: account.field(ACCOUNT, i) is not None)
    stage_field = account.field(ACCOUNT, str((found.table.get("account") or {}).get("stage", "Onboarding_Stage__c")))
    if stage_field is not None and stage_field.options:
        for stage, stage_names in names.stages.items():
            found.pick(f"stages.{stage}", stage_field.options, stage_names, f"value of {stage_field.name}",
                       keep=lambda v, f=stage_field: v in f.option_values())
    active = [p for p in account.people if p.active]
    for role, role_names in names.roles().items():
        if role_names is not None:
            found.pick(f"owners.{role}", active, role_names, "active user",
                       keep=lambda i: any(p.id == i for p in active))
    return found


def verify(table: dict[str, Any], account: Account) -> list[Problem]:
    problems = Problems()
    names = {"self_onboarding": "Self_Onboarding__c", "starting_date": "Starting_Date__c", "stage": "Onboarding_Stage__c",
             **{k: v for k, v in (table.get("account") or {}).items() if k != "route"}}
    stage_field = None
    for key, name in names.items():
        found = problems.field(f"account.{key}", account, ACCOUNT, name, ACCOUNT_TYPES.get(key, ()))
        if key == "stage":
            stage_field = found
    for stage, value in (table.get("stages") or {}).items():
        problems.option(f"stages.{stage}", stage_field, value)
    for role, user in (table.get("owners") or {}).items():
        problems.person(f"owners.{role}", account, user, "user")
    for key, name in (table.get("usage_fields") or {}).items():
        problems.field(f"usage_fields.{key}", account, ACCOUNT, name)
    for record, spec in (table.get("records") or {}).items():
        _record(problems, account, f"records.{record}", spec)
    return list(problems)


def _record(problems: Problems, account: Account, key: str, spec: dict[str, Any]) -> None:
    obj = str(spec.get("object"))
    if not any(f.object == obj for f in account.fields):
        problems.add(f"{key}.object", f"no object {obj} described in salesforce")
        return
    for name, field in (spec.get("fields") or {}).items():
        problems.field(f"{key}.fields.{name}", account, obj, field)
    for field, value in (spec.get("defaults") or {}).items():
        problems.option(f"{key}.defaults.{field}", problems.field(f"{key}.defaults.{field}", account, obj, field),
                        value)
    if spec.get("stages") or spec.get("statuses"):
        status: AccountField | None = problems.field(f"{key}.stage_field", account, obj,
                                                     spec.get("stage_field", "Status"))
        for stage, value in (spec.get("stages") or {}).items():
            problems.option(f"{key}.stages.{stage}", status, value)
        for value in spec.get("statuses") or {}:
            problems.option(f"{key}.statuses", status, value)
