"""Movidesk's table against a live account: ``propose`` fills in the agents behind the owner
roles (and their team) and Kickoff's own agent (by the playbook's names); ``verify`` checks that
each is an active agent of that team. Statuses are checked only against those seen on tickets
when Movidesk lists them (it publishes no list: see ``connectors/movidesk_account.py``)."""

from __future__ import annotations

import copy
from typing import Any

from kickoff.contracts.account import Account
from mappings.discovery import Names, Problem, Problems, Proposal


def propose(table: dict[str, Any], account: Account, names: Names, *, own_account: bool) -> Proposal:
    found = Proposal(copy.deepcopy(table))
    t = found.table
    active = [p for p in account.people if p.active]
    alive = lambda i: any(p.id == i for p in active)
    for role, role_names in names.roles().items():
        if role_names is None:
            continue
        agent = found.pick(f"owners.{role}.owner_id", active, role_names, "active agent", keep=alive)
        person = account.person(agent) if agent else None
        if person is not None and person.teams and not (t["owners"][role] or {}).get("owner_team"):
            t["owners"][role]["owner_team"] = person.teams[0]
    if names.of_tool("agent"):
        found.pick("agent_id", active, names.of_tool("agent"), "active agent", keep=alive)
    return found


def verify(table: dict[str, Any], account: Account) -> list[Problem]:
    problems = Problems()
    problems.person("agent_id", account, table.get("agent_id"), "agent")
    for role, spec in (table.get("owners") or {}).items():
        person = problems.person(f"owners.{role}.owner_id", account, (spec or {}).get("owner_id"), "agent")
        team = (spec or {}).get("owner_team")
        if person is not None and team and person.teams and team not in person.teams:
            problems.add(f"owners.{role}.owner_team", f"agent {person.id} ({person.name}) is not in team {team!r} "
                                                      f"(their teams: {', '.join(person.teams)})")
    if "statuses" not in account.partial:
        for group in ("stages", "statuses"):
            for key, spec in (table.get(group) or {}).items():
                status = account.status(str((spec or {}).get("status")))
                if status is None:
                    problems.add(f"{group}.{key}.status", f"no status {(spec or {}).get('status')!r} in movidesk")
                elif (spec or {}).get("justification") and spec["justification"] not in status.justifications:
                    problems.add(f"{group}.{key}.justification",
                                 f"status {status.name!r} has no justification {spec['justification']!r}")
    return list(problems)
