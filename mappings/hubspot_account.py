"""HubSpot's table against a live portal: ``propose`` fills in the pipeline, stage, owner and
property names by the playbook's names, ``verify`` checks every id and property the table names.

A stage must belong to the table's pipeline, an owner must be active, ``restart_onboarding``
must exist on tickets as a yes/no property, and ``kickoff_key`` (the connector's idempotency
key) must exist on tickets, tasks and notes. The ``route`` names the portal (an account of the
tenant's own), the pipeline (a ticket's) and the owners of the tenant's roles (a polled task's:
HubSpot sends no webhook for a task a person marks done, and it names no pipeline).
"""

from __future__ import annotations

import copy
from typing import Any

from kickoff.contracts.account import Account
from kickoff.tools.hubspot import CALL_OUTCOMES, KEY_PROPERTY, OWNER
from mappings.discovery import Names, Problem, Problems, Proposal, get, put

KEYED = ("tickets", "tasks", "notes")
"""Objects Kickoff creates, which carry ``kickoff_key``."""
CALL_WORDS = {"Connected": "answered", "No answer": "no_answer", "Left voicemail": "no_answer",
              "Busy": "no_answer"}
YES_NO = ("bool", "enum")
OWNER_ROUTE = f"properties.{OWNER}"
"""The route key a polled task is given to its tenant by: its owner, one of the tenant's roles."""


def propose(table: dict[str, Any], account: Account, names: Names, *, own_account: bool) -> Proposal:
    found = Proposal(copy.deepcopy(table))
    t = found.table
    pipeline_id = found.pick("pipeline", account.pipelines, names.of_tool("pipeline"), "ticket pipeline",
                             keep=lambda i: account.pipeline(i) is not None)
    for key, label in (names.tool.get("pipelines") or {}).items():
        found.pick(f"pipelines.{key}", account.pipelines, [label], "ticket pipeline",
                   keep=lambda i: account.pipeline(i) is not None)
    pipeline = account.pipeline(pipeline_id) if pipeline_id else None
    if pipeline is not None:
        for stage, stage_names in names.stages.items():
            found.pick(f"stages.{stage}", pipeline.stages, stage_names, f"stage of {pipeline.name!r}",
                       keep=lambda i, p=pipeline: p.stage(i) is not None)
    active = [p for p in account.people if p.active]
    for role, role_names in names.roles().items():
        if role_names is None:
            put(t, f"owners.{role}", "")  # "No owner"
        else:
            found.pick(f"owners.{role}", active, role_names, "active owner",
                       keep=lambda i: any(p.id == i for p in active))
    tickets = [f for f in account.fields if f.object == "tickets"]
    for key in ("restart_property", "resume_property"):
        if names.of_tool(key):
            found.pick(key, tickets, names.of_tool(key), "ticket property",
                       keep=lambda i: account.field("tickets", i) is not None)
    for key, label in (names.tool.get("ticket_fields") or {}).items():
        found.pick(f"ticket_fields.{key}", tickets, [label], "ticket property",
                   keep=lambda i: account.field("tickets", i) is not None)
    if names.constants.get("ticket_prefix") and not t.get("ticket_prefix"):
        t["ticket_prefix"] = names.constants["ticket_prefix"]
    if names.start_stage != "new":
        t.setdefault("initial_stage", names.start_stage)
    if not t.get("call_outcomes"):
        t["call_outcomes"] = {i: CALL_WORDS[label] for i, label in CALL_OUTCOMES.items() if label in CALL_WORDS}
    route = t.setdefault("route", {})
    if account.id and (own_account or "portalId" in route):  # a route names the account it reads
        route["portalId"] = int(account.id) if account.id.isdigit() else account.id
    if pipeline_id:
        route["properties.hs_pipeline"] = pipeline_id
    owners = list(dict.fromkeys(str(o) for o in (t.get("owners") or {}).values() if o not in (None, "")))
    if owners:
        route[OWNER_ROUTE] = owners
    return found


def verify(table: dict[str, Any], account: Account) -> list[Problem]:
    problems = Problems()
    pipeline = account.pipeline(str(table.get("pipeline")))
    if pipeline is None:
        known = ", ".join(f"{p.id} ({p.name})" for p in account.pipelines)
        problems.add("pipeline", f"no ticket pipeline {table.get('pipeline')} (pipelines: {known or 'none'})")
    for key, pid in (table.get("pipelines") or {}).items():
        if account.pipeline(str(pid)) is None:
            problems.add(f"pipelines.{key}", f"no ticket pipeline {pid}")
    for stage, sid in (table.get("stages") or {}).items():
        if pipeline is not None and pipeline.stage(str(sid)) is None:
            elsewhere = next((p for p in account.pipelines if p.stage(str(sid))), None)
            if elsewhere is not None:
                problems.add(f"stages.{stage}", f"stage {sid} belongs to pipeline {elsewhere.id} "
                                                f"({elsewhere.name}), not {pipeline.id} ({pipeline.name})")
            else:
                have = ", ".join(f"{s.id} ({s.name})" for s in pipeline.stages)
                problems.add(f"stages.{stage}", f"no stage {sid} in pipeline {pipeline.id} (its stages: {have})")
    for role, owner in (table.get("owners") or {}).items():
        problems.person(f"owners.{role}", account, owner)
    restart = problems.field("restart_property", account, "tickets", table.get("restart_property",
                                                                               "restart_onboarding"), YES_NO)
    if restart is not None and restart.type == "enum" and not {"true", "false"} <= restart.option_values():
        problems.add("restart_property", f"tickets.{restart.name} has no yes/no values (its values: "
                                         f"{', '.join(sorted(restart.option_values()))})")
    problems.field("resume_property", account, "tickets", table.get("resume_property"), ("date", "datetime"))
    for key, name in (table.get("ticket_fields") or {}).items():
        problems.field(f"ticket_fields.{key}", account, "tickets", name)
    for obj in KEYED:
        if account.field(obj, KEY_PROPERTY) is None:
            problems.add(f"({obj}.{KEY_PROPERTY})", f"no property {KEY_PROPERTY} on {obj}: create it (single-line "
                                                    "text, unique): Kickoff finds its own records by it")
    portal = get(table, "route")
    if isinstance(portal, dict) and portal.get("portalId") is not None and account.id \
            and str(portal["portalId"]) != account.id:
        problems.add("route.portalId", f"the token's portal is {account.id}, not {portal['portalId']}")
    routed = (portal or {}).get("properties.hs_pipeline") if isinstance(portal, dict) else None
    if routed is not None and account.pipeline(str(routed)) is None:
        problems.add("route.properties.hs_pipeline", f"no ticket pipeline {routed}")
    routed_owners = portal.get(OWNER_ROUTE) if isinstance(portal, dict) else None
    checked = {str(o) for o in (table.get("owners") or {}).values()}
    for n, owner in enumerate(routed_owners if isinstance(routed_owners, list) else [routed_owners]):
        if owner not in (None, "") and str(owner) not in checked:  # the roles' owners are named above
            problems.person(f"route.{OWNER_ROUTE}[{n}]", account, owner)
    return list(problems)
