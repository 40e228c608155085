"""HubSpot: CRM objects (tickets, companies, contacts, tasks, notes, meetings), CRM search,
batch endpoints, v4 associations, ticket pipelines and owners, at HubSpot's real paths, with
its error bodies, its ten-secondly / daily / search limits and its signed webhooks.

Admin routes (``/_sandbox/hubspot/...``) play a person in HubSpot: create or change a ticket,
book a meeting; each change is POSTed to the webhook target as HubSpot's array of events.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar
from zoneinfo import ZoneInfo

from fastapi import Body, HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.limits import LimitSettings
from sandbox.vendors.base import Vendor
from sandbox.vendors.hubspot_account import (
    APP_ID,
    BUILTIN_PROPERTIES,
    PORTAL_ID,
    TIME_ZONE,
    Token,
    missing_scopes,
    portal_details,
    property_view,
    required_scopes,
)
from sandbox.vendors.hubspot_webhooks import HubSpotApp
from sandbox.webhooks import WebhookTarget

Props = Annotated[dict[str, Any], Body(embed=True)]
OptionalId = Annotated[str | None, Body(embed=True)]
BATCH_MAX = 100
SEARCH_PAGE_MAX = 200
SEARCH_RESULT_CAP = 10_000
WEBHOOK_EVENTS_PER_POST = 100
STAGE_PROPERTY = "hs_pipeline_stage"
DATE_ENTERED = "hs_v2_date_entered_"
"""Stage calculated properties: when the ticket last entered each stage (``..._<stage id>``)."""

OBJECT_TYPES = {  # path name (and singular, and type id) -> canonical plural name
    "tickets": "tickets", "ticket": "tickets", "0-5": "tickets",
    "companies": "companies", "company": "companies", "0-2": "companies",
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
    "tasks": "tasks", "task": "tasks", "0-27": "tasks",
    "notes": "notes", "note": "notes", "0-46": "notes",
    "meetings": "meetings", "meeting": "meetings", "0-47": "meetings",
    "calls": "calls", "call": "calls", "0-48": "calls",
}
TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "tickets": "0-5", "tasks": "0-27", "notes": "0-46", "meetings": "0-47",
            "calls": "0-48"}
SINGULAR = {"tickets": "ticket", "companies": "company", "contacts": "contact", "tasks": "task", "notes": "note",
            "meetings": "meeting", "calls": "call"}
WEBHOOK_TYPES = {"tickets", "companies", "contacts", "meetings"}  # types an app can subscribe to here

# HUBSPOT_DEFINED association type ids, each with its inverse (HubSpot's published table).
ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("tasks", "tickets"): 230, ("tickets", "tasks"): 229,
    ("notes", "tickets"): 228, ("tickets", "notes"): 227,
    ("tasks", "companies"): 192, ("companies", "tasks"): 191,
    ("notes", "companies"): 190, ("companies", "notes"): 189,
    ("tickets", "companies"): 339, ("companies", "tickets"): 340,
    ("meetings", "tickets"): 206, ("tickets", "meetings"): 205,
    ("meetings", "companies"): 188, ("companies", "meetings"): 187,
    ("tickets", "contacts"): 16, ("contacts", "tickets"): 15,
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("tasks", "contacts"): 204, ("contacts", "tasks"): 203,
    ("notes", "contacts"): 202, ("contacts", "notes"): 201,
}

DATETIME_PROPERTIES = {"createdate", "hs_createdate", "hs_lastmodifieddate", "lastmodifieddate", "hs_timestamp",
                       "closed_date", "hs_meeting_start_time", "hs_meeting_end_time"}
ENUMS: dict[str, dict[str, set[str]]] = {
    "tasks": {"hs_task_status": {"NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"},
              "hs_task_priority": {"NONE", "LOW", "MEDIUM", "HIGH"},
              "hs_task_type": {"CALL", "EMAIL", "TODO", "LINKED_IN", "MEETING"}},
    "meetings": {"hs_meeting_outcome": {"SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"}},
}
REQUIRED = {"tasks": ("hs_timestamp",), "notes": ("hs_timestamp",), "meetings": ("hs_timestamp",),
            "tickets": ("hs_pipeline_stage",)}
DEFAULT_PROPERTIES = {
    "tickets": ["content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"],
    "companies": ["name", "domain"],
    "contacts": ["firstname", "lastname", "email"],
    "tasks": ["hs_task_subject", "hs_task_status", "hs_timestamp"],
    "notes": ["hs_note_body", "hs_timestamp"],
    "meetings": ["hs_meeting_title", "hs_meeting_outcome", "hs_timestamp"],
    "calls": ["hs_call_title", "hs_call_disposition", "hs_timestamp"],
}
NOTE_BODY_MAX = 65_536
OPERATORS = {"EQ", "NEQ", "GT", "GTE", "LT", "LTE", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "BETWEEN"}

ONBOARDING_PIPELINE = {
    "id": "28734901", "label": "Solutions Order/Faktura",
    "stages": [("84561201", "Ny", "OPEN"), ("84561202", "Onboarding – Pågår", "OPEN"),
               ("84561203", "Må följas upp", "OPEN"), ("84561204", "Manuell uppföljning", "OPEN"),
               ("84561205", "Inaktiva kunder", "OPEN"), ("84561206", "Avslutad", "CLOSED")],
}
SUPPORT_PIPELINE = {  # every portal's default ticket pipeline
    "id": "0", "label": "Support Pipeline",
    "stages": [("1", "New", "OPEN"), ("2", "Waiting on contact", "OPEN"), ("3", "Waiting on us", "OPEN"),
               ("4", "Closed", "CLOSED")],
}
DEFAULT_OWNERS = [  # invented people
    {"id": "51200101", "email": "astrid.lindqvist@example.com", "firstName": "Astrid", "lastName": "Lindqvist",
     "userId": 7100101},
    {"id": "51200102", "email": "johan.berg@example.com", "firstName": "Johan", "lastName": "Berg",
     "userId": 7100102},
    {"id": "51200103", "email": "maja.holm@example.com", "firstName": "Maja", "lastName": "Holm",
     "userId": 7100103},
]

AUTH_MESSAGE = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
V3_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
              "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


# --- signatures (also used by tests to check the published vectors) ---------------------
def v3_uri(url: str) -> str:
    """The URI as HubSpot signs it: only these percent-escapes decoded (either case)."""
    out = url
    for escape, char in V3_DECODED.items():
        out = out.replace(escape, char).replace(escape.lower(), char)
    return out


def signature_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def signature_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest()


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: int) -> str:
    message = method.encode() + v3_uri(uri).encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


# --- small helpers --------------------------------------------------------------------
def hs_error(status: int, message: str, category: str, **extra: Any) -> JSONResponse:
    """HubSpot's error body."""
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}
    return JSONResponse(body, status_code=status)


def iso_ms(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_epoch_ms(value: Any) -> int | None:
    """A datetime property value (epoch ms or ISO 8601) as epoch ms; None if neither."""
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def from_epoch_ms(ms: int) -> str:
    return iso_ms(datetime.fromtimestamp(ms / 1000, tz=UTC))


class InvalidInput(Exception):
    """A refused input: carried to HubSpot's VALIDATION_ERROR (or other category) body."""

    def __init__(self, message: str, category: str = "VALIDATION_ERROR", **extra: Any) -> None:
        super().__init__(message)
        self.message, self.category, self.extra = message, category, extra

    def response(self) -> JSONResponse:
        return hs_error(400, self.message, self.category, **self.extra)


def property_error(name: str, message: str, error: str) -> InvalidInput:
    detail = [{"isValid": False, "message": message, "error": error, "name": name, "localizedErrorMessage": message}]
    return InvalidInput(f"Property values were not valid: {json.dumps(detail, separators=(',', ':'))}")


class HubSpot(Vendor):
    name = "hubspot"
    prefixes = ("/crm/", "/oauth/", "/integrations/", "/webhooks/v3/", "/account-info/")
    # Free/Starter private app: 100 per 10 s; daily 250k; search 5 per second per account.
    default_limits: ClassVar[LimitSettings] = LimitSettings(
        requests=100, window_seconds=10, daily=250_000,
        extra={"search_per_second": 5, "search_result_cap": SEARCH_RESULT_CAP})
    default_credentials: ClassVar[dict[str, str]] = {
        "HUBSPOT_ACCESS_TOKEN": "hs-sandbox-token",
        "HUBSPOT_CLIENT_SECRET": "hs-sandbox-client-secret",
        "HUBSPOT_APP_ID": str(APP_ID),  # the developer app (not a secret; its webhooks API needs it)
        "HUBSPOT_DEVELOPER_API_KEY": "hs-sandbox-developer-key",
    }
    webhook_secret = "HUBSPOT_CLIENT_SECRET"  # the app's client secret signs its webhooks

    # --- state -------------------------------------------------------------------------
    def reset(self) -> None:
        super().reset()
        if not hasattr(self, "app"):  # the developer app's webhook settings and subscriptions
            self.app = HubSpotApp(APP_ID, self.credentials.__getitem__, lambda: iso_ms(self.sb.clock.now()),
                                  {v: TYPE_IDS[k] for k, v in SINGULAR.items()},
                                  lambda events, target: self.emit_webhook(events, target=target))
        self.app.reset()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in TYPE_IDS}
        self.associations: set[tuple[str, str, str, str, int]] = set()  # from type, id, to type, id, type id
        self.pipelines: dict[str, dict[str, dict[str, Any]]] = {"tickets": {}}
        self.owners: dict[str, dict[str, Any]] = {}
        self.workflows: list[dict[str, Any]] = []
        self.portal_id = PORTAL_ID
        self.time_zone = TIME_ZONE
        self.tokens: dict[str, Token] = {self.credentials["HUBSPOT_ACCESS_TOKEN"]: Token()}
        stamp = iso_ms(self.sb.clock.now())
        self.properties: dict[str, dict[str, dict[str, Any]]] = {
            kind: {spec["name"]: property_view(spec, stamp) for spec in specs}
            for kind, specs in BUILTIN_PROPERTIES.items()}
        self._event_ids = iter(range(1, 10**12))
        self._object_ids = iter(range(1_000_001, 10**12))
        for pipeline in (SUPPORT_PIPELINE, ONBOARDING_PIPELINE):
            self.add_pipeline("tickets", self.pipeline_from_stages(pipeline))
        for owner in DEFAULT_OWNERS:
            self.add_owner(owner)

    def seed(self, data: dict[str, Any]) -> None:
        """``portal``: {id?, time_zone?, new?} (``time_zone``: its settings' IANA zone, where its
        daily limit resets; ``new``: a portal of its own, without the sandbox's default
        pipelines and owners); ``tokens``: [{token, scopes}] (more private-app tokens, e.g. one
        lacking a scope); ``properties``: {type: [{name, label, type, fieldType, options?}]};
        ``owners``: [owner] (``archived: true`` for a deactivated user, ``teams``: [{id, name,
        primary}]); ``pipelines``: {type: [pipeline]}; ``objects``: {type: [{id?, properties,
        associations?}]}; ``generate``: {type: {count, properties, step_ms?}} for cheap bulk
        records (e.g. more than 10,000 tickets); ``workflows``: [{object, pipeline?, set:
        {property: value}}], the portal's own workflows that set a property of every record
        created (in that pipeline) when it is empty, e.g. a default ticket owner."""
        self.workflows.extend(dict(w) for w in data.get("workflows", []))
        if "portal" in data:
            self.portal_id = int(data["portal"].get("id", self.portal_id))
            self.time_zone = str(data["portal"].get("time_zone", self.time_zone))
            if data["portal"].get("new"):  # another portal: only HubSpot's own support pipeline
                self.pipelines = {"tickets": {"0": self.pipelines["tickets"]["0"]}}
                self.owners = {}
        for token in data.get("tokens", []):
            self.tokens[str(token["token"])] = Token(scopes=frozenset(token.get("scopes") or []))
        stamp = iso_ms(self.sb.clock.now())
        for object_type, specs in data.get("properties", {}).items():
            found = self.properties.setdefault(OBJECT_TYPES[object_type], {})
            found.update({spec["name"]: property_view(spec, stamp) for spec in specs})
        for owner in data.get("owners", []):
            self.add_owner(owner)
        for object_type, pipelines in data.get("pipelines", {}).items():
            for pipeline in pipelines:
                self.add_pipeline(OBJECT_TYPES[object_type], pipeline)
        for object_type, records in data.get("objects", {}).items():
            for record in records:
                self.store(OBJECT_TYPES[object_type], record.get("properties", {}), record.get("associations", []),
                           object_id=record.get("id"), validate=False)
        for object_type, spec in data.get("generate", {}).items():
            self.generate(OBJECT_TYPES[object_type], int(spec["count"]), spec.get("properties", {}),
                          int(spec.get("step_ms", 0)))

    def add_owner(self, owner: dict[str, Any]) -> None:
        stamp = iso_ms(self.sb.clock.now())
        self.owners[str(owner["id"])] = {"type": "PERSON", "archived": False, "teams": [], "createdAt": stamp,
                                         "updatedAt": stamp, "userIdIncludingInactive": owner.get("userId"),
                                         **owner, "id": str(owner["id"])}

    def pipeline_from_stages(self, spec: dict[str, Any]) -> dict[str, Any]:
        stamp = iso_ms(self.sb.clock.now())
        stages = [{"id": sid, "label": label, "displayOrder": i, "metadata": {"ticketState": state},
                   "createdAt": stamp, "updatedAt": stamp, "archived": False,
                   "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"}
                  for i, (sid, label, state) in enumerate(spec["stages"])]
        return {"id": spec["id"], "label": spec["label"], "displayOrder": len(self.pipelines["tickets"]),
                "stages": stages, "createdAt": stamp, "updatedAt": stamp, "archived": False}

    def add_pipeline(self, object_type: str, pipeline: dict[str, Any]) -> None:
        """A pipeline as HubSpot answers it (what a fixture leaves out filled in: timestamps,
        order, stage metadata), so every read validates against HubSpot's schema."""
        stamp = iso_ms(self.sb.clock.now())
        stages = [{"displayOrder": i, "archived": False, "metadata": {}, "createdAt": stamp,
                   "updatedAt": stamp, "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT", **stage,
                   "id": str(stage["id"])}
                  for i, stage in enumerate(pipeline.get("stages") or [])]
        found = self.pipelines.setdefault(object_type, {})
        found[str(pipeline["id"])] = {"displayOrder": len(found), "archived": False, "createdAt": stamp,
                                      "updatedAt": stamp, **pipeline, "id": str(pipeline["id"]),
                                      "stages": stages}

    def generate(self, object_type: str, count: int, properties: dict[str, Any], step_ms: int) -> None:
        """Bulk records without validation or webhooks; modification times ``step_ms`` apart."""
        start = self.sb.clock.now_ms()
        for n in range(count):
            stamp = from_epoch_ms(start + n * step_ms)
            props = {k: str(v).replace("{n}", str(n)) for k, v in properties.items()}
            record = self.new_record(object_type, props, stamp)
            self.objects[object_type][record["id"]] = record

    # --- records -----------------------------------------------------------------------
    def modified_property(self, object_type: str) -> str:
        return "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"

    def new_record(self, object_type: str, properties: dict[str, Any], stamp: str, object_id: str | None = None
                   ) -> dict[str, Any]:
        record_id = str(object_id or next(self._object_ids))
        props = {k: self.normalise(k, v) for k, v in properties.items()}
        created = props.get("createdate") or stamp  # a fixture (or an import) may give a past one
        props.update({"hs_object_id": record_id, "createdate": created, self.modified_property(object_type): stamp})
        if object_type == "tickets":
            props.setdefault("hs_pipeline", "0")
            if props.get(STAGE_PROPERTY):  # "Date entered <stage>": a fixture may give a past one
                props.setdefault(f"{DATE_ENTERED}{props[STAGE_PROPERTY]}", stamp)
        if object_type in ("tasks", "notes", "meetings"):
            props["hs_createdate"] = stamp
        return {"id": record_id, "properties": props, "createdAt": created, "updatedAt": stamp, "archived": False}

    def normalise(self, name: str, value: Any) -> str | None:
        """HubSpot stores every value as a string; datetimes come back as ISO 8601 with ms."""
        if value is None:
            return None
        if name in DATETIME_PROPERTIES or name.startswith(DATE_ENTERED):
            ms = to_epoch_ms(value)
            return from_epoch_ms(ms) if ms is not None else str(value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def validate(self, object_type: str, properties: dict[str, Any], *, creating: bool,
                 record: dict[str, Any] | None = None) -> None:
        """HubSpot's property validation: required fields, enumerations, owners, stages, sizes."""
        if creating:
            for name in REQUIRED.get(object_type, ()):
                if properties.get(name) in (None, ""):
                    raise property_error(name, f"{name} is required", "REQUIRED")
        for name, value in properties.items():
            if value is None or value == "":
                continue
            text = str(value)
            allowed = ENUMS.get(object_type, {}).get(name)
            if allowed and text not in allowed:
                raise property_error(name, f"{text} was not one of the allowed options: {sorted(allowed)}",
                                     "INVALID_OPTION")
            if name in DATETIME_PROPERTIES and to_epoch_ms(text) is None:
                raise property_error(name, f"{text} was not a valid long or ISO 8601 date", "INVALID_DATE")
            if name == "hubspot_owner_id" and text not in self.owners:
                raise property_error(name, f"{text} is not a valid owner id", "INVALID_OWNER_ID")
            if name == "hs_note_body" and len(text) > NOTE_BODY_MAX:
                raise property_error(name, f"hs_note_body exceeds the maximum length of {NOTE_BODY_MAX}",
                                     "INVALID_STRING_LENGTH")
        if object_type == "tickets" and ("hs_pipeline_stage" in properties or "hs_pipeline" in properties):
            current = (record or {}).get("properties", {})
            pipeline_id = str(properties.get("hs_pipeline") or current.get("hs_pipeline") or "0")
            stage = str(properties.get("hs_pipeline_stage") or current.get("hs_pipeline_stage") or "")
            pipeline = self.pipelines["tickets"].get(pipeline_id)
            if pipeline is None:
                raise property_error("hs_pipeline", f"{pipeline_id} was not one of the allowed options",
                                     "INVALID_OPTION")
            if stage and stage not in {s["id"] for s in pipeline["stages"]}:
                raise property_error("hs_pipeline_stage",
                                     f"{stage} was not one of the allowed options for pipeline {pipeline_id}",
                                     "INVALID_OPTION")

    def check_associations(self, object_type: str, associations: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
        """Inline associations as (to type, to id, type id); unknown targets or types are refused."""
        edges = []
        for assoc in associations or []:
            to_id = str((assoc.get("to") or {}).get("id", ""))
            for spec in assoc.get("types") or []:
                type_id = int(spec.get("associationTypeId", 0))
                to_type = next((t for (f, t), i in ASSOCIATION_TYPES.items() if f == object_type and i == type_id), None)
                if to_type is None:
                    raise InvalidInput(f"{type_id} is not a valid association type id for {object_type}")
                if to_id not in self.objects[to_type]:
                    raise InvalidInput(f"One or more associations are invalid: {SINGULAR[to_type]} {to_id} "
                                       "does not exist", context={"ids": [to_id]})
                edges.append((to_type, to_id, type_id))
        return edges

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, type_id: int) -> None:
        self.associations.add((from_type, from_id, to_type, to_id, type_id))
        inverse = ASSOCIATION_TYPES.get((to_type, from_type))
        if inverse is not None:
            self.associations.add((to_type, to_id, from_type, from_id, inverse))

    def store(self, object_type: str, properties: dict[str, Any], associations: list[dict[str, Any]], *,
              object_id: str | None = None, validate: bool = True) -> dict[str, Any]:
        if validate:
            self.validate(object_type, properties, creating=True)
        edges = self.check_associations(object_type, associations)
        record = self.new_record(object_type, properties, iso_ms(self.sb.clock.now()), object_id)
        self.objects[object_type][record["id"]] = record
        for to_type, to_id, type_id in edges:
            self.associate(object_type, record["id"], to_type, to_id, type_id)
        return record

    def change(self, object_type: str, record: dict[str, Any], properties: dict[str, Any]) -> list[str]:
        """Apply new values; returns the names whose value actually changed."""
        stamp = iso_ms(self.sb.clock.now())
        changed = []
        for name, value in properties.items():
            new = self.normalise(name, value)
            if new == "":
                new = None
            if record["properties"].get(name) != new:
                record["properties"][name] = new
                changed.append(name)
                if name == STAGE_PROPERTY and object_type == "tickets" and new:
                    record["properties"][f"{DATE_ENTERED}{new}"] = stamp
        record["properties"][self.modified_property(object_type)] = stamp
        record["updatedAt"] = stamp
        return changed

    def view(self, record: dict[str, Any], properties: list[str] | None, object_type: str) -> dict[str, Any]:
        """A record as the API returns it: the asked properties (null when unset) plus the defaults."""
        names = list(properties) if properties else list(DEFAULT_PROPERTIES[object_type])
        names += ["hs_object_id", "createdate", self.modified_property(object_type)]
        props = {name: record["properties"][name] for name in dict.fromkeys(names)
                 if record["properties"].get(name) is not None}  # HubSpot's schema: values are strings
        return {"id": record["id"], "properties": props, "createdAt": record["createdAt"],
                "updatedAt": record["updatedAt"], "archived": record["archived"]}

    # --- webhooks ----------------------------------------------------------------------
    def event(self, object_type: str, record_id: str, action: str, change_source: str,
              name: str | None = None, value: Any = None) -> dict[str, Any]:
        """One event as HubSpot posts it (``subscriptionType`` e.g. ``ticket.propertyChange``)."""
        event: dict[str, Any] = {
            "eventId": next(self._event_ids), "subscriptionId": 4100000 + list(TYPE_IDS).index(object_type) * 10
            + (1 if action == "propertyChange" else 0),
            "portalId": self.portal_id, "appId": APP_ID, "occurredAt": self.sb.clock.now_ms(),
            "subscriptionType": f"{SINGULAR[object_type]}.{action}", "attemptNumber": 0,
            "objectId": int(record_id), "changeSource": change_source,
        }
        if action == "creation":
            event["changeFlag"] = "NEW"
        if action == "propertyChange":
            event.update(propertyName=name, propertyValue="" if value is None else str(value))
        if object_type == "meetings":
            event["objectTypeId"] = TYPE_IDS["meetings"]
        return event

    def emit_events(self, events: list[dict[str, Any]]) -> None:
        for start in range(0, len(events), WEBHOOK_EVENTS_PER_POST):
            self.emit_webhook(events[start:start + WEBHOOK_EVENTS_PER_POST])
        self.app.deliver(events)

    def created_events(self, object_type: str, records: list[dict[str, Any]], source: str) -> None:
        for record in records:
            self.enrol(object_type, record)
        if object_type in WEBHOOK_TYPES:
            self.emit_events([self.event(object_type, r["id"], "creation", source) for r in records])

    def enrol(self, object_type: str, record: dict[str, Any]) -> None:
        """A record just created goes through the portal's workflows (set what is empty)."""
        props = record["properties"]
        for flow in self.workflows:
            kind = OBJECT_TYPES.get(str(flow.get("object")), flow.get("object"))
            if kind != object_type or flow.get("pipeline") not in (None, props.get("hs_pipeline")):
                continue
            for name, value in (flow.get("set") or {}).items():
                if props.get(name) in (None, ""):
                    props[name] = self.normalise(name, value)

    def changed_events(self, object_type: str, changes: list[tuple[dict[str, Any], list[str]]], source: str) -> None:
        if object_type in WEBHOOK_TYPES:
            self.emit_events([self.event(object_type, r["id"], "propertyChange", source, n, r["properties"].get(n))
                              for r, names in changes for n in names])

    def sign(self, target: WebhookTarget, method: str, url: str, body: bytes) -> dict[str, str]:
        """v1 (legacy) and v3 headers; the timestamp is the sandbox clock's, in ms."""
        secret = target.secret or ""
        timestamp = self.sb.clock.now_ms()
        return {"X-HubSpot-Signature-Version": "v1", "X-HubSpot-Signature": signature_v1(secret, body),
                "X-HubSpot-Signature-v3": signature_v3(secret, method, url, body, timestamp),
                "X-HubSpot-Request-Timestamp": str(timestamp)}

    # --- auth and limits ---------------------------------------------------------------
    def check_auth(self, request: Request) -> Response | None:
        """A known private-app token (401 otherwise), whose scopes cover the operation (403
        ``MISSING_SCOPES`` otherwise)."""
        if request.url.path.startswith("/webhooks/v3/"):
            return self.app.check_auth(request)  # the developer API key, not a private-app token
        if request.url.path.startswith("/oauth/"):
            return None  # token introspection: the token is in the body
        token = self.tokens.get(self.bearer_token(request) or "")
        if token is None:
            return hs_error(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")
        required = required_scopes(request.method, request.url.path, self.kind)
        if required and not token.allows(required):
            return missing_scopes(required)
        return None

    def daily_key(self) -> str:
        """The daily limit's counter: one per day of the portal's time zone (it resets at
        midnight there, not at midnight UTC)."""
        return f"hubspot:daily:{self.sb.clock.now().astimezone(ZoneInfo(self.time_zone)).date().isoformat()}"

    def check_limits(self, request: Request) -> Response | None:
        token = self.bearer_token(request) or ""
        ok, remaining, _ = self.window_hit(f"ten:{token}", self.limits.requests, self.limits.window_seconds)
        request.state.hs_remaining = remaining
        if not ok:
            return self.rate_limited("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
        if self.limits.daily is not None:
            if self.sb.counters.get(self.daily_key()) >= self.limits.daily:
                return self.rate_limited("DAILY", "You have reached your daily limit.")
            self.sb.counters.add(self.daily_key())
        if request.method == "POST" and request.url.path.endswith("/search"):
            per_second = int(self.limits.extra.get("search_per_second", 5))
            if not self.window_hit("search", per_second, 1.0)[0]:
                return self.rate_limited("SECONDLY", "You have reached your secondly limit.")
        return None

    def rate_limited(self, policy: str, message: str) -> JSONResponse:
        return JSONResponse({"status": "error", "message": message, "errorType": "RATE_LIMIT",
                             "category": "RATE_LIMITS", "correlationId": str(uuid.uuid4()), "policyName": policy,
                             "requestId": str(uuid.uuid4())}, status_code=429)

    def response_headers(self, request: Request) -> dict[str, str]:
        """X-HubSpot-RateLimit-* on every answer that passed authentication."""
        remaining = getattr(request.state, "hs_remaining", None)
        if not self.limits.enabled or remaining is None:
            return {}
        headers = {"X-HubSpot-RateLimit-Max": str(self.limits.requests),
                   "X-HubSpot-RateLimit-Remaining": str(remaining),
                   "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.limits.window_seconds * 1000))}
        if self.limits.daily is not None:
            used = self.sb.counters.get(self.daily_key())
            headers.update({"X-HubSpot-RateLimit-Daily": str(self.limits.daily),
                            "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.limits.daily - used, 0))})
        return headers

    def error_response(self, status: int, message: str) -> Response:
        """An injected error in HubSpot's words (a 429 as the ten-secondly policy, window spent)."""
        if status == 429:
            response = self.rate_limited("TEN_SECONDLY_ROLLING", "You have reached your ten_secondly_rolling limit.")
            response.headers.update({"X-HubSpot-RateLimit-Max": str(self.limits.requests),
                                     "X-HubSpot-RateLimit-Remaining": "0",
                                     "X-HubSpot-RateLimit-Interval-Milliseconds":
                                         str(int(self.limits.window_seconds * 1000))})
            return response
        category = "INTERNAL_ERROR" if status >= 500 else "VALIDATION_ERROR"
        return hs_error(status, message, category)

    # --- the API -----------------------------------------------------------------------
    def routes(self) -> None:
        r = self.router
        self.app.routes(r)

        @r.post("/oauth/v2/private-apps/get/access-token-info")
        async def token_info(request: Request) -> Response:
            """A private app token's portal, user and scopes."""
            body, problem = await self.json_body(request)
            if problem:
                return problem
            token = self.tokens.get(str(body.get("tokenKey") or ""))
            if token is None:
                return hs_error(401, "The access token is invalid or expired.", "INVALID_AUTHENTICATION")
            return JSONResponse({"userId": token.user_id, "hubId": self.portal_id, "appId": token.app_id,
                                 "scopes": sorted(token.scopes)})

        @r.get("/account-info/v3/details")
        async def account_details() -> Response:
            """The portal's type, time zone, currencies and data hosting location."""
            return JSONResponse(portal_details(self.portal_id, self.time_zone, self.sb.clock.now()))

        @r.get("/crm/v3/properties/{object_type}")
        async def properties(object_type: str, archived: bool = False) -> Response:
            kind = self.kind(object_type)
            if kind is None:
                return self.unknown_type(object_type)
            found = [p for p in self.properties.get(kind, {}).values() if p["archived"] == archived]
            return JSONResponse({"results": found})

        @r.get("/crm/v3/properties/{object_type}/{property_name}")
        async def property_one(object_type: str, property_name: str) -> Response:
            kind = self.kind(object_type)
            if kind is None:
                return self.unknown_type(object_type)
            found = self.properties.get(kind, {}).get(property_name)
            if found is None:
                return hs_error(404, f"Unable to find property {property_name} on object type {kind}",
                                "OBJECT_NOT_FOUND")
            return JSONResponse(found)

        @r.get("/crm/v3/pipelines/{object_type}")
        async def pipelines(object_type: str) -> Response:
            kind = OBJECT_TYPES.get(object_type)
            found = self.pipelines.get(kind or "", {})
            return JSONResponse({"results": sorted(found.values(), key=lambda p: p["displayOrder"])})

        @r.get("/crm/v3/pipelines/{object_type}/{pipeline_id}")
        async def pipeline(object_type: str, pipeline_id: str) -> Response:
            found = self.pipelines.get(OBJECT_TYPES.get(object_type, ""), {}).get(pipeline_id)
            if found is None:
                return hs_error(404, f"Unable to find pipeline {pipeline_id}", "OBJECT_NOT_FOUND")
            return JSONResponse(found)

        @r.get("/crm/v3/owners")
        @r.get("/crm/v3/owners/")
        async def owners(email: str | None = None, limit: int = 100, after: str | None = None,
                         archived: bool = False) -> Response:
            found = [o for o in self.owners.values() if (not email or o["email"] == email)
                     and o["archived"] == archived]
            return JSONResponse(self.page(found, limit, after, 500))

        @r.get("/crm/v3/owners/{owner_id}")
        async def owner(owner_id: str) -> Response:
            if owner_id not in self.owners:
                return hs_error(404, f"Owner {owner_id} not found", "OBJECT_NOT_FOUND")
            return JSONResponse(self.owners[owner_id])

        @r.post("/crm/v3/objects/{object_type}/search")
        async def search(object_type: str, request: Request) -> Response:
            return await self.guarded(request, object_type, self.search)

        @r.post("/crm/v3/objects/{object_type}/batch/{operation}")
        async def batch(object_type: str, operation: str, request: Request) -> Response:
            handler = {"create": self.batch_create, "update": self.batch_update, "read": self.batch_read,
                       "archive": self.batch_archive}.get(operation)
            if handler is None:
                return hs_error(404, f"Unknown batch operation {operation}", "OBJECT_NOT_FOUND")
            return await self.guarded(request, object_type, handler)

        @r.post("/crm/v3/objects/{object_type}")
        async def create(object_type: str, request: Request) -> Response:
            return await self.guarded(request, object_type, self.create_one)

        @r.get("/crm/v3/objects/{object_type}")
        async def list_objects(object_type: str, request: Request) -> Response:
            kind = self.kind(object_type)
            if kind is None:
                return self.unknown_type(object_type)
            props = _csv(request.query_params.getlist("properties"))
            records = [self.view(x, props, kind) for x in self.objects[kind].values() if not x["archived"]]
            limit = int(request.query_params.get("limit", 10))
            return JSONResponse(self.page(records, limit, request.query_params.get("after"), 100))

        @r.get("/crm/v3/objects/{object_type}/{object_id}")
        async def read_one(object_type: str, object_id: str, request: Request) -> Response:
            kind = self.kind(object_type)
            if kind is None:
                return self.unknown_type(object_type)
            record = self.objects[kind].get(object_id)
            if record is None or record["archived"]:
                return hs_error(404, "Object not found", "OBJECT_NOT_FOUND")
            body = self.view(record, _csv(request.query_params.getlist("properties")), kind)
            wanted = [OBJECT_TYPES[t] for t in _csv(request.query_params.getlist("associations")) or []
                      if t in OBJECT_TYPES]  # a plain read names no associations
            if wanted:
                body["associations"] = {
                    t: {"results": [{"id": to_id, "type": f"{SINGULAR[kind]}_to_{SINGULAR[t]}"}
                                    for (f, fid, tt, to_id, _) in sorted(self.associations)
                                    if f == kind and fid == object_id and tt == t]}
                    for t in wanted}
            return JSONResponse(body)

        @r.patch("/crm/v3/objects/{object_type}/{object_id}")
        async def update_one(object_type: str, object_id: str, request: Request) -> Response:
            async def handler(kind: str, body: dict[str, Any]) -> Response:
                record = self.objects[kind].get(object_id)
                if record is None or record["archived"]:
                    return hs_error(404, "Object not found", "OBJECT_NOT_FOUND")
                props = body.get("properties") or {}
                self.validate(kind, props, creating=False, record=record)
                changed = self.change(kind, record, props)
                self.changed_events(kind, [(record, changed)], "INTEGRATION")
                return JSONResponse(self.view(record, list(props), kind))

            return await self.guarded(request, object_type, handler)

        @r.delete("/crm/v3/objects/{object_type}/{object_id}")
        async def archive_one(object_type: str, object_id: str) -> Response:
            kind = self.kind(object_type)
            if kind is None:
                return self.unknown_type(object_type)
            record = self.objects[kind].get(object_id)
            if record is not None:
                record["archived"] = True
            return Response(status_code=204)

        @r.get("/crm/v4/objects/{object_type}/{object_id}/associations/{to_type}")
        async def associations(object_type: str, object_id: str, to_type: str, limit: int = 500,
                               after: str | None = None) -> Response:
            kind, to_kind = self.kind(object_type), self.kind(to_type)
            if kind is None or to_kind is None:
                return self.unknown_type(to_type if kind else object_type)
            return JSONResponse(self.page(self.associated(kind, object_id, to_kind), limit, after, 500))

        @r.post("/crm/v4/associations/{object_type}/{to_type}/batch/read")
        async def associations_batch(object_type: str, to_type: str, request: Request) -> Response:
            kind, to_kind = self.kind(object_type), self.kind(to_type)
            if kind is None or to_kind is None:
                return self.unknown_type(to_type if kind else object_type)
            body, problem = await self.json_body(request)
            if problem:
                return problem
            inputs = body.get("inputs") or []
            if len(inputs) > BATCH_MAX:
                return self.too_many_inputs(len(inputs))
            results, errors = [], []
            for item in inputs:
                from_id = str(item.get("id"))
                found = self.associated(kind, from_id, to_kind)
                if found:
                    results.append({"from": {"id": from_id}, "to": found})
                else:
                    errors.append({"status": "error", "category": "OBJECT_NOT_FOUND",
                                   "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
                                   "context": {"fromObjectId": [from_id]},
                                   "message": f"No {SINGULAR[to_kind]} is associated with {SINGULAR[kind]} {from_id}."})
            return self.batch_response(results, errors, ok_status=200)

    def associated(self, kind: str, object_id: str, to_kind: str) -> list[dict[str, Any]]:
        """v4 shape: one entry per associated record with all its association types."""
        found: dict[str, list[int]] = {}
        for (f, fid, t, to_id, type_id) in sorted(self.associations):
            if f == kind and fid == object_id and t == to_kind:
                found.setdefault(to_id, []).append(type_id)
        return [{"toObjectId": str(to_id), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": i}
                                                                 for i in types]}
                for to_id, types in found.items()]

    def kind(self, object_type: str) -> str | None:
        return OBJECT_TYPES.get(object_type)

    def unknown_type(self, object_type: str) -> JSONResponse:
        return hs_error(400, f"Unable to infer object type from: {object_type}", "VALIDATION_ERROR")

    def too_many_inputs(self, count: int) -> JSONResponse:
        return hs_error(400, too_many_message(count), "VALIDATION_ERROR")

    async def json_body(self, request: Request) -> tuple[dict[str, Any], JSONResponse | None]:
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            return {}, hs_error(400, f"Invalid input JSON on line {exc.lineno}, column {exc.colno}: {exc.msg}",
                                "VALIDATION_ERROR")
        if not isinstance(body, dict):
            return {}, hs_error(400, "Invalid input JSON: expected an object", "VALIDATION_ERROR")
        return body, None

    async def guarded(self, request: Request, object_type: str, handler: Any) -> Response:
        """Parse the body, resolve the type, and turn refused input into HubSpot's 400."""
        kind = self.kind(object_type)
        if kind is None:
            return self.unknown_type(object_type)
        body, problem = await self.json_body(request)
        if problem:
            return problem
        try:
            return await handler(kind, body)
        except InvalidInput as refused:
            return refused.response()

    def page(self, items: list[Any], limit: int, after: str | None, max_limit: int) -> dict[str, Any]:
        start = int(after or 0)
        limit = max(1, min(limit, max_limit))
        body: dict[str, Any] = {"results": items[start:start + limit]}
        if start + limit < len(items):
            body["paging"] = {"next": {"after": str(start + limit), "link": "?after=" + str(start + limit)}}
        return body

    def batch_response(self, results: list[dict[str, Any]], errors: list[dict[str, Any]], ok_status: int
                       ) -> JSONResponse:
        stamp = iso_ms(self.sb.clock.now())
        body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
        if errors:  # each a StandardError: links and errors too
            body.update(numErrors=len(errors), errors=[{"links": {}, "errors": [], **e} for e in errors])
        return JSONResponse(body, status_code=207 if errors else ok_status)

    # --- search ------------------------------------------------------------------------
    async def search(self, kind: str, body: dict[str, Any]) -> Response:
        limit = int(body.get("limit") or 10)
        if limit > SEARCH_PAGE_MAX:
            return hs_error(400, "There was a problem with the request.", "VALIDATION_ERROR",
                            errors=[{"message": f"limit must be less than or equal to {SEARCH_PAGE_MAX}",
                                     "in": "limit"}])
        after = int(body.get("after") or 0)
        cap = int(self.limits.extra.get("search_result_cap", SEARCH_RESULT_CAP))
        if after >= cap:
            return hs_error(400, f"The search API cannot page past {cap} results; after={after}. "
                                 "Narrow the query instead.", "VALIDATION_ERROR")
        sorts = body.get("sorts") or []
        if len(sorts) > 1:
            return hs_error(400, "Only one sort is supported.", "VALIDATION_ERROR")
        groups = body.get("filterGroups") or []
        for group in groups:
            for f in group.get("filters") or []:
                if f.get("operator") not in OPERATORS:
                    return hs_error(400, f"Unsupported operator {f.get('operator')!r}", "VALIDATION_ERROR")
        records = [x for x in self.objects[kind].values()
                   if not x["archived"] and (not groups or any(_matches(x, g) for g in groups))]
        if sorts:
            sort = sorts[0] if isinstance(sorts[0], dict) else {"propertyName": sorts[0], "direction": "ASCENDING"}
            name = sort.get("propertyName", "")
            records.sort(key=lambda x: (_sort_value(name, x["properties"].get(name)), int(x["id"])),
                         reverse=sort.get("direction") == "DESCENDING")
        else:
            records.sort(key=lambda x: int(x["id"]))
        window = records[after:min(after + limit, cap)]
        props = body.get("properties") or None
        answer: dict[str, Any] = {"total": len(records), "results": [self.view(x, props, kind) for x in window]}
        if after + limit < len(records):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return JSONResponse(answer)

    # --- objects and batches -----------------------------------------------------------
    async def create_one(self, kind: str, body: dict[str, Any]) -> Response:
        record = self.store(kind, body.get("properties") or {}, body.get("associations") or [])
        self.created_events(kind, [record], "INTEGRATION")
        return JSONResponse(self.view(record, list(record["properties"]), kind), status_code=201)

    def inputs_of(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise InvalidInput("Invalid input JSON: inputs must be an array")
        if len(inputs) > BATCH_MAX:
            raise InvalidInput(too_many_message(len(inputs)))
        return inputs

    async def batch_create(self, kind: str, body: dict[str, Any]) -> Response:
        """All or nothing: one refused input refuses the batch (nothing is created)."""
        inputs = self.inputs_of(body)
        for item in inputs:
            self.validate(kind, item.get("properties") or {}, creating=True)
            self.check_associations(kind, item.get("associations") or [])
        created = [self.store(kind, item.get("properties") or {}, item.get("associations") or [], validate=False)
                   for item in inputs]
        self.created_events(kind, created, "INTEGRATION")
        return self.batch_response([self.view(x, list(x["properties"]), kind) for x in created], [], ok_status=201)

    async def batch_update(self, kind: str, body: dict[str, Any]) -> Response:
        """Invalid values refuse the whole batch; unknown ids are reported per id (207)."""
        inputs = self.inputs_of(body)
        ids = [str(item.get("id")) for item in inputs]
        if len(set(ids)) != len(ids):
            raise InvalidInput("Duplicate IDs found in batch input: " + ", ".join(sorted({i for i in ids
                                                                                         if ids.count(i) > 1})))
        present = [(item, self.objects[kind].get(str(item.get("id")))) for item in inputs]
        for item, record in present:
            if record is not None and not record["archived"]:
                self.validate(kind, item.get("properties") or {}, creating=False, record=record)
        missing = [str(item.get("id")) for item, record in present if record is None or record["archived"]]
        changes = [(record, self.change(kind, record, item.get("properties") or {}))
                   for item, record in present if record is not None and not record["archived"]]
        self.changed_events(kind, changes, "INTEGRATION")
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": missing},
                   "message": f"Could not get some {SINGULAR[kind].upper()} objects, they may be deleted or not "
                              "exist. Check that ids are valid."}] if missing else []
        return self.batch_response([self.view(x, None, kind) for x, _ in changes], errors, ok_status=200)

    async def batch_read(self, kind: str, body: dict[str, Any]) -> Response:
        inputs = self.inputs_of(body)
        id_property = body.get("idProperty")
        props = body.get("properties") or None
        results, missing = [], []
        for item in inputs:
            wanted = str(item.get("id"))
            if id_property:
                record = next((x for x in self.objects[kind].values()
                               if x["properties"].get(id_property) == wanted and not x["archived"]), None)
            else:
                record = self.objects[kind].get(wanted)
            if record is None or record["archived"]:
                missing.append(wanted)
            else:
                results.append(self.view(record, props, kind))
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": missing},
                   "message": f"Could not get some {SINGULAR[kind].upper()} objects, they may be deleted or not "
                              "exist. Check that ids are valid."}] if missing else []
        return self.batch_response(results, errors, ok_status=200)

    async def batch_archive(self, kind: str, body: dict[str, Any]) -> Response:
        for item in self.inputs_of(body):
            record = self.objects[kind].get(str(item.get("id")))
            if record is not None:
                record["archived"] = True
        return Response(status_code=204)

    # --- a person in HubSpot -----------------------------------------------------------
    def admin_routes(self) -> None:
        a = self.admin

        @a.post("/tickets")
        async def person_creates_ticket(properties: Props,
                                        company_id: OptionalId = None) -> dict[str, Any]:
            """A person creates a ticket (optionally for a company): ``ticket.creation``."""
            associations = [_assoc(company_id, ASSOCIATION_TYPES[("tickets", "companies")])] if company_id else []
            return self.person_create("tickets", properties, associations)

        @a.patch("/tickets/{ticket_id}")
        async def person_changes_ticket(ticket_id: str, properties: Props
                                        ) -> dict[str, Any]:
            """A person changes a ticket: one ``ticket.propertyChange`` per changed property."""
            return self.person_change("tickets", ticket_id, properties)

        @a.patch("/tasks/{task_id}")
        async def person_changes_task(task_id: str, properties: Props) -> dict[str, Any]:
            """A person works a task, e.g. marks it done (``hs_task_status`` COMPLETED): one
            ``task.propertyChange`` per changed property."""
            return self.person_change("tasks", task_id, properties)

        @a.post("/meetings")
        async def person_books_meeting(properties: Props,
                                       ticket_id: OptionalId = None,
                                       company_id: OptionalId = None) -> dict[str, Any]:
            """A meeting booked (e.g. through the meetings link), tied to the ticket and company."""
            associations = []
            if ticket_id:
                associations.append(_assoc(ticket_id, ASSOCIATION_TYPES[("meetings", "tickets")]))
            if company_id:
                associations.append(_assoc(company_id, ASSOCIATION_TYPES[("meetings", "companies")]))
            props = {"hs_meeting_outcome": "SCHEDULED", **properties}
            return self.person_create("meetings", props, associations, source="MEETINGS")

        @a.patch("/meetings/{meeting_id}")
        async def person_changes_meeting(meeting_id: str, properties: Props
                                         ) -> dict[str, Any]:
            """E.g. the outcome set to COMPLETED, NO_SHOW, RESCHEDULED or CANCELED."""
            return self.person_change("meetings", meeting_id, properties)

        @a.post("/records/{object_type}")
        async def person_creates(object_type: str, properties: Props
                                 ) -> dict[str, Any]:
            return self.person_create(self.admin_kind(object_type), properties, [])

        @a.get("/records/{object_type}")
        async def records(object_type: str) -> list[dict[str, Any]]:
            kind = self.admin_kind(object_type)
            return [self.with_associations(kind, x) for x in self.objects[kind].values()]

        @a.get("/records/{object_type}/{object_id}")
        async def record(object_type: str, object_id: str) -> dict[str, Any]:
            kind = self.admin_kind(object_type)
            if object_id not in self.objects[kind]:
                raise HTTPException(404, f"no {kind} {object_id}")
            return self.with_associations(kind, self.objects[kind][object_id])

    def admin_kind(self, object_type: str) -> str:
        kind = self.kind(object_type)
        if kind is None:
            raise HTTPException(404, f"unknown object type {object_type}")
        return kind

    def person_create(self, kind: str, properties: dict[str, Any], associations: list[dict[str, Any]],
                      source: str = "CRM_UI") -> dict[str, Any]:
        """A record a person creates, and its ``creation`` webhook events."""
        try:
            record = self.store(kind, properties, associations)
        except InvalidInput as refused:
            raise HTTPException(400, refused.message) from None
        self.created_events(kind, [record], source)
        return record

    def person_change(self, kind: str, object_id: str, properties: dict[str, Any]) -> dict[str, Any]:
        record = self.objects[kind].get(object_id)
        if record is None:
            raise HTTPException(404, f"no {kind} {object_id}")
        try:
            self.validate(kind, properties, creating=False, record=record)
        except InvalidInput as refused:
            raise HTTPException(400, refused.message) from None
        changed = self.change(kind, record, properties)
        self.changed_events(kind, [(record, changed)], "CRM_UI")
        return record

    def with_associations(self, kind: str, record: dict[str, Any]) -> dict[str, Any]:
        links = [{"toObjectType": t, "toObjectId": to_id, "typeId": i}
                 for (f, fid, t, to_id, i) in sorted(self.associations) if f == kind and fid == record["id"]]
        return {**record, "associations": links}


def too_many_message(count: int) -> str:
    return (f"The maximum number of inputs supported in a batch request is {BATCH_MAX}. "
            f"Please reduce the number of items ({count}) and try again")


def _assoc(to_id: str, type_id: int) -> dict[str, Any]:
    return {"to": {"id": to_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}


def _csv(values: list[str]) -> list[str] | None:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    return names or None


def _comparable(name: str, value: Any) -> Any:
    """How HubSpot compares a value: datetimes as epoch ms, numbers as numbers, text case-blind."""
    if name in DATETIME_PROPERTIES:
        ms = to_epoch_ms(value)
        if ms is not None:
            return ms
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value).lower()


def _sort_value(name: str, value: Any) -> tuple[int, float, str]:
    """Numbers before text, unset last (ascending)."""
    if value in (None, ""):
        return (2, 0.0, "")
    comparable = _comparable(name, value)
    if isinstance(comparable, (int, float)):
        return (0, float(comparable), "")
    return (1, 0.0, comparable)


def _matches(record: dict[str, Any], group: dict[str, Any]) -> bool:
    """A filter group is an AND of its filters (groups are OR'ed by the caller)."""
    props = record["properties"]
    for f in group.get("filters") or []:
        name, op = f.get("propertyName", ""), f.get("operator")
        raw = props.get(name)
        if op == "HAS_PROPERTY":
            ok = raw not in (None, "")
        elif op == "NOT_HAS_PROPERTY":
            ok = raw in (None, "")
        elif raw in (None, ""):
            ok = op in ("NEQ", "NOT_IN")
        else:
            have = _comparable(name, raw)
            if op in ("IN", "NOT_IN"):
                values = {_comparable(name, v) for v in f.get("values") or []}
                ok = (have in values) == (op == "IN")
            elif op == "BETWEEN":
                ok = _ordered(_comparable(name, f.get("value")), have) and _ordered(have, _comparable(name, f.get("highValue")))
            else:
                ok = _compare(op, have, _comparable(name, f.get("value")))
        if not ok:
            return False
    return True


def _ordered(low: Any, high: Any) -> bool:
    try:
        return low <= high
    except TypeError:
        return str(low) <= str(high)


def _compare(op: str, have: Any, want: Any) -> bool:
    if op == "EQ":
        return have == want
    if op == "NEQ":
        return have != want
    try:
        return {"GT": have > want, "GTE": have >= want, "LT": have < want, "LTE": have <= want}[op]
    except TypeError:
        return {"GT": str(have) > str(want), "GTE": str(have) >= str(want), "LT": str(have) < str(want),
                "LTE": str(have) <= str(want)}[op]


VENDOR = HubSpot
