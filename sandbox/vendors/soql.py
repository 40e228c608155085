"""The SOQL subset Kickoff issues, parsed and evaluated against the Salesforce fake's records.

``SELECT f, ... FROM Object [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...]
[LIMIT n] [OFFSET n]`` with AND / OR / NOT, parentheses, ``= != <> < <= > >= LIKE IN NOT IN``
and literals: 'strings', numbers, true/false, null, dates (1999-01-01) and datetimes
(1999-01-01T23:01:01Z, +01:00; fractional seconds accepted). Errors carry Salesforce's
error codes (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE) and its caret-style message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sandbox.vendors.compare import compare

FieldTypes = dict[str, str]
"""Canonical field name -> "id" | "string" | "boolean" | "double" | "date" | "datetime"."""

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:\\.|[^'\\])*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<bad>.)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC",
             "DESC", "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL"}


class SoqlError(Exception):
    """A query Salesforce refuses: ``code`` is its errorCode, ``message`` its text."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass
class Literal:
    kind: str  # string, number, boolean, null, date, datetime
    value: Any


@dataclass
class Compare:
    field: str
    op: str
    value: Literal | list[Literal]


@dataclass
class BoolOp:
    op: str  # AND, OR, NOT
    items: list[Any]


@dataclass
class Order:
    field: str
    descending: bool = False
    nulls_first: bool | None = None


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Any = None
    order: list[Order] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


def _tokens(text: str) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "bad"
        if kind == "ws":
            continue
        if kind == "name" and m.group().upper() in _KEYWORDS:
            kind = "keyword"
        out.append(Token(kind, m.group(), m.start()))
    return out


def caret(text: str, pos: int, problem: str) -> str:
    """Salesforce's way of pointing at the problem in the query."""
    flat = " ".join(text.split("\n"))
    return f"\n{flat}\n{' ' * pos}^\nERROR at Row:1:Column:{pos + 1}\n{problem}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> Token | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.peek()
        if tok is None:
            return SoqlError("MALFORMED_QUERY", caret(self.text, len(self.text), "unexpected token: '<EOF>'"))
        return SoqlError("MALFORMED_QUERY", caret(self.text, tok.pos, f"unexpected token: '{tok.text}'"))

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        self.i += 1
        return tok

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok and tok.kind == "keyword" and tok.upper in words:
            self.i += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.keyword(word):
            raise self.fail()

    def name(self) -> str:
        tok = self.take()
        if tok.kind != "name":
            raise self.fail(tok)
        return tok.text

    def parse(self) -> Query:
        self.expect("SELECT")
        fields = [self.name()]
        while self.punct(","):
            fields.append(self.name())
        self.expect("FROM")
        query = Query(fields=fields, sobject=self.name())
        if self.keyword("WHERE"):
            query.where = self.disjunction()
        if self.keyword("ORDER"):
            self.expect("BY")
            query.order.append(self.order_item())
            while self.punct(","):
                query.order.append(self.order_item())
        if self.keyword("LIMIT"):
            query.limit = self.integer()
        if self.keyword("OFFSET"):
            query.offset = self.integer()
        if self.peek() is not None:
            raise self.fail()
        return query

    def punct(self, char: str) -> bool:
        tok = self.peek()
        if tok and tok.kind == "punct" and tok.text == char:
            self.i += 1
            return True
        return False

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.fail(tok)
        return int(tok.text)

    def order_item(self) -> Order:
        order = Order(self.name())
        if self.keyword("DESC"):
            order.descending = True
        else:
            self.keyword("ASC")
        if self.keyword("NULLS"):
            if self.keyword("FIRST"):
                order.nulls_first = True
            else:
                self.expect("LAST")
                order.nulls_first = False
        return order

    def disjunction(self) -> Any:
        items = [self.conjunction()]
        while self.keyword("OR"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("OR", items)

    def conjunction(self) -> Any:
        items = [self.unary()]
        while self.keyword("AND"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("AND", items)

    def unary(self) -> Any:
        if self.keyword("NOT"):
            return BoolOp("NOT", [self.unary()])
        if self.punct("("):
            inner = self.disjunction()
            if not self.punct(")"):
                raise self.fail()
            return inner
        return self.comparison()

    def comparison(self) -> Compare:
        name = self.name()
        if self.keyword("NOT"):
            self.expect("IN")
            return Compare(name, "NOT IN", self.value_list())
        if self.keyword("IN"):
            return Compare(name, "IN", self.value_list())
        if self.keyword("LIKE"):
            return Compare(name, "LIKE", self.literal())
        tok = self.take()
        if tok.kind != "op":
            raise self.fail(tok)
        return Compare(name, "!=" if tok.text == "<>" else tok.text, self.literal())

    def value_list(self) -> list[Literal]:
        if not self.punct("("):
            raise self.fail()
        values = [self.literal()]
        while self.punct(","):
            values.append(self.literal())
        if not self.punct(")"):
            raise self.fail()
        return values

    def literal(self) -> Literal:
        tok = self.take()
        if tok.kind == "string":
            return Literal("string", re.sub(r"\\(.)", r"\1", tok.text[1:-1]))
        if tok.kind == "number":
            return Literal("number", float(tok.text))
        if tok.kind == "datetime":
            return Literal("datetime", parse_datetime(tok.text))
        if tok.kind == "date":
            return Literal("date", date.fromisoformat(tok.text))
        if tok.kind == "keyword" and tok.upper in ("TRUE", "FALSE"):
            return Literal("boolean", tok.upper == "TRUE")
        if tok.kind == "keyword" and tok.upper == "NULL":
            return Literal("null", None)
        raise self.fail(tok)


def parse(text: str) -> Query:
    """Parse a query; raises SoqlError(MALFORMED_QUERY) with Salesforce's caret message."""
    return _Parser(text).parse()


def parse_datetime(text: str) -> datetime:
    """Salesforce datetimes: ``...Z``, ``+01:00`` (SOQL) and ``+0000`` (REST answers)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _typed(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        return parse_datetime(value) if isinstance(value, str) else value
    if kind == "date":
        return date.fromisoformat(value[:10]) if isinstance(value, str) else value
    if kind == "double":
        return float(value)
    return value


_EXPECTED = {"datetime": "dateTime", "date": "date", "boolean": "boolean", "double": "double"}


def _check_literal(name: str, kind: str, lit: Literal) -> None:
    """Salesforce refuses e.g. a quoted datetime, or a date where a datetime is expected."""
    if lit.kind == "null":
        return
    expected = {"datetime": "datetime", "date": "date", "boolean": "boolean", "double": "number"}.get(kind, "string")
    if lit.kind != expected:
        quoted = " and should not be enclosed in quotes" if kind in _EXPECTED and lit.kind == "string" else ""
        want = _EXPECTED.get(kind, "string")
        raise SoqlError("INVALID_FIELD", f"value of filter criterion for field '{name}' must be of type {want}{quoted}")


def _is_id(kind: str) -> bool:
    return kind == "id"


def _norm(kind: str, value: Any) -> Any:
    """Comparison form: ids by their 15-char case-sensitive prefix, text case-insensitively."""
    if value is None:
        return None
    if _is_id(kind):
        return str(value)[:15]
    if isinstance(value, str):
        return value.lower()
    return value


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def compile_where(node: Any, resolve: Callable[[str], tuple[str, str]]) -> Callable[[dict[str, Any]], bool]:
    """A predicate over records; ``resolve(name)`` gives (canonical name, type) or raises."""
    if node is None:
        return lambda record: True
    if isinstance(node, BoolOp):
        parts = [compile_where(item, resolve) for item in node.items]
        if node.op == "AND":
            return lambda r: all(p(r) for p in parts)
        if node.op == "OR":
            return lambda r: any(p(r) for p in parts)
        return lambda r: not parts[0](r)
    name, kind = resolve(node.field)
    literals = node.value if isinstance(node.value, list) else [node.value]
    for lit in literals:
        _check_literal(name, kind, lit)
    wanted = [_norm(kind, _typed(kind, lit.value) if lit.kind == "string" else lit.value) for lit in literals]
    op = node.op

    def test(record: dict[str, Any]) -> bool:
        have = _norm(kind, _typed(kind, record.get(name)))
        if op == "IN":
            return have is not None and have in wanted
        if op == "NOT IN":
            return have not in wanted
        want = wanted[0]
        if op == "LIKE":
            return have is not None and want is not None and _like(literals[0].value, str(record.get(name)))
        return compare(have, op, want)

    return test


def sort_records(records: list[dict[str, Any]], order: list[Order], resolve: Callable[[str], tuple[str, str]]) -> list[dict[str, Any]]:
    """ORDER BY: ascending puts nulls first, descending puts them last (Salesforce's defaults)."""
    result = list(records)
    for item in reversed(order):
        name, kind = resolve(item.field)
        nulls_first = item.nulls_first if item.nulls_first is not None else not item.descending
        present = [r for r in result if r.get(name) is not None]
        absent = [r for r in result if r.get(name) is None]
        present.sort(key=lambda r: _norm(kind, _typed(kind, r.get(name))), reverse=item.descending)
        result = absent + present if nulls_first else present + absent
    return result
