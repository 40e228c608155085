"""Reading a value at a path in a vendor payload (``Parties[role=customer].companyName``).

In the core because both sides read the same configurable paths: a mapping reads its facts
there, and a connector refuses at the edge a body that lacks what the mapping will need.
"""

from __future__ import annotations

import re
from typing import Any

_SEGMENT = re.compile(r"^(?P<name>[^\[\]]*)(?P<index>(\[[^\]]*\])*)$")
_INDEX = re.compile(r"\[([^\]]*)\]")


def dig(data: Any, path: str | None) -> Any:
    """The value at ``path`` in nested dicts and lists, or None.

    Segments are dotted; ``name[2]`` indexes a list; ``name[key=value]`` picks the first
    item whose ``key`` equals ``value`` (case-blind). ``Parties[role=customer].contacts[0].email``
    reads a Dealbuilder document, ``customFields[name=Licenser].value`` a custom field.
    """
    if not path:
        return None
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if match is None:
            return None
        if match["name"]:
            if not isinstance(data, dict):
                return None
            data = data.get(match["name"])
        for selector in _INDEX.findall(match["index"] or ""):
            data = _select(data, selector)
        if data is None:
            return None
    return data


def _select(items: Any, selector: str) -> Any:
    if not isinstance(items, list):
        return None
    if selector.lstrip("-").isdigit():
        index = int(selector)
        return items[index] if -len(items) <= index < len(items) else None
    key, _, wanted = selector.partition("=")
    key, wanted = key.strip(), wanted.strip().lower()
    for item in items:
        if isinstance(item, dict) and str(item.get(key, "")).lower() == wanted:
            return item
    return None


def first_value(data: Any, paths: str | list[str] | tuple[str, ...] | None) -> Any:
    """The first non-empty value among alternative paths (a schema that moved keeps working)."""
    for path in [paths] if isinstance(paths, str) else paths or []:
        value = dig(data, path)
        if value not in (None, "", []):
            return value
    return None
