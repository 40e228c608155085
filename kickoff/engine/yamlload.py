"""YAML with line numbers: every mapping remembers where it starts, so errors can say where.

Two departures from PyYAML's safe loader, both for playbooks written by people:
- every mapping gets a ``__line__`` key (1-based); ``strip_lines`` removes them again;
- only ``true``/``false`` are booleans, so ``on:`` (the trigger's event) stays a string.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

LINE_KEY = "__line__"


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that records mapping lines and keeps ``on``/``yes``/``no`` as strings."""


LineLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
    mapping[LINE_KEY] = node.start_mark.line + 1
    return mapping


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_with_lines(text: str) -> Any:
    """Parse YAML text; mappings carry ``__line__``. Raises yaml.YAMLError."""
    return yaml.load(text, Loader=LineLoader)


def strip_lines(value: Any) -> Any:
    """The same data without any ``__line__`` key, at every depth."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k != LINE_KEY}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


def line_at(raw: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest mapping on the path ``loc`` (a pydantic error location)."""
    line = raw.get(LINE_KEY) if isinstance(raw, dict) else None
    node = raw
    for part in loc:
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        else:
            break
        if isinstance(node, dict) and LINE_KEY in node:
            line = node[LINE_KEY]
    return line
