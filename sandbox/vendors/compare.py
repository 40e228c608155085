"""What the sandbox's query languages (SOQL, OData) share: how a field compares with a value."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def compare(a: Any, op: str, b: Any) -> bool:
    """``a op b`` for ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``: null equals only null and is
    never ordered against anything, as both vendors answer."""
    if op == "=":
        return a == b
    if op == "!=":
        return a != b
    if a is None or b is None:
        return False
    return _ORDERED[op](a, b)
