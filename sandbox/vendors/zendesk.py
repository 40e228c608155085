"""Zendesk Support: tickets, comments, tags, users, ``update_many`` jobs, the cursor-based
incremental export, ticket creation with ``Idempotency-Key``, the plan / export / per-ticket /
job limits, and signed event-subscription webhooks (plus trigger webhooks from a template).

A person in the tool acts through ``/_sandbox/zendesk/tickets...``; every change, by a person
or through the API, emits the event-subscription webhooks Zendesk would send. State is readable
at ``GET /_sandbox/zendesk/records/{tickets|users|comments|jobs}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar
from urllib.parse import unquote

from fastapi import Body, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.limits import LimitSettings
from sandbox.vendors.base import Vendor, json_object
from sandbox.vendors.zendesk_webhooks import ZendeskHooks
from sandbox.webhooks import WebhookTarget

ACCOUNT_ID = 90210001
EVENT_VERSION = "2022-11-06"
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
MAX_BATCH = 100
JsonBody = Annotated[dict[str, Any], Body()]
MAX_EXPORT_PAGE = 1000
EXPORT_DELAY_SECONDS = 60
UPDATABLE = ("subject", "status", "priority", "type", "assignee_id", "group_id", "requester_id",
             "external_id", "due_at", "organization_id")
EVENT_FOR_FIELD = {"status": "status_changed", "priority": "priority_changed", "subject": "subject_changed",
                   "assignee_id": "agent_assignment_changed", "group_id": "group_assignment_changed",
                   "external_id": "external_id_changed", "type": "type_changed"}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ts(iso: str) -> int:
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def _one(store: dict[int, dict[str, Any]], record_id: int, key: str) -> JSONResponse:
    """One record by id in Zendesk's envelope (``{"user": {...}}``), or its 404."""
    if record_id not in store:
        return _error(404, "RecordNotFound", "Not found")
    return JSONResponse({key: store[record_id]})


def _error(status: int, error: str, description: str, **extra: Any) -> JSONResponse:
    """Zendesk's error envelope: a short ``error`` label and a human ``description``."""
    return JSONResponse({"error": error, "description": description, **extra}, status_code=status)


def _invalid(field_name: str, description: str) -> JSONResponse:
    return _error(422, "RecordInvalid", "Record validation errors",
                  details={field_name: [{"description": description, "error": "InvalidValue"}]})


def _encode_cursor(updated: int, ticket_id: int) -> str:
    raw = json.dumps([updated, ticket_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, int]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    updated, ticket_id = json.loads(raw)
    return int(updated), int(ticket_id)


@dataclass
class Job:
    """An ``update_many`` job: queued, then working, then completed (one step per poll, or by time)."""

    id: str
    total: int
    results: list[dict[str, Any]]
    created: float = field(default_factory=time.monotonic)
    polls: int = 0

    def status(self, complete_after: float) -> str:
        if self.polls >= 2 or time.monotonic() - self.created >= complete_after:
            return "completed"
        return ("queued", "working")[self.polls]


class Zendesk(Vendor):
    name = "zendesk"
    prefixes = ("/api/v2/",)
    # Team plan: 200 requests a minute; incremental export 10 a minute; Update Ticket 30 per
    # 10 minutes per user per ticket; 30 jobs queued or running per account.
    default_limits: ClassVar[LimitSettings] = LimitSettings(
        requests=200, window_seconds=60,
        extra={"incremental_per_minute": 10, "ticket_updates_per_10_minutes": 30, "jobs_in_flight": 30,
               "job_complete_seconds": 5.0, "fault_retry_after": 1},
    )
    default_credentials: ClassVar[dict[str, str]] = {
        "ZENDESK_EMAIL": "kickoff-agent@example.com",
        "ZENDESK_API_TOKEN": "zd-sandbox-api-token",
        "ZENDESK_OAUTH_TOKEN": "zd-sandbox-oauth-token",
        "ZENDESK_WEBHOOK_SECRET": "zd-sandbox-webhook-secret",
    }
    webhook_secret = "ZENDESK_WEBHOOK_SECRET"

    def reset(self) -> None:
        super().reset()
        if not hasattr(self, "hooks"):  # webhooks and triggers registered through the API
            self.hooks = ZendeskHooks(self._now, lambda body, target: self.emit_webhook(body, target=target))
        self.hooks.reset()
        self.tickets: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.jobs: dict[str, Job] = {}
        self.idempotency: dict[str, tuple[str, dict[str, Any]]] = {}
        self._remaining: int | None = None
        self._reset: int | None = None
        self.me = self._new_user("Kickoff Agent", self.credentials["ZENDESK_EMAIL"], "admin")
        self.account_id = ACCOUNT_ID
        self.ticket_fields: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}

    # --- records ----------------------------------------------------------------------
    def _now(self) -> str:
        return _iso(self.sb.clock.now())

    def _new_user(self, name: str, email: str, role: str = "end-user", **extra: Any) -> dict[str, Any]:
        user_id = int(extra.pop("id", None) or self.next_id())
        now = self._now()
        user = {"id": user_id, "url": f"https://sandbox.zendesk.com/api/v2/users/{user_id}.json", "name": name,
                "email": email, "role": role, "active": True, "verified": True, "external_id": None,
                "organization_id": None, "default_group_id": None, "time_zone": "Europe/Oslo",
                "created_at": now, "updated_at": now, **extra}
        self.users[user_id] = user
        return user

    def _agent(self, user_id: Any) -> bool:
        user = self.users.get(int(user_id)) if str(user_id).isdigit() else None
        return bool(user and user["role"] in ("agent", "admin"))

    def _requester(self, fields: dict[str, Any]) -> int:
        """The requester id, creating an end user from ``requester: {name, email}`` as Zendesk does."""
        if fields.get("requester_id"):
            return int(fields["requester_id"])
        requester = fields.get("requester") or {}
        email = requester.get("email")
        if email:
            for user in self.users.values():
                if user["email"] == email:
                    return user["id"]
            return self._new_user(requester.get("name") or email.split("@")[0], email)["id"]
        return self.me["id"]

    def _create_ticket(self, fields: dict[str, Any], author_id: int) -> dict[str, Any]:
        ticket_id = int(fields.get("id") or self.next_id())
        now = fields.get("created_at") or self._now()
        comment = fields.get("comment") or {}
        body = comment.get("body") or comment.get("html_body") or fields.get("description") or ""
        requester_id = self._requester(fields)
        ticket = {
            "id": ticket_id, "url": f"https://sandbox.zendesk.com/api/v2/tickets/{ticket_id}.json",
            "external_id": fields.get("external_id"), "type": fields.get("type"),
            "subject": fields.get("subject"), "raw_subject": fields.get("subject"), "description": body,
            "priority": fields.get("priority"), "status": fields.get("status") or "new",
            "recipient": None, "requester_id": requester_id, "submitter_id": author_id,
            "assignee_id": fields.get("assignee_id"), "organization_id": fields.get("organization_id"),
            "group_id": fields.get("group_id"), "collaborator_ids": [], "follower_ids": [],
            "tags": sorted(set(fields.get("tags") or [])), "custom_fields": list(fields.get("custom_fields") or []),
            "due_at": fields.get("due_at"), "is_public": comment.get("public", True), "has_incidents": False,
            "brand_id": None, "ticket_form_id": None, "satisfaction_rating": None,
            "via": {"channel": fields.get("via_channel", "api")},
            "created_at": now, "updated_at": fields.get("updated_at") or now,
        }
        self.tickets[ticket_id] = ticket
        self.comments[ticket_id] = []
        if body:
            self._add_comment(ticket, {"body": body, "public": comment.get("public", True)}, author_id, touch=False)
        return ticket

    def _add_comment(self, ticket: dict[str, Any], comment: dict[str, Any], author_id: int,
                     touch: bool = True) -> dict[str, Any]:
        body = comment.get("body") or comment.get("html_body") or ""
        stored = {"id": self.next_id(), "type": "Comment", "author_id": int(comment.get("author_id") or author_id),
                  "body": body, "html_body": f"<p>{body}</p>", "plain_body": body,
                  "public": bool(comment.get("public", True)), "attachments": [], "audit_id": self.next_id(),
                  "via": {"channel": "api"}, "created_at": self._now()}
        self.comments.setdefault(ticket["id"], []).append(stored)
        if touch:
            ticket["updated_at"] = self._now()
        return stored

    def _validate(self, ticket: dict[str, Any] | None, changes: dict[str, Any]) -> tuple[str, str] | None:
        """(field, reason) when Zendesk would refuse this update of this ticket."""
        if ticket is None or ticket["status"] == "deleted":
            return "id", "RecordNotFound: ticket not found"
        if ticket["status"] == "closed":
            return "status", "Status: closed prevents ticket update"
        if "status" in changes and changes["status"] not in STATUSES:
            return "status", f"Status: {changes['status']} is not a valid status"
        if changes.get("priority") not in (None, *PRIORITIES):
            return "priority", f"Priority: {changes['priority']} is not valid"
        if changes.get("assignee_id") is not None and not self._agent(changes["assignee_id"]):
            return "assignee_id", f"Assignee: {changes['assignee_id']} is not an agent"
        comment = changes.get("comment")
        if comment is not None and not (isinstance(comment, dict) and (comment.get("body") or comment.get("html_body"))):
            return "comment", "Comment: body cannot be blank"
        return None

    def _update_ticket(self, ticket: dict[str, Any], changes: dict[str, Any], author_id: int) -> list[dict[str, Any]]:
        """Apply a validated update; returns the change events (for webhooks and the audit)."""
        before = json.loads(json.dumps(ticket))
        for key in UPDATABLE:
            if key in changes:
                ticket[key] = changes[key]
        if "subject" in changes:
            ticket["raw_subject"] = changes["subject"]
        tags = set(changes["tags"]) if "tags" in changes else set(ticket["tags"])
        tags |= set(changes.get("additional_tags") or [])
        tags -= set(changes.get("remove_tags") or [])
        ticket["tags"] = sorted(tags)
        for update in changes.get("custom_fields") or []:
            current = [f for f in ticket["custom_fields"] if f["id"] != update["id"]]
            ticket["custom_fields"] = [*current, {"id": update["id"], "value": update.get("value")}]
        events = _diff(before, ticket)
        if changes.get("comment"):
            stored = self._add_comment(ticket, changes["comment"], author_id)
            events.append({"type": "comment_added", "event": {"comment": {
                "id": str(stored["id"]), "body": stored["body"], "is_public": stored["public"],
                "author": {"id": str(stored["author_id"])}}}})
        if events:
            ticket["updated_at"] = self._now()
        return events

    def _export_view(self, ticket: dict[str, Any]) -> dict[str, Any]:
        return {**ticket, "generated_timestamp": _ts(ticket["updated_at"])}

    def seed(self, data: dict[str, Any]) -> None:
        """Sections: ``account`` {id}, ``groups`` [{id, name}], ``ticket_fields`` [{id, type,
        title, active?, custom_field_options?: [{id?, name, value}]}], ``users``, ``tickets``."""
        if "account" in data:
            self.account_id = int(data["account"]["id"])
        now = self._now()
        for group in data.get("groups", []):
            gid = int(group.get("id") or self.next_id())
            self.groups[gid] = {"url": f"https://sandbox.zendesk.com/api/v2/groups/{gid}.json", "name": "",
                                "description": "", "default": False, "deleted": False, "created_at": now,
                                "updated_at": now, **group, "id": gid}
        for spec in data.get("ticket_fields", []):
            fid = int(spec.get("id") or self.next_id())
            options = [{"id": int(o.get("id") or self.next_id()), "name": o["name"], "raw_name": o["name"],
                        "value": o["value"], "default": bool(o.get("default", False))}
                       for o in spec.get("custom_field_options") or []]
            self.ticket_fields[fid] = {
                "url": f"https://sandbox.zendesk.com/api/v2/ticket_fields/{fid}.json", "type": "text",
                "title": "", "description": "", "position": len(self.ticket_fields), "active": True,
                "required": False, "removable": True, "created_at": now, "updated_at": now,
                **{k: v for k, v in spec.items() if k != "custom_field_options"},
                "raw_title": spec.get("title", ""), "id": fid,
                **({"custom_field_options": options} if options else {})}
        for user in data.get("users", []):
            self._new_user(user.get("name", "Seeded User"), user["email"], user.get("role", "end-user"),
                           **{k: v for k, v in user.items() if k not in ("name", "email", "role")})
        for ticket in data.get("tickets", []):
            self._create_ticket(ticket, self.me["id"])

    # --- auth, limits, headers --------------------------------------------------------
    def check_auth(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                user, secret = "", ""
            expected = f"{self.credentials['ZENDESK_EMAIL']}/token"
            if hmac.compare_digest(user, expected) and hmac.compare_digest(secret, self.credentials["ZENDESK_API_TOKEN"]):
                return None
        elif self.bearer_token(request) == self.credentials["ZENDESK_OAUTH_TOKEN"]:
            return None
        return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)

    def check_limits(self, request: Request) -> Response | None:
        extra = self.limits.extra
        ok, self._remaining, wait = self.window_hit("account", self.limits.requests, self.limits.window_seconds)
        if not ok:
            return self._too_many(wait, "Number of allowed API requests per minute exceeded")
        path = request.url.path
        if path.startswith("/api/v2/incremental/"):
            ok, _, wait = self.window_hit("incremental", int(extra["incremental_per_minute"]), 60)
            if not ok:
                return self._too_many(wait, "Number of allowed incremental export API requests per minute exceeded")
        match = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", path)
        if match and request.method == "PUT":
            ok, _, wait = self.window_hit(f"ticket-update:{self.me['id']}:{match.group(1)}",
                                          int(extra["ticket_updates_per_10_minutes"]), 600)
            if not ok:
                return self._too_many(wait, "Number of allowed updates to this ticket per 10 minutes exceeded")
        cap = int(extra["jobs_in_flight"])
        if path == "/api/v2/tickets/update_many.json" and self._jobs_in_flight() >= cap:
            return self._too_many(1.0, f"Number of allowed queued or running jobs ({cap}) exceeded", error="TooManyJobs")
        return None

    def _too_many(self, wait: float, description: str, error: str = "APIRateLimitExceeded") -> Response:
        """Zendesk's 429: Retry-After in whole seconds; the counters come from ``response_headers``."""
        seconds = max(1, int(wait + 0.999))
        self._remaining, self._reset = 0, seconds
        response = _error(429, error, description)
        response.headers["Retry-After"] = str(seconds)
        return response

    def response_headers(self, request: Request) -> dict[str, str]:
        return self._counters()

    def _counters(self) -> dict[str, str]:
        """X-Rate-Limit and the ratelimit-* headers Zendesk puts on every answer."""
        limit = self.limits.requests
        remaining = limit if self._remaining is None else self._remaining
        window = self.limits.window_seconds
        reset = self._reset or max(1, int(window - time.monotonic() % window))
        self._remaining, self._reset = None, None
        return {"X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(remaining),
                "ratelimit-limit": str(limit), "ratelimit-remaining": str(remaining), "ratelimit-reset": str(reset)}

    def error_response(self, status: int, message: str) -> Response:
        """An injected fault, worded as Zendesk would (a 429 carries Retry-After and the counters)."""
        if status == 429:
            response = self._too_many(float(self.limits.extra.get("fault_retry_after", 1)), message)
            response.headers.update(self._counters())
            return response
        if status == 401:
            return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
        return _error(status, "InternalError" if status >= 500 else "InvalidRequest", message)

    def _jobs_in_flight(self) -> int:
        after = float(self.limits.extra.get("job_complete_seconds", 5.0))
        return sum(1 for job in self.jobs.values() if job.status(after) != "completed")

    # --- webhooks ---------------------------------------------------------------------
    def sign(self, target: WebhookTarget, method: str, url: str, body: bytes) -> dict[str, str]:
        """base64(HMAC-SHA256(secret, timestamp + body)); the timestamp is ISO 8601 UTC."""
        secret = target.secret or self.credentials["ZENDESK_WEBHOOK_SECRET"]
        stamp = self._now()
        digest = hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest()
        return {"X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
                "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                "X-Zendesk-Webhook-Id": "01SANDBOXWEBHOOK0000000000", "User-Agent": "Zendesk Webhook"}

    def _emit_events(self, ticket: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """One event-subscription POST per change, sharing a sequence id like Zendesk's."""
        sequence = uuid.uuid4().hex.upper()
        for position, item in enumerate(events, start=1):
            event = {**item.get("event", {}), "meta": {"sequence": {"id": sequence, "position": position,
                                                                    "total": len(events)}}}
            payload = {
                "type": f"zen:event-type:ticket.{item['type']}", "account_id": self.account_id,
                "id": str(uuid.uuid4()), "time": self._now(), "zendesk_event_version": EVENT_VERSION,
                "subject": f"zen:ticket:{ticket['id']}", "detail": _detail(ticket, self.me["id"]), "event": event,
            }
            self.emit_webhook(payload)
            self.hooks.event(payload)
        kinds = {item["type"] for item in events}
        if events and "soft_deleted" not in kinds:
            changed = {f for f, kind in EVENT_FOR_FIELD.items() if f"{kind}" in kinds}
            changed |= {f"custom_fields_{(i['event'].get('custom_field') or {}).get('id')}" for i in events
                        if i["type"] == "custom_field_changed"}
            self.hooks.ticket_changed(ticket, created="created" in kinds, changed=changed)

    # --- the API ----------------------------------------------------------------------
    def routes(self) -> None:
        r = self.router
        self.hooks.routes(r)

        @r.get("/api/v2/users/me.json")
        async def me() -> dict[str, Any]:
            return {"user": self.me}

        @r.get("/api/v2/users/search.json")
        async def search_users(query: str = "", external_id: str | None = None) -> dict[str, Any]:
            term = query.removeprefix("email:").strip().lower()
            found = [u for u in self.users.values()
                     if (external_id and u["external_id"] == external_id)
                     or (term and (term == u["email"].lower() or term in u["name"].lower()))]
            return {"users": found, "next_page": None, "previous_page": None, "count": len(found)}

        @r.get("/api/v2/search.json")
        async def search(query: str = "") -> Response:
            """The Search API for tickets, with the terms Kickoff sends: ``type:ticket``,
            ``tags:`` (any of them), ``status<solved`` or ``status:``, ``requester:`` and
            ``organization:`` (ids). Unlike Zendesk, a new ticket is searchable at once."""
            try:
                found = [t for t in self.tickets.values() if t["status"] != "deleted" and _matches(query, t)]
            except ValueError as exc:
                return _error(400, "InvalidSearchQuery", str(exc))
            results = [{**t, "result_type": "ticket"} for t in found]
            return JSONResponse({"results": results, "facets": None, "next_page": None, "previous_page": None,
                                 "count": len(results)})

        @r.get("/api/v2/users.json")
        async def list_users(request: Request) -> dict[str, Any]:
            return _page(request, "users", list(self.users.values()))

        @r.get("/api/v2/ticket_fields.json")
        async def ticket_fields(request: Request) -> dict[str, Any]:
            return _page(request, "ticket_fields", list(self.ticket_fields.values()))

        @r.get("/api/v2/ticket_fields/{field_id:int}.json")
        async def ticket_field(field_id: int) -> Response:
            return _one(self.ticket_fields, field_id, "ticket_field")

        @r.get("/api/v2/groups.json")
        async def groups(request: Request) -> dict[str, Any]:
            return _page(request, "groups", [g for g in self.groups.values() if not g["deleted"]])

        @r.get("/api/v2/users/{user_id:int}.json")
        async def show_user(user_id: int) -> Response:
            return _one(self.users, user_id, "user")

        @r.get("/api/v2/tickets.json")
        async def list_tickets(request: Request, external_id: str | None = None) -> dict[str, Any]:
            live = [t for t in self.tickets.values() if t["status"] != "deleted"]
            if external_id is not None:
                live = [t for t in live if t["external_id"] == external_id]
            return _page(request, "tickets", live)

        @r.get("/api/v2/tickets/show_many.json")
        async def show_many(ids: str = "") -> Response:
            wanted = [int(i) for i in ids.split(",") if i.strip().isdigit()]
            if len(wanted) > MAX_BATCH:
                return _error(400, "TooManyValues", f"Too many values specified for parameter 'ids' (max {MAX_BATCH})")
            found = [self.tickets[i] for i in wanted if i in self.tickets and self.tickets[i]["status"] != "deleted"]
            return JSONResponse({"tickets": found, "next_page": None, "previous_page": None, "count": len(found)})

        @r.put("/api/v2/tickets/update_many.json")
        async def update_many(request: Request, ids: str | None = None) -> Response:
            body = await _json(request)
            if ids is not None:
                items = [{**(body.get("ticket") or {}), "id": int(i)} for i in ids.split(",") if i.strip().isdigit()]
            else:
                items = body.get("tickets")
            if not isinstance(items, list) or not items:
                return _error(400, "InvalidRequest", "Provide a 'tickets' array or 'ids' with a 'ticket' object")
            if len(items) > MAX_BATCH:
                return _error(400, "TooManyValues",
                              f"Too many values specified for parameter 'tickets' (max {MAX_BATCH}, got {len(items)})")
            results = []
            for item in items:
                ticket = self.tickets.get(int(item.get("id") or 0))
                refused = self._validate(ticket, item)
                if refused:
                    results.append({"id": item.get("id"), "action": "update", "success": False, "errors": refused[1]})
                    continue
                assert ticket is not None
                self._emit_events(ticket, self._update_ticket(ticket, item, self.me["id"]))
                results.append({"id": ticket["id"], "action": "update", "success": True, "status": "Updated"})
            job = Job(uuid.uuid4().hex, len(items), results)
            self.jobs[job.id] = job
            return JSONResponse({"job_status": self._job_view(job, request)})

        @r.get("/api/v2/job_statuses/show_many.json")
        async def show_jobs(request: Request, ids: str = "") -> dict[str, Any]:
            found = [self.jobs[i] for i in ids.split(",") if i in self.jobs]
            for job in found:
                job.polls += 1
            return {"job_statuses": [self._job_view(job, request) for job in found]}

        @r.get("/api/v2/job_statuses/{job_id}.json")
        async def show_job(job_id: str, request: Request) -> Response:
            job = self.jobs.get(job_id)
            if job is None:
                return _error(404, "RecordNotFound", "Not found")
            job.polls += 1
            return JSONResponse({"job_status": self._job_view(job, request)})

        @r.get("/api/v2/tickets/{ticket_id:int}.json")
        async def show_ticket(ticket_id: int) -> Response:
            ticket = self.tickets.get(ticket_id)
            if ticket is None or ticket["status"] == "deleted":
                return _error(404, "RecordNotFound", "Not found")
            return JSONResponse({"ticket": ticket})

        @r.post("/api/v2/tickets.json")
        async def create_ticket(request: Request) -> Response:
            raw = await request.body()
            fields = (await _json(request)).get("ticket")
            if not isinstance(fields, dict):
                return _error(400, "InvalidRequest", "Expected a 'ticket' object")
            key = request.headers.get("idempotency-key")
            digest = hashlib.sha256(raw).hexdigest()
            if key and key in self.idempotency:
                seen_digest, answer = self.idempotency[key]
                if seen_digest != digest:
                    return _error(400, "IdempotentRequestError",
                                  "Idempotency-Key was already used with a different request body")
                return JSONResponse(answer, status_code=201, headers={"x-idempotency-lookup": "hit"})
            comment = fields.get("comment") or {}
            if not (comment.get("body") or comment.get("html_body") or fields.get("description")):
                return _invalid("description", "Description: cannot be blank")
            if fields.get("status") not in (None, *STATUSES):
                return _invalid("status", f"Status: {fields['status']} is not a valid status")
            ticket = self._create_ticket({k: v for k, v in fields.items() if k not in ("id", "created_at", "updated_at")},
                                         self.me["id"])
            self._emit_events(ticket, [{"type": "created", "event": {}}])
            answer = {"ticket": ticket, "audit": {"id": self.next_id(), "ticket_id": ticket["id"],
                                                  "created_at": ticket["created_at"], "author_id": self.me["id"],
                                                  "events": [{"type": "Create", "field_name": "status",
                                                              "value": ticket["status"]}]}}
            headers = {"Location": ticket["url"]}
            if key:
                self.idempotency[key] = (digest, answer)
                headers["x-idempotency-lookup"] = "miss"
            return JSONResponse(answer, status_code=201, headers=headers)

        @r.put("/api/v2/tickets/{ticket_id:int}.json")
        async def update_ticket(ticket_id: int, request: Request) -> Response:
            changes = (await _json(request)).get("ticket") or {}
            ticket = self.tickets.get(ticket_id)
            refused = self._validate(ticket, changes)
            if refused and refused[0] == "id":
                return _error(404, "RecordNotFound", "Not found")
            if refused:
                return _invalid(*refused)
            assert ticket is not None
            self._emit_events(ticket, self._update_ticket(ticket, changes, self.me["id"]))
            return JSONResponse({"ticket": ticket, "audit": {"id": self.next_id(), "ticket_id": ticket_id,
                                                             "created_at": ticket["updated_at"],
                                                             "author_id": self.me["id"], "events": []}})

        @r.get("/api/v2/tickets/{ticket_id:int}/comments.json")
        async def list_comments(ticket_id: int, request: Request) -> Response:
            if ticket_id not in self.tickets or self.tickets[ticket_id]["status"] == "deleted":
                return _error(404, "RecordNotFound", "Not found")
            return JSONResponse(_page(request, "comments", self.comments.get(ticket_id, [])))

        @r.api_route("/api/v2/tickets/{ticket_id:int}/tags.json", methods=["GET", "POST", "PUT", "DELETE"])
        async def tags(ticket_id: int, request: Request) -> Response:
            ticket = self.tickets.get(ticket_id)
            if ticket is None or ticket["status"] == "deleted":
                return _error(404, "RecordNotFound", "Not found")
            if request.method != "GET":
                given = (await _json(request)).get("tags")
                if not isinstance(given, list):
                    return _error(400, "InvalidRequest", "Expected a 'tags' array")
                change = {"POST": {"tags": given}, "PUT": {"additional_tags": given},
                          "DELETE": {"remove_tags": given}}[request.method]
                if ticket["status"] == "closed":
                    return _invalid("status", "Status: closed prevents ticket update")
                self._emit_events(ticket, self._update_ticket(ticket, change, self.me["id"]))
            return JSONResponse({"tags": ticket["tags"]}, status_code=201 if request.method == "POST" else 200)

        @r.get("/api/v2/incremental/tickets/cursor.json")
        async def export(request: Request, start_time: int | None = None, cursor: str | None = None,
                         per_page: int = MAX_EXPORT_PAGE) -> Response:
            return self._export(request, start_time, cursor, per_page)

    def _export(self, request: Request, start_time: int | None, cursor: str | None, per_page: int) -> Response:
        """One page of the cursor-based export, tombstones included, the last minute left out."""
        if (start_time is None) == (cursor is None):
            return _error(400, "InvalidValue", "Provide either start_time or cursor, not both")
        now = int(self.sb.clock.now().timestamp())
        if start_time is not None:
            if start_time > now - EXPORT_DELAY_SECONDS:
                return _error(400, "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute")
            position = (start_time - 1, 2**63)
        else:
            try:
                position = _decode_cursor(cursor or "")
            except (ValueError, TypeError):
                return _error(400, "InvalidValue", "Invalid cursor")
        per_page = max(1, min(per_page, MAX_EXPORT_PAGE))
        pending = sorted((t for t in self.tickets.values()
                          if (_ts(t["updated_at"]), t["id"]) > position
                          and _ts(t["updated_at"]) <= now - EXPORT_DELAY_SECONDS),
                         key=lambda t: (_ts(t["updated_at"]), t["id"]))
        page = pending[:per_page]
        after = _encode_cursor(_ts(page[-1]["updated_at"]), page[-1]["id"]) if page else _encode_cursor(*position)
        base = f"https://{request.headers.get('host', 'sandbox.zendesk.com')}/api/v2/incremental/tickets/cursor.json"
        return JSONResponse({
            "tickets": [self._export_view(t) for t in page],
            "after_cursor": after, "after_url": f"{base}?cursor={after}&per_page={per_page}",
            "before_cursor": cursor, "before_url": f"{base}?cursor={cursor}&per_page={per_page}" if cursor else None,
            "end_of_stream": len(pending) <= per_page,
        })

    def _job_view(self, job: Job, request: Request) -> dict[str, Any]:
        status = job.status(float(self.limits.extra.get("job_complete_seconds", 5.0)))
        done = status == "completed"
        return {"id": job.id, "url": f"https://{request.headers.get('host', 'sandbox.zendesk.com')}/api/v2/job_statuses/{job.id}.json",
                "job_type": "bulk_update", "total": job.total,
                "progress": {"queued": 0, "working": job.total // 2, "completed": job.total}[status],
                "status": status, "message": f"Completed at {self._now()}" if done else None,
                "results": job.results if done else None}

    # --- a person in the tool ---------------------------------------------------------
    def admin_routes(self) -> None:
        a = self.admin

        @a.post("/users")
        async def add_user(user: JsonBody) -> dict[str, Any]:
            """An admin adds a user (``role``: end-user, agent or admin)."""
            if not user.get("email"):
                raise HTTPException(400, "email is required")
            return self._new_user(user.get("name") or user["email"], user["email"], user.get("role", "end-user"))

        @a.post("/tickets")
        async def person_creates(fields: JsonBody) -> dict[str, Any]:
            """A customer or agent opens a ticket (e.g. a churn-risk ticket): ``ticket.created`` is sent."""
            if fields.get("requester_email"):
                fields = {**fields, "requester": {"email": fields.pop("requester_email"), "name": fields.get("requester_name")}}
            ticket = self._create_ticket({**fields, "via_channel": "web"}, self.me["id"])
            self._emit_events(ticket, [{"type": "created", "event": {}}])
            return ticket

        @a.put("/tickets/{ticket_id}")
        async def person_changes(ticket_id: int, changes: JsonBody) -> dict[str, Any]:
            """An agent changes status, assignee, tags (``additional_tags``), fields or comments."""
            ticket = self.tickets.get(ticket_id)
            refused = self._validate(ticket, changes)
            if refused:
                raise HTTPException(404 if refused[0] == "id" else 422, refused[1])
            assert ticket is not None
            self._emit_events(ticket, self._update_ticket(ticket, changes, self.me["id"]))
            return ticket

        @a.post("/tickets/{ticket_id}/comments")
        async def person_comments(ticket_id: int, comment: JsonBody) -> dict[str, Any]:
            return await person_changes(ticket_id, {"comment": comment})

        @a.delete("/tickets/{ticket_id}")
        async def person_deletes(ticket_id: int) -> dict[str, Any]:
            """The ticket is deleted: gone from the API, a tombstone in the export."""
            ticket = self.tickets.get(ticket_id)
            if ticket is None or ticket["status"] == "deleted":
                raise HTTPException(404, f"no ticket {ticket_id}")
            previous = ticket["status"]
            ticket.update(status="deleted", updated_at=self._now())
            self._emit_events(ticket, [{"type": "soft_deleted", "event": {"current": True, "previous": False,
                                                                          "previous_status": previous.upper()}}])
            return ticket

        @a.post("/tickets/{ticket_id}/trigger")
        async def trigger_fires(ticket_id: int, template: Annotated[dict[str, Any], Body(embed=True)]) -> dict[str, Any]:
            """A trigger's webhook action: the admin's JSON template, placeholders filled in."""
            ticket = self.tickets.get(ticket_id)
            if ticket is None:
                raise HTTPException(404, f"no ticket {ticket_id}")
            payload = _render(template, ticket)
            self.emit_webhook(payload)
            return payload

        @a.get("/records/{kind}")
        async def records(kind: str) -> Any:
            if kind == "jobs":
                return [{"id": j.id, "total": j.total, "polls": j.polls, "results": j.results} for j in self.jobs.values()]
            stores = {"tickets": self.tickets, "users": self.users, "comments": self.comments}
            if kind not in stores:
                raise HTTPException(404, f"unknown record type {kind}")
            store = stores[kind]
            return store if kind == "comments" else list(store.values())


STATUS_ORDER = ("new", "open", "pending", "hold", "solved", "closed")
SEARCH_TERM = re.compile(r'^(-?)(\w+)(:|<|>)"?([^"]*)"?$')


def _matches(query: str, ticket: dict[str, Any]) -> bool:
    """Whether a ticket answers a search query (the terms ``search`` documents; others refused)."""
    tags: list[str] = []
    for term in unquote(query).split():
        found = SEARCH_TERM.match(term)
        if found is None:
            raise ValueError(f"unsupported search term {term!r}")
        negated, key, op, value = found.groups()
        if key == "tags":
            tags.append(value)
            continue
        if key == "type" and op == ":":
            ok = value == "ticket"
        elif key == "status" and op in "<>" and value in STATUS_ORDER:
            rank, limit = STATUS_ORDER.index(ticket["status"]), STATUS_ORDER.index(value)
            ok = rank < limit if op == "<" else rank > limit
        elif key == "status" and op == ":":
            ok = ticket["status"] == value
        elif key in ("requester", "organization") and op == ":":
            ok = str(ticket.get(f"{key}_id")) == value
        else:
            raise ValueError(f"unsupported search term {term!r}")
        if ok == bool(negated):
            return False
    return not tags or bool(set(tags) & set(ticket.get("tags") or []))


def _diff(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The event-subscription events one update produces."""
    events = []
    for key, kind in EVENT_FOR_FIELD.items():
        if before.get(key) != after.get(key):
            old, new = before.get(key), after.get(key)
            if key == "status":
                old, new = (old or "").upper() or None, (new or "").upper() or None
            elif key.endswith("_id"):
                old, new = (str(old) if old is not None else None), (str(new) if new is not None else None)
            events.append({"type": kind, "event": {"current": new, "previous": old}})
    added = sorted(set(after["tags"]) - set(before["tags"]))
    removed = sorted(set(before["tags"]) - set(after["tags"]))
    if added or removed:
        events.append({"type": "tags_changed", "event": {"tags_added": added, "tags_removed": removed}})
    old_fields = {f["id"]: f.get("value") for f in before["custom_fields"]}
    for item in after["custom_fields"]:
        if old_fields.get(item["id"]) != item.get("value"):
            events.append({"type": "custom_field_changed", "event": {
                "current": item.get("value"), "previous": old_fields.get(item["id"]),
                "custom_field": {"id": str(item["id"])}}})
    return events


def _detail(ticket: dict[str, Any], actor_id: int) -> dict[str, Any]:
    """The ``detail`` object of a ticket event: ids as strings, status in capitals."""

    def s(value: Any) -> str | None:
        return None if value is None else str(value)

    return {"actor_id": s(actor_id), "assignee_id": s(ticket["assignee_id"]), "brand_id": s(ticket["brand_id"]),
            "created_at": ticket["created_at"], "custom_status": None, "description": ticket["description"],
            "external_id": s(ticket["external_id"]), "form_id": s(ticket["ticket_form_id"]),
            "group_id": s(ticket["group_id"]), "id": str(ticket["id"]), "is_public": ticket["is_public"],
            "organization_id": s(ticket["organization_id"]),
            "priority": ticket["priority"].upper() if ticket["priority"] else None,
            "requester_id": s(ticket["requester_id"]), "status": ticket["status"].upper(),
            "subject": ticket["subject"], "submitter_id": s(ticket["submitter_id"]), "tags": ticket["tags"],
            "type": ticket["type"].upper() if ticket["type"] else None, "updated_at": ticket["updated_at"],
            "via": {"channel": ticket["via"]["channel"]}}


def _render(template: Any, ticket: dict[str, Any]) -> Any:
    """Fill ``{{ticket.field}}`` placeholders the way a trigger's JSON body does."""
    values = {**{f"ticket.{k}": v for k, v in ticket.items()}, "ticket.tags": " ".join(ticket["tags"]),
              "ticket.updated_at_with_timestamp": ticket["updated_at"]}
    if isinstance(template, dict):
        return {k: _render(v, ticket) for k, v in template.items()}
    if isinstance(template, list):
        return [_render(v, ticket) for v in template]
    if isinstance(template, str):
        return re.sub(r"\{\{\s*([\w.]+)\s*\}\}", lambda m: "" if values.get(m.group(1)) is None else str(values[m.group(1)]),
                      template)
    return template


def _page(request: Request, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Cursor pagination (``page[size]``) when asked for, else the classic offset envelope."""
    size = request.query_params.get("page[size]")
    if size is None:
        return {key: items, "next_page": None, "previous_page": None, "count": len(items)}
    size_n = max(1, min(int(size), 100))
    after = int(request.query_params.get("page[after]") or 0)
    chunk = items[after:after + size_n]
    more = after + size_n < len(items)
    return {key: chunk, "meta": {"has_more": more, "after_cursor": str(after + size_n) if more else None,
                                 "before_cursor": None},
            "links": {"next": f"{request.url.remove_query_params('page[after]')}&page[after]={after + size_n}" if more else None,
                      "prev": None}}


_json = json_object


VENDOR = Zendesk
