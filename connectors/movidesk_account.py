"""Movidesk's ``check`` and ``discover``: the agents, their teams and the statuses in use.

``check`` reads one agent (``/persons``): a 401 or 403 is a rejected token (Movidesk's public
API has no scopes: a valid token reads and writes everything). ``discover`` reads the agents
(``profileType`` 1 or 3) with their teams, and the statuses (with base status and
justification) of the tickets of the last 90 days: Movidesk publishes no list of statuses, so
``statuses`` is partial (a status never used yet is not missing).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from kickoff.contracts.account import Account, Person, Status
from kickoff.contracts.errors import VendorError

AGENT_FILTER = "profileType eq 1 or profileType eq 3"
PAGE = 100


class Desk(Protocol):
    """What these functions use of the Movidesk connector."""

    def _get(self, path: str, params: dict[str, str]) -> Any: ...
    def problem(self, error: VendorError, credential: str) -> str: ...
    def unset_credentials(self, names: list[str] | None = None) -> list[str]: ...


def check(desk: Desk, now: datetime) -> list[str]:
    unset = desk.unset_credentials()
    if any(p.startswith("token ") for p in unset):
        return unset
    try:
        desk._get("/persons", {"$select": "id", "$filter": AGENT_FILTER, "$top": "1"})
    except VendorError as error:
        return [desk.problem(error, "token"), *unset]
    return unset


def discover(desk: Desk, now: datetime) -> Account:
    persons = _all(desk, "/persons", {"$select": "id,businessName,isActive,profileType,teams",
                                      "$expand": "emails", "$filter": AGENT_FILTER})
    people = [Person(id=str(p["id"]), name=p.get("businessName") or "", active=bool(p.get("isActive", True)),
                     email=next((e.get("email") for e in p.get("emails") or [] if e.get("isDefault")), None),
                     teams=list(p.get("teams") or []))
              for p in persons]
    tickets = desk._get("/tickets", {"$select": "id,status,baseStatus,justification", "$orderby": "lastUpdate desc",
                                     "$top": str(PAGE)})
    statuses: dict[str, Status] = {}
    for ticket in tickets or []:
        name = ticket.get("status")
        if not name:
            continue
        status = statuses.setdefault(name, Status(name=name, base=ticket.get("baseStatus")))
        if ticket.get("justification") and ticket["justification"] not in status.justifications:
            status.justifications.append(ticket["justification"])
    return Account(tool="movidesk", people=people, statuses=list(statuses.values()), partial=["statuses"])


def _all(desk: Desk, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = desk._get(path, {**params, "$top": str(PAGE), "$skip": str(len(found))}) or []
        found += page
        if len(page) < PAGE:
            return found
