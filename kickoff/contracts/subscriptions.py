"""What Kickoff asks a tool to send it, and how a connector brings the tool there.

A tool's mapping says what it reads (``Mapping.wanted_webhooks``): a list of ``Wanted``, each
in the tool's own terms (a Zendesk webhook and its event types, a trigger and its template, a
HubSpot subscription, an Asana webhook on a board). A tool's connector compares that with
what the tool holds now (``Connector.plan_webhooks``) and carries the plan out
(``Connector.apply_webhooks``). A tool with no API for it answers with steps for a person
(``HookPlan.steps``). Kickoff finds its own registrations again by their ``name``; what it
did not make is never changed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

KICKOFF_PREFIX = "Kickoff"
"""Every name Kickoff gives a registration in a tool starts with it (how its own are told apart)."""


class Change(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    UNCHANGED = "unchanged"
    BY_HAND = "by hand"


@dataclass(frozen=True)
class Wanted:
    """One registration Kickoff wants in a tool, in the tool's terms.

    ``kind`` is the vendor's object (``webhook``, ``trigger``, ``subscription``...), ``name``
    Kickoff's name for it (unique per tool and kind), ``spec`` the vendor fields that must
    hold. ``path``: for a tool whose webhooks are created with a handshake, the gateway path
    name the webhook posts to (``/webhooks/<tool>/<path>``), whose secret the ledger keeps.
    """

    kind: str
    name: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""
    tenant: str | None = None

    @property
    def secret_name(self) -> str:
        """The name the ledger keeps this registration's signing secret under: the gateway
        path name of a handshake webhook, else Kickoff's name for it, as a slug."""
        return self.path or re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")[:64]


@dataclass
class HookChange:
    """One line of a plan: what happens to one registration, and why."""

    change: Change
    kind: str
    name: str
    why: str = ""
    wanted: Wanted | None = None
    vendor_id: str | None = None
    """The tool's id of the registration as it exists (update, delete, unchanged), or as made."""
    secret: str | None = field(default=None, repr=False)
    """A signing secret the tool handed over while applying: the caller seals it in the ledger
    at once and forgets it. Never printed."""
    error: str | None = None
    done: bool = False
    """Carried out by ``apply``."""

    def line(self, tool: str) -> str:
        """One plan line: ``tool  change  kind 'name': why``."""
        text = f"{tool:<11} {self.change.value:<9} {self.kind} {self.name!r}"
        if self.why:
            text += f": {self.why}"
        if self.error:
            text += f" -- FAILED: {self.error}"
        elif self.done:
            text += " -- done"
        return text


@dataclass
class HookPlan:
    """What registering Kickoff in one tool takes: changes through the API, or a person's steps."""

    tool: str
    url: str
    changes: list[HookChange] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[HookChange]:
        """The changes ``apply`` makes (create, update, delete)."""
        return [c for c in self.changes if c.change in (Change.CREATE, Change.UPDATE, Change.DELETE)]

    @property
    def failed(self) -> list[HookChange]:
        return [c for c in self.changes if c.error]


def by_hand(tool: str, url: str, wanted: list[Wanted], steps: list[str]) -> HookPlan:
    """The plan of a tool with no API for its webhooks: each wanted one done by a person."""
    changes = [HookChange(Change.BY_HAND, w.kind, w.name, "no API for it: see the steps", w) for w in wanted]
    return HookPlan(tool, url, changes, steps)
