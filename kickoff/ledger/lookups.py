"""The ledger as a mapping sees it: the read-only ``LedgerView`` of ``kickoff.contracts.mapping``."""

from __future__ import annotations

from kickoff.ledger.ledger import Ledger
from kickoff.model import Onboarding


class LedgerLookups:
    """``LedgerView`` over a ``Ledger``: each answer is one read transaction."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def onboarding_for(self, tool: str, external_id: str) -> str | None:
        return self._ledger.canonical_for(tool, external_id)

    def record_for(self, canonical_id: str, tool: str, object_kind: str | None = None) -> str | None:
        return self._ledger.external_for(canonical_id, tool, object_kind)

    def state_for(self, onboarding_id: str) -> Onboarding | None:
        return self._ledger.load_state(onboarding_id)

    def onboarding_of_action(self, idempotency_key: str) -> str | None:
        row = self._ledger.outbox_row_by_key(idempotency_key)
        return row.get("onboarding_id") if row else None
