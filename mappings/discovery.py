"""What the mappings share to fill in a tenant's table from a live account (``propose``, for
``kickoff discover``) and to check a table against it (``verify``, for ``kickoff config check
--live``).

The table is the mapping's (``config/mappings/<tool>.yaml``); the account is what the tool's
connector read (``kickoff.contracts.account.Account``); the names are the playbook's: its
stages' seed names ("Onboarding – Pågår"), and its ``names:`` section (owner roles, and per tool
the pipelines, properties, fields, sections and channels it refers to), matched ignoring case,
accents and dashes. A name that matches nothing keeps the table's current id when that id is in
the account, else it is listed as not matched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from kickoff.contracts.account import Account, AccountField, FieldType, Person, by_name


@dataclass(frozen=True)
class Names:
    """What a playbook calls things in the tools, for one tool."""

    stages: dict[str, list[str]]
    owners: dict[str, list[str] | None]
    """Role -> the names a person of that role carries (name, e-mail, team); None: "no owner"."""
    tool: dict[str, Any]
    """The playbook's ``names.<tool>`` section (pipelines, properties, fields, sections, channels)."""
    constants: dict[str, Any] = field(default_factory=dict)
    start_stage: str = "new"

    @classmethod
    def of(cls, playbook: Any, tool: str) -> Names:
        names = dict(playbook.names or {})
        declared = names.get("stages") or {}
        stages = {key: _list(declared.get(key)) or [spec.seed or key.replace("_", " ")]
                  for key, spec in playbook.stages.items()}
        given = names.get("owners") or {}
        owners = {role: (None if role in given and given[role] is None else
                         _list(given.get(role)) or [role.replace("_", " ")])
                  for role in playbook.owners}
        return cls(stages=stages, owners=owners, tool=dict(names.get(tool) or {}),
                   constants=dict(playbook.constants or {}), start_stage=playbook.start.stage)

    def roles(self) -> dict[str, list[str] | None]:
        """The owner roles this tool's table maps (``names.<tool>.roles``; default: all)."""
        wanted = self.of_tool("roles") or list(self.owners)
        return {role: self.owners.get(role, [role.replace("_", " ")]) for role in wanted}

    def of_tool(self, key: str) -> list[str]:
        """The names under ``names.<tool>.<key>`` (one or several)."""
        return _list(self.tool.get(key))


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@dataclass
class Proposal:
    """A tenant's table as discover proposes it, and what it could not match (in words)."""

    table: dict[str, Any]
    unmatched: list[str] = field(default_factory=list)

    def pick(self, key: str, items: Iterable[Any], names: Sequence[str], what: str, *,
             keep: Callable[[str], bool] | None = None) -> str | None:
        """The id named by ``names`` among ``items``, set at ``key`` (a dotted path); when none
        matches, the current value if ``keep`` says it is still good, else listed as unmatched."""
        found = self.match(key, get(self.table, key), items, names, what, keep=keep)
        if found is not None:
            put(self.table, key, found)
        return found

    def match(self, key: str, current: Any, items: Iterable[Any], names: Sequence[str], what: str, *,
              keep: Callable[[str], bool] | None = None) -> str | None:
        """``pick`` without setting: the id for ``key`` (``current`` is what the table has)."""
        items = list(items)
        found = by_name(items, names) if names else []
        if found:
            return str(current) if len(found) > 1 and str(current) in found else found[0]
        wanted = " or ".join(repr(n) for n in names) or "(no name given)"
        if current not in (None, "") and keep is not None and keep(str(current)):
            now = next((getattr(i, "name", "") for i in items if getattr(i, "id", None) == str(current)), "")
            self.unmatched.append(f"{key}: no {what} named {wanted}; kept {current}"
                                  + (f" (named {now!r} now)" if now else ""))
            return str(current)
        self.unmatched.append(f"{key}: no {what} named {wanted}")
        return None


def get(table: dict[str, Any], key: str) -> Any:
    value: Any = table
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def put(table: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        table = table.setdefault(part, {})
    table[parts[-1]] = value


@dataclass(frozen=True)
class Problem:
    """One thing a table names that the live account does not have as the table says: the key
    in the table, and what the tool has instead."""

    key: str
    message: str


class Problems(list[Problem]):
    def add(self, key: str, message: str) -> None:
        self.append(Problem(key, message))

    def person(self, key: str, account: Account, person_id: Any, what: str = "owner") -> Person | None:
        """A person the table names: there, and active."""
        if person_id in (None, ""):
            return None
        found = account.person(str(person_id))
        if found is None:
            known = ", ".join(f"{p.id} ({p.name})" for p in account.people if p.active)[:300]
            self.add(key, f"no {what} {person_id} in {account.tool} (active: {known or 'none'})")
        elif not found.active:
            self.add(key, f"{what} {person_id} ({found.name}) is deactivated in {account.tool}")
        return found

    def field(self, key: str, account: Account, obj: str, name: Any,
              types: Sequence[FieldType] = ()) -> AccountField | None:
        """A field or property the table names: there on ``obj``, of one of ``types``."""
        if name in (None, ""):
            return None
        found = account.field(obj, str(name))
        if found is None:
            self.add(key, f"no field {name} on {obj} in {account.tool}{_like(account, obj, str(name))}")
        elif types and found.type not in types:
            self.add(key, f"{obj}.{name} is a {found.type} field in {account.tool}, not {' or '.join(types)}")
        return found

    def option(self, key: str, found: AccountField | None, value: Any) -> None:
        """A value the table writes to an enumeration field: one of its options."""
        if found is None or value in (None, "") or found.type not in ("enum", "multi_enum") or not found.options:
            return
        if str(value) not in found.option_values():
            have = ", ".join(sorted(found.option_values()))[:300]
            self.add(key, f"{found.object}.{found.name} has no value {value!r} (its values: {have})")


def _like(account: Account, obj: str, name: str) -> str:
    """A hint: fields of ``obj`` whose name or label resembles ``name``."""
    key = name.lower().replace("_", " ").removesuffix(" c")
    close = [f.name for f in account.fields if f.object == obj
             and (key in f.label.lower() or key in f.name.lower().replace("_", " "))]
    return f" (similar: {', '.join(close[:5])})" if close else ""
