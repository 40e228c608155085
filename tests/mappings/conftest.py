"""What the mapping tests share: the project's tables and tenants, a fake ledger that answers
the mapping context's lookups, a webhook receiver for what the sandbox sends (and ``hooks``,
what it sent, parsed), and the sandbox seeded with the demo fixture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from kickoff.model import Action, ActionKind, Delivery, Onboarding, idempotency_key
from kickoff.settings import load_config
from mappings.base import MappingContext, load_tables
from tests.webhook_receiver import WebhookReceiver

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "sandbox" / "fixtures" / "default.yaml"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def tables() -> dict[str, Any]:
    return load_tables(REPO / "config")


@pytest.fixture(scope="session")
def tenants() -> dict[str, Any]:
    return load_config(REPO / "config").tenants


class FakeLedger:
    """A ``LedgerView``: the crosswalk, the onboarding states and the outbox's owners, in dicts."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, str], tuple[str, str]] = {}  # (tool, external id) -> (canonical, kind)
        self.states: dict[str, Onboarding] = {}
        self.action_owner: dict[str, str] = {}

    def link(self, canonical: str, tool: str, external_id: str, kind: str = "record") -> None:
        self.links[(tool, str(external_id))] = (canonical, kind)

    def created(self, action: Action, external_id: str, kind: str | None = None) -> None:
        """What the push flow records for a done creation: key <-> id, key -> onboarding."""
        self.link(action.idempotency_key, action.tool, external_id, kind or str(action.payload.get("object", "task")))
        self.action_owner[action.idempotency_key] = action.onboarding_id

    def onboarding_for(self, tool: str, external_id: str) -> str | None:
        found = self.links.get((tool, str(external_id)))
        return found[0] if found else None

    def record_for(self, canonical: str, tool: str, kind: str | None = None) -> str | None:
        for (t, external), (c, k) in self.links.items():
            if t == tool and c == canonical and (kind is None or k == kind):
                return external
        return None

    def state_for(self, onboarding_id: str) -> Onboarding | None:
        return self.states.get(onboarding_id)

    def onboarding_of_action(self, idempotency_key: str) -> str | None:
        return self.action_owner.get(idempotency_key)

    def context(self, tenant_key: str, tool: str, tables: dict[str, Any], tenants: dict[str, Any],
                now: datetime = NOW) -> MappingContext:
        return MappingContext(tenant_key=tenant_key, tenant=tenants[tenant_key],
                              table=tables[tool][tenant_key], now=now, ledger=self)


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hook:
        yield hook


def hooks(connector: Any, sandbox: Any, receiver: WebhookReceiver, start: int = 0) -> list[Delivery]:
    """What the sandbox sent since POST ``start``, parsed as the gateway parses it."""
    assert sandbox.flush_webhooks()
    return [d for request in receiver.requests(start) for d in connector.parse_webhook(request, NOW)]


@pytest.fixture
def seeded(sandbox):
    """The sandbox, reset and seeded with the demo fixture the tables refer to."""
    sandbox.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")))
    return sandbox


def delivery(tool: str, payload: Any, *, key: str = "d-1", kind: str = "webhook", record_id: str | None = None,
             received_at: datetime = NOW) -> Delivery:
    return Delivery(tool=tool, dedup_key=key, kind=kind, received_at=received_at, payload=payload,
                    record_id=record_id)


def action(tool: str, kind: ActionKind, payload: dict[str, Any], *, onboarding: str = "assist:D-1",
           n: int = 0, rule: str = "A1") -> Action:
    return Action(kind=kind, tool=tool, onboarding_id=onboarding, payload=payload,
                  idempotency_key=idempotency_key(onboarding, tool, kind.value, n), rule=rule, due_at=NOW)


def state(onboarding: str, tenant: str, playbook: str, stage: str, **fields: Any) -> Onboarding:
    return Onboarding(id=onboarding, tenant=tenant, playbook=playbook, stage=stage, **fields)
