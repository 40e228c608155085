"""What can go wrong in the ledger, as exceptions a flow can catch by name."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every ledger error."""


class StateConflict(LedgerError):
    """Someone else committed this onboarding since it was loaded: reload, decide again.

    Raised by ``commit_decision``; the transaction is rolled back, nothing is written.
    """

    def __init__(
        self, onboarding_id: str, expected_version: int, found_version: int | None
    ) -> None:
        self.onboarding_id = onboarding_id
        self.expected_version = expected_version
        self.found_version = found_version
        found = "no row" if found_version is None else f"version {found_version}"
        super().__init__(
            f"onboarding {onboarding_id!r} changed concurrently: decided on version "
            f"{expected_version}, ledger has {found}; nothing was written"
        )


class ClaimLost(LedgerError):
    """The inbox row or timer being finished is no longer ours (lease expired and taken, or done)."""


class CrosswalkConflict(LedgerError):
    """A canonical id or an external id is already linked to something else."""


class NotFound(LedgerError):
    """No such row."""
