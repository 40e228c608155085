"""The contract of a tool's connector: only I/O and the vendor's quirks, no business logic.

Every operation takes the time it runs at (``now``): nothing below the flows reads the wall
clock, so a run on a virtual clock behaves like one on the real one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kickoff.contracts.account import Account
from kickoff.contracts.subscriptions import HookChange, HookPlan, Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.contracts.webhooks import WebhookRequest
from kickoff.model import ActionResult, Delivery


@dataclass
class ReadResult:
    """One incremental read: what changed, and where the next read starts."""

    deliveries: list[Delivery] = field(default_factory=list)
    next_cursor: str | None = None


class Connector(Protocol):
    """One tool's connector (``connectors/<tool>.py`` exports its class as ``CONNECTOR``)."""

    tool: str

    @property
    def batch_size(self) -> int:
        """The most actions one write call takes."""

    def read_changes(self, cursor: str | None, *, now: datetime, limit: int | None = None) -> ReadResult:
        """Deliveries (kind "poll") for records changed since ``cursor``, and the next cursor."""

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """Raise WebhookRejected(401, reason) unless the request is authentic and fresh."""

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        """One delivery per vendor event, received at ``now``; WebhookRejected(400) for a bad body."""

    def enrich(self, delivery: Delivery, now: datetime) -> Delivery:
        """A webhook that is only a notice, made whole by reading the record."""

    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        """Carry out actions in the fewest calls; one result per action, in order."""

    def apply_again(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        """``apply`` for actions an earlier attempt may have carried out: look keys up first."""

    def read_records(self, object_kind: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The current state of records by id (what reconcile compares)."""

    def read_running(self, query: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
        """The records a mapping's ``running_query`` names: onboardings already under way."""

    def plan_webhooks(self, url: str, wanted: Sequence[Wanted], now: datetime, *,
                      kept: Collection[str] = ()) -> HookPlan:
        """What registering ``wanted`` (posting to ``url``) changes in the tool, read from the
        tool; ``kept``: the ``secret_name``s whose signing secrets the ledger keeps. A tool
        with no API for it answers with a person's steps."""

    def apply_webhooks(self, plan: HookPlan, now: datetime, *,
                       before_create: Callable[[HookChange], None] | None = None) -> HookPlan:
        """Carry out ``plan``'s changes (``before_create`` runs just before each creation: a
        handshake is armed then); a signing secret handed over is on its change's ``secret``."""

    def daily_resets_at(self, now: datetime) -> datetime:
        """When the tool's daily allowance, reported spent at ``now``, is back (or worth asking
        for again)."""
        ...

    def check(self, now: datetime) -> list[str]:
        """One cheap authenticated read proving the credentials and the access Kickoff needs
        (Airbyte's ``check``): the problems in words, each naming the setting to fix; [] is ok."""

    def discover(self, now: datetime) -> Account:
        """The live account as the mappings refer to it (Airbyte's ``discover``)."""
