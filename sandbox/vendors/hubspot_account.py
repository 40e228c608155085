"""What a HubSpot portal is besides its records: the private-app tokens and their scopes, the
portal's id and details (``/account-info/v3/details``), and its property definitions (the CRM
properties API).

A token carries scopes; a call whose operation needs a scope the token lacks is answered as
HubSpot does: 403 ``MISSING_SCOPES`` naming the scopes that would do. Which scopes each
operation accepts follows the ``security`` lists of HubSpot's published OpenAPI documents
(CRM objects, owners, pipelines, properties), narrowed to the object's own scopes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import JSONResponse

PORTAL_ID = 146000001
TIME_ZONE = "Europe/Stockholm"
"""The sandbox portal's time zone (its settings'; the Swedish tenant's portal): the day its daily
API limit counts resets at midnight there (HubSpot's usage guidelines)."""
APP_ID = 3000001
SCOPES_LINK = "https://developers.hubspot.com/scopes"

TICKETS = "tickets"
OWNERS_READ = "crm.objects.owners.read"
CONTACTS_READ, CONTACTS_WRITE = "crm.objects.contacts.read", "crm.objects.contacts.write"
COMPANIES_READ, COMPANIES_WRITE = "crm.objects.companies.read", "crm.objects.companies.write"
ALL_SCOPES: frozenset[str] = frozenset({
    TICKETS, OWNERS_READ, CONTACTS_READ, CONTACTS_WRITE, COMPANIES_READ, COMPANIES_WRITE,
    "crm.schemas.tickets.read", "crm.schemas.contacts.read", "crm.schemas.companies.read",
})
"""The sandbox token's scopes: everything Kickoff and the tests use."""

_READ = {"tickets": (TICKETS,), "companies": (COMPANIES_READ,)}
_WRITE = {"tickets": (TICKETS,), "companies": (COMPANIES_WRITE,)}
# contacts and the engagements (tasks, notes, meetings, calls) are under the contacts scopes.
_READ_VERBS = ("search", "read")


def object_scopes(kind: str, write: bool) -> tuple[str, ...]:
    """The scopes (any one will do) that read or write ``kind`` (a v3 object type)."""
    table = _WRITE if write else _READ
    return table.get(kind, (CONTACTS_WRITE,) if write else (CONTACTS_READ,))


def required_scopes(method: str, path: str, kind_of: Any) -> tuple[str, ...] | None:
    """The scopes (alternatives) the operation at ``method path`` needs; None when it needs
    none (token introspection) or the path names no known object (the route answers that).
    ``kind_of`` resolves a path's object type (``0-5``, ``ticket``) to the v3 plural."""
    parts = [p for p in path.split("/") if p]
    if parts[:3] == ["crm", "v3", "owners"]:
        return (OWNERS_READ,)
    if len(parts) >= 4 and parts[:2] == ["crm", "v3"] and parts[2] in ("pipelines", "properties"):
        kind = kind_of(parts[3])
        if kind is None:
            return None
        if method == "GET":
            return (*object_scopes(kind, write=False), f"crm.schemas.{kind}.read")
        return (*object_scopes(kind, write=True), f"crm.schemas.{kind}.write")
    if len(parts) >= 4 and parts[:3] == ["crm", "v3", "objects"]:
        kind = kind_of(parts[3])
        if kind is None:
            return None
        reading = method == "GET" or (method == "POST" and parts[-1] in _READ_VERBS)
        return object_scopes(kind, write=not reading)
    if len(parts) >= 4 and parts[0] == "crm" and parts[1] == "v4":
        kind = kind_of(parts[3])
        return object_scopes(kind, write=False) if kind else None
    return None


def missing_scopes(required: tuple[str, ...]) -> JSONResponse:
    """HubSpot's answer to a call the token's scopes do not cover."""
    return JSONResponse({
        "status": "error",
        "message": "This app hasn't been granted all required scopes to make this call. Read more "
                   f"about required scopes here: {SCOPES_LINK}.",
        "correlationId": str(uuid.uuid4()),
        "errors": [{"message": "One or more of the following scopes are required.",
                    "context": {"requiredScopes": list(required)}}],
        "links": {"scopes": SCOPES_LINK},
        "category": "MISSING_SCOPES",
    }, status_code=403)


@dataclass
class Token:
    """A private app's access token: its scopes, and the user who installed it."""

    scopes: frozenset[str] = ALL_SCOPES
    user_id: int = 7100001
    app_id: int = APP_ID
    extra: dict[str, Any] = field(default_factory=dict)

    def allows(self, required: tuple[str, ...]) -> bool:
        return any(scope in self.scopes for scope in required)


# --- property definitions -------------------------------------------------------------------
def property_view(spec: dict[str, Any], stamp: str) -> dict[str, Any]:
    """One property as ``/crm/v3/properties`` answers it (HubSpot's ``Property``)."""
    options = [{"label": str(o.get("label", o.get("value"))), "value": str(o.get("value")),
                "displayOrder": i, "hidden": bool(o.get("hidden", False))}
               for i, o in enumerate(spec.get("options") or [])]
    defined = bool(spec.get("hubspotDefined", False))
    return {
        "name": spec["name"], "label": spec.get("label", spec["name"]), "type": spec.get("type", "string"),
        "fieldType": spec.get("fieldType", "text"), "description": spec.get("description", ""),
        "groupName": spec.get("groupName", "ticketinformation"), "options": options,
        "displayOrder": int(spec.get("displayOrder", -1)), "calculated": False, "externalOptions": False,
        "hasUniqueValue": bool(spec.get("hasUniqueValue", False)), "hidden": False,
        "hubspotDefined": defined, "formField": not defined, "archived": bool(spec.get("archived", False)),
        "createdAt": spec.get("createdAt", stamp), "updatedAt": spec.get("updatedAt", stamp),
        "modificationMetadata": {"archivable": not defined, "readOnlyDefinition": defined,
                                 "readOnlyValue": spec["name"] in _READ_ONLY},
    }


_READ_ONLY = {"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate", "hs_createdate"}
_YES_NO = [{"label": "Yes", "value": "true"}, {"label": "No", "value": "false"}]


def _builtin(name: str, label: str, type_: str = "string", field_type: str = "text",
             **extra: Any) -> dict[str, Any]:
    return {"name": name, "label": label, "type": type_, "fieldType": field_type, "hubspotDefined": True,
            **extra}


def _common() -> list[dict[str, Any]]:
    return [_builtin("hs_object_id", "Record ID", "number", "number"),
            _builtin("createdate", "Create date", "datetime", "date"),
            _builtin("hubspot_owner_id", "Owner", "enumeration", "select")]


BUILTIN_PROPERTIES: dict[str, list[dict[str, Any]]] = {
    "tickets": [*_common(), _builtin("subject", "Ticket name"), _builtin("content", "Ticket description",
                                                                        field_type="textarea"),
                _builtin("hs_pipeline", "Pipeline", "enumeration", "select"),
                _builtin("hs_pipeline_stage", "Ticket status", "enumeration", "select"),
                _builtin("hs_ticket_priority", "Priority", "enumeration", "select", options=[
                    {"label": "Low", "value": "LOW"}, {"label": "Medium", "value": "MEDIUM"},
                    {"label": "High", "value": "HIGH"}]),
                _builtin("hs_lastmodifieddate", "Last modified date", "datetime", "date")],
    "companies": [*_common(), _builtin("name", "Company name"), _builtin("domain", "Company domain name")],
    "contacts": [*_common(), _builtin("firstname", "First name"), _builtin("lastname", "Last name"),
                 _builtin("email", "Email")],
    "tasks": [*_common(), _builtin("hs_task_subject", "Task title"),
              _builtin("hs_timestamp", "Due date", "datetime", "date"),
              _builtin("hs_task_status", "Task status", "enumeration", "select", options=[
                  {"label": "Not started", "value": "NOT_STARTED"}, {"label": "Completed", "value": "COMPLETED"}])],
    "notes": [*_common(), _builtin("hs_note_body", "Note body", field_type="html"),
              _builtin("hs_timestamp", "Activity date", "datetime", "date")],
    "meetings": [*_common(), _builtin("hs_meeting_title", "Meeting name"),
                 _builtin("hs_meeting_outcome", "Meeting outcome", "enumeration", "select", options=[
                     {"label": o.title().replace("_", " "), "value": o}
                     for o in ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")]),
                 _builtin("hs_timestamp", "Activity date", "datetime", "date")],
    "calls": [*_common(), _builtin("hs_call_disposition", "Call outcome", "enumeration", "select"),
              _builtin("hs_call_body", "Call notes", field_type="html"),
              _builtin("hs_timestamp", "Activity date", "datetime", "date")],
}
"""HubSpot's own properties of each object the sandbox keeps (a small subset of the real list)."""

YES_NO_OPTIONS = _YES_NO
"""HubSpot's options of a single checkbox property (``bool`` / ``booleancheckbox``)."""


def portal_details(portal_id: int, time_zone: str, now: datetime) -> dict[str, Any]:
    """``GET /account-info/v3/details``: HubSpot's ``PortalInformationResponse`` (Account Info
    API v3, every required field), the UTC offset as it is at ``now`` in the portal's zone."""
    offset = now.astimezone(ZoneInfo(time_zone)).utcoffset() or timedelta()
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return {"portalId": portal_id, "accountType": "STANDARD", "timeZone": time_zone, "companyCurrency": "SEK",
            "additionalCurrencies": [], "utcOffset": f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}",
            "utcOffsetMilliseconds": minutes * 60_000, "uiDomain": "app-eu1.hubspot.com",
            "dataHostingLocation": "eu1"}
