"""The embedded default on one machine: a local Prefect server, the sandbox (seeded), the
webhook gateway, and a ledger under KICKOFF_HOME — started together, pointed at each other,
and stopped together so nothing is left behind."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from flows.local.prefect_server import PrefectServer
from gateway.server import GatewayServer
from kickoff.tools import ToolSpec, declared, plugin
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer

DEFAULT_FIXTURE = Path(__file__).resolve().parents[2] / "sandbox" / "fixtures" / "default.yaml"


def webhook_tools() -> list[ToolSpec]:
    """The declared tools that call Kickoff (each gets ``/webhooks/<tool>``)."""
    return [tool for tool in declared() if tool.webhooks is not None]


@dataclass
class Stack:
    home: Path
    prefect: PrefectServer | None = None
    sandbox: SandboxServer | None = None
    gateway: GatewayServer | None = None
    control: SandboxControl | None = None
    env: dict[str, str] = field(default_factory=dict)
    limits: int = 0
    """Prefect global concurrency limits synced (one per tool or endpoint, and per own account)."""


def _set_env(values: dict[str, str], saved: dict[str, str | None]) -> None:
    for key, value in values.items():
        saved.setdefault(key, os.environ.get(key))
        os.environ[key] = value


def _sandbox_vendor(tool: str) -> Any:
    return plugin("sandbox.vendors", tool, "VENDOR")


def _webhook_secret(tool: str, env: dict[str, str]) -> str | None:
    """The secret the sandbox's ``tool`` signs its webhooks with (the variable its stand-in
    names; Kickoff's tools.yaml references the same one)."""
    variable = _sandbox_vendor(tool).webhook_secret
    return env.get(variable) if variable else None


def _webhook_url(gateway_url: str, tool: str, env: dict[str, str]) -> str:
    """``/webhooks/<tool>``; a tool that signs nothing carries the secret in the URL instead."""
    url = f"{gateway_url}/webhooks/{tool}"
    vendor = _sandbox_vendor(tool)
    if vendor.webhook_secret_param:
        url += f"?{vendor.webhook_secret_param}={env.get(vendor.webhook_secret or '', '')}"
    return url


def build_gateway(host: str = "127.0.0.1", port: int = 0, clock: Callable[[], datetime] | None = None) -> GatewayServer:
    """The gateway app on the process's ledger and connectors; ``clock`` is the world's time
    (the sandbox's virtual clock in the demo, which also stamps the vendors' signatures)."""
    from flows.runtime import default_runtime
    from gateway import create_app

    rt = default_runtime()
    options = {"clock": clock} if clock else {}
    return GatewayServer(create_app(rt.ledger, config=rt.config, **options), host, port)


def _register_handshake_webhooks(stack: Stack, tool: str) -> None:
    """A tool whose webhooks are created through its API with a handshake to the gateway (which
    keeps the secret that signs every later delivery): registered as ``kickoff webhooks apply``
    does it, by the tool's connector, pointed at the local gateway."""
    from flows.runtime import default_runtime
    from flows.webhooks import apply_webhooks, plan_webhooks

    assert stack.gateway is not None and stack.sandbox is not None
    rt = default_runtime()
    if tool not in rt.config.tools:
        return
    now = stack.sandbox.sandbox.clock.now()
    for reg in apply_webhooks(rt, plan_webhooks(rt, now, tools=[tool], public_url=stack.gateway.url), now):
        failed = [change.line(reg.label) for change in reg.plan.failed]
        if failed:
            raise RuntimeError(f"{tool} webhooks not registered: {'; '.join(failed)}")


def sync_limits() -> int:
    """Prefect's global concurrency limits for every tool and every tenant's own account, made
    before anything calls a tool through them (registering webhooks with a handshake does)."""
    from connectors.ratelimit import sync_account_limits, sync_prefect_limits
    from flows.runtime import default_runtime

    config = default_runtime().config
    return len(sync_prefect_limits(config.tools) + sync_account_limits(config))


def connect_webhooks(stack: Stack) -> None:
    """Point every declared webhook tool of the sandbox at the gateway."""
    assert stack.control is not None and stack.gateway is not None
    env = dict(os.environ)
    for tool in webhook_tools():
        if tool.webhooks is not None and tool.webhooks.handshake:
            _register_handshake_webhooks(stack, tool.name)
            continue
        stack.control.set_webhook(tool.name, _webhook_url(stack.gateway.url, tool.name, env),
                                  _webhook_secret(tool.name, env))


@contextlib.contextmanager
def local_stack(home: Path, *, with_prefect: bool = True, with_sandbox: bool = True,
                prefect_port: int | None = None, gateway_port: int = 0,
                fixture: Path | None = DEFAULT_FIXTURE, sandbox_options: dict[str, Any] | None = None) -> Iterator[Stack]:
    """Start what is asked, export the settings that tie the pieces together, stop it all."""
    home.mkdir(parents=True, exist_ok=True)
    stack = Stack(home=home.resolve())
    saved: dict[str, str | None] = {}
    try:
        _set_env({"KICKOFF_HOME": str(stack.home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}, saved)
        if with_prefect:
            stack.prefect = PrefectServer(stack.home, port=prefect_port).start()
            _set_env(stack.prefect.environment(), saved)
        if with_sandbox:
            stack.sandbox = SandboxServer(**(sandbox_options or {})).start()
            if fixture is not None and fixture.exists():
                stack.sandbox.sandbox.seed(yaml.safe_load(fixture.read_text(encoding="utf-8")) or {})
            _set_env(stack.sandbox.environment(), saved)
            stack.control = SandboxControl(stack.sandbox.url)
        _set_env({"KICKOFF_EVENTS_TOKEN": os.environ.get("KICKOFF_EVENTS_TOKEN", "kickoff-local-events-token")}, saved)
        world_clock = stack.sandbox.sandbox.clock.now if stack.sandbox else None
        stack.gateway = build_gateway(port=gateway_port, clock=world_clock).start()
        _set_env({"KICKOFF_PUBLIC_URL": stack.gateway.url}, saved)
        if stack.prefect is not None:  # Prefect reads its settings when first imported: now they name ours
            stack.limits = sync_limits()
        if stack.control is not None:
            connect_webhooks(stack)
        stack.env = {k: os.environ[k] for k in saved if k in os.environ}
        yield stack
    finally:
        for stop in (stack.gateway, stack.sandbox, stack.prefect):
            if stop is not None:
                with contextlib.suppress(Exception):
                    stop.stop()
        if stack.control is not None:
            stack.control.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
