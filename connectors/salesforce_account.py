"""Salesforce's ``check`` and ``discover``: the org, its users, and the describe of the objects
Kickoff reads and writes.

``check`` reads the org (SOQL on ``Organization``: the session or login works, the API is
enabled) and describes each object Kickoff uses: an object the integration user cannot query,
create or update is named. The configured ``org_id`` (what Outbound Messages are checked
against) must be this org's id. ``discover`` adds the users (``IsActive``, title, department)
and every field of those objects with its type and picklist values.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from kickoff.contracts.account import Account, AccountField, FieldType, Option, Person
from kickoff.contracts.errors import VendorError
from kickoff.tools.salesforce import ACCOUNT, CASE, TASK

OBJECTS = (ACCOUNT, CASE, TASK, "Opportunity")
"""The objects Kickoff writes: always described, besides those the mapping reads."""
TYPES: dict[str, FieldType] = {
    "boolean": "bool", "picklist": "enum", "multipicklist": "multi_enum", "date": "date",
    "datetime": "datetime", "double": "number", "currency": "number", "percent": "number", "int": "number",
    "reference": "reference", "id": "reference", "string": "text", "textarea": "text", "email": "text",
    "phone": "text", "url": "text"}
CREDENTIALS = ("session_id", "consumer_key", "username")


class Org(Protocol):
    """What these functions use of the Salesforce connector."""

    reads: dict[str, list[str]]
    config: Any
    sf: Any

    def call(self, fn: Callable[[], Any], **kwargs: Any) -> Any: ...
    def _invoke(self, fn: Callable[[], Any], *, write: bool) -> Any: ...
    def secret(self, name: str) -> str: ...
    def setting(self, credential: str) -> str: ...
    def problem(self, error: VendorError, credential: str) -> str: ...
    def unset_credentials(self, names: list[str] | None = None) -> list[str]: ...


def _read(org: Org, fn: Callable[[], Any]) -> Any:
    return org.call(lambda: org._invoke(fn, write=False))


def _login_credential(org: Org) -> str:
    return next((c for c in CREDENTIALS if c in org.config.credentials), "session_id")


def objects(org: Org) -> list[str]:
    return list(dict.fromkeys([*org.reads, *OBJECTS]))


def check(org: Org, now: datetime) -> list[str]:
    unset = org.unset_credentials()
    if unset:
        return unset
    try:
        found = _read(org, lambda: org.sf.query("SELECT Id, Name FROM Organization LIMIT 1"))
    except VendorError as error:
        return [org.problem(error, _login_credential(org))]
    problems = []
    org_id = str((found.get("records") or [{}])[0].get("Id") or "")
    if "org_id" in org.config.credentials and org_id[:15] != org.secret("org_id")[:15]:
        problems.append(f"org_id is not this org's id ({org_id}): set {org.setting('org_id')}, or Outbound "
                        "Messages are refused")
    for sobject in objects(org):
        try:
            described = _read(org, lambda s=sobject: org.sf.restful(f"sobjects/{s}/describe/"))
        except VendorError as error:
            problems.append(f"object {sobject}: {org.problem(error, _login_credential(org))}")
            continue
        refused = [flag for flag in ("queryable", "createable", "updateable") if described.get(flag) is False]
        if refused:
            problems.append(f"object {sobject} is not {' or '.join(refused)} for the integration user: "
                            "give its profile that access")
    return problems


def discover(org: Org, now: datetime) -> Account:
    info = _read(org, lambda: org.sf.query("SELECT Id, Name FROM Organization LIMIT 1"))
    record = (info.get("records") or [{}])[0]
    users = _read(org, lambda: org.sf.query_all(
        "SELECT Id, Name, Email, IsActive, Title, Department FROM User"))
    people = [Person(id=u["Id"], name=u.get("Name") or "", email=u.get("Email"), active=bool(u.get("IsActive")),
                     teams=[t for t in (u.get("Title"), u.get("Department")) if t])
              for u in users.get("records") or []]
    fields: list[AccountField] = []
    for sobject in objects(org):
        described = _read(org, lambda s=sobject: org.sf.restful(f"sobjects/{s}/describe/"))
        fields += [_field(sobject, f) for f in described.get("fields") or []]
    return Account(tool="salesforce", id=record.get("Id"), name=record.get("Name"), people=people,
                   fields=fields)


def _field(sobject: str, field: dict[str, Any]) -> AccountField:
    options = [Option(id=str(v["value"]), name=str(v.get("label") or v["value"]), active=bool(v.get("active", True)))
               for v in field.get("picklistValues") or []]
    return AccountField(object=sobject, name=field["name"], label=field.get("label") or field["name"],
                        type=TYPES.get(str(field.get("type")), "other"), options=options)
