"""HubSpot's Webhooks API v3 of a developer app: ``/webhooks/v3/{appId}/settings`` (the
target URL every event goes to) and ``/webhooks/v3/{appId}/subscriptions`` (which events),
authenticated with the developer account's API key (``?hapikey=``), as the official client's
``webhooks`` API calls them (request and response shapes from its models).

Once the app has a target URL and active subscriptions, the portal's events are POSTed there
as HubSpot does: arrays of up to 100 events, only those an active subscription asks for (a
``propertyChange`` subscription names its property), each carrying its ``subscriptionId``,
signed with the app's client secret. An ``object.*`` subscription (``objectTypeId`` given)
covers that object type, and its events say ``object.<action>``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.vendors.base import json_object as _json
from sandbox.webhooks import WebhookTarget

EVENTS_PER_POST = 100
CLASSIC_OBJECTS = ("contact", "company", "deal", "ticket", "product", "line_item", "conversation")
ACTIONS = ("creation", "deletion", "propertyChange", "merge", "restore", "associationChange",
           "privacyDeletion", "newMessage")
EVENT_TYPE = re.compile(rf"^({'|'.join(CLASSIC_OBJECTS)}|object)\.({'|'.join(ACTIONS)})$")

Emit = Callable[[list[dict[str, Any]], WebhookTarget], None]


def _error(status: int, message: str, category: str = "VALIDATION_ERROR") -> JSONResponse:
    return JSONResponse({"status": "error", "message": message, "category": category,
                         "correlationId": "00000000-0000-4000-8000-000000000000"}, status_code=status)


class HubSpotApp:
    """One developer app's webhook settings and subscriptions, and what they deliver."""

    def __init__(self, app_id: int, secrets: Callable[[str], str], now: Callable[[], str],
                 type_ids: dict[str, str], emit: Emit) -> None:
        self.app_id = app_id
        self._secret, self._now, self._type_ids, self._emit = secrets, now, type_ids, emit
        self.settings: dict[str, Any] | None = None
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        self.settings = None
        self.subscriptions.clear()
        self._ids = itertools.count(1)

    def check_auth(self, request: Request) -> Response | None:
        """The developer API key in ``hapikey``, for this app's id in the path."""
        if request.query_params.get("hapikey") != self._secret("HUBSPOT_DEVELOPER_API_KEY"):
            return _error(401, "The API key provided is invalid.", "INVALID_AUTHENTICATION")
        parts = request.url.path.split("/")
        if len(parts) < 4 or parts[3] != str(self.app_id):
            return _error(404, f"App {parts[3] if len(parts) > 3 else ''} not found for this developer account",
                          "OBJECT_NOT_FOUND")
        return None

    # --- deliveries ---------------------------------------------------------------------
    def deliver(self, events: list[dict[str, Any]]) -> None:
        """The events an active subscription asks for, to the app's target, 100 a POST."""
        if self.settings is None or not self.subscriptions:
            return
        chosen = [e for e in (self._subscribed(event) for event in events) if e is not None]
        target = WebhookTarget(url=self.settings["targetUrl"], secret=self._secret("HUBSPOT_CLIENT_SECRET"))
        for start in range(0, len(chosen), EVENTS_PER_POST):
            self._emit(chosen[start:start + EVENTS_PER_POST], target)

    def _subscribed(self, event: dict[str, Any]) -> dict[str, Any] | None:
        singular, _, action = str(event.get("subscriptionType")).partition(".")
        type_id = str(event.get("objectTypeId") or self._type_ids.get(singular, ""))
        for sub in self.subscriptions.values():
            if not sub["active"]:
                continue
            kind, _, wanted = sub["eventType"].partition(".")
            if wanted != action or (action == "propertyChange" and sub.get("propertyName") != event.get("propertyName")):
                continue
            if kind == "object" and sub.get("objectTypeId") == type_id:
                return {**event, "subscriptionId": int(sub["id"]), "subscriptionType": sub["eventType"],
                        "objectTypeId": type_id}
            if kind == singular:
                return {**event, "subscriptionId": int(sub["id"])}
        return None

    # --- the API ------------------------------------------------------------------------------
    def routes(self, router: APIRouter) -> None:
        base = "/webhooks/v3/{app_id}"
        router.add_api_route(f"{base}/settings", self._get_settings, methods=["GET"])
        router.add_api_route(f"{base}/settings", self._put_settings, methods=["PUT"])
        router.add_api_route(f"{base}/settings", self._delete_settings, methods=["DELETE"])
        router.add_api_route(f"{base}/subscriptions", self._list, methods=["GET"])
        router.add_api_route(f"{base}/subscriptions", self._create, methods=["POST"])
        router.add_api_route(f"{base}/subscriptions/batch/update", self._batch_update, methods=["POST"])
        router.add_api_route(f"{base}/subscriptions/{{sub_id}}", self._get, methods=["GET"])
        router.add_api_route(f"{base}/subscriptions/{{sub_id}}", self._patch, methods=["PATCH"])
        router.add_api_route(f"{base}/subscriptions/{{sub_id}}", self._delete, methods=["DELETE"])

    async def _get_settings(self, app_id: int) -> Response:
        if self.settings is None:
            return _error(404, f"No webhook settings for app {app_id}", "OBJECT_NOT_FOUND")
        return JSONResponse(self.settings)

    async def _put_settings(self, app_id: int, request: Request) -> Response:
        body = await _json(request)
        target = body.get("targetUrl")
        throttling = body.get("throttling")
        if not isinstance(target, str) or not target.startswith(("https://", "http://")):
            return _error(400, "targetUrl: a URL is required")
        if not isinstance(throttling, dict) or not isinstance(throttling.get("maxConcurrentRequests"), int):
            return _error(400, "throttling.maxConcurrentRequests: a number is required")
        stamp = self._now()
        created = self.settings["createdAt"] if self.settings else stamp
        self.settings = {"createdAt": created, "throttling": {"maxConcurrentRequests": throttling["maxConcurrentRequests"]},
                         "targetUrl": target, "updatedAt": stamp}
        return JSONResponse(self.settings)

    async def _delete_settings(self, app_id: int) -> Response:
        self.settings = None
        return Response(status_code=204)

    async def _list(self, app_id: int) -> Response:
        return JSONResponse({"results": list(self.subscriptions.values())})

    async def _create(self, app_id: int, request: Request) -> Response:
        body = await _json(request)
        event_type = str(body.get("eventType") or "")
        if not EVENT_TYPE.match(event_type):
            return _error(400, f"eventType: {event_type or '(missing)'} is not a subscription type")
        prop, type_id = body.get("propertyName"), body.get("objectTypeId")
        if event_type.endswith(".propertyChange") and not prop:
            return _error(400, "propertyName is required for a propertyChange subscription")
        if event_type.startswith("object.") and not type_id:
            return _error(400, "objectTypeId is required for an object.* subscription")
        for sub in self.subscriptions.values():
            if (sub["eventType"], sub.get("propertyName"), sub.get("objectTypeId")) == (event_type, prop, type_id):
                return _error(409, f"a subscription for {event_type} {prop or ''} already exists", "CONFLICT")
        stamp = self._now()
        sub_id = str(next(self._ids))
        sub = {"createdAt": stamp, "active": bool(body.get("active", True)), "eventType": event_type,
               "id": sub_id, "updatedAt": stamp}
        sub.update({k: v for k, v in (("propertyName", prop), ("objectTypeId", type_id)) if v})
        self.subscriptions[sub_id] = sub
        return JSONResponse(sub, status_code=201)

    async def _get(self, app_id: int, sub_id: str) -> Response:
        sub = self.subscriptions.get(sub_id)
        return JSONResponse(sub) if sub else _error(404, f"subscription {sub_id} not found", "OBJECT_NOT_FOUND")

    async def _patch(self, app_id: int, sub_id: str, request: Request) -> Response:
        sub = self.subscriptions.get(sub_id)
        if sub is None:
            return _error(404, f"subscription {sub_id} not found", "OBJECT_NOT_FOUND")
        active = (await _json(request)).get("active")
        if not isinstance(active, bool):
            return _error(400, "active: true or false is required")
        sub.update(active=active, updatedAt=self._now())
        return JSONResponse(sub)

    async def _batch_update(self, app_id: int, request: Request) -> Response:
        inputs = (await _json(request)).get("inputs")
        if not isinstance(inputs, list):
            return _error(400, "inputs: a list is required")
        done = []
        for item in inputs:
            sub = self.subscriptions.get(str(item.get("id")))
            if sub is not None and isinstance(item.get("active"), bool):
                sub.update(active=item["active"], updatedAt=self._now())
                done.append(sub)
        stamp = self._now()
        return JSONResponse({"status": "COMPLETE", "results": done, "startedAt": stamp, "completedAt": stamp})

    async def _delete(self, app_id: int, sub_id: str) -> Response:
        if self.subscriptions.pop(sub_id, None) is None:
            return _error(404, f"subscription {sub_id} not found", "OBJECT_NOT_FOUND")
        return Response(status_code=204)
