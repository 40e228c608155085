"""The contract of a tool's mapping: vendor record <-> canonical event, canonical action ->
the tool's payload (``VendorAction``).

A mapping does no I/O of its own. What it must know of the ledger (which onboarding a tool's
record belongs to, which record Kickoff created for an action, an onboarding's state) it asks
through ``LedgerView``, a read-only view the flows pass in; tests pass an in-memory one.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingType
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kickoff.contracts.subscriptions import Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.model import Action, Delivery, Event, Onboarding
from kickoff.playbooks.adopt import Running, Unplaced
from kickoff.settings import TenantConfig


class LedgerView(Protocol):
    """What a mapping may read from the ledger."""

    def onboarding_for(self, tool: str, external_id: str) -> str | None:
        """The canonical id a tool's record is linked to (an onboarding id, or the idempotency
        key of the action that created the record)."""

    def record_for(self, canonical_id: str, tool: str, object_kind: str | None = None) -> str | None:
        """The tool's id of the record linked to a canonical id."""

    def state_for(self, onboarding_id: str) -> Onboarding | None:
        """An onboarding's stored state."""

    def onboarding_of_action(self, idempotency_key: str) -> str | None:
        """The onboarding an action (by its idempotency key) belongs to."""


class EmptyLedger:
    """A ``LedgerView`` that knows nothing: for mappings of facts that start an onboarding."""

    def onboarding_for(self, tool: str, external_id: str) -> str | None:
        return None

    def record_for(self, canonical_id: str, tool: str, object_kind: str | None = None) -> str | None:
        return None

    def state_for(self, onboarding_id: str) -> Onboarding | None:
        return None

    def onboarding_of_action(self, idempotency_key: str) -> str | None:
        return None


@dataclass
class MappingContext:
    """What a mapping may know: the tenant, its table for this tool, the time, the ledger's view."""

    tenant_key: str
    tenant: TenantConfig
    table: dict[str, Any]
    now: datetime
    ledger: LedgerView = field(default_factory=EmptyLedger)
    """What the mapping may ask the ledger (``ctx.ledger.state_for(...)``)."""


class MappingError(Exception):
    """A delivery or action that cannot be mapped.

    ``retry`` True: the data is not ready yet (the record an action writes to is not created
    yet): try again later. False: bad input: the flow marks it failed and keeps it.
    ``waits_for``: with ``retry``, the idempotency key of the action creating that record, so
    the ledger can tell waiting for a creation under way from waiting for a dead one.
    """

    def __init__(self, reason: str, field: str | None = None, retry: bool = False,
                 waits_for: str | None = None) -> None:
        self.reason, self.field, self.retry, self.waits_for = reason, field, retry, waits_for
        super().__init__(f"{field}: {reason}" if field else reason)


class Mapping(Protocol):
    """One tool's mapping (``mappings/<tool>.py`` exports it as ``MAPPING``)."""

    tool: str

    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        """Canonical events for one delivery; empty when it means nothing for onboarding."""

    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        """The action with its payload in the tool's terms (validated by the tool's model)."""

    def write_fingerprints(self, vendor_action: VendorAction,
                           external_id: str | None = None) -> list[tuple[str, str]]:
        """(record id, fingerprint) of each field change a vendor action writes."""

    def delivery_fingerprints(self, delivery: Delivery) -> list[tuple[str, str]]:
        """(record id, fingerprint) of each field change a delivery reports."""

    def stage_of(self, record: dict[str, Any], ctx: MappingContext) -> str | None:
        """The canonical stage of a record as the connector's ``read_records`` returns it."""

    def reads(self, tables: MappingType[str, dict[str, Any]]) -> dict[str, list[str]]:
        """What the tool's connector must read for this mapping: object -> fields (or ids),
        from every tenant's table."""

    def running_query(self, ctx: MappingContext, stages: Sequence[str]) -> dict[str, Any] | None:
        """What the connector reads to find the tenant's onboardings under way (``kickoff adopt``)
        in the canonical ``stages``; None when the tool holds none."""

    def adopt(self, record: dict[str, Any], ctx: MappingContext) -> Running | Unplaced:
        """A running record read as an onboarding: its stage, and its history as canonical facts."""

    def wanted_webhooks(self, tables: MappingType[str, dict[str, Any]]) -> list[Wanted]:
        """What the tool must send Kickoff (webhooks, triggers, subscriptions), in its terms,
        for the given tenants' tables: what ``Connector.plan_webhooks`` registers."""
