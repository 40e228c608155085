"""Results worked out once per owner object and key, the owner told apart by identity.

For the decision's date arithmetic, asked the same few questions by every onboarding of a
tick: a calendar (a frozen model) would be hashed field by field on every lookup, so each
owner's answers live in a table of its own, found by ``id``. The owner is held with its table,
so its id is not reused by another object while the table lives.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class IdentityMemo(Generic[V]):
    """Per owner, key -> value; a table that reaches ``kept`` entries starts again empty, and so
    do all of them when a new owner would make more than ``owners`` (a process that builds its
    calendars again keeps no dead ones); a key that cannot be hashed (a list read from a fact)
    is worked out each time, not kept."""

    def __init__(self, kept: int, owners: int = 64) -> None:
        self.kept, self.owners = kept, owners
        self._tables: dict[int, tuple[object, dict[Hashable, V]]] = {}

    def get(self, owner: object, key: Hashable, work: Callable[..., V], *args: Any) -> V:
        """The value for ``key`` under ``owner``: ``work(*args)`` the first time it is asked."""
        entry = self._tables.get(id(owner))
        if entry is None or entry[0] is not owner:
            if entry is None and len(self._tables) >= self.owners:
                self._tables.clear()
            entry = self._tables[id(owner)] = (owner, {})
        table = entry[1]
        try:
            found = table.get(key)
        except TypeError:  # unhashable
            return work(*args)
        if found is None:
            if len(table) >= self.kept:
                table.clear()
            found = table[key] = work(*args)
        return found
