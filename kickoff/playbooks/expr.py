"""Playbook expressions: a small, safe subset of Python, checked before it is ever run.

Why not plain Python: a playbook is data; it must not reach the file system, and
``playbook check`` must be able to list every name it reads (``data.score``,
``facts.meeting_booked``) to say which ones do not exist. Missing values read as None,
and comparisons with None are false, so a vendor that leaves a field out never crashes
a decision.

Texts use ``{expression}`` holes: ``"SE - {account_name}"``. A text that is a single
hole keeps the value's type (a date stays a date).
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kickoff.playbooks.functions import FUNCTIONS

ROOT_NAMES: frozenset[str] = frozenset(
    {
        "data", "facts", "const", "stage", "status", "owner", "account_name", "account_id",
        "signed_on", "start_on", "go_live_on", "id", "tenant", "event", "now", "today", "timer",
    }
)
"""Names an expression may read. ``data``/``facts``/``const`` are read with a dot."""

DOTTED_ROOTS: frozenset[str] = frozenset({"data", "facts", "const"})

_HOLE = re.compile(r"\{([^{}]+)\}")

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
    ast.In: lambda a, b: b is not None and a in b,
    ast.NotIn: lambda a, b: b is None or a not in b,
}
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Mod: operator.mod,
    ast.FloorDiv: operator.floordiv,
}
_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.BinOp,
    ast.Compare, ast.IfExp, ast.Call, ast.Name, ast.Load, ast.Attribute, ast.Constant,
    ast.List, ast.Tuple, *_COMPARE, *_BINARY,
)


class ExprError(ValueError):
    """An expression that cannot be parsed or uses something not allowed."""


@dataclass(frozen=True)
class Compiled:
    source: str
    tree: ast.Expression
    reads: frozenset[str]
    """Every name read: ``stage``, ``data.score``, ``facts.meeting_booked``, ``const.phone``."""
    calls: frozenset[str]
    run: Callable[[Mapping[str, Any]], Any] = lambda env: None
    """The expression as nested Python closures, built once: what ``evaluate`` calls (walking
    the tree on every evaluation was most of an expression's cost)."""


@lru_cache(maxsize=4096)
def compile_expr(source: str) -> Compiled:
    """Parse and vet ``source``; raises ExprError naming what is not allowed."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse {source!r}: {exc.msg}") from None
    reads: set[str] = set()
    calls: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExprError(f"{type(node).__name__} is not allowed in {source!r}")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.keywords:
                raise ExprError(f"only plain calls of known functions in {source!r}")
            if node.func.id not in FUNCTIONS:
                raise ExprError(f"unknown function {node.func.id!r} in {source!r}")
            calls.add(node.func.id)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise ExprError(f"names starting with '_' are not readable in {source!r}")
            path = _dotted(node)
            if path is None:
                raise ExprError(f"only data.x, facts.x and const.x may be dotted in {source!r}")
        elif isinstance(node, ast.Name) and node.id not in FUNCTIONS and node.id not in ROOT_NAMES:
            raise ExprError(f"unknown name {node.id!r} in {source!r}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            reads.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.Name) and node.id in ROOT_NAMES and node.id not in DOTTED_ROOTS:
            reads.add(node.id)
    return Compiled(source, tree, frozenset(reads), frozenset(calls), _closure(tree.body))


def _dotted(node: ast.Attribute) -> str | None:
    if isinstance(node.value, ast.Name) and node.value.id in DOTTED_ROOTS:
        return f"{node.value.id}.{node.attr}"
    if isinstance(node.value, ast.Attribute):  # data.meeting.start: a nested mapping
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def evaluate(source: str, env: Mapping[str, Any]) -> Any:
    """The value of ``source`` in ``env`` (root name -> value)."""
    return compile_expr(source).run(env)


def holds(conditions: list[str], env: Mapping[str, Any]) -> bool:
    """True when every condition is truthy."""
    return all(bool(evaluate(c, env)) for c in conditions)


def _eval(node: ast.AST, env: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return FUNCTIONS[name] if name in FUNCTIONS and name not in env else env.get(name)
        case ast.Attribute(value=inner, attr=attr):
            base = _eval(inner, env)
            return base.get(attr) if isinstance(base, Mapping) else None
        case ast.BoolOp(op=ast.And(), values=values):
            result: Any = True
            for value in values:
                result = _eval(value, env)
                if not result:
                    return result
            return result
        case ast.BoolOp(op=ast.Or(), values=values):
            result = None
            for value in values:
                result = _eval(value, env)
                if result:
                    return result
            return result
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            return not _eval(operand, env)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            value = _eval(operand, env)
            return None if value is None else -value
        case ast.BinOp(left=left, op=op, right=right):
            a, b = _eval(left, env), _eval(right, env)
            if a is None or b is None:
                return None
            return _BINARY[type(op)](a, b)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            a = _eval(left, env)
            for op, right in zip(ops, comparators, strict=True):
                b = _eval(right, env)
                if not _compare(op, a, b):
                    return False
                a = b
            return True
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _eval(body, env) if _eval(test, env) else _eval(orelse, env)
        case ast.Call(func=ast.Name(id=name), args=args):
            return FUNCTIONS[name](*(_eval(a, env) for a in args))
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            return [_eval(e, env) for e in elts]
    raise ExprError(f"cannot evaluate {ast.dump(node)}")  # pragma: no cover - vetted at compile


Run = Callable[[Mapping[str, Any]], Any]


def _closure(node: ast.AST) -> Run:
    """``node`` as a function of the env that gives what ``_eval(node, env)`` gives."""
    match node:
        case ast.Constant(value=value):
            return lambda env: value
        case ast.Name(id=name) if name in FUNCTIONS:
            function = FUNCTIONS[name]
            return lambda env: function if name not in env else env.get(name)
        case ast.Name(id=name):
            return lambda env: env.get(name)
        case ast.Attribute(value=inner, attr=attr):
            base = _closure(inner)

            def attribute(env: Mapping[str, Any]) -> Any:
                found = base(env)
                return found.get(attr) if isinstance(found, Mapping) else None

            return attribute
        case ast.BoolOp(op=ast.And(), values=values):
            parts = [_closure(v) for v in values]

            def all_of(env: Mapping[str, Any]) -> Any:
                result: Any = True
                for part in parts:
                    result = part(env)
                    if not result:
                        return result
                return result

            return all_of
        case ast.BoolOp(op=ast.Or(), values=values):
            parts = [_closure(v) for v in values]

            def any_of(env: Mapping[str, Any]) -> Any:
                result = None
                for part in parts:
                    result = part(env)
                    if result:
                        return result
                return result

            return any_of
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            inner_run = _closure(operand)
            return lambda env: not inner_run(env)
        case ast.UnaryOp(op=ast.USub(), operand=operand):
            inner_run = _closure(operand)

            def negative(env: Mapping[str, Any]) -> Any:
                value = inner_run(env)
                return None if value is None else -value

            return negative
        case ast.BinOp(left=left, op=op, right=right):
            left_run, right_run, apply = _closure(left), _closure(right), _BINARY[type(op)]

            def binary(env: Mapping[str, Any]) -> Any:
                a, b = left_run(env), right_run(env)
                return None if a is None or b is None else apply(a, b)

            return binary
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            first = _closure(left)
            steps = [(op, _closure(right)) for op, right in zip(ops, comparators, strict=True)]

            def compare(env: Mapping[str, Any]) -> bool:
                a = first(env)
                for op, right_run in steps:
                    b = right_run(env)
                    if not _compare(op, a, b):
                        return False
                    a = b
                return True

            return compare
        case ast.IfExp(test=test, body=body, orelse=orelse):
            test_run, body_run, else_run = _closure(test), _closure(body), _closure(orelse)
            return lambda env: body_run(env) if test_run(env) else else_run(env)
        case ast.Call(func=ast.Name(id=name), args=args):
            function, arg_runs = FUNCTIONS[name], [_closure(a) for a in args]
            return lambda env: function(*(a(env) for a in arg_runs))
        case ast.List(elts=elts) | ast.Tuple(elts=elts):
            item_runs = [_closure(e) for e in elts]
            return lambda env: [r(env) for r in item_runs]
    raise ExprError(f"cannot evaluate {ast.dump(node)}")  # pragma: no cover - vetted at compile


def _compare(op: ast.cmpop, a: Any, b: Any) -> bool:
    if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) and (a is None or b is None):
        return False
    try:
        return bool(_COMPARE[type(op)](a, b))
    except TypeError:
        return False


def holes(text: str) -> list[str]:
    """The expressions inside ``{...}`` in a text."""
    return _HOLE.findall(text)


def render(value: Any, env: Mapping[str, Any]) -> Any:
    """Fill the holes of every text in ``value`` (recursively); other values pass unchanged."""
    if isinstance(value, str):
        whole, parts = _template(value)
        if whole is not None:
            return whole.run(env)
        if not parts:
            return value
        return "".join(p if isinstance(p, str) else _text(p.run(env)) for p in parts)
    if isinstance(value, dict):
        return {k: render(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, env) for v in value]
    return value


@lru_cache(maxsize=4096)
def _template(text: str) -> tuple[Compiled | None, tuple[str | Compiled, ...]]:
    """A text split once into its literal parts and compiled holes; (hole, ()) when the text
    is one hole alone (its value keeps its type)."""
    found = _HOLE.fullmatch(text.strip())
    if found and text.strip() == text:
        return compile_expr(found.group(1)), ()
    parts: list[str | Compiled] = []
    at = 0
    for match in _HOLE.finditer(text):
        parts.append(text[at:match.start()])
        parts.append(compile_expr(match.group(1)))
        at = match.end()
    if not parts:
        return None, ()
    parts.append(text[at:])
    return None, tuple(p for p in parts if p != "")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def template_reads(value: Any) -> list[tuple[str, Compiled | ExprError]]:
    """Every hole in ``value`` compiled (or the error), for the checker."""
    found: list[tuple[str, Compiled | ExprError]] = []
    if isinstance(value, str):
        for source in holes(value):
            try:
                found.append((source, compile_expr(source)))
            except ExprError as exc:
                found.append((source, exc))
    elif isinstance(value, dict):
        for v in value.values():
            found.extend(template_reads(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(template_reads(v))
    return found
