"""What a soak run leaves behind: its result, and what the invariants read of it.

In a module of its own so that the run (which calls the checks) and the checks (which read the
run) import this instead of each other. ``RunRecord`` is a protocol: the soak's ``Run`` and the
scale-out's ``ScaleoutRun`` both fit it without sharing a base class.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flows.runtime import Runtime
    from sandbox.control import SandboxControl


@dataclass
class RunResult:
    """One seed's outcome: its plan in words, faults injected and things checked (by kind)."""

    seed: int
    plan: str
    faults: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0
    stats: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.violations


class Tally(Protocol):
    """Counters a run adds to: faults injected and things checked, by kind."""

    faults: Counter[str]
    stats: Counter[str]


class ArmedFaults(Protocol):
    """The sandbox fault rules armed for the run, as ``(kind, rule)`` in arming order."""

    sandbox_rules: list[tuple[str, dict[str, Any]]]


class LogLines(Protocol):
    def take(self) -> list[str]:
        """The log lines captured since the last call."""
        ...


class Watch(Protocol):
    """What the harness watched: the run's logs and the secrets that must not be in them."""

    capture: LogLines
    secrets: list[str]


class RunRecord(Protocol):
    """What ``soak.invariants.check_run`` reads of a finished run."""

    control: SandboxControl
    rt: Runtime
    plan: ArmedFaults
    result: Tally
    h: Watch
    act_errors: list[str]
    child_logs: list[Path]
    final_now: datetime | None
