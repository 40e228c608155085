"""The whole sandbox's state: vendors, clock, limits, faults, request log, webhooks, mail."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kickoff.tools import plugin, tool_names
from sandbox import fixture_times
from sandbox.clock import SandboxClock
from sandbox.exchanges import Exchanges
from sandbox.faults import Faults
from sandbox.limits import Block, Clock, Counter, LimitSettings, SlidingWindow
from sandbox.requestlog import RequestLog
from sandbox.smtp import MailStore
from sandbox.vendors.base import Vendor
from sandbox.webhooks import WebhookDispatcher


def vendor_classes() -> list[type[Vendor]]:
    """Every declared tool's stand-in (``sandbox/vendors/<tool>.py`` exports ``VENDOR``); a
    missing one fails loudly here."""
    classes = [plugin("sandbox.vendors", tool, "VENDOR") for tool in tool_names()]
    for tool, cls in zip(tool_names(), classes, strict=True):
        if cls.name != tool:
            raise LookupError(f"sandbox/vendors/{tool}.py's VENDOR is named {cls.name!r}")
    return classes


class Sandbox:
    """Holds everything; ``reset`` puts it back as new (limits back to the vendors' values)."""

    def __init__(self, *, limits_enabled: bool = True, time_scale: float = 1.0, fault_seed: int = 0) -> None:
        self.clock = SandboxClock()
        self.limit_clock = Clock()
        self.limit_clock.time_scale = time_scale
        self.time_scale_default = time_scale
        self.windows = SlidingWindow(self.limit_clock)
        self.blocks = Block(self.limit_clock)
        self.counters = Counter()
        self.faults = Faults(seed=fault_seed)
        self.log = RequestLog()
        self.exchanges = Exchanges()  # whole exchanges of the vendors a contract test watches
        self.webhooks = WebhookDispatcher()
        self.mail = MailStore()  # fed by the SMTP server; the e-mail vendor reads and clears it
        self.limits_enabled_default = limits_enabled
        self.limits: dict[str, LimitSettings] = {}
        classes = vendor_classes()
        self._reset_limits(classes)
        self.vendors: dict[str, Vendor] = {cls.name: cls(self) for cls in classes}

    def _reset_limits(self, classes: list[type[Vendor]]) -> None:
        for cls in classes:
            limits = replace(cls.default_limits, extra=dict(cls.default_limits.extra))
            if not self.limits_enabled_default:
                limits.enabled = False
            self.limits[cls.name] = limits

    def vendor_for_path(self, path: str) -> Vendor | None:
        for vendor in self.vendors.values():
            if any(path.startswith(p) for p in vendor.prefixes):
                return vendor
        return None

    def reset(self) -> None:
        """Empty every store and log, disarm faults and webhooks, restore limits and clock."""
        for vendor in self.vendors.values():
            vendor.reset()
        self._reset_limits([type(v) for v in self.vendors.values()])
        self.limit_clock.time_scale = self.time_scale_default
        self.windows.reset()
        self.blocks.reset()
        self.counters.reset()
        self.faults.clear()
        self.log.clear()
        self.webhooks.reset()
        self.clock.reset()

    def seed(self, fixture: dict[str, Any]) -> None:
        """Load a fixture: ``{vendor name: that vendor's section}``; unknown vendors are an error."""
        unknown = set(fixture) - set(self.vendors)
        if unknown:
            raise ValueError(f"unknown vendors in fixture: {sorted(unknown)}")
        fixture = fixture_times.resolve(fixture, self.clock.now())  # "now-12d": from the clock's now
        for name, section in fixture.items():
            self.vendors[name].seed(section or {})

    def credentials(self) -> dict[str, dict[str, str]]:
        return {name: dict(v.credentials) for name, v in self.vendors.items()}
