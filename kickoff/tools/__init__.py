"""Every tool Kickoff knows, declared once: ``kickoff/tools/<name>.py`` holds ``TOOL``.

Every list of tools (webhook routes, poll and push deployments, limits, the sandbox's
vendors, the mapping tables) is derived from these declarations, and the pieces of one tool
are found by its name: ``connectors/<name>.py`` exports ``CONNECTOR``, ``mappings/<name>.py``
exports ``MAPPING``, ``sandbox/vendors/<name>.py`` exports ``VENDOR``; ``plugin`` is the one
lookup. Adding a tool is a declaration here plus those three modules and
``config/mappings/<name>.yaml``.

Only ``spec`` is imported here; each declaration is imported when asked for, so this
package can be imported by the canonical model without a circle.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any

from kickoff.tools.spec import RateLimit, ToolSpec, Webhooks

__all__ = ["RateLimit", "ToolSpec", "Webhooks", "declared", "payload_model", "plugin", "spec",
           "tool_names"]

_NOT_TOOLS = {"spec"}


@cache
def tool_names() -> tuple[str, ...]:
    """The declared tools' names, sorted: the modules of this package."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)
                        if m.name not in _NOT_TOOLS and not m.name.startswith("_")))


@cache
def spec(name: str) -> ToolSpec:
    """The declaration of tool ``name``; LookupError naming the known tools otherwise."""
    if name not in tool_names():
        raise LookupError(f"{name!r} is not a Kickoff tool (known: {', '.join(tool_names())})")
    declaration = importlib.import_module(f"{__name__}.{name}").TOOL
    if declaration.name != name:
        raise LookupError(f"kickoff/tools/{name}.py declares {declaration.name!r}")
    return declaration


def declared() -> list[ToolSpec]:
    """Every declaration, by name."""
    return [spec(name) for name in tool_names()]


def payload_model(tool: str, kind: str) -> type[Any] | None:
    """The model of ``kind``'s payload in ``tool``'s terms; None when the tool takes no such action."""
    return spec(tool).payloads.get(str(kind))


def plugin(package: str, tool: str, export: str) -> Any:
    """The one plugin lookup: ``<package>.<tool>``'s ``export`` (``CONNECTOR``, ``MAPPING``,
    ``VENDOR``). Adapters call it with their own package; the core never names one."""
    module_name = f"{package}.{spec(tool).name}"
    module = importlib.import_module(module_name)
    try:
        return getattr(module, export)
    except AttributeError:
        raise LookupError(f"{module_name} exports no {export}") from None


def companion(package: str, tool: str, part: str) -> ModuleType | None:
    """``<package>.<tool>_<part>`` (``mappings.asana_account``), found by the tool's name like
    the plugin it sits beside; None when the tool has none."""
    module_name = f"{package}.{spec(tool).name}_{part}"
    if importlib.util.find_spec(module_name) is None:
        return None
    return importlib.import_module(module_name)
