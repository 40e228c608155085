"""Movidesk: ``/public/v1/tickets`` (GET with OData options, POST, PATCH), ``/tickets/past``
and ``/persons``, authenticated by ``?token=`` on every call.

Limits as documented: 10 requests a minute per token over every endpoint, and on the
Tickets API three failed requests in a row answer 429 "Too many failed requests" and block
the token for 60 s (``retry-after``). Automation triggers post the changed ticket in
PascalCase, unsigned, to a URL that carries the receiver's secret token.

Admin routes (``/_sandbox/movidesk/...``) play an agent working in Movidesk: opening a
ticket, changing its status, adding an action, setting a custom field (a payment
confirmed). Each emits the trigger's webhook, as do API writes (Movidesk's triggers fire
for changes from any origin). State is readable at ``GET /_sandbox/movidesk/records/{type}``.
"""

from __future__ import annotations

import copy
import json
import math
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar

from fastapi import Body, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from kickoff.tools.movidesk import pascal
from sandbox.limits import LimitSettings
from sandbox.vendors.base import Vendor
from sandbox.vendors.odata import (
    ODataError,
    parse_datetime,
    parse_expand,
    parse_filter,
    parse_orderby,
    parse_select,
    sort_key,
)
from sandbox.webhooks import WebhookTarget

PREFIX = "/public/v1"
MAX_PAGE = 100
RECENT_DAYS = 90
TICKET_SCALARS = (
    "id", "protocol", "type", "subject", "category", "urgency", "status", "baseStatus", "justification",
    "origin", "createdDate", "ownerTeam", "lastUpdate", "actionCount", "tags",
)
TICKET_NAVIGATIONS = ("owner", "createdBy", "clients", "actions", "customFieldValues")
PERSON_SCALARS = (
    "id", "isActive", "personType", "profileType", "businessName", "userName", "codeReferenceAdditional",
    "createdDate", "teams",
)
PERSON_NAVIGATIONS = ("emails",)
DEFAULT_STATUSES = [
    {"name": "Novo", "baseStatus": "New", "justifications": []},
    {"name": "Em atendimento", "baseStatus": "InAttendance", "justifications": []},
    {"name": "Aguardando", "baseStatus": "Stopped",
     "justifications": ["Aguardando cliente", "Aguardando pagamento", "Aguardando terceiros"]},
    {"name": "Resolvido", "baseStatus": "Resolved", "justifications": []},
    {"name": "Fechado", "baseStatus": "Closed", "justifications": []},
    {"name": "Cancelado", "baseStatus": "Canceled", "justifications": ["Duplicado", "Desistência do cliente"]},
]
DEFAULT_TEAMS = ["Onboarding", "Suporte", "Financeiro"]
DEFAULT_AGENT = {"id": "900000001", "businessName": "Kickoff Integração", "personType": 1, "profileType": 1,
                 "emails": [{"emailType": "Profissional", "email": "kickoff-agent@example.com", "isDefault": True}],
                 "teams": ["Onboarding"]}
DENIED = "Authorization has been denied for this request."


class MovideskError(Exception):
    """A refused request: the status and Movidesk's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def movidesk_time(at: datetime) -> str:
    """How Movidesk writes dates: UTC, no offset, .NET's seven fractional digits."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond:06d}0"


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"Message": message}, status_code=status)


class Movidesk(Vendor):
    name = "movidesk"
    prefixes = (f"{PREFIX}/",)
    default_limits: ClassVar[LimitSettings] = LimitSettings(
        requests=10, window_seconds=60, extra={"failed_requests": 3, "block_seconds": 60})
    default_credentials: ClassVar[dict[str, str]] = {
        "MOVIDESK_TOKEN": "movidesk-sandbox-token",
        "MOVIDESK_WEBHOOK_TOKEN": "movidesk-sandbox-webhook-token",
    }
    webhook_secret, webhook_secret_param = "MOVIDESK_WEBHOOK_TOKEN", "token"  # unsigned: in the URL

    # --- state --------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        self.tickets: dict[int, dict[str, Any]] = {}
        self.persons: dict[str, dict[str, Any]] = {}
        self.statuses: dict[str, dict[str, Any]] = {s["name"]: copy.deepcopy(s) for s in DEFAULT_STATUSES}
        self.teams: set[str] = set(DEFAULT_TEAMS)
        self._person_ids = iter(range(900000100, 10**10))
        self._add_person(copy.deepcopy(DEFAULT_AGENT))

    def seed(self, data: dict[str, Any]) -> None:
        for status in data.get("statuses", []):
            self.statuses[status["name"]] = {"justifications": [], **status}
        self.teams.update(data.get("teams", []))
        for person in data.get("persons", []):
            self._add_person(copy.deepcopy(person))
        for ticket in data.get("tickets", []):
            self._store_seeded_ticket(copy.deepcopy(ticket))

    def _add_person(self, body: dict[str, Any]) -> dict[str, Any]:
        now = movidesk_time(self.sb.clock.now())
        person = {"id": str(body.get("id") or next(self._person_ids)), "isActive": True, "personType": 1,
                  "profileType": 2, "businessName": None, "userName": None, "codeReferenceAdditional": None,
                  "createdDate": now, "teams": [], "emails": [], **body}
        person["id"] = str(person["id"])
        self.persons[person["id"]] = person
        return person

    def _store_seeded_ticket(self, ticket: dict[str, Any]) -> None:
        now = movidesk_time(self.sb.clock.now())
        ticket_id = int(ticket.get("id") or self._new_ticket_id())
        status = ticket.get("status", "Novo")
        stored = {"id": ticket_id, "protocol": None, "type": 2, "subject": None, "category": None, "urgency": None,
                  "status": status, "justification": None, "origin": 9, "createdDate": now, "ownerTeam": None,
                  "lastUpdate": now, "tags": [], "owner": None, "createdBy": None, "clients": [], "actions": [],
                  "customFieldValues": [], **ticket}
        stored["id"] = ticket_id
        stored["baseStatus"] = self.statuses.get(status, {}).get("baseStatus", "New")
        for index, action in enumerate(stored["actions"], start=1):
            action.setdefault("id", index)
        stored["actionCount"] = len(stored["actions"])
        self.tickets[ticket_id] = stored

    def _new_ticket_id(self) -> int:
        return max(self.tickets, default=0) + 1

    # --- auth and limits ----------------------------------------------------------------
    def check_auth(self, request: Request) -> Response | None:
        if request.query_params.get("token") != self.credentials["MOVIDESK_TOKEN"]:
            return error(401, DENIED)
        return None

    def _key(self, request: Request) -> str:
        return f"{self.name}:{request.query_params.get('token', '')}"

    def check_limits(self, request: Request) -> Response | None:
        if request.url.path.startswith(f"{PREFIX}/tickets"):
            blocked = self.sb.blocks.remaining(self._key(request))
            if blocked > 0:
                return PlainTextResponse("Too many failed requests", status_code=429,
                                         headers={"retry-after": str(max(1, math.ceil(blocked)))})
        ok, _, wait = self.window_hit(request.query_params.get("token", ""), self.limits.requests,
                                      self.limits.window_seconds)
        if ok:
            return None
        window = f"{self.limits.window_seconds:g}s"
        return PlainTextResponse(f"API calls quota exceeded! maximum admitted {self.limits.requests} per {window}.",
                                 status_code=429, headers={"retry-after": str(max(1, math.ceil(wait)))})

    def on_response(self, request: Request, status: int) -> None:
        """The Tickets API counts failed requests in a row; the third blocks the token."""
        if not self.limits.enabled or not request.url.path.startswith(f"{PREFIX}/tickets") or status == 429:
            return
        if status >= 400:
            extra = self.limits.extra
            self.sb.blocks.failure(self._key(request), int(extra.get("failed_requests", 3)),
                                   float(extra.get("block_seconds", 60)))
        elif status:
            self.sb.blocks.success(self._key(request))

    def error_response(self, status: int, message: str) -> Response:
        return error(status, message)

    def sign(self, target: WebhookTarget, method: str, url: str, body: bytes) -> dict[str, str]:
        return {}  # unsigned: the receiver's token travels in the target URL's query

    # --- reading --------------------------------------------------------------------------
    def _recent(self, ticket: dict[str, Any]) -> bool:
        return parse_datetime(ticket["lastUpdate"]) >= self.sb.clock.now() - timedelta(days=RECENT_DAYS)

    def _shape(self, record: dict[str, Any], select: list[str] | None, expand: dict[str, list[str] | None],
               scalars: tuple[str, ...], navigations: tuple[str, ...]) -> dict[str, Any]:
        names = select or list(scalars)
        unknown = [n for n in list(names) + list(expand) if n not in scalars and n not in navigations]
        if unknown:
            raise MovideskError(400, f"Could not find a property named '{unknown[0]}'.")
        shaped = {n: copy.deepcopy(record.get(n)) for n in names if n in scalars}
        for nav, sub_select in expand.items():
            value = copy.deepcopy(record.get(nav))
            if sub_select and isinstance(value, list):
                value = [{k: item.get(k) for k in sub_select} for item in value]
            elif sub_select and isinstance(value, dict):
                value = {k: value.get(k) for k in sub_select}
            shaped[nav] = value
        return shaped

    def _query(self, request: Request, records: list[dict[str, Any]], scalars: tuple[str, ...],
               navigations: tuple[str, ...]) -> list[dict[str, Any]]:
        params = request.query_params
        try:
            if params.get("$filter"):
                keep = parse_filter(params["$filter"], known=scalars + navigations)
                records = [r for r in records if keep(r)]
            for name, descending in reversed(parse_orderby(params.get("$orderby"))):
                if name not in scalars:
                    raise MovideskError(400, f"Could not find a property named '{name}'.")
                records = sorted(records, key=lambda r, n=name: sort_key(r.get(n)), reverse=descending)
            top, skip = params.get("$top", str(MAX_PAGE)), params.get("$skip", "0")
            if not (top.isdigit() and skip.isdigit()):
                raise MovideskError(400, "$top and $skip must be non-negative integers.")
            page = records[int(skip): int(skip) + min(int(top), MAX_PAGE)]
            select, expand = parse_select(params.get("$select")), parse_expand(params.get("$expand"))
        except ODataError as exc:
            raise MovideskError(400, str(exc)) from exc
        return [self._shape(r, select, expand, scalars, navigations) for r in page]

    def _get_tickets(self, request: Request, *, past: bool) -> Response:
        params = request.query_params
        pool = [t for t in self.tickets.values() if self._recent(t) != past]
        try:
            if "id" in params or "protocol" in params:
                key, wanted = ("id", params["id"]) if "id" in params else ("protocol", params["protocol"])
                match = next((t for t in pool if str(t.get(key)) == wanted), None)
                if match is None:
                    return error(404, f"Ticket {wanted} not found.")
                select = parse_select(params.get("$select"))
                expand = parse_expand(params.get("$expand")) if select else {n: None for n in TICKET_NAVIGATIONS}
                return JSONResponse(self._shape(match, select, expand, TICKET_SCALARS, TICKET_NAVIGATIONS))
            return JSONResponse(self._query(request, sorted(pool, key=lambda t: t["id"]),
                                            TICKET_SCALARS, TICKET_NAVIGATIONS))
        except (MovideskError, ODataError) as exc:
            return error(getattr(exc, "status", 400), getattr(exc, "message", str(exc)))

    # --- writing --------------------------------------------------------------------------
    def _person_ref(self, ref: Any, what: str, *, agent: bool = False) -> dict[str, Any]:
        person_id = str(ref.get("id")) if isinstance(ref, dict) and ref.get("id") is not None else None
        person = self.persons.get(person_id or "")
        if person is None:
            raise MovideskError(400, f"{what}: person '{person_id}' not found.")
        if agent and person["profileType"] not in (1, 3):
            raise MovideskError(400, f"{what}: person '{person_id}' is not an agent.")
        email = next((e["email"] for e in person.get("emails", []) if e.get("isDefault")), None)
        return {"id": person["id"], "personType": person["personType"], "profileType": person["profileType"],
                "businessName": person["businessName"], "email": email, "phone": None}

    def _check_status(self, status: Any, justification: Any) -> str:
        if status not in self.statuses:
            raise MovideskError(400, f"Status '{status}' not found.")
        allowed = self.statuses[status]["justifications"]
        if allowed and not justification:
            raise MovideskError(400, f"The justification is required for the status '{status}'.")
        if justification and justification not in allowed:
            raise MovideskError(400, f"Justification '{justification}' is not related to the status '{status}'.")
        return self.statuses[status]["baseStatus"]

    def _new_action(self, item: Any, ticket: dict[str, Any], next_id: int, now: str) -> dict[str, Any]:
        if not isinstance(item, dict) or item.get("type") not in (1, 2):
            raise MovideskError(400, "Action type must be 1 (internal) or 2 (public).")
        if not item.get("description"):
            raise MovideskError(400, "Action description is required.")
        return {"id": next_id, "type": item["type"], "origin": 9, "description": item["description"],
                "htmlDescription": item.get("htmlDescription") or item["description"].replace("\n", "<br/>"),
                "status": ticket["status"], "justification": ticket.get("justification"), "createdDate": now,
                "createdBy": self._person_ref(item.get("createdBy"), "Action createdBy"),
                "isDeleted": False, "tags": item.get("tags", []), "attachments": []}

    def _changes(self, ticket: dict[str, Any], body: dict[str, Any], now: str, *, creating: bool) -> dict[str, Any]:
        """Validate a POST/PATCH body against a ticket; the fields to set (nothing is set yet)."""
        if creating:
            for name, what in (("createdBy", "createdBy is"), ("clients", "At least one client is"),
                               ("actions", "At least one action is")):
                if not body.get(name):
                    raise MovideskError(400, f"{what} required.")
        changes: dict[str, Any] = {}
        for name in ("subject", "category", "urgency", "tags"):
            if name in body:
                changes[name] = body[name]
        if "type" in body or creating:
            if body.get("type") not in (1, 2):
                raise MovideskError(400, "Ticket type must be 1 (internal) or 2 (public).")
            changes["type"] = body["type"]
        if "justification" in body and "status" not in body:
            raise MovideskError(400, "To change the justification the status must also be informed.")
        if "status" in body:
            changes["baseStatus"] = self._check_status(body["status"], body.get("justification"))
            changes["status"], changes["justification"] = body["status"], body.get("justification")
        if body.get("owner") is not None:
            changes["owner"] = self._person_ref(body["owner"], "Owner", agent=True)
        if "ownerTeam" in body:
            if body["ownerTeam"] is not None and body["ownerTeam"] not in self.teams:
                raise MovideskError(400, f"Team '{body['ownerTeam']}' not found.")
            changes["ownerTeam"] = body["ownerTeam"]
        if "createdBy" in body and creating:
            changes["createdBy"] = self._person_ref(body["createdBy"], "createdBy")
        if "clients" in body:
            if not isinstance(body["clients"], list):
                raise MovideskError(400, "clients must be a list.")
            changes["clients"] = [self._person_ref(c, "Client") for c in body["clients"]]
        if "customFieldValues" in body:
            changes["customFieldValues"] = _merge_custom_fields(ticket.get("customFieldValues", []),
                                                                body["customFieldValues"])
        if "actions" in body:
            if not isinstance(body["actions"], list):
                raise MovideskError(400, "actions must be a list.")
            view = {**ticket, **changes}
            existing = {a["id"] for a in ticket.get("actions", [])}
            added, next_id = [], len(ticket.get("actions", [])) + 1
            for item in body["actions"]:
                if isinstance(item, dict) and item.get("id") is not None:
                    if item["id"] not in existing:
                        raise MovideskError(400, f"Action {item['id']} not found.")
                    continue
                added.append(self._new_action(item, view, next_id, now))
                next_id += 1
            changes["actions"] = ticket.get("actions", []) + added
            changes["actionCount"] = len(changes["actions"])
        return changes

    def create_ticket(self, body: dict[str, Any], origin: int) -> dict[str, Any]:
        now_at = self.sb.clock.now()
        now = movidesk_time(now_at)
        ticket_id = self._new_ticket_id()
        draft = {"id": ticket_id, "protocol": f"{now_at:%Y%m%d}{ticket_id:06d}", "type": 2, "subject": None,
                 "category": None, "urgency": None, "status": "Novo", "baseStatus": "New", "justification": None,
                 "origin": origin, "createdDate": now, "ownerTeam": None, "lastUpdate": now, "tags": [],
                 "owner": None, "createdBy": None, "clients": [], "actions": [], "actionCount": 0,
                 "customFieldValues": []}
        body = {"status": "Novo", **body} if "status" not in body else body
        draft.update(self._changes(draft, body, now, creating=True))
        self.tickets[ticket_id] = draft
        self.emit_webhook(pascal(draft))
        return draft

    def update_ticket(self, ticket_id: int, body: dict[str, Any]) -> dict[str, Any]:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or not self._recent(ticket):
            raise MovideskError(404, f"Ticket {ticket_id} not found.")
        now = movidesk_time(self.sb.clock.now())
        ticket.update(self._changes(ticket, body, now, creating=False))
        ticket["lastUpdate"] = now
        self.emit_webhook(pascal(ticket))
        return ticket

    # --- routes ---------------------------------------------------------------------------
    def routes(self) -> None:
        @self.router.get(f"{PREFIX}/tickets")
        async def get_tickets(request: Request) -> Response:
            return self._get_tickets(request, past=False)

        @self.router.get(f"{PREFIX}/tickets/past")
        async def get_past_tickets(request: Request) -> Response:
            return self._get_tickets(request, past=True)

        @self.router.post(f"{PREFIX}/tickets")
        async def post_ticket(request: Request) -> Response:
            try:
                ticket = self.create_ticket(await _json_object(request), origin=9)
            except MovideskError as exc:
                return error(exc.status, exc.message)
            return JSONResponse({"id": ticket["id"], "protocol": ticket["protocol"]})

        @self.router.patch(f"{PREFIX}/tickets")
        async def patch_ticket(request: Request) -> Response:
            raw_id = request.query_params.get("id", "")
            if not raw_id.isdigit():
                return error(400, "The id parameter is required.")
            try:
                self.update_ticket(int(raw_id), await _json_object(request))
            except MovideskError as exc:
                return error(exc.status, exc.message)
            return Response(status_code=200)

        @self.router.get(f"{PREFIX}/persons")
        async def get_persons(request: Request) -> Response:
            if "id" in request.query_params:
                person = self.persons.get(request.query_params["id"])
                return JSONResponse(person) if person else error(404, "Person not found.")
            try:
                people = sorted(self.persons.values(), key=lambda p: p["id"])
                return JSONResponse(self._query(request, people, PERSON_SCALARS, PERSON_NAVIGATIONS))
            except MovideskError as exc:
                return error(exc.status, exc.message)

        @self.router.post(f"{PREFIX}/persons")
        async def post_person(request: Request) -> Response:
            try:
                body = await _json_object(request)
                if body.get("personType") not in (1, 2, 4):
                    raise MovideskError(400, "personType must be 1 (person), 2 (company) or 4 (department).")
                if body.get("profileType") not in (1, 2, 3):
                    raise MovideskError(400, "profileType must be 1 (agent), 2 (client) or 3 (both).")
                if not body.get("businessName"):
                    raise MovideskError(400, "businessName is required.")
                if body.get("id") is not None and str(body["id"]) in self.persons:
                    raise MovideskError(400, f"Person '{body['id']}' already exists.")
            except MovideskError as exc:
                return error(exc.status, exc.message)
            return JSONResponse({"id": self._add_person(body)["id"]})

    def admin_routes(self) -> None:
        def acting(ticket_id: int, body: dict[str, Any]) -> dict[str, Any]:
            try:
                return self.update_ticket(ticket_id, body)
            except MovideskError as exc:
                raise HTTPException(exc.status, exc.message) from exc

        @self.admin.post("/tickets")
        async def open_ticket(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
            """An agent opens a ticket in the web app (origin 2)."""
            try:
                return self.create_ticket(body, origin=2)
            except MovideskError as exc:
                raise HTTPException(exc.status, exc.message) from exc

        @self.admin.post("/tickets/{ticket_id}/status")
        async def change_status(ticket_id: int, status: Annotated[str, Body()],
                                justification: Annotated[str | None, Body()] = None) -> dict[str, Any]:
            return acting(ticket_id, {"status": status, "justification": justification})

        @self.admin.post("/tickets/{ticket_id}/actions")
        async def add_action(ticket_id: int, description: Annotated[str, Body()],
                             kind: Annotated[int, Body(alias="type")] = 2,
                             author: Annotated[str, Body(alias="createdBy")] = DEFAULT_AGENT["id"]) -> dict[str, Any]:
            return acting(ticket_id, {"actions": [{"type": kind, "description": description,
                                                   "createdBy": {"id": author}}]})

        @self.admin.post("/tickets/{ticket_id}/custom-fields")
        async def set_custom_field(ticket_id: int, field_id: Annotated[int, Body(alias="customFieldId")],
                                   value: Annotated[Any, Body()] = None,
                                   items: Annotated[list[dict[str, Any]] | None, Body()] = None) -> dict[str, Any]:
            """E.g. the finance team ticks "payment confirmed"."""
            return acting(ticket_id, {"customFieldValues": [{"customFieldId": field_id, "customFieldRuleId": 1,
                                                             "line": 1, "value": value, "items": items or []}]})

        @self.admin.get("/tickets/{ticket_id}")
        async def ticket(ticket_id: int) -> dict[str, Any]:
            if ticket_id not in self.tickets:
                raise HTTPException(404, f"no ticket {ticket_id}")
            return self.tickets[ticket_id]

        @self.admin.get("/records/{record_type}")
        async def records(record_type: str) -> list[dict[str, Any]]:
            stores: dict[str, dict[Any, dict[str, Any]]] = {"tickets": self.tickets, "persons": self.persons}
            if record_type not in stores:
                raise HTTPException(404, f"unknown record type {record_type}")
            return list(stores[record_type].values())


def _merge_custom_fields(current: list[dict[str, Any]], changes: Any) -> list[dict[str, Any]]:
    """A PATCH's custom field values replace the stored ones with the same field and line."""
    if not isinstance(changes, list):
        raise MovideskError(400, "customFieldValues must be a list.")
    merged = {(c["customFieldId"], c.get("line", 1)): c for c in copy.deepcopy(current)}
    for change in changes:
        if not isinstance(change, dict) or not isinstance(change.get("customFieldId"), int):
            raise MovideskError(400, "customFieldValues items need an integer customFieldId.")
        merged[(change["customFieldId"], change.get("line", 1))] = {
            "customFieldRuleId": None, "line": 1, "value": None, "items": [], **change}
    return list(merged.values())


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise MovideskError(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise MovideskError(400, "The request body must be a JSON object.")
    return body


VENDOR = Movidesk
