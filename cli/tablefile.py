"""A tool's mapping file (``config/mappings/<tool>.yaml``) read and written the way a person
keeps it: one tenant's part replaced, the other tenants, the order and the comments kept
(ruamel.yaml's round trip)."""

from __future__ import annotations

import difflib
import io
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap


def _yaml() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 110
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def path_of(config_dir: Path, tool: str) -> Path:
    return Path(config_dir) / "mappings" / f"{tool}.yaml"


def read(path: Path) -> CommentedMap:
    """The file's content ({} when there is none yet)."""
    if not path.is_file():
        return CommentedMap()
    loaded = _yaml().load(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, CommentedMap) else CommentedMap()


def plain(value: Any) -> Any:
    """A round-trip value as plain dicts and lists (what the mappings work on)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def merged(document: CommentedMap, tenant: str, table: dict[str, Any]) -> CommentedMap:
    """``document`` with ``tenant``'s part made ``table``: keys kept in place (with their
    comments), changed values replaced, new keys added at the end."""
    if not isinstance(document.get(tenant), dict):
        document[tenant] = CommentedMap()
    _merge(document[tenant], table)
    return document


def _merge(target: CommentedMap, new: dict[str, Any]) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif key not in target or plain(target[key]) != value:
            target[key] = value


def text(document: CommentedMap) -> str:
    out = io.StringIO()
    _yaml().dump(document, out)
    return out.getvalue()


def diff(path: Path, before: str, after: str) -> str:
    """What writing ``after`` changes, as a unified diff naming the file."""
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        fromfile=f"{path} (now)", tofile=f"{path} (discovered)"))
