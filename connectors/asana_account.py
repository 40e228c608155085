"""Asana's ``check`` and ``discover``: the token's user, the workspace, its users, custom
fields and projects with their sections (board columns) and custom fields.

``check`` reads the token's user (a 401 is a rejected token) and each board project the
mapping reads (a project the token cannot see is named). ``discover`` reads the workspace
(``options.workspace``, else the user's first), every user, custom field (type and enum
options) and project of it, each project's sections in board order and custom field settings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import asana

from kickoff.contracts.account import Account, AccountField, FieldType, Option, Person, Project
from kickoff.contracts.errors import VendorError

TYPES: dict[str, FieldType] = {"text": "text", "enum": "enum", "multi_enum": "multi_enum", "number": "number",
                               "date": "date", "people": "reference"}


class Workspace(Protocol):
    """What these functions use of the Asana connector."""

    reads: dict[str, list[str]]
    config: Any
    client: Any

    def _invoke(self, fn: Callable[[], Any], **kwargs: Any) -> Any: ...
    def _pages(self, fetch: Callable[[dict[str, Any]], dict[str, Any]], opts: dict[str, Any]) -> list[dict[str, Any]]: ...
    def problem(self, error: VendorError, credential: str) -> str: ...
    def unset_credentials(self, names: list[str] | None = None) -> list[str]: ...


def check(ws: Workspace, now: datetime) -> list[str]:
    unset = ws.unset_credentials()
    if unset:
        return unset
    try:
        ws._invoke(lambda: asana.UsersApi(ws.client).get_user("me", {"opt_fields": "name"}))
    except VendorError as error:
        return [ws.problem(error, "token")]
    problems = []
    for project in ws.reads.get("projects", []):
        try:
            ws._invoke(lambda p=project: asana.ProjectsApi(ws.client).get_project(p, {"opt_fields": "name"}))
        except VendorError as error:
            problems.append(f"project {project}: {ws.problem(error, 'token')}")
    return problems


def discover(ws: Workspace, now: datetime) -> Account:
    me = ws._invoke(lambda: asana.UsersApi(ws.client).get_user("me", {"opt_fields": "workspaces.name"}))
    spaces = me.get("workspaces") or []
    wanted = str(ws.config.options.get("workspace") or (spaces[0]["gid"] if spaces else ""))
    name = next((w.get("name") for w in spaces if w["gid"] == wanted), None)
    users = ws._pages(lambda o: asana.UsersApi(ws.client).get_users_for_workspace(
        wanted, {**o, "opt_fields": "name,email"}, full_payload=True), {})
    fields = ws._pages(lambda o: asana.CustomFieldsApi(ws.client).get_custom_fields_for_workspace(
        wanted, {**o, "opt_fields": "name,resource_subtype,enum_options.name,enum_options.enabled"},
        full_payload=True), {})
    projects = ws._pages(lambda o: asana.ProjectsApi(ws.client).get_projects(
        {**o, "workspace": wanted, "opt_fields": "name,archived"}, full_payload=True), {})
    return Account(
        tool="asana", id=wanted or None, name=name,
        people=[Person(id=u["gid"], name=u.get("name") or "", email=u.get("email")) for u in users],
        fields=[_field(f) for f in fields],
        projects=[_project(ws, p) for p in projects if not p.get("archived")])


def _project(ws: Workspace, project: dict[str, Any]) -> Project:
    gid = project["gid"]
    sections = ws._pages(lambda o: asana.SectionsApi(ws.client).get_sections_for_project(
        gid, {**o, "opt_fields": "name"}, full_payload=True), {})
    settings = ws._pages(lambda o: asana.CustomFieldSettingsApi(ws.client).get_custom_field_settings_for_project(
        gid, {**o, "opt_fields": "custom_field.name"}, full_payload=True), {})
    return Project(id=gid, name=project.get("name") or "",
                   sections=[Option(id=s["gid"], name=s.get("name") or "") for s in sections],
                   fields=[s["custom_field"]["gid"] for s in settings if s.get("custom_field")])


def _field(field: dict[str, Any]) -> AccountField:
    options = [Option(id=o["gid"], name=o.get("name") or "", active=bool(o.get("enabled", True)))
               for o in field.get("enum_options") or []]
    return AccountField(object="tasks", name=field["gid"], label=field.get("name") or "",
                        type=TYPES.get(str(field.get("resource_subtype")), "other"), options=options)
