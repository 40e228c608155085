"""Asana's table against a live workspace: ``propose`` fills in the board project, its columns
(sections), the people behind the owner roles and the request form's custom fields (by the
playbook's names); ``verify`` checks that each section is a column of the project, each person
is in the workspace and each custom field exists (and is on the project)."""

from __future__ import annotations

import copy
from typing import Any

from kickoff.contracts.account import Account
from mappings.discovery import Names, Problem, Problems, Proposal


def propose(table: dict[str, Any], account: Account, names: Names, *, own_account: bool) -> Proposal:
    found = Proposal(copy.deepcopy(table))
    project_id = found.pick("project", account.projects, names.of_tool("project"), "project",
                            keep=lambda i: account.project(i) is not None)
    project = account.project(project_id) if project_id else None
    if project is not None:
        for key, label in (names.tool.get("sections") or {}).items():
            found.pick(f"sections.{key}", project.sections, [label], f"column of {project.name!r}",
                       keep=lambda i, p=project: any(s.id == i for s in p.sections))
    for role, role_names in names.roles().items():
        if role_names is not None:
            found.pick(f"owners.{role}", account.people, role_names, "user",
                       keep=lambda i: account.person(i) is not None)
    fields = [f for f in account.fields if f.object == "tasks"]
    for key, label in (names.tool.get("fields") or {}).items():
        found.pick(f"request_fields.{key}", fields, [label], "custom field",
                   keep=lambda i: account.field("tasks", i) is not None)
    return found


def verify(table: dict[str, Any], account: Account) -> list[Problem]:
    problems = Problems()
    project = account.project(str(table.get("project")))
    if project is None:
        known = ", ".join(f"{p.id} ({p.name})" for p in account.projects)[:300]
        problems.add("project", f"no project {table.get('project')} in the workspace (projects: {known or 'none'})")
    for key, section in (table.get("sections") or {}).items():
        if project is not None and not any(s.id == str(section) for s in project.sections):
            have = ", ".join(f"{s.id} ({s.name})" for s in project.sections)
            problems.add(f"sections.{key}", f"no column {section} on project {project.name!r} (its columns: {have})")
    for key in table.get("done_sections") or []:
        if key not in (table.get("sections") or {}):
            problems.add("done_sections", f"{key} is not one of sections")
    for role, person in (table.get("owners") or {}).items():
        problems.person(f"owners.{role}", account, person, "user")
    for key, gid in (table.get("request_fields") or {}).items():
        found = problems.field(f"request_fields.{key}", account, "tasks", gid)
        if found is not None and project is not None and project.fields and str(gid) not in project.fields:
            problems.add(f"request_fields.{key}", f"custom field {gid} ({found.label}) is not on project "
                                                  f"{project.name!r}: add it to the project")
    return list(problems)
