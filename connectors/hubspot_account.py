"""HubSpot's ``check`` and ``discover``: what a portal holds besides records.

``check`` reads one ticket, one owner and the ticket pipelines with the configured token: a 401
is a rejected token, a 403 ``MISSING_SCOPES`` names the scopes the call needed. The write
scopes cannot be proved by a read, so the private app's token introspection
(``POST /oauth/v2/private-apps/get/access-token-info``, outside the official client's APIs:
sent through its ``api_request``) lists the token's scopes, compared with
``kickoff.tools.hubspot.SCOPES``.

``discover`` reads the portal's id (the same introspection), the ticket pipelines and their
stages, the owners (archived ones as inactive) and the properties of the objects the mapping
reads, into ``kickoff.contracts.account.Account``. ``time_zone`` reads the portal's zone from
its account details: its daily API limit resets at midnight there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from connectors.http import raise_for_vendor, transport_error
from kickoff.contracts.account import (
    Account,
    AccountField,
    FieldType,
    Option,
    Person,
    Pipeline,
    Stage,
)
from kickoff.contracts.errors import VendorError
from kickoff.tools.hubspot import SCOPES

T = TypeVar("T")
TOKEN_INFO = "/oauth/v2/private-apps/get/access-token-info"
DETAILS = "/account-info/v3/details"
HOST = "https://api.hubapi.com"
PROPERTY_OBJECTS = ("tickets", "tasks", "notes")
"""Objects whose properties are always read: the ticket's, and those holding ``kickoff_key``."""
TYPES: dict[str, FieldType] = {"bool": "bool", "enumeration": "enum", "number": "number", "date": "date",
                               "datetime": "datetime", "string": "text", "phone_number": "text"}


class Portal(Protocol):
    """What these functions use of the HubSpot connector."""

    tool: str
    base_url: str | None
    reads: dict[str, list[str]]
    _client: Any

    def invoke(self, fn: Callable[[], T], now: datetime | None = None) -> T: ...
    def secret(self, name: str) -> str: ...
    def setting(self, credential: str) -> str: ...
    def problem(self, error: VendorError, credential: str) -> str: ...
    def unset_credentials(self, names: list[str] | None = None) -> list[str]: ...


# --- check ----------------------------------------------------------------------------------------
def check(portal: Portal, now: datetime) -> list[str]:
    """Problems in words ([] when the token reads what Kickoff needs and has its scopes)."""
    unset = portal.unset_credentials(["token", "client_secret"])
    if any(p.startswith("token ") for p in unset):
        return unset
    crm = portal._client.crm
    probes: list[Callable[[], Any]] = [
        lambda: crm.tickets.basic_api.get_page(limit=1, archived=False),
        lambda: crm.owners.owners_api.get_page(limit=1, archived=False),
        lambda: crm.pipelines.pipelines_api.get_all("tickets"),
    ]
    problems: list[str] = []
    for probe in probes:
        try:
            portal.invoke(probe, now)
        except VendorError as error:
            words = portal.problem(error, "token")
            if not words.startswith("missing scope"):
                return [words, *unset]  # the token or the host is wrong: nothing more to learn
            problems.append(words)
    info = token_info(portal, now)
    if info is not None:
        granted = set(info.get("scopes") or [])
        problems += [_scope_line(portal, scope) for scope in SCOPES if scope not in granted]
    return list(dict.fromkeys(problems)) + unset


def scope_problem(portal: Portal, error: VendorError) -> str | None:
    """A refused call in words when HubSpot refused it for a missing scope."""
    required = _missing_scopes(error)
    return None if required is None else _scope_line(portal, " or ".join(required) or "(not named)")


def _scope_line(portal: Portal, scope: str) -> str:
    why = f" ({SCOPES[scope]})" if scope in SCOPES else ""
    return f"missing scope {scope}{why}: grant it to the private app of {portal.setting('token')}"


def _missing_scopes(error: VendorError) -> list[str] | None:
    """The scopes HubSpot's 403 MISSING_SCOPES names (any one would do); None for another error."""
    if error.status != 403 or "MISSING_SCOPES" not in error.reason:
        return None
    found = re.search(r"\[required scopes: ([^\]]+)\]", error.reason)
    return found.group(1).split(", ") if found else []


def token_info(portal: Portal, now: datetime) -> dict[str, Any] | None:
    """The private app token's portal, user and scopes; None when the token is not a private
    app's (HubSpot answers the introspection with a 4xx other than 401)."""
    try:
        return _request(portal, "POST", TOKEN_INFO, now, body={"tokenKey": portal.secret("token")})
    except VendorError as error:
        if error.status in (400, 403, 404):
            return None
        raise


def time_zone(portal: Portal, now: datetime) -> ZoneInfo:
    """The portal's time zone, from its settings (``GET /account-info/v3/details``, Account Info
    API v3: ``timeZone``, e.g. ``US/Eastern``); VendorError if it cannot be read, ValueError
    if the zone is not one Python knows."""
    details = _request(portal, "GET", DETAILS, now)
    name = details.get("timeZone")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"the portal's time zone {name!r} is not an IANA zone") from exc


def _request(portal: Portal, method: str, path: str, now: datetime,
             body: dict[str, Any] | None = None) -> dict[str, Any]:
    """A call outside the official client's APIs, through its ``api_request``, under the
    limiter and the retry policy; the answer's JSON object."""
    def ask() -> dict[str, Any]:
        options: dict[str, Any] = {"method": method, "path": path, "base_url": (portal.base_url or HOST).rstrip("/")}
        if body is not None:
            options["body"] = body
        try:
            response = portal._client.api_request(options)
        except requests.RequestException as exc:
            raise transport_error(exc, write=False) from exc
        raise_for_vendor(response)
        answer = response.json()
        return answer if isinstance(answer, dict) else {}

    return portal.invoke(ask, now)


# --- discover -------------------------------------------------------------------------------------
def discover(portal: Portal, now: datetime) -> Account:
    """The portal as the mapping refers to it."""
    crm = portal._client.crm
    info = token_info(portal, now) or {}
    pipelines = portal.invoke(lambda: crm.pipelines.pipelines_api.get_all("tickets"), now)
    owners = [*_owners(portal, now, archived=False), *_owners(portal, now, archived=True)]
    objects = dict.fromkeys([*PROPERTY_OBJECTS, *portal.reads])
    fields = [_field(kind, p) for kind in objects
              for p in portal.invoke(lambda kind=kind: crm.properties.core_api.get_all(kind), now).results]
    return Account(
        tool="hubspot", id=str(info["hubId"]) if info.get("hubId") else None,
        pipelines=[_pipeline(p) for p in pipelines.results if not p.archived],
        people=owners, fields=fields)


def _owners(portal: Portal, now: datetime, *, archived: bool) -> list[Person]:
    found: list[Person] = []
    after = None
    while True:
        page = portal.invoke(lambda after=after: portal._client.crm.owners.owners_api.get_page(
            limit=100, after=after, archived=archived), now)
        for owner in page.results or []:
            name = " ".join(n for n in (owner.first_name, owner.last_name) if n)
            found.append(Person(id=str(owner.id), name=name, email=owner.email, active=not archived,
                                teams=[t.name for t in owner.teams or []]))
        if not (page.paging and page.paging.next):
            return found
        after = page.paging.next.after


def _pipeline(pipeline: Any) -> Pipeline:
    stages = [Stage(id=str(s.id), name=s.label, active=not s.archived,
                    closed=(s.metadata or {}).get("ticketState") == "CLOSED")
              for s in sorted(pipeline.stages or [], key=lambda s: s.display_order)]
    return Pipeline(id=str(pipeline.id), name=pipeline.label, object="tickets", stages=stages)


def _field(kind: str, prop: Any) -> AccountField:
    field_type: FieldType = TYPES.get(prop.type, "other")
    if prop.type == "enumeration" and prop.field_type == "checkbox":
        field_type = "multi_enum"
    options = [Option(id=str(o.value), name=o.label, active=not o.hidden) for o in prop.options or []]
    return AccountField(object=kind, name=prop.name, label=prop.label, type=field_type, options=options)
