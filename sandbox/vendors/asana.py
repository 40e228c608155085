"""Asana at ``/api/1.0``: workspaces, projects, board sections, tasks, stories, custom
fields, search, events (sync tokens), ``/batch`` and webhooks with the X-Hook-Secret
handshake. Every change, whether made through the API or by "a person" on the admin
routes, lands in the events stream and is delivered to the webhook target signed with
``X-Hook-Signature``. State is readable at ``GET /_sandbox/asana/records/<type>``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import requests
from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.limits import LimitSettings
from sandbox.vendors.base import Vendor
from sandbox.webhooks import WebhookTarget

API = "/api/1.0"
HELP = "For more information on API status codes and how to handle them, read the docs on errors: https://developers.asana.com/docs/errors"
SYNC_TOKEN_LIFETIME = timedelta(hours=24)
MAX_BATCH_ACTIONS = 10
MAX_EVENTS_PER_CALL = 100
SEARCH_INDEX_LAG_SECONDS = 10.0  # Asana: 10 to 60 s before a change is searchable
COMPACT = ("gid", "name", "resource_type", "resource_subtype")


class AsanaError(Exception):
    """An answer in Asana's error envelope."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "help": HELP}], **self.extra}


Result = tuple[int, Any]
"""(status, body) of one operation; body is the whole JSON answer."""
Operation = Callable[[dict[str, str], dict[str, str], dict[str, Any]], Awaitable[Result]]
"""(path params, query, data) -> result; shared by the routes and ``/batch``."""


def iso(moment: datetime) -> str:
    """Asana's timestamps: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(field: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise AsanaError(400, f"{field}: Not a valid date-time: {value}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def select(record: dict[str, Any], opt_fields: str | None, compact: bool) -> dict[str, Any]:
    """``opt_fields`` projection (nested with dots); without it, compact or full."""
    if not opt_fields:
        return {k: record[k] for k in COMPACT if k in record} if compact else record
    paths = [p.strip().split(".") for p in opt_fields.split(",") if p.strip()]
    return _project(record, paths)


def _project(value: Any, paths: list[list[str]]) -> Any:
    """Keep the requested paths; nested objects keep their ``gid`` as Asana's do."""
    if isinstance(value, list):
        return [_project(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {"gid": value["gid"]} if "gid" in value else {}
    for head in dict.fromkeys(p[0] for p in paths):
        if head not in value:
            continue
        rest = [p[1:] for p in paths if p[0] == head and len(p) > 1]
        whole = any(p == [head] for p in paths)
        out[head] = value[head] if whole or not rest else _project(value[head], rest)
    return out


class Asana(Vendor):
    name = "asana"
    prefixes = (f"{API}/",)
    default_limits: ClassVar[LimitSettings] = LimitSettings(
        requests=150, window_seconds=60,  # free domain; paid: 1,500 a minute
        extra={"search_per_minute": 60, "search_index_lag_seconds": SEARCH_INDEX_LAG_SECONDS, "premium": 1},
    )
    default_credentials: ClassVar[dict[str, str]] = {"ASANA_ACCESS_TOKEN": "asana-sandbox-token"}

    # --- state ------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self.workspaces: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.sections: dict[str, dict[str, Any]] = {}
        self.custom_fields: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.stories: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.hook_secrets: dict[str, str] = {}  # webhook gid -> the secret of its handshake
        self.events: list[tuple[set[str], dict[str, Any]]] = []
        self.sync_tokens: dict[str, tuple[str, int, datetime]] = {}
        workspace = self._add_workspace({"name": "Sandbox Workspace"})
        self.api_user = self._add_user({"name": "Kickoff Bot", "email": "kickoff-bot@example.com"}, workspace)

    def new_gid(self) -> str:
        return str(1209000000000000 + self.next_id())

    def _add_workspace(self, data: dict[str, Any]) -> str:
        gid = str(data.get("gid") or self.new_gid())
        self.workspaces[gid] = {"gid": gid, "name": data.get("name", "Workspace"), "resource_type": "workspace",
                                "is_organization": bool(data.get("is_organization", False))}
        return gid

    def _add_user(self, data: dict[str, Any], workspace: str | None = None) -> str:
        gid = str(data.get("gid") or self.new_gid())
        self.users[gid] = {"gid": gid, "name": data.get("name", "Person"), "email": data.get("email"),
                           "resource_type": "user", "workspaces": [self._ref(self.workspaces, w) for w in
                                                                   ([workspace] if workspace else list(self.workspaces))]}
        return gid

    def seed(self, data: dict[str, Any]) -> None:
        """Sections: ``workspace`` (the account's own, replacing the default one), ``workspaces``, ``users``, ``custom_fields`` (``resource_subtype`` text,
        enum or number; ``enum_options``), ``projects`` (with ordered ``sections``), ``tasks``
        (the create-task body). Seeded records emit no events."""
        if "workspace" in data:  # the account's own workspace instead of the sandbox's default
            old = next(iter(self.workspaces))
            self.workspaces.pop(old)
            gid = self._add_workspace(data["workspace"])
            for user in self.users.values():
                user["workspaces"] = [self._ref(self.workspaces, gid) if w["gid"] == old else w
                                      for w in user["workspaces"]]
        for ws in data.get("workspaces", []):
            self._add_workspace(ws)
        default_ws = next(iter(self.workspaces))
        for user in data.get("users", []):
            self._add_user(user, user.get("workspace"))
        for field in data.get("custom_fields", []):
            gid = str(field.get("gid") or self.new_gid())
            subtype = field.get("resource_subtype") or field.get("type") or "text"
            options = [{"gid": str(o.get("gid") or self.new_gid()), "name": o["name"], "enabled": o.get("enabled", True),
                        "color": o.get("color", "none"), "resource_type": "enum_option"} for o in field.get("enum_options", [])]
            self.custom_fields[gid] = {"gid": gid, "name": field["name"], "resource_type": "custom_field",
                                       "type": subtype, "resource_subtype": subtype, "enum_options": options,
                                       "workspace": str(field.get("workspace") or default_ws)}
        for project in data.get("projects", []):
            gid = str(project.get("gid") or self.new_gid())
            ws = str(project.get("workspace") or default_ws)
            self.projects[gid] = {"gid": gid, "name": project["name"], "resource_type": "project",
                                  "workspace": self._ref(self.workspaces, ws), "archived": False,
                                  "sections": [], "custom_fields": [str(g) for g in project.get("custom_fields", [])]}
            for section in project.get("sections") or [{"name": "Untitled section"}]:
                sgid = str(section.get("gid") or self.new_gid())
                self.sections[sgid] = {"gid": sgid, "name": section["name"], "resource_type": "section",
                                       "project": {"gid": gid, "name": project["name"], "resource_type": "project"},
                                       "created_at": iso(self.sb.clock.now())}
                self.projects[gid]["sections"].append(sgid)
        for task in data.get("tasks", []):
            self._create_task(dict(task), user=None, emit=False)

    # --- auth, limits, errors ---------------------------------------------------------
    def check_auth(self, request: Request) -> Response | None:
        if self.bearer_token(request) != self.credentials["ASANA_ACCESS_TOKEN"]:
            return JSONResponse(AsanaError(401, "Not Authorized").body(), status_code=401)
        return None

    def check_limits(self, request: Request) -> Response | None:
        token = self.bearer_token(request) or ""
        if request.url.path.endswith("/tasks/search"):
            ok, _, wait = self.window_hit(f"search:{token}", int(self.limits.extra.get("search_per_minute", 60)), 60)
            if not ok:
                return self._too_many(wait)
        ok, _, wait = self.window_hit(f"token:{token}", self.limits.requests, self.limits.window_seconds)
        return None if ok else self._too_many(wait)

    def _too_many(self, wait: float) -> Response:
        body = AsanaError(429, "You've made too many requests and hit a rate limit. "
                               "Please retry after the given amount of time.").body()
        return JSONResponse(body, status_code=429, headers={"Retry-After": str(max(1, math.ceil(wait)))})

    def error_response(self, status: int, message: str) -> Response:
        headers = {"Retry-After": "1"} if status == 429 else None
        return JSONResponse(AsanaError(status, message).body(), status_code=status, headers=headers)

    def sign(self, target: WebhookTarget, method: str, url: str, body: bytes) -> dict[str, str]:
        if not target.secret:
            return {}
        return {"X-Hook-Signature": hmac.new(target.secret.encode(), body, hashlib.sha256).hexdigest()}

    # --- helpers ----------------------------------------------------------------------
    @staticmethod
    def _ref(store: dict[str, dict[str, Any]], gid: str) -> dict[str, Any]:
        record = store[gid]
        return {k: record[k] for k in ("gid", "name", "resource_type") if k in record}

    def _get(self, store: dict[str, dict[str, Any]], gid: str) -> dict[str, Any]:
        if gid not in store:
            raise AsanaError(404, f"Unknown object: {gid}")
        return store[gid]

    def _user_gid(self, field: str, value: Any) -> str | None:
        if value in (None, ""):
            return None
        if value == "me":
            return self.api_user
        for gid, user in self.users.items():
            if str(value) in (gid, user.get("email")):
                return gid
        raise AsanaError(400, f"{field}: Not a recognized ID: {value}")

    def _page(self, items: list[dict[str, Any]], path: str, query: dict[str, str], compact: bool = True) -> Result:
        """One page (``limit``, opaque ``offset``) with ``next_page`` when more remain."""
        shaped = [select(i, query.get("opt_fields"), compact) for i in items]
        if "limit" not in query:
            return 200, {"data": shaped}
        try:
            limit = int(query["limit"])
        except ValueError:
            raise AsanaError(400, "limit: Not a valid integer") from None
        if not 1 <= limit <= 100:
            raise AsanaError(400, "limit: Must be between 1 and 100")
        start = 0
        if query.get("offset"):
            try:
                start = int(base64.urlsafe_b64decode(query["offset"].encode()).decode())
            except (ValueError, UnicodeDecodeError):
                raise AsanaError(400, "offset: Your pagination token is invalid") from None
        page = shaped[start:start + limit]
        body: dict[str, Any] = {"data": page, "next_page": None}
        if start + limit < len(shaped):
            token = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            uri = f"{API}{path}?limit={limit}&offset={token}"
            body["next_page"] = {"offset": token, "path": uri[len(API):], "uri": uri}
        return 200, body

    def _task_view(self, task: dict[str, Any]) -> dict[str, Any]:
        """A task as Asana shows it: refs expanded, custom fields as a list of values."""
        fields = []
        for gid, value in task["custom_fields"].items():
            meta = self.custom_fields[gid]
            entry = {k: meta[k] for k in ("gid", "name", "resource_type", "type", "resource_subtype")}
            if meta["resource_subtype"] == "enum":
                option = next((o for o in meta["enum_options"] if o["gid"] == value), None)
                entry.update(enum_value=option, enum_options=meta["enum_options"],
                             display_value=option["name"] if option else None)
            elif meta["resource_subtype"] == "number":
                entry.update(number_value=value, display_value=None if value is None else str(value))
            else:
                entry.update(text_value=value, display_value=value)
            fields.append(entry)
        memberships = [{"project": self._ref(self.projects, p), "section": self._ref(self.sections, s)}
                       for p, s in task["memberships"].items()]
        return {
            "gid": task["gid"], "resource_type": "task", "resource_subtype": "default_task",
            "name": task["name"], "notes": task["notes"], "completed": task["completed"],
            "completed_at": task["completed_at"], "created_at": task["created_at"], "modified_at": task["modified_at"],
            "due_on": task["due_on"], "due_at": task["due_at"],
            **({"assignee": self._ref(self.users, task["assignee"])} if task["assignee"] else {}),
            "workspace": self._ref(self.workspaces, task["workspace"]),
            "projects": [self._ref(self.projects, p) for p in task["memberships"]],
            "memberships": memberships, "custom_fields": fields,
            "permalink_url": f"https://app.asana.com/0/0/{task['gid']}",
        }

    # --- events and webhooks ----------------------------------------------------------
    def _record(self, task: dict[str, Any] | None, resource: dict[str, Any], action: str, user: str | None,
                parent: dict[str, Any] | None = None, change: dict[str, Any] | None = None) -> dict[str, Any]:
        """One event in the stream of the task's projects (and of the task itself)."""
        event: dict[str, Any] = {
            "user": self._ref(self.users, user) if user else None,
            "created_at": iso(self.sb.clock.now()), "type": resource["resource_type"], "action": action,
            "resource": resource,
        }
        if parent is not None:  # Asana's schema: a parent is an object, absent when there is none
            event["parent"] = parent
        if change is not None:
            event["change"] = change
        scopes = {resource["gid"]}
        if task is not None:
            scopes |= {task["gid"], *task["memberships"]}
        self.events.append((scopes, event))
        return event

    def _deliver(self, events: list[dict[str, Any]]) -> None:
        """Webhooks carry only gids and types: the compact form of the same events."""
        if not events:
            return

        def slim(ref: Any) -> Any:
            if not isinstance(ref, dict):
                return ref
            return {k: ref[k] for k in ("gid", "resource_type", "resource_subtype") if k in ref}

        payload = []
        for e in events:
            item = {"user": slim(e["user"]), "created_at": e["created_at"], "action": e["action"],
                    "resource": slim(e["resource"]), "parent": slim(e.get("parent"))}
            if "change" in e:
                change = dict(e["change"])
                for key in ("new_value", "added_value", "removed_value"):
                    if key in change:
                        change[key] = slim(change[key])
                item["change"] = change
            payload.append(item)
        self.emit_webhook({"events": payload})
        scopes = {id(e): s for s, e in self.events[-len(events):]}
        for hook in self.webhooks.values():  # each webhook hears of its own resource's events
            mine = [item for e, item in zip(events, payload, strict=True)
                    if hook["resource"]["gid"] in scopes.get(id(e), set())]
            if hook["active"] and mine:
                self.emit_webhook({"events": mine}, target=WebhookTarget(url=hook["target"],
                                                                          secret=self.hook_secrets[hook["gid"]]))

    def _task_ref(self, task: dict[str, Any]) -> dict[str, Any]:
        return {"gid": task["gid"], "name": task["name"], "resource_type": "task", "resource_subtype": "default_task"}

    # --- tasks ------------------------------------------------------------------------
    def _custom_values(self, raw: Any, current: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise AsanaError(400, "custom_fields: Must be an object")
        values = dict(current)
        for gid, value in raw.items():
            meta = self.custom_fields.get(str(gid))
            if meta is None:
                raise AsanaError(400, f"custom_fields: Custom field with ID {gid} is not on given object")
            if meta["resource_subtype"] == "enum" and value is not None:
                if not any(o["gid"] == str(value) and o["enabled"] for o in meta["enum_options"]):
                    raise AsanaError(400, f"enum_value: Not a recognized ID: {value}")
                value = str(value)
            elif meta["resource_subtype"] == "number" and value is not None and not isinstance(value, int | float):
                raise AsanaError(400, f"number_value: Not a number: {value}")
            elif meta["resource_subtype"] == "text" and value is not None and not isinstance(value, str):
                raise AsanaError(400, f"text_value: Not a string: {value}")
            values[str(gid)] = value
        return values

    def _memberships(self, data: dict[str, Any]) -> dict[str, str]:
        """project gid -> section gid, from ``memberships`` and ``projects`` (first column)."""
        result: dict[str, str] = {}
        for m in data.get("memberships") or []:
            project, section = str(m.get("project", "")), str(m.get("section", ""))
            self._known_project(project)
            if section not in self.projects[project]["sections"]:
                raise AsanaError(400, f"memberships: Section {section} is not in project {project}")
            result[project] = section
        for project in data.get("projects") or []:
            project = str(project)
            self._known_project(project)
            result.setdefault(project, self.projects[project]["sections"][0])
        return result

    def _known_project(self, gid: str) -> None:
        if gid not in self.projects:
            raise AsanaError(400, f"projects: Not a recognized ID: {gid}")

    def _dates(self, data: dict[str, Any], task: dict[str, Any]) -> None:
        if data.get("due_on") and data.get("due_at"):
            raise AsanaError(400, "You may only provide one of due_on or due_at.")
        if "due_at" in data:
            task["due_at"] = iso(parse_time("due_at", data["due_at"])) if data["due_at"] else None
            task["due_on"] = task["due_at"][:10] if task["due_at"] else None
        if "due_on" in data:
            if data["due_on"]:
                try:
                    datetime.strptime(data["due_on"], "%Y-%m-%d")
                except (TypeError, ValueError):
                    raise AsanaError(400, f"due_on: Not a valid date: {data['due_on']}") from None
            task["due_on"], task["due_at"] = data["due_on"] or None, None

    def _create_task(self, data: dict[str, Any], user: str | None, emit: bool = True) -> dict[str, Any]:
        memberships = self._memberships(data)
        workspace = str(data.get("workspace") or "")
        if memberships:
            workspace = self.projects[next(iter(memberships))]["workspace"]["gid"]
        if not workspace:
            raise AsanaError(400, "workspace: Missing input")
        if workspace not in self.workspaces:
            raise AsanaError(400, f"workspace: Not a recognized ID: {workspace}")
        now = iso(self.sb.clock.now())
        task: dict[str, Any] = {
            "gid": str(data.get("gid") or self.new_gid()), "name": str(data.get("name", "")),
            "notes": str(data.get("notes", "")), "completed": bool(data.get("completed", False)),
            "completed_at": now if data.get("completed") else None, "created_at": now, "modified_at": now,
            "due_on": None, "due_at": None, "assignee": self._user_gid("assignee", data.get("assignee")),
            "workspace": workspace, "memberships": memberships,
            "custom_fields": self._custom_values(data.get("custom_fields") or {}, {}),
        }
        self._dates(data, task)
        self.tasks[task["gid"]] = task
        if emit:
            ref = self._task_ref(task)
            events = [self._record(task, ref, "added", user, parent=self._ref(self.projects, p)) for p in memberships]
            events += [self._record(task, ref, "added", user, parent=self._ref(self.sections, s))
                       for s in memberships.values()]
            self._deliver(events)
        return task

    def _update_task(self, task: dict[str, Any], data: dict[str, Any], user: str | None) -> None:
        for forbidden in ("projects", "memberships", "workspace"):
            if forbidden in data:
                raise AsanaError(400, f"{forbidden}: Cannot write this property")
        before = {k: task[k] for k in ("name", "notes", "completed", "assignee", "due_on", "due_at")}
        before_fields = dict(task["custom_fields"])
        assignee = self._user_gid("assignee", data["assignee"]) if "assignee" in data else task["assignee"]
        fields = self._custom_values(data.get("custom_fields", {}), task["custom_fields"])
        self._dates(data, task)
        task.update(assignee=assignee, custom_fields=fields)
        for key in ("name", "notes"):
            if key in data:
                task[key] = str(data[key])
        if "completed" in data and bool(data["completed"]) != task["completed"]:
            task["completed"] = bool(data["completed"])
            task["completed_at"] = iso(self.sb.clock.now()) if task["completed"] else None
        changed = [k for k, v in before.items() if task[k] != v]
        changed += ["custom_fields"] if fields != before_fields else []
        if changed:
            self._touch(task)
            ref = self._task_ref(task)
            events = []
            for field in changed:
                change: dict[str, Any] = {"field": field, "action": "changed"}
                if field == "assignee" and task["assignee"]:
                    change["new_value"] = self._ref(self.users, task["assignee"])
                events.append(self._record(task, ref, "changed", user, change=change))
            self._deliver(events)

    def _touch(self, task: dict[str, Any]) -> None:
        task["modified_at"] = iso(self.sb.clock.now())

    def _move(self, task: dict[str, Any], section_gid: str, user: str | None) -> None:
        """Into the section, out of the project's other sections (boards: columns)."""
        section = self._get(self.sections, section_gid)
        project = section["project"]["gid"]
        old = task["memberships"].get(project)
        if old == section_gid:
            return
        task["memberships"][project] = section_gid
        self._touch(task)
        ref = self._task_ref(task)
        events = []
        if old is None:
            events.append(self._record(task, ref, "added", user, parent=self._ref(self.projects, project)))
        events.append(self._record(task, ref, "added", user, parent=self._ref(self.sections, section_gid)))
        if old is not None:
            events.append(self._record(task, ref, "removed", user, parent=self._ref(self.sections, old)))
        self._deliver(events)

    def _comment(self, task: dict[str, Any], text: str, user: str | None) -> dict[str, Any]:
        gid = self.new_gid()
        author = user or self.api_user
        story = {"gid": gid, "resource_type": "story", "type": "comment", "resource_subtype": "comment_added",
                 "text": text, "created_at": iso(self.sb.clock.now()),
                 "created_by": self._ref(self.users, author), "target": self._task_ref(task)}
        self.stories[gid] = story
        self._touch(task)
        self._deliver([self._record(task, {k: story[k] for k in ("gid", "resource_type", "resource_subtype")},
                                    "added", user, parent=self._task_ref(task))])
        return story

    def _modified_filter(self, tasks: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        if query.get("modified_since"):
            since = parse_time("modified_since", query["modified_since"])
            tasks = [t for t in tasks if parse_time("modified_at", t["modified_at"]) >= since]
        if query.get("completed_since") and query["completed_since"] != "now":
            since = parse_time("completed_since", query["completed_since"])
            tasks = [t for t in tasks if not t["completed"] or parse_time("completed_at", t["completed_at"]) >= since]
        elif query.get("completed_since") == "now":
            tasks = [t for t in tasks if not t["completed"]]
        return tasks

    # --- operations (routes and /batch share them) ------------------------------------
    def operations(self) -> list[tuple[str, str, Operation]]:
        return [
            ("GET", "/users/me", self.op_me),
            ("GET", "/workspaces", self.op_workspaces),
            ("GET", "/workspaces/{workspace_gid}", self.op_workspace),
            ("GET", "/workspaces/{workspace_gid}/custom_fields", self.op_workspace_fields),
            ("GET", "/workspaces/{workspace_gid}/users", self.op_workspace_users),
            ("GET", "/workspaces/{workspace_gid}/tasks/search", self.op_search),
            ("GET", "/custom_fields/{custom_field_gid}", self.op_custom_field),
            ("GET", "/projects", self.op_projects),
            ("GET", "/projects/{project_gid}", self.op_project),
            ("GET", "/projects/{project_gid}/sections", self.op_sections),
            ("GET", "/projects/{project_gid}/custom_field_settings", self.op_field_settings),
            ("GET", "/projects/{project_gid}/tasks", self.op_project_tasks),
            ("GET", "/sections/{section_gid}", self.op_section),
            ("POST", "/sections/{section_gid}/addTask", self.op_add_task_to_section),
            ("GET", "/tasks", self.op_tasks),
            ("POST", "/tasks", self.op_create_task),
            ("GET", "/tasks/{task_gid}", self.op_task),
            ("PUT", "/tasks/{task_gid}", self.op_update_task),
            ("GET", "/tasks/{task_gid}/stories", self.op_stories),
            ("POST", "/tasks/{task_gid}/stories", self.op_create_story),
            ("GET", "/events", self.op_events),
            ("POST", "/batch", self.op_batch),
            ("GET", "/webhooks", self.op_webhooks),
            ("POST", "/webhooks", self.op_create_webhook),
            ("GET", "/webhooks/{webhook_gid}", self.op_webhook),
            ("DELETE", "/webhooks/{webhook_gid}", self.op_delete_webhook),
        ]

    async def op_me(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        return 200, {"data": select(self.users[self.api_user], query.get("opt_fields"), False)}

    async def op_workspaces(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        return self._page(list(self.workspaces.values()), "/workspaces", query)

    async def op_workspace(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        return 200, {"data": select(self._get(self.workspaces, params["workspace_gid"]), query.get("opt_fields"), False)}

    async def op_workspace_fields(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        ws = params["workspace_gid"]
        self._get(self.workspaces, ws)
        fields = [f for f in self.custom_fields.values() if f["workspace"] == ws]
        return self._page(fields, f"/workspaces/{ws}/custom_fields", query)

    async def op_workspace_users(self, params: dict[str, str], query: dict[str, str],
                                 data: dict[str, Any]) -> Result:
        ws = params["workspace_gid"]
        self._get(self.workspaces, ws)
        users = [u for u in self.users.values() if any(w["gid"] == ws for w in u["workspaces"])]
        return self._page(users, f"/workspaces/{ws}/users", query)

    async def op_field_settings(self, params: dict[str, str], query: dict[str, str],
                                data: dict[str, Any]) -> Result:
        """The project's custom fields (the seed's ``custom_fields`` of the project; else every
        field of its workspace, as any field can be set on any task here)."""
        project = self._get(self.projects, params["project_gid"])
        gids = project.get("custom_fields") or [g for g, f in self.custom_fields.items()
                                                 if f["workspace"] == project["workspace"]["gid"]]
        ref = {"gid": project["gid"], "name": project["name"], "resource_type": "project"}
        settings = [{"gid": f"{project['gid']}{g[-6:]}", "resource_type": "custom_field_setting",
                     "is_important": True, "custom_field": self.custom_fields[g], "parent": ref, "project": ref}
                    for g in gids if g in self.custom_fields]
        return self._page(settings, f"/projects/{project['gid']}/custom_field_settings", query, compact=False)

    async def op_custom_field(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        field = self._get(self.custom_fields, params["custom_field_gid"])
        return 200, {"data": select(field, query.get("opt_fields"), False)}

    async def op_projects(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        projects = [self._project_view(p) for p in self.projects.values()
                    if not query.get("workspace") or p["workspace"]["gid"] == query["workspace"]]
        return self._page(projects, "/projects", query)

    def _project_view(self, project: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in project.items() if k not in ("sections", "custom_fields")}

    async def op_project(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        project = self._get(self.projects, params["project_gid"])
        return 200, {"data": select(self._project_view(project), query.get("opt_fields"), False)}

    async def op_sections(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        project = self._get(self.projects, params["project_gid"])
        sections = [self.sections[s] for s in project["sections"]]
        return self._page(sections, f"/projects/{project['gid']}/sections", query)

    async def op_section(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        return 200, {"data": select(self._get(self.sections, params["section_gid"]), query.get("opt_fields"), False)}

    async def op_project_tasks(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        gid = params["project_gid"]
        self._get(self.projects, gid)
        tasks = self._modified_filter([t for t in self.tasks.values() if gid in t["memberships"]], query)
        return self._page([self._task_view(t) for t in tasks], f"/projects/{gid}/tasks", query)

    async def op_tasks(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        if query.get("project"):
            return await self.op_project_tasks({"project_gid": query["project"]}, query, data)
        if query.get("section"):
            section = self._get(self.sections, query["section"])
            tasks = [t for t in self.tasks.values()
                     if t["memberships"].get(section["project"]["gid"]) == section["gid"]]
        elif query.get("assignee") and query.get("workspace"):
            user = self._user_gid("assignee", query["assignee"])
            tasks = [t for t in self.tasks.values() if t["assignee"] == user and t["workspace"] == query["workspace"]]
        else:
            raise AsanaError(400, "Must specify exactly one of project, tag, section, user task list, or assignee + workspace")
        tasks = self._modified_filter(tasks, query)
        return self._page([self._task_view(t) for t in tasks], "/tasks", query)

    async def op_create_task(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        task = self._create_task(data, self.api_user)
        return 201, {"data": select(self._task_view(task), query.get("opt_fields"), False)}

    async def op_task(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        task = self._get(self.tasks, params["task_gid"])
        return 200, {"data": select(self._task_view(task), query.get("opt_fields"), False)}

    async def op_update_task(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        task = self._get(self.tasks, params["task_gid"])
        self._update_task(task, data, self.api_user)
        return 200, {"data": select(self._task_view(task), query.get("opt_fields"), False)}

    async def op_add_task_to_section(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        section = self._get(self.sections, params["section_gid"])
        task_gid = str(data.get("task") or "")
        if task_gid not in self.tasks:
            raise AsanaError(400, f"task: Not a recognized ID: {task_gid or '(missing)'}")
        self._move(self.tasks[task_gid], section["gid"], self.api_user)
        return 200, {"data": {}}

    async def op_stories(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        task = self._get(self.tasks, params["task_gid"])
        stories = [s for s in self.stories.values() if s["target"]["gid"] == task["gid"]]
        return self._page(stories, f"/tasks/{task['gid']}/stories", query, compact=False)

    async def op_create_story(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        task = self._get(self.tasks, params["task_gid"])
        text = data.get("text") or re.sub(r"<[^>]+>", "", str(data.get("html_text") or ""))
        if not text:
            raise AsanaError(400, "text: Missing input")
        story = self._comment(task, str(text), self.api_user)
        return 201, {"data": select(story, query.get("opt_fields"), False)}

    async def op_search(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        """Premium only (402 otherwise); a change is searchable only after the index lag."""
        ws = params["workspace_gid"]
        self._get(self.workspaces, ws)
        if not self.limits.extra.get("premium", 1):
            raise AsanaError(402, "Search is only available to premium users.")
        lag = timedelta(seconds=float(self.limits.extra.get("search_index_lag_seconds", SEARCH_INDEX_LAG_SECONDS)))
        indexed_before = self.sb.clock.now() - lag
        tasks = [t for t in self.tasks.values()
                 if t["workspace"] == ws and parse_time("modified_at", t["modified_at"]) <= indexed_before]
        for key, value in query.items():
            match = re.fullmatch(r"custom_fields\.(\d+)\.(value|is_set|contains)", key)
            if match:
                gid, op = match.groups()
                if op == "is_set":
                    want = value.lower() == "true"
                    tasks = [t for t in tasks if (t["custom_fields"].get(gid) is not None) == want]
                elif op == "value":
                    tasks = [t for t in tasks if str(t["custom_fields"].get(gid)) == value]
                else:
                    tasks = [t for t in tasks if value in str(t["custom_fields"].get(gid) or "")]
        if query.get("projects.any"):
            wanted = set(query["projects.any"].split(","))
            tasks = [t for t in tasks if wanted & set(t["memberships"])]
        if query.get("text"):
            tasks = [t for t in tasks if query["text"].lower() in (t["name"] + " " + t["notes"]).lower()]
        if "completed" in query:
            tasks = [t for t in tasks if t["completed"] == (query["completed"].lower() == "true")]
        limit = min(int(query.get("limit", 100)), 100)
        tasks.sort(key=lambda t: t["created_at"])
        return 200, {"data": [select(self._task_view(t), query.get("opt_fields"), True) for t in tasks[:limit]]}

    async def op_events(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        """First call (or an unknown/expired token): 412 with a fresh token. Then the
        resource's events since the token, 100 at most, with the next token."""
        resource = query.get("resource", "")
        if resource not in self.projects and resource not in self.tasks:
            raise AsanaError(400, f"resource: Not a recognized ID: {resource or '(missing)'}")
        now = self.sb.clock.now()
        known = self.sync_tokens.get(query.get("sync", ""))
        if known is None or known[0] != resource or now - known[2] > SYNC_TOKEN_LIFETIME:
            token = self._sync_token(resource, len(self.events))
            raise AsanaError(412, "Sync token invalid or too old. If you are attempting to keep resources in sync, "
                                  "you must fetch the full dataset for this query now and use the new sync token "
                                  "for the next sync.", sync=token)
        position = known[1]
        found: list[dict[str, Any]] = []
        while position < len(self.events) and len(found) < MAX_EVENTS_PER_CALL:
            scopes, event = self.events[position]
            if resource in scopes:
                found.append(event)
            position += 1
        has_more = any(resource in s for s, _ in self.events[position:])
        return 200, {"data": found, "sync": self._sync_token(resource, position), "has_more": has_more}

    def _sync_token(self, resource: str, position: int) -> str:
        token = secrets.token_hex(16)
        self.sync_tokens[token] = (resource, position, self.sb.clock.now())
        return token

    async def op_batch(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        """1 to 10 actions; each answers ``{status_code, headers, body}`` in request order.
        Each action counts against the rate limit like a request of its own."""
        actions = data.get("actions")
        if not isinstance(actions, list) or not actions:
            raise AsanaError(400, "actions: Missing input")
        if len(actions) > MAX_BATCH_ACTIONS:
            raise AsanaError(400, f"actions: Too many actions in batch request. The maximum is {MAX_BATCH_ACTIONS}.")
        if self.limits.enabled:
            token = self.credentials["ASANA_ACCESS_TOKEN"]
            for _ in actions[1:]:
                ok, _, wait = self.window_hit(f"token:{token}", self.limits.requests, self.limits.window_seconds)
                if not ok:
                    raise _RateLimited(wait)
        results = []
        for action in actions:
            status, body, headers = await self._batch_action(action)
            results.append({"status_code": status, "headers": headers, "body": body})
        return 200, {"data": results}

    async def _batch_action(self, action: Any) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(action, dict) or not action.get("relative_path") or not action.get("method"):
            err = AsanaError(400, "action: relative_path and method are required")
            return err.status, err.body(), {}
        path, method = str(action["relative_path"]), str(action["method"]).upper()
        if "?" in path:
            err = AsanaError(400, "relative_path: Query parameters are not accepted here; put them in data")
            return err.status, err.body(), {}
        options = action.get("options") or {}
        query = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in options.items()}
        if method == "GET":
            query.update({k: str(v) for k, v in (action.get("data") or {}).items()})
        for op_method, template, op in self.operations():
            params = _match(template, path)
            if params is None or op_method != method or template == "/batch":
                continue
            try:
                status, body = await op(params, query, {} if method == "GET" else action.get("data") or {})
            except AsanaError as exc:
                return exc.status, exc.body(), {}
            headers = {"location": f"/tasks/{body['data']['gid']}"} if status == 201 and template == "/tasks" else {}
            return status, body, headers
        err = AsanaError(404, f"No matching route for request: {method} {path}")
        return err.status, err.body(), {}

    async def op_webhooks(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        if not query.get("workspace"):
            raise AsanaError(400, "workspace: Missing input")
        hooks = [h for h in self.webhooks.values() if not query.get("resource") or h["resource"]["gid"] == query["resource"]]
        return self._page(hooks, "/webhooks", query, compact=False)

    async def op_webhook(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        return 200, {"data": self._get(self.webhooks, params["webhook_gid"])}

    async def op_delete_webhook(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        hook = self.webhooks.pop(self._get(self.webhooks, params["webhook_gid"])["gid"])
        self.hook_secrets.pop(hook["gid"], None)
        return 200, {"data": {}}

    async def op_create_webhook(self, params: dict[str, str], query: dict[str, str], data: dict[str, Any]) -> Result:
        """The handshake happens while this call is open: the target must echo
        ``X-Hook-Secret`` with 200 or 204. Loopback targets are allowed (Asana refuses them)."""
        resource, target = str(data.get("resource") or ""), str(data.get("target") or "")
        if resource not in self.projects and resource not in self.tasks:
            raise AsanaError(400, f"resource: Not a recognized ID: {resource or '(missing)'}")
        if not target.startswith(("https://", "http://")):
            raise AsanaError(400, "target: Not a valid URL")
        secret = secrets.token_hex(32)
        try:
            answer = await asyncio.to_thread(requests.post, target, headers={"X-Hook-Secret": secret}, timeout=10)
        except requests.RequestException:
            raise AsanaError(400, "Could not complete the handshake: the target did not respond.") from None
        if answer.status_code not in (200, 204) or answer.headers.get("X-Hook-Secret") != secret:
            raise AsanaError(400, "The remote server did not respond with the handshake secret.")
        gid = self.new_gid()
        store = self.projects if resource in self.projects else self.tasks
        hook = {"gid": gid, "resource_type": "webhook", "active": True, "target": target,
                "resource": {"gid": resource, "name": store[resource]["name"],
                             "resource_type": "project" if store is self.projects else "task"},
                "created_at": iso(self.sb.clock.now()),
                "last_failure_content": "", "filters": data.get("filters") or []}
        self.webhooks[gid] = hook
        self.hook_secrets[gid] = secret
        return 201, {"data": hook}

    # --- routes -----------------------------------------------------------------------
    def routes(self) -> None:
        for method, template, op in self.operations():
            self.router.add_api_route(API + template, self._endpoint(op), methods=[method])

    def _endpoint(self, op: Operation) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            data: dict[str, Any] = {}
            if request.method in ("POST", "PUT"):
                try:
                    payload = json.loads(await request.body() or b"{}")
                except ValueError:
                    return JSONResponse(AsanaError(400, "Could not parse request data, invalid JSON").body(), 400)
                if not isinstance(payload, dict) or not isinstance(payload.get("data", {}), dict):
                    return JSONResponse(AsanaError(400, "data: Missing input").body(), 400)
                data = payload.get("data", {})
            try:
                status, body = await op(dict(request.path_params), dict(request.query_params), data)
            except _RateLimited as limited:
                return self._too_many(limited.wait)
            except AsanaError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)
            return JSONResponse(body, status_code=status)

        return endpoint

    def admin_routes(self) -> None:
        stores = {"workspaces": "workspaces", "users": "users", "projects": "projects", "sections": "sections",
                  "custom_fields": "custom_fields", "tasks": "tasks", "stories": "stories", "webhooks": "webhooks"}

        def person(body: dict[str, Any]) -> str | None:
            people = [g for g in self.users if g != self.api_user]
            return str(body.get("user") or (people[0] if people else self.api_user))

        def guarded(fn: Callable[[], Any]) -> Any:
            try:
                return fn()
            except AsanaError as exc:
                raise HTTPException(exc.status, exc.message) from exc

        @self.admin.get("/records/{kind}")
        async def records(kind: str) -> list[dict[str, Any]]:
            if kind not in stores:
                raise HTTPException(404, f"no record type {kind}; one of {sorted(stores)}")
            if kind == "tasks":
                return [self._task_view(t) for t in self.tasks.values()]
            return list(getattr(self, stores[kind]).values())

        @self.admin.get("/tasks/{gid}")
        async def task(gid: str) -> dict[str, Any]:
            return guarded(lambda: self._task_view(self._get(self.tasks, gid)))

        @self.admin.post("/tasks")
        async def create(body: dict[str, Any]) -> dict[str, Any]:
            """A person adds a task to a board (``projects`` / ``memberships``)."""
            return guarded(lambda: self._task_view(self._create_task(body, person(body))))

        @self.admin.put("/tasks/{gid}")
        async def update(gid: str, body: dict[str, Any]) -> dict[str, Any]:
            changes = {k: v for k, v in body.items() if k != "user"}
            return guarded(lambda: self._admin_update(gid, changes, person(body)))

        @self.admin.post("/tasks/{gid}/complete")
        async def complete(gid: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
            return guarded(lambda: self._admin_update(gid, {"completed": True}, person(body or {})))

        @self.admin.post("/tasks/{gid}/move")
        async def move(gid: str, body: dict[str, Any]) -> dict[str, Any]:
            """A person drags the card to another column (``section``: gid or name)."""
            def run() -> dict[str, Any]:
                task = self._get(self.tasks, gid)
                self._move(task, self._section_by_ref(task, str(body.get("section", ""))), person(body))
                return self._task_view(task)
            return guarded(run)

        @self.admin.post("/tasks/{gid}/comment")
        async def comment(gid: str, body: dict[str, Any]) -> dict[str, Any]:
            return guarded(lambda: self._comment(self._get(self.tasks, gid), str(body.get("text", "")), person(body)))

    def _admin_update(self, gid: str, changes: dict[str, Any], user: str | None) -> dict[str, Any]:
        task = self._get(self.tasks, gid)
        self._update_task(task, changes, user)
        return self._task_view(task)

    def _section_by_ref(self, task: dict[str, Any], ref: str) -> str:
        if ref in self.sections:
            return ref
        for project in task["memberships"]:
            for sgid in self.projects[project]["sections"]:
                if self.sections[sgid]["name"].lower() == ref.lower():
                    return sgid
        raise AsanaError(404, f"no section {ref!r} in the task's projects")


class _RateLimited(Exception):
    """A batch whose actions exceed what is left of the minute."""

    def __init__(self, wait: float) -> None:
        super().__init__("rate limited")
        self.wait = wait


def _match(template: str, path: str) -> dict[str, str] | None:
    pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "/?$"
    found = re.match(pattern, path)
    return found.groupdict() if found else None


VENDOR = Asana
