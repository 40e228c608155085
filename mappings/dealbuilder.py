"""Dealbuilder (assist-se): a signed contract (``DocumentAccepted``) is ``contract.signed``.

The webhook body is flat (``eventType`` beside the document's own fields, see
``kickoff.tools.dealbuilder``), and the names inside ``Parties`` and the custom fields are not
public, so where each fact sits is the table's ``paths``: each fact lists alternative paths,
the first non-empty wins (``Parties`` first, the deprecated flat ``customer*`` fields after).
A document that lacks a required fact is refused with its name (the connector already
answers such a webhook 400; ``reads`` tells it which paths). A document with no signing time
is taken as signed when it arrived. Dealbuilder has no write API: no action maps to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import field_validator

from kickoff.contracts.subscriptions import KICKOFF_PREFIX, Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.events import EventType
from kickoff.model import Action, Delivery, Event
from kickoff.paths import first_value
from kickoff.tools.dealbuilder import PATHS, SIGNED, lacking, required_reads
from mappings.base import MappingContext, MappingError, TableModel, ToolMapping, default
from mappings.common import as_int, parse_date, parse_datetime


class DealbuilderTable(TableModel):
    event_types: list[str] = default([SIGNED])
    country: str | None = None
    paths: dict[str, list[str]] = default(PATHS)
    """Fact -> alternative paths; a fact the table does not list keeps the documented default."""

    @field_validator("paths", mode="after")
    @classmethod
    def _over_the_defaults(cls, paths: dict[str, list[str]]) -> dict[str, list[str]]:
        return {**PATHS, **paths}


class DealbuilderMapping(ToolMapping):
    tool = "dealbuilder"
    Table = DealbuilderTable

    def reads(self, tables: Mapping[str, dict[str, Any]]) -> dict[str, list[str]]:
        """The event types that are signatures and the paths of their required facts, over
        every tenant's table: what the connector checks a body for before accepting it."""
        needed: dict[str, list[str]] = {}
        for table in [self.Table.model_validate(t) for t in tables.values()] or [self.Table()]:
            for key, values in required_reads(table.event_types, table.paths).items():
                needed[key] = list(dict.fromkeys([*needed.get(key, []), *values]))
        return needed

    def wanted_webhooks(self, tables: Mapping[str, dict[str, Any]]) -> list[Wanted]:
        """A webhook for the event types that are signatures (``event_types``)."""
        events = sorted({e for t in tables.values() for e in self.Table.model_validate(t).event_types})
        return [Wanted("webhook", f"{KICKOFF_PREFIX}: signed contracts", {"events": events})] if events else []

    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        table = self.table(ctx)
        body = delivery.payload if isinstance(delivery.payload, dict) else {}
        if body.get("eventType") not in table.event_types:
            return []  # e.g. DocumentSent: a proposal, not a contract
        gaps = lacking(body, table.paths)
        if gaps:
            fact, reason = next(iter(gaps.items()))
            raise MappingError(reason, field=fact)
        facts = {name: first_value(body, paths) for name, paths in table.paths.items()}
        zone = ctx.tenant.zone
        signed_at = (self._parse(parse_datetime, facts.get("signed_at"), "signed_at", zone)
                     or delivery.received_at)
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

    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        raise MappingError("Dealbuilder has no write API", field="tool")


MAPPING = DealbuilderMapping()
