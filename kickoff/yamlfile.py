"""The one YAML loader: ``tools.yaml``, ``tenants.yaml``, the mapping tables and playbooks.

Two departures from PyYAML's safe loader, both for files written by people:
- only ``true``/``false`` are booleans, so ``on:`` (a trigger's event), ``yes``, ``no``
  (Norway's country code) and ``off`` stay strings;
- every mapping gets a ``__line__`` key (1-based, where it starts) and knows the line of
  each key, so an error can say where; ``strip_lines`` removes the ``__line__`` keys again
  before data meets a model that does not expect them.

A file that does not fit raises ``ConfigError`` naming the file, the field and, where it
can, the line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

LINE_KEY = "__line__"
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A config file that does not fit: the file, the field, what was expected and the line."""

    def __init__(
        self, file: Path | str, field: str, expected: str, line: int | None = None
    ) -> None:
        self.file, self.field, self.expected, self.line = str(file), field, expected, line
        where = field if line is None or field == f"line {line}" else f"{field} (line {line})"
        super().__init__(f"{file}: {where}: {expected}")


class YamlSyntaxError(ConfigError):
    """The text is not YAML at all; ``problem`` is the parser's word for what is wrong."""

    def __init__(self, file: Path | str, line: int | None, problem: str) -> None:
        self.problem = problem
        super().__init__(file, f"line {line}" if line else "(syntax)", f"valid YAML ({problem})",
                         line)


class _Loader(yaml.SafeLoader):
    """A SafeLoader with the two departures above."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class Located(dict[Any, Any]):
    """A mapping as read: also knows the line of each of its keys (``key_lines``)."""

    key_lines: dict[Any, int]


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    mapping = Located()
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    mapping[LINE_KEY] = node.start_mark.line + 1
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str) -> Any:
    """Parse YAML text; mappings carry ``__line__``. Raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: builds no Python objects


def read_yaml(path: Path | str) -> Any:
    """Parse a file (mappings carry ``__line__``); a missing file or bad YAML is a ConfigError."""
    path = Path(path)
    try:
        return parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(path, "(file)", "the file to exist") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or exc)
        raise YamlSyntaxError(path, mark.line + 1 if mark else None, problem) from exc


def load_yaml_model(path: Path | str, model: type[M]) -> M:
    """Read ``path`` into ``model`` (which never sees ``__line__``); every failure is a
    ConfigError naming the file, the field and its line."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(path, "(top level)", "a mapping", 1)
    try:
        return model.model_validate(strip_lines(raw))
    except ValidationError as exc:
        raise validation_error(path, raw, exc) from exc


def validation_error(path: Path | str, raw: Any, exc: ValidationError) -> ConfigError:
    """The first problem pydantic found in ``raw`` (as read, with lines), as a ConfigError."""
    err = exc.errors()[0]
    loc = _location(err["loc"])
    field = ".".join(str(part) for part in loc) or "(top level)"
    return ConfigError(path, field, err["msg"], line_at(raw, loc))


def _location(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """A pydantic error location without the validator steps (``function-after[...]``)."""
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith("function-")))


def strip_lines(value: Any) -> Any:
    """The same data without any ``__line__`` key, at every depth."""
    if isinstance(value, dict):
        return {k: strip_lines(v) for k, v in value.items() if k != LINE_KEY}
    if isinstance(value, list):
        return [strip_lines(v) for v in value]
    return value


def line_at(raw: Any, loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest key (or list item that is a mapping) on the path ``loc`` (a
    pydantic error location) that is in the file; the top mapping's line if none is."""
    line = raw.get(LINE_KEY) if isinstance(raw, dict) else None
    node = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            line = getattr(node, "key_lines", {}).get(part, line)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            if isinstance(node, dict) and LINE_KEY in node:
                line = node[LINE_KEY]
        else:
            break
    return line
