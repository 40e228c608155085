"""Dealbuilder (assist-se): a signed contract (``DocumentAccepted``) is ``contract.signed``.

Dealbuilder's document schema is not public, so where each fact sits (the customer in the
``Parties`` array, licences and delivery start in custom fields) is the table's ``paths``:
each fact lists alternative paths, the first non-empty wins (the deprecated flat fields can
stay as a fallback). A document that lacks a required fact is refused with its name.
Dealbuilder has no write API: no action maps to it.
"""

from __future__ import annotations

from typing import Any

from kickoff.events import EventType
from kickoff.model import Action, Delivery, Event
from mappings.base import MappingContext, MappingError, TableModel, ToolMapping, default
from mappings.common import as_int, first_value, parse_date, parse_datetime

REQUIRED = ("document_id", "account_name", "signed_at")


class DealbuilderTable(TableModel):
    event_types: list[str] = default(["DocumentAccepted"])
    country: str | None = None
    paths: dict[str, list[str]] = default({
        "document_id": ["document.id"],
        "account_name": ["document.Parties[role=customer].companyName", "document.customerCompanyName"],
        "org_number": ["document.Parties[role=customer].organizationNumber", "document.customerOrgNumber"],
        "main_user": ["document.Parties[role=customer].contacts[role=main_user].name"],
        "main_user_email": ["document.Parties[role=customer].contacts[role=main_user].email",
                            "document.customerEmail"],
        "licences": ["document.customFields[name=licences].value"],
        "start_on": ["document.customFields[name=delivery_start].value"],
        "signed_at": ["document.acceptedAt", "timestamp"],
    })


class DealbuilderMapping(ToolMapping):
    tool = "dealbuilder"
    Table = DealbuilderTable

    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        body = delivery.payload if isinstance(delivery.payload, dict) else {}
        if body.get("eventType") not in table.event_types:
            return []  # e.g. DocumentSent: a proposal, not a contract
        facts = {name: first_value(body, paths) for name, paths in table.paths.items()}
        for name in REQUIRED:
            if facts.get(name) in (None, ""):
                raise MappingError(f"no value at {' or '.join(table.paths.get(name, [])) or '(no path)'}", field=name)
        zone = ctx.tenant.zone
        signed_at = self._parse(parse_datetime, facts["signed_at"], "signed_at", zone)
        licences = as_int(facts.get("licences"))
        if facts.get("licences") not in (None, "") and licences is None:
            raise MappingError(f"{facts['licences']!r} is not a number of licences", field="licences")
        data: dict[str, Any] = {
            "account_name": str(facts["account_name"]).strip(),
            "signed_on": signed_at.astimezone(zone).date(),
            "start_on": self._parse(parse_date, facts.get("start_on"), "start_on", zone),
            "org_number": facts.get("org_number"), "main_user": facts.get("main_user"),
            "main_user_email": facts.get("main_user_email"), "licences": licences, "country": table.country,
        }
        subject = self.new_subject(ctx, str(facts["document_id"]))
        return [self.event(delivery, ctx, EventType.CONTRACT_SIGNED, subject, data, occurred_at=signed_at,
                           record_id=str(facts["document_id"]))]

    @staticmethod
    def _parse(parse: Any, value: Any, field: str, zone: Any) -> Any:
        try:
            return parse(value, zone)
        except (TypeError, ValueError):
            raise MappingError(f"{value!r} is not a date", field=field) from None

    def to_vendor(self, action: Action, ctx: MappingContext) -> Action:
        raise MappingError("Dealbuilder has no write API", field="tool")
