"""Zendesk's ``check`` and ``discover``: the API user, the ticket fields, groups and agents.

``check`` reads the API user (``users/me``): a 401 is a rejected token, and an end-user cannot
do what Kickoff does (an agent or admin can). ``discover`` reads the ticket fields (type and
options), the groups and the agents (their default group as their team). Zendesk has no API
for its account id (it comes with each webhook as ``X-Zendesk-Account-Id``): the account is
named by its subdomain.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from kickoff.contracts.account import Account, AccountField, FieldType, Option, Person
from kickoff.contracts.errors import VendorError

TYPES: dict[str, FieldType] = {"tagger": "enum", "multiselect": "multi_enum", "checkbox": "bool", "date": "date",
                               "integer": "number", "decimal": "number", "text": "text", "textarea": "text",
                               "regexp": "text", "lookup": "reference"}
AGENTS = ("agent", "admin")


class Desk(Protocol):
    """What these functions use of the Zendesk connector."""

    options: dict[str, Any]
    client: Any

    def _zd(self, fn: Callable[[], Any], **kwargs: Any) -> Any: ...
    def problem(self, error: VendorError, credential: str) -> str: ...
    def unset_credentials(self, names: list[str] | None = None) -> list[str]: ...
    def setting(self, credential: str) -> str: ...


def check(desk: Desk, now: datetime) -> list[str]:
    unset = desk.unset_credentials()
    if any(p.startswith(("email ", "token ")) for p in unset):
        return unset
    try:
        me = desk._zd(lambda: desk.client.users.me().to_dict())
    except VendorError as error:
        return [desk.problem(error, "token"), *unset]
    problems = []
    if me.get("role") not in AGENTS:
        problems.append(f"the API user is an {me.get('role')}, not an agent or admin: set "
                        f"{desk.setting('email')} to an agent's address")
    return problems + unset


def discover(desk: Desk, now: datetime) -> Account:
    fields = desk._zd(lambda: [f.to_dict() for f in desk.client.ticket_fields()])
    groups = desk._zd(lambda: [g.to_dict() for g in desk.client.groups()])
    users = desk._zd(lambda: [u.to_dict() for u in desk.client.users()])
    group_names = {str(g["id"]): g.get("name") or "" for g in groups}
    people = [Person(id=str(u["id"]), name=u.get("name") or "", email=u.get("email"), active=bool(u.get("active")),
                     teams=[group_names[str(u["default_group_id"])]]
                     if str(u.get("default_group_id")) in group_names else [])
              for u in users if u.get("role") in AGENTS]
    return Account(tool="zendesk", name=str(desk.options.get("subdomain", "")) or None, people=people,
                   groups=[Option(id=str(g["id"]), name=g.get("name") or "") for g in groups
                           if not g.get("deleted")],
                   fields=[_field(f) for f in fields])


def _field(field: dict[str, Any]) -> AccountField:
    options = [Option(id=str(o.get("value")), name=str(o.get("name") or o.get("value")))
               for o in field.get("custom_field_options") or []]
    return AccountField(object="tickets", name=str(field["id"]), label=field.get("title") or "",
                        type=TYPES.get(str(field.get("type")), "other"), options=options)
