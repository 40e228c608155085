"""One home for "closed when the ``with`` block ends": the ledger, the soak harness and the
tests' webhook receiver hold connections or threads that must not outlive their user."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Self


class Closing(ABC):
    """``with X(...) as x:`` gives ``x`` and calls ``x.close()`` at the end, error or not."""

    @abstractmethod
    def close(self) -> None:
        """Release what the object holds; safe to call once the work is done."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
