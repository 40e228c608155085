"""The shape of the code, read from the source: every import of every module (at module level,
lazy inside a function, under ``if TYPE_CHECKING:``, and ``importlib.import_module("...")``
with a literal name), checked against three rules:

- no import circle among the project's modules (a circle hidden in a function body or behind
  ``TYPE_CHECKING`` is still a circle: the two modules cannot be understood apart);
- the core (``kickoff``) imports no adapter, no framework and no vendor client;
- mappings do not import connectors, and connectors do not import mappings (both import the core).

Nothing is imported to check this: the modules are parsed with ``ast``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("kickoff", "connectors", "mappings", "flows", "gateway", "cli", "sandbox", "soak",
            "bench")
IMPORTERS_ONLY = ("tests",)  # their imports are read; nothing may import them, no rule is theirs
ADAPTERS = ("connectors", "mappings", "flows", "gateway", "cli", "sandbox", "soak", "bench")
FRAMEWORKS = ("prefect", "fastapi", "starlette", "uvicorn")
VENDOR_CLIENTS = ("hubspot", "simple_salesforce", "zenpy", "asana")
KEPT_APART = (("mappings", "connectors"), ("connectors", "mappings"))


@dataclass(frozen=True)
class Source:
    """One module's text: ``where`` names it in messages; a package is its ``__init__.py``."""

    where: str
    text: str
    is_package: bool = False


@dataclass(frozen=True)
class Import:
    """One edge: ``importer`` imports ``imported`` (resolved, absolute) at ``where``."""

    importer: str
    imported: str
    where: str
    how: str = ""  # "", "lazy", "TYPE_CHECKING", "importlib" (joined with "+")

    def __str__(self) -> str:
        how = f" ({self.how})" if self.how else ""
        return f"{self.where}: {self.importer} -> {self.imported}{how}"


def top(module: str) -> str:
    return module.partition(".")[0]


# -- the graph ---------------------------------------------------------------------------------

def project_sources(root: Path = REPO) -> dict[str, Source]:
    """Every module of the project's packages and of the tests, by dotted name."""
    sources: dict[str, Source] = {}
    for package in (*PACKAGES, *IMPORTERS_ONLY):
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            where = path.relative_to(root).as_posix()
            sources[name] = Source(where, path.read_text(encoding="utf-8"), is_package)
    return sources


def known_modules(sources: Mapping[str, Source]) -> set[str]:
    """The modules plus their packages (a folder without ``__init__.py`` is a package too)."""
    names = set(sources)
    for name in sources:
        parts = name.split(".")
        names.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return names


def _absolute(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """``from <dots><module> import ...`` made absolute, as Python resolves it."""
    if not level:
        return module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _literal_import_module(call: ast.Call) -> str | None:
    """The name in ``importlib.import_module("x")`` / ``import_module("x")``, else None."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in ("import_module", "__import__") or not call.args:
        return None
    first = call.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def imports_of(name: str, source: Source, known: set[str]) -> list[Import]:
    """Every import in one module's source, wherever it is written."""
    found: list[Import] = []

    def add(imported: str, node: ast.AST, how: list[str]) -> None:
        if imported and imported != "__future__":
            found.append(Import(name, imported, f"{source.where}:{node.lineno}", "+".join(how)))

    def visit(node: ast.AST, how: list[str]) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, how)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, source.is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                add(sub if sub in known else base, node, how)
        elif isinstance(node, ast.Call) and (literal := _literal_import_module(node)):
            dots = len(literal) - len(literal.lstrip("."))
            add(_absolute(name, source.is_package, dots, literal.lstrip(".") or None), node,
                [*how, "importlib"])
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            visit(node.test, how)
            for child in node.body:
                visit(child, [*how, "TYPE_CHECKING"])
            for child in node.orelse:
                visit(child, how)
            return
        inner = [*how, "lazy"] if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                                   and "lazy" not in how) else how
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(source.text, filename=source.where), [])
    return found


def import_graph(sources: Mapping[str, Source]) -> list[Import]:
    """Every import of every module given."""
    known = known_modules(sources)
    return [edge for name, source in sorted(sources.items())
            for edge in imports_of(name, source, known)]


# -- the rules ---------------------------------------------------------------------------------

def import_circles(edges: Iterable[Import], modules: set[str]) -> list[str]:
    """Strongly connected components of more than one module, and self-imports, among
    ``modules`` (importing ``a.b`` runs ``a/__init__.py`` too, but that is not an edge)."""
    inside = [e for e in edges if e.importer in modules and e.imported in modules]
    after: dict[str, set[str]] = {m: set() for m in modules}
    for edge in inside:
        after[edge.importer].add(edge.imported)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(module: str) -> None:  # Tarjan
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for nxt in sorted(after[module]):
            if nxt not in index:
                connect(nxt)
                low[module] = min(low[module], low[nxt])
            elif nxt in on_stack:
                low[module] = min(low[module], index[nxt])
        if low[module] == index[module]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1 or module in after[module]:
                components.append(component)

    for module in sorted(modules):
        if module not in index:
            connect(module)
    return [f"circle {' <-> '.join(sorted(c))}:\n    "
            + "\n    ".join(str(e) for e in inside if e.importer in c and e.imported in c)
            for c in sorted(components, key=sorted)]


def core_leaks(edges: Iterable[Import]) -> list[str]:
    """Imports from the core into an adapter, a framework or a vendor client."""
    banned = {*ADAPTERS, *FRAMEWORKS, *VENDOR_CLIENTS}
    return [str(e) for e in edges if top(e.importer) == "kickoff" and top(e.imported) in banned]


def crossings(edges: Iterable[Import]) -> list[str]:
    """Imports between mappings and connectors, either way."""
    return [str(e) for e in edges if (top(e.importer), top(e.imported)) in KEPT_APART]


def _fail(title: str, found: list[str]) -> None:
    assert not found, f"{title} ({len(found)}):\n  " + "\n  ".join(found)


# -- the project -------------------------------------------------------------------------------

_SOURCES = project_sources()
_EDGES = import_graph(_SOURCES)


def test_the_walk_reads_every_package_and_finds_imports() -> None:
    for package in (*PACKAGES, *IMPORTERS_ONLY):
        assert any(top(name) == package for name in _SOURCES), f"no module found in {package}/"
    assert any(top(e.importer) == "kickoff" for e in _EDGES)


def test_no_import_circle() -> None:
    project = {name for name in _SOURCES if top(name) in PACKAGES}
    _fail("import circles among the project's modules", import_circles(_EDGES, project))


def test_core_imports_no_adapter_framework_or_vendor_client() -> None:
    _fail("imports from kickoff/ into an adapter, a framework or a vendor client",
          core_leaks(_EDGES))


def test_mappings_and_connectors_do_not_import_each_other() -> None:
    _fail("imports between mappings/ and connectors/", crossings(_EDGES))


# -- the checker fails when it should (made-up modules) ----------------------------------------

def _edges(**modules: str) -> list[Import]:
    """The graph of made-up modules: ``p__a="..."`` is module ``p.a``; ``p___init__`` a package."""
    sources = {}
    for key, text in modules.items():
        is_package = key.endswith("___init__")
        name = key.removesuffix("___init__").replace("__", ".")
        sources[name] = Source(f"{name.replace('.', '/')}.py", text, is_package)
    return import_graph(sources)


def test_imports_are_found_wherever_they_are_written() -> None:
    edges = _edges(
        p___init__="",
        p__sub="",
        p__a=("import os\n"
              "from typing import TYPE_CHECKING\n"
              "from p import sub\n"
              "from . import missing\n"
              "from .sub import thing\n"
              "if TYPE_CHECKING:\n    from q.types import T\n"
              "def f():\n    import r.lazy\n"
              "    return importlib.import_module('s.plugin')\n"),
        p__deep__b="from .. import sub\nfrom ..sub import x\n",
    )
    found = {(e.importer, e.imported, e.how) for e in edges}
    assert found >= {
        ("p.a", "os", ""), ("p.a", "p.sub", ""), ("p.a", "p", ""),
        ("p.a", "q.types", "TYPE_CHECKING"), ("p.a", "r.lazy", "lazy"),
        ("p.a", "s.plugin", "lazy+importlib"),
        ("p.deep.b", "p.sub", ""),
    }
    assert ("p.a", "typing", "") in found and len([e for e in edges if e.importer == "p.a"]) == 8


def test_the_circle_rule_fails_on_a_circle_even_a_hidden_one() -> None:
    edges = _edges(
        p__run="from p.checks import check\nclass Run: ...\n",
        p__checks=("from typing import TYPE_CHECKING\n"
                   "if TYPE_CHECKING:\n    from p.run import Run\n"),
        p__self="def f():\n    from p import self\n",
        p__fine="from p.run import Run\n",
    )
    found = import_circles(edges, {"p", "p.run", "p.checks", "p.self", "p.fine"})
    assert len(found) == 2, found
    assert found[0].startswith("circle p.checks <-> p.run") and "p/checks.py:3" in found[0]
    assert found[1].startswith("circle p.self") and "(lazy)" in found[1]
    assert import_circles(_edges(p__a="import p.b", p__b="import os"), {"p.a", "p.b"}) == []


def test_the_core_rule_fails_on_an_adapter_a_framework_or_a_client() -> None:
    edges = _edges(
        kickoff__x=("def f():\n    from connectors.hubspot import HubSpotConnector\n"
                    "import prefect\nfrom starlette.requests import Request\n"
                    "importlib.import_module('zenpy')\nfrom kickoff.tools import spec\n"),
        connectors__y="import prefect\nimport hubspot\n",
    )
    found = core_leaks(edges)
    assert [f.split(": ")[1] for f in found] == [
        "kickoff.x -> connectors.hubspot (lazy)", "kickoff.x -> prefect",
        "kickoff.x -> starlette.requests", "kickoff.x -> zenpy (importlib)"]


def test_the_crossing_rule_fails_either_way() -> None:
    edges = _edges(
        mappings__hubspot=("from connectors.hubspot import OBJECT_TYPES\n"
                           "from kickoff.tools import spec\n"),
        connectors__zendesk=("from typing import TYPE_CHECKING\n"
                             "if TYPE_CHECKING:\n    from mappings.zendesk import Paths\n"),
    )
    found = crossings(edges)
    assert len(found) == 2
    assert "connectors/zendesk.py:3" in found[0] and "mappings/hubspot.py:1" in found[1]
