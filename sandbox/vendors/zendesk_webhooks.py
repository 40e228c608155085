"""Zendesk's Webhooks API (``/api/v2/webhooks``) and triggers (``/api/v2/triggers``): what an
admin, or Kickoff's ``webhooks apply``, registers, and the deliveries that follow.

A webhook either subscribes to event types (``zen:event-type:ticket.status_changed``...: each
such event of a ticket is POSTed to it) or, with the one subscription
``conditional_ticket_events``, is called by triggers: a trigger whose conditions hold when a
ticket is created or changed posts its ``notification_webhook`` body (a JSON template with
``{{ticket.*}}`` placeholders) to the webhook. Every delivery is signed with the webhook's own
signing secret, which Zendesk generates and shows at ``GET .../signing_secret`` (it cannot be
set). Conditions the stand-in evaluates: ``update_type``, ``status``, ``current_tags``,
``ticket_form_id``, ``group_id``, ``assignee_id`` and ``custom_fields_<id>``; a trigger using
another field is refused with 422 rather than silently never firing.

Placeholders are filled into the template's string values (so a value with a quote stays
valid JSON); the ones known: ``ticket.id``, ``ticket.title``, ``ticket.description``,
``ticket.status``, ``ticket.priority``, ``ticket.ticket_type``, ``ticket.tags``,
``ticket.requester.id``, ``ticket.organization.id``, ``ticket.assignee.id``,
``ticket.group.id``, ``ticket.ticket_form_id``, ``ticket.created_at_with_timestamp``,
``ticket.updated_at_with_timestamp`` and ``ticket.ticket_field_<id>``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.webhooks import WebhookTarget

CONDITIONAL = "conditional_ticket_events"
EVENT_TYPE = re.compile(r"^zen:event-type:[a-z_]+\.[a-z_]+$")
WEBHOOK_FIELDS = ("name", "description", "endpoint", "http_method", "request_format", "status",
                  "subscriptions", "authentication", "custom_headers")
CONDITION_FIELDS = re.compile(r"^(update_type|status|current_tags|ticket_form_id|group_id|assignee_id|"
                              r"custom_fields_\d+)$")
OPERATORS = {"is", "is_not", "includes", "not_includes", "present", "not_present", "changed"}
PLACEHOLDER = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")

Emit = Callable[[Any, WebhookTarget], None]
"""(payload, target): queue one signed delivery to a registered webhook."""


def _error(status: int, title: str, message: str) -> JSONResponse:
    return JSONResponse({"errors": [{"code": title, "title": title, "detail": message}]}, status_code=status)


class ZendeskHooks:
    """The webhooks and triggers of one Zendesk account, and their deliveries."""

    def __init__(self, now: Callable[[], str], emit: Emit) -> None:
        self._now, self._emit = now, emit
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.secrets: dict[str, str] = {}
        self.triggers: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self.webhooks.clear()
        self.secrets.clear()
        self.triggers.clear()
        self._ids = itertools.count(1)

    # --- deliveries ---------------------------------------------------------------------
    def _target(self, hook: dict[str, Any]) -> WebhookTarget:
        return WebhookTarget(url=hook["endpoint"], secret=self.secrets[hook["id"]])

    def event(self, payload: dict[str, Any]) -> None:
        """An event-subscription payload: to every active webhook subscribed to its type."""
        for hook in self.webhooks.values():
            if hook["status"] == "active" and payload.get("type") in hook["subscriptions"]:
                self._emit(payload, self._target(hook))

    def ticket_changed(self, ticket: dict[str, Any], created: bool, changed: set[str]) -> None:
        """Triggers run on every create and update, by position; each whose conditions hold
        calls its webhook with its body filled in from the ticket."""
        for trigger in sorted(self.triggers.values(), key=lambda t: (t["position"], t["id"])):
            if not trigger["active"] or not _holds(trigger["conditions"], ticket, created, changed):
                continue
            for action in trigger["actions"]:
                if action.get("field") != "notification_webhook":
                    continue
                hook_id, template = (list(action.get("value") or []) + ["", ""])[:2]
                hook = self.webhooks.get(str(hook_id))
                if hook is None or hook["status"] != "active" or hook["subscriptions"] != [CONDITIONAL]:
                    continue
                self._emit(_render(template, ticket), self._target(hook))

    # --- the API ----------------------------------------------------------------------------
    def routes(self, router: APIRouter) -> None:
        r = router

        @r.get("/api/v2/webhooks")
        async def list_webhooks(request: Request) -> Response:
            query = request.query_params
            found = [h for h in self.webhooks.values()
                     if query.get("filter[name_contains]", "").lower() in h["name"].lower()
                     and query.get("filter[status]", h["status"]) == h["status"]]
            return JSONResponse({"webhooks": found, "meta": {"has_more": False, "after_cursor": None,
                                                             "before_cursor": None},
                                 "links": {"next": None, "prev": None}})

        @r.post("/api/v2/webhooks")
        async def create_webhook(request: Request) -> Response:
            body = await _object(request, "webhook")
            if isinstance(body, Response):
                return body
            problem = _check_webhook(body)
            if problem:
                return problem
            hook_id = f"01SANDBOX{next(self._ids):017d}"
            stamp = self._now()
            hook = {"id": hook_id, **{k: body[k] for k in WEBHOOK_FIELDS if k in body},
                    "created_at": stamp, "created_by": "1", "updated_at": stamp, "updated_by": "1"}
            hook.setdefault("subscriptions", [])
            self.webhooks[hook_id] = hook
            self.secrets[hook_id] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            return JSONResponse({"webhook": hook}, status_code=201)

        @r.get("/api/v2/webhooks/{hook_id}")
        async def show_webhook(hook_id: str) -> Response:
            hook = self.webhooks.get(hook_id)
            return JSONResponse({"webhook": hook}) if hook else _error(404, "RecordNotFound", "Not found")

        @r.api_route("/api/v2/webhooks/{hook_id}", methods=["PUT", "PATCH"])
        async def update_webhook(hook_id: str, request: Request) -> Response:
            found = await _stored_and_body(self.webhooks, hook_id, request, "webhook")
            if isinstance(found, Response):
                return found
            hook, body = found
            if "signing_secret" in body:
                return _error(400, "InvalidValue", "signing_secret cannot be set when updating a webhook")
            merged = {**hook, **{k: body[k] for k in WEBHOOK_FIELDS if k in body}}
            if (CONDITIONAL in hook["subscriptions"]) != (CONDITIONAL in (merged.get("subscriptions") or [])):
                return _error(400, "InvalidValue", "a webhook's connection method cannot be changed")
            problem = _check_webhook(merged)
            if problem:
                return problem
            hook.clear()
            hook.update(merged, updated_at=self._now())
            return Response(status_code=204)

        @r.delete("/api/v2/webhooks/{hook_id}")
        async def delete_webhook(hook_id: str) -> Response:
            if self.webhooks.pop(hook_id, None) is None:
                return _error(404, "RecordNotFound", "Not found")
            self.secrets.pop(hook_id, None)
            return Response(status_code=204)

        @r.get("/api/v2/webhooks/{hook_id}/signing_secret")
        async def show_secret(hook_id: str) -> Response:
            if hook_id not in self.webhooks:
                return _error(404, "RecordNotFound", "Not found")
            return JSONResponse({"signing_secret": {"algorithm": "SHA256", "secret": self.secrets[hook_id]}})

        @r.post("/api/v2/webhooks/{hook_id}/signing_secret")
        async def reset_secret(hook_id: str) -> Response:
            if hook_id not in self.webhooks:
                return _error(404, "RecordNotFound", "Not found")
            self.secrets[hook_id] = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            return JSONResponse({"signing_secret": {"algorithm": "SHA256", "secret": self.secrets[hook_id]}},
                                status_code=201)

        for suffix in ("", ".json"):
            r.add_api_route(f"/api/v2/triggers{suffix}", self._list_triggers, methods=["GET"])
            r.add_api_route(f"/api/v2/triggers{suffix}", self._create_trigger, methods=["POST"])
            r.add_api_route(f"/api/v2/triggers/{{trigger_id:int}}{suffix}", self._show_trigger, methods=["GET"])
            r.add_api_route(f"/api/v2/triggers/{{trigger_id:int}}{suffix}", self._update_trigger, methods=["PUT"])
            r.add_api_route(f"/api/v2/triggers/{{trigger_id:int}}{suffix}", self._delete_trigger,
                            methods=["DELETE"])

    async def _list_triggers(self, request: Request) -> Response:
        active = request.query_params.get("active")
        found = [t for t in sorted(self.triggers.values(), key=lambda t: (t["position"], t["id"]))
                 if active is None or str(t["active"]).lower() == active.lower()]
        return JSONResponse({"triggers": found, "next_page": None, "previous_page": None, "count": len(found)})

    async def _create_trigger(self, request: Request) -> Response:
        body = await _object(request, "trigger")
        if isinstance(body, Response):
            return body
        problem = self._check_trigger(body)
        if problem:
            return problem
        trigger_id = 360000000 + next(self._ids)
        stamp = self._now()
        trigger = {"id": trigger_id, "url": f"https://sandbox.zendesk.com/api/v2/triggers/{trigger_id}.json",
                   "title": body["title"], "raw_title": body["title"], "active": body.get("active", True),
                   "position": body.get("position", 1000 + len(self.triggers)), "default": False,
                   "description": body.get("description"), "conditions": _conditions(body["conditions"]),
                   "actions": body["actions"], "category_id": str(body.get("category_id") or "1"),
                   "created_at": stamp, "updated_at": stamp}
        self.triggers[trigger_id] = trigger
        return JSONResponse({"trigger": trigger}, status_code=201)

    async def _show_trigger(self, trigger_id: int) -> Response:
        trigger = self.triggers.get(trigger_id)
        return JSONResponse({"trigger": trigger}) if trigger else _error(404, "RecordNotFound", "Not found")

    async def _update_trigger(self, trigger_id: int, request: Request) -> Response:
        found = await _stored_and_body(self.triggers, trigger_id, request, "trigger")
        if isinstance(found, Response):
            return found
        trigger, body = found
        merged = {**trigger, **{k: v for k, v in body.items() if k in ("title", "active", "position", "description",
                                                                     "conditions", "actions", "category_id")}}
        problem = self._check_trigger(merged)
        if problem:
            return problem
        trigger.update(merged, conditions=_conditions(merged["conditions"]), raw_title=merged["title"],
                       updated_at=self._now())
        return JSONResponse({"trigger": trigger})

    async def _delete_trigger(self, trigger_id: int) -> Response:
        if self.triggers.pop(trigger_id, None) is None:
            return _error(404, "RecordNotFound", "Not found")
        return Response(status_code=204)

    def _check_trigger(self, body: dict[str, Any]) -> Response | None:
        if not body.get("title"):
            return _error(422, "RecordInvalid", "Title: cannot be blank")
        conditions, actions = body.get("conditions"), body.get("actions")
        if not isinstance(conditions, dict) or not isinstance(actions, list) or not actions:
            return _error(422, "RecordInvalid", "a trigger needs conditions {all, any} and at least one action")
        for item in [*(conditions.get("all") or []), *(conditions.get("any") or [])]:
            if not CONDITION_FIELDS.match(str(item.get("field"))) or item.get("operator") not in OPERATORS:
                return _error(422, "RecordInvalid",
                              f"Conditions: {item.get('field')} {item.get('operator')} is not supported here")
        for action in actions:
            if action.get("field") == "notification_webhook":
                value = action.get("value")
                if not (isinstance(value, list) and len(value) == 2 and str(value[0]) in self.webhooks):
                    return _error(422, "RecordInvalid", "notification_webhook: [webhook id, body] of a known webhook")
                try:
                    json.loads(value[1])
                except (TypeError, ValueError):
                    return _error(422, "RecordInvalid", "notification_webhook: the body is not valid JSON")
        return None


async def _object(request: Request, key: str) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, "InvalidJSON", "the request body is not JSON")
    inner = body.get(key) if isinstance(body, dict) else None
    if not isinstance(inner, dict):
        return _error(400, "InvalidValue", f"expected a '{key}' object")
    return inner


async def _stored_and_body(store: dict[Any, dict[str, Any]], key: Any, request: Request,
                           name: str) -> tuple[dict[str, Any], dict[str, Any]] | Response:
    """An update's two halves: the stored object (404 without) and the request's ``name`` object."""
    stored = store.get(key)
    if stored is None:
        return _error(404, "RecordNotFound", "Not found")
    body = await _object(request, name)
    return body if isinstance(body, Response) else (stored, body)


def _check_webhook(hook: dict[str, Any]) -> Response | None:
    for name in ("name", "endpoint", "http_method", "request_format", "status"):
        if not hook.get(name):
            return _error(400, "InvalidValue", f"{name} is required")
    if not str(hook["endpoint"]).startswith(("https://", "http://")):
        return _error(400, "InvalidValue", "endpoint must be a URL")
    subscriptions = hook.get("subscriptions") or []
    if CONDITIONAL in subscriptions and len(subscriptions) > 1:
        return _error(400, "InvalidValue", "conditional_ticket_events cannot be combined with event types")
    if any(s != CONDITIONAL and not EVENT_TYPE.match(str(s)) for s in subscriptions):
        return _error(400, "InvalidValue", "subscriptions: event types such as zen:event-type:ticket.created")
    if subscriptions and CONDITIONAL not in subscriptions and (
            hook["http_method"] != "POST" or hook["request_format"] != "json"):
        return _error(400, "InvalidValue", "a webhook subscribed to events must be POST and json")
    return None


def _conditions(raw: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {"all": list(raw.get("all") or []), "any": list(raw.get("any") or [])}


def _field_value(ticket: dict[str, Any], name: str) -> Any:
    if name.startswith("custom_fields_"):
        wanted = name.removeprefix("custom_fields_")
        return next((f.get("value") for f in ticket.get("custom_fields") or [] if str(f.get("id")) == wanted), None)
    return ticket.get(name)


def _condition(item: dict[str, Any], ticket: dict[str, Any], created: bool, changed: set[str]) -> bool:
    name, operator, value = str(item["field"]), item["operator"], item.get("value")
    if name == "update_type":
        kind = "Create" if created else "Change"
        return (kind == value) == (operator == "is")
    if name == "current_tags":
        wanted = set(str(value or "").split())
        found = bool(wanted & set(ticket.get("tags") or []))
        return found if operator == "includes" else not found
    current = _field_value(ticket, name)
    if operator == "changed":
        return name in changed
    if operator in ("present", "not_present"):
        return (current not in (None, "")) == (operator == "present")
    same = str(current if current is not None else "").lower() == str(value if value is not None else "").lower()
    return same if operator == "is" else not same


def _holds(conditions: dict[str, Any], ticket: dict[str, Any], created: bool, changed: set[str]) -> bool:
    every = all(_condition(c, ticket, created, changed) for c in conditions.get("all") or [])
    some = conditions.get("any") or []
    return every and (not some or any(_condition(c, ticket, created, changed) for c in some))


def _placeholders(ticket: dict[str, Any]) -> dict[str, Any]:
    values = {"ticket.id": ticket["id"], "ticket.title": ticket.get("subject"),
              "ticket.description": ticket.get("description"),
              "ticket.status": str(ticket.get("status") or "").capitalize(),
              "ticket.priority": str(ticket.get("priority") or "").capitalize(),
              "ticket.ticket_type": str(ticket.get("type") or "").capitalize(),
              "ticket.tags": " ".join(ticket.get("tags") or []),
              "ticket.requester.id": ticket.get("requester_id"),
              "ticket.organization.id": ticket.get("organization_id"),
              "ticket.assignee.id": ticket.get("assignee_id"), "ticket.group.id": ticket.get("group_id"),
              "ticket.ticket_form_id": ticket.get("ticket_form_id"),
              "ticket.created_at_with_timestamp": ticket.get("created_at"),
              "ticket.updated_at_with_timestamp": ticket.get("updated_at")}
    for item in ticket.get("custom_fields") or []:
        values[f"ticket.ticket_field_{item.get('id')}"] = item.get("value")
    return values


def _render(template: str, ticket: dict[str, Any]) -> Any:
    """The trigger's body with its placeholders filled in (unknown ones empty)."""
    values = _placeholders(ticket)

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str):
            return PLACEHOLDER.sub(lambda m: "" if values.get(m.group(1)) is None else str(values[m.group(1)]), node)
        return node

    return fill(json.loads(template))
