"""What a tool declaration says: the facts every list of tools is derived from.

A declaration is data about the vendor (its documented limits and batch size, how it calls
Kickoff, whether Kickoff reads from it and writes to it) plus the payload models of the
actions it takes. It names no adapter: connectors, mappings and sandbox vendors are found by
the tool's name (``kickoff.tools.plugin``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field


class RateLimit(BaseModel):
    """A vendor's request budget: ``requests`` per ``per_seconds``, per credential."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)
    lump: int = Field(default=1, gt=0)  # requests one call takes at once (Asana's /batch: 10)

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds


@dataclass(frozen=True)
class Webhooks:
    """How a tool calls Kickoff: ``POST /webhooks/<tool>`` (and ``/webhooks/<tool>/<name>``
    for tools whose webhooks are created with a handshake)."""

    verification: str
    """How a delivery proves it is authentic, in words (docs and ``kickoff webhooks plan``)."""
    ack_media_type: str | None = None
    ack_body: str | None = None
    """A 2xx body the vendor insists on (Salesforce's SOAP Ack); None: Kickoff's JSON answer."""
    redact: tuple[str, ...] = ()
    """Body keys never kept for inspection (a secret carried in the body)."""
    handshake: bool = False
    """The vendor hands over a per-webhook secret when the webhook is created (Asana)."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool, declared once (``TOOL = ToolSpec(...)`` in ``kickoff/tools/<name>.py``)."""

    name: str
    title: str
    polls: bool = False
    """Kickoff reads the tool's changes (``poll-<tool>``, and ``reconcile`` re-reads it)."""
    webhooks: Webhooks | None = None
    rate_limit: RateLimit | None = None
    """The vendor's documented limit per credential; ``config/tools.yaml`` may set the plan's."""
    endpoint_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    """Limits of single endpoints on top of ``rate_limit`` (HubSpot's CRM search)."""
    batch_size: int = 1
    """The most inputs one write call takes."""
    payloads: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    """Action kind -> the model of its payload in this tool's terms."""

    @property
    def pushes(self) -> bool:
        """Kickoff writes to the tool (``push-<tool>``): it takes actions, each kind with its
        payload model (a tool without one could take none)."""
        return bool(self.payloads)
