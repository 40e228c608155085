"""The slice of OData that Movidesk's list endpoints accept: ``$filter``, ``$select``,
``$expand`` (with nested ``$select``), ``$orderby``.

``$filter`` supports comparisons (eq ne gt ge lt le) between property paths and literals
(numbers, 'strings' with '' escapes, true/false/null, and ``2026-05-01T00:00:00.000Z``
date-times), ``and``/``or``/``not``, parentheses, ``contains``/``startswith``, and the
lambda ``collection/any(x: x/field eq ...)`` Movidesk documents for custom fields. A
date-time literal makes the other side compare as a date-time, the way the server's typed
model does. Anything else is an ``ODataError`` (the vendor answers 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.vendors.compare import compare

Record = dict[str, Any]
Predicate = Callable[[Record, dict[str, Any]], bool]

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)"
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<string>'(?:[^']|'')*')"
    r"|(?P<punct>[()/:,])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r")"
)
_COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCTIONS = {"contains", "startswith", "endswith"}


class ODataError(ValueError):
    """A query option the server cannot understand (answered with 400)."""


def parse_datetime(value: str) -> datetime:
    """An OData literal or a stored value; without an offset it is UTC (as Movidesk stores it)."""
    text = value.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", text)
    if match:  # .NET writes 7 fractional digits; Python takes at most 6
        text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class _Lit:
    value: Any
    is_datetime: bool = False


@dataclass
class _Path:
    parts: list[str]


@dataclass
class _Parser:
    text: str
    known: set[str] | None
    tokens: list[tuple[str, str]] = field(default_factory=list)
    pos: int = 0

    def __post_init__(self) -> None:
        index = 0
        while index < len(self.text):
            if self.text[index:].strip() == "":
                break
            match = _TOKEN.match(self.text, index)
            if not match or match.end() == index:
                raise ODataError(f"Syntax error at position {index} in '{self.text}'.")
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            index = match.end()

    # --- token helpers ----------------------------------------------------------------
    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        at = self.pos + offset
        return self.tokens[at] if at < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ODataError(f"Unexpected end of expression in '{self.text}'.")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        _, got = self.take()
        if got != value:
            raise ODataError(f"Expected '{value}' but found '{got}' in '{self.text}'.")

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "name" and token[1] in words

    # --- grammar ------------------------------------------------------------------------
    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek() is not None:
            raise ODataError(f"Unexpected '{self.peek()[1]}' in '{self.text}'.")  # type: ignore[index]
        return predicate

    def or_expr(self) -> Predicate:
        return self.joined("or", self.and_expr, _either)

    def and_expr(self) -> Predicate:
        return self.joined("and", self.not_expr, _both)

    def joined(self, word: str, operand: Callable[[], Predicate],
               join: Callable[[Predicate, Predicate], Predicate]) -> Predicate:
        """``operand (word operand)*``, joined from the left."""
        left = operand()
        while self.at_word(word):
            self.take()
            left = join(left, operand())
        return left

    def not_expr(self) -> Predicate:
        if self.at_word("not"):
            self.take()
            inner = self.not_expr()
            return lambda r, env: not inner(r, env)
        return self.primary()

    def primary(self) -> Predicate:
        token = self.peek()
        if token == ("punct", "("):
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        if token and token[0] == "name" and token[1] in _FUNCTIONS and self.peek(1) == ("punct", "("):
            return self.function()
        left = self.operand()
        if isinstance(left, _Path) and self.peek() == ("punct", "(") and left.parts[-1] == "any":
            return self.any_lambda(left)
        op_token = self.take()
        if op_token[0] != "name" or op_token[1] not in _COMPARISONS:
            raise ODataError(f"Expected a comparison operator but found '{op_token[1]}' in '{self.text}'.")
        right = self.operand()
        return _comparison(left, op_token[1], right)

    def function(self) -> Predicate:
        name = self.take()[1]
        self.expect("(")
        target = self.operand()
        self.expect(",")
        needle = self.operand()
        self.expect(")")

        def check(record: Record, env: dict[str, Any]) -> bool:
            hay, sub = _value(target, record, env), _value(needle, record, env)
            if not isinstance(hay, str) or not isinstance(sub, str):
                return False
            return {"contains": sub in hay, "startswith": hay.startswith(sub), "endswith": hay.endswith(sub)}[name]

        return check

    def any_lambda(self, path: _Path) -> Predicate:
        collection = _Path(path.parts[:-1])
        self.expect("(")
        var = self.take()[1]
        self.expect(":")
        saved, self.known = self.known, None  # inside the lambda, paths start at the variable
        body = self.or_expr()
        self.known = saved
        self.expect(")")

        def check(record: Record, env: dict[str, Any]) -> bool:
            items = _value(collection, record, env) or []
            return any(body(record, {**env, var: item}) for item in items)

        return check

    def operand(self) -> _Lit | _Path:
        kind, text = self.take()
        if kind == "datetime":
            try:
                return _Lit(parse_datetime(text), is_datetime=True)
            except ValueError:
                raise ODataError(f"'{text}' is not a valid date-time literal.") from None
        if kind == "number":
            return _Lit(float(text) if "." in text else int(text))
        if kind == "string":
            return _Lit(text[1:-1].replace("''", "'"))
        if kind == "name":
            if text in ("true", "false"):
                return _Lit(text == "true")
            if text == "null":
                return _Lit(None)
            parts = [text]
            while self.peek() == ("punct", "/"):
                self.take()
                parts.append(self.take()[1])
            if self.known is not None and parts[0] not in self.known:
                raise ODataError(f"Could not find a property named '{parts[0]}' on type 'Ticket'.")
            return _Path(parts)
        raise ODataError(f"Unexpected '{text}' in '{self.text}'.")


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda record, env: a(record, env) or b(record, env)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda record, env: a(record, env) and b(record, env)


def _value(operand: _Lit | _Path, record: Record, env: dict[str, Any]) -> Any:
    if isinstance(operand, _Lit):
        return operand.value
    parts = operand.parts
    current: Any = env[parts[0]] if parts[0] in env else record.get(parts[0])
    for part in parts[1:]:
        current = current.get(part) if isinstance(current, dict) else None
    return current


_OPERATORS = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}


def _comparison(left: _Lit | _Path, op: str, right: _Lit | _Path) -> Predicate:
    as_datetime = any(isinstance(side, _Lit) and side.is_datetime for side in (left, right))

    def check(record: Record, env: dict[str, Any]) -> bool:
        a, b = _value(left, record, env), _value(right, record, env)
        if as_datetime:
            a = parse_datetime(a) if isinstance(a, str) else a
            b = parse_datetime(b) if isinstance(b, str) else b
        elif isinstance(a, (int, float)) and isinstance(b, str) and b.lstrip("-").isdigit():
            b = int(b)
        elif isinstance(b, (int, float)) and isinstance(a, str) and a.lstrip("-").isdigit():
            a = int(a)
        try:
            return compare(a, _OPERATORS[op], b)
        except TypeError:  # values of different types: no match, as the vendor answers
            return False

    return check


def parse_filter(text: str, known: Iterable[str] | None = None) -> Callable[[Record], bool]:
    """A predicate over one record; ``known`` lists the top-level property names."""
    predicate = _Parser(text, set(known) if known is not None else None).parse()
    return lambda record: predicate(record, {})


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    parts, depth, quoted, current = [], 0, False, []
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == sep and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def parse_select(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def parse_expand(text: str | None) -> dict[str, list[str] | None]:
    """``owner,actions($select=id,description)`` -> {"owner": None, "actions": ["id", "description"]}."""
    expanded: dict[str, list[str] | None] = {}
    for item in split_top_level(text or ""):
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?", item, re.DOTALL)
        if not match:
            raise ODataError(f"Syntax error in $expand at '{item}'.")
        name, options = match.group(1), match.group(2)
        select = None
        for option in split_top_level(options or "", ";"):
            key, _, value = option.partition("=")
            if key.strip() == "$select":
                select = parse_select(value)
        expanded[name] = select
    return expanded


def parse_orderby(text: str | None) -> list[tuple[str, bool]]:
    """``lastUpdate desc, id`` -> [("lastUpdate", True), ("id", False)] (True: descending)."""
    order = []
    for item in split_top_level(text or ""):
        words = item.split()
        if len(words) not in (1, 2) or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise ODataError(f"Syntax error in $orderby at '{item}'.")
        order.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return order


def sort_key(value: Any) -> tuple[int, Any]:
    """Nulls first, then values; date-time strings compare as date-times."""
    if value is None:
        return (0, 0)
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value):
        return (1, parse_datetime(value).timestamp())
    return (1, value)
