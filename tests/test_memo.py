"""kickoff.memo: answers kept per owner object, by identity, and bounded."""

from __future__ import annotations

from collections.abc import Callable

from kickoff.calendar import Calendar
from kickoff.memo import IdentityMemo


def test_equal_owners_that_are_different_objects_keep_their_own_answers() -> None:
    memo: IdentityMemo[str] = IdentityMemo(kept=10)
    first, second = Calendar(country="SE"), Calendar(country="SE")
    assert first == second and first is not second
    assert memo.get(first, "k", str.upper, "one") == "ONE"
    assert memo.get(first, "k", str.upper, "ignored: known") == "ONE"
    assert memo.get(second, "k", str.upper, "two") == "TWO"


def _squares() -> tuple[list[int], Callable[[int], int]]:
    """A piece of work that records each number it is asked to square."""
    calls: list[int] = []

    def square(n: int) -> int:
        calls.append(n)
        return n * n

    return calls, square


def test_a_table_that_reaches_its_bound_starts_again_so_memory_stays_bounded() -> None:
    memo: IdentityMemo[int] = IdentityMemo(kept=3)
    owner = object()
    calls, work = _squares()
    for n in (1, 2, 3, 4):
        memo.get(owner, n, work, n)
    assert memo.get(owner, 4, work, 4) == 16  # kept: the table was emptied before 4 went in
    assert memo.get(owner, 1, work, 1) == 1  # forgotten, worked out again
    assert calls == [1, 2, 3, 4, 1]


def test_a_key_that_cannot_be_hashed_is_worked_out_each_time_and_not_kept() -> None:
    memo: IdentityMemo[int] = IdentityMemo(kept=3)
    owner = object()
    calls, work = _squares()
    assert memo.get(owner, ["a", "list"], work, 3) == 9
    assert memo.get(owner, ["a", "list"], work, 4) == 16
    assert calls == [3, 4]


def test_owners_beyond_the_bound_start_every_table_again_so_old_owners_are_not_kept() -> None:
    memo: IdentityMemo[int] = IdentityMemo(kept=10, owners=2)
    calls, work = _squares()
    first, second, third = object(), object(), object()
    for owner in (first, second):
        memo.get(owner, 5, work, 5)
    memo.get(first, 5, work, 5)  # known
    memo.get(third, 5, work, 5)  # a third owner: the tables start again
    memo.get(first, 5, work, 5)  # forgotten, worked out again
    assert calls == [5, 5, 5, 5]
    assert len(memo._tables) == 2
