"""``kickoff webhooks plan|apply``: Kickoff's public URL registered in each tool it hears from.

What each tool must send is its mapping's (``wanted_webhooks``, from the tenants' tables); how
it is registered, and what is there now, its connector's (``plan_webhooks``,
``apply_webhooks``). This module only ties them to the ledger: a handshake path is armed just
before its webhook is created (the gateway then keeps the secret the vendor offers), a
signing secret a connector read from the vendor is sealed in the ledger at once, and the
secret of a webhook Kickoff deleted is forgotten. Applying twice changes nothing the second
time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from flows.runtime import Runtime
from gateway.handshake import expect_webhook_handshake
from kickoff.contracts.errors import VendorError
from kickoff.contracts.subscriptions import Change, HookChange, HookPlan, Wanted
from kickoff.settings import SHARED_ACCOUNT
from kickoff.tools import spec


class NoPublicUrl(ValueError):
    """``KICKOFF_PUBLIC_URL`` is not set: no tool can be told where Kickoff is."""


def public_base(rt: Runtime, given: str | None = None) -> str:
    base = given or rt.config.settings.public_url
    if not base:
        raise NoPublicUrl("KICKOFF_PUBLIC_URL is not set: the https base where the gateway is reached "
                          "(each tool is told <base>/webhooks/<tool>)")
    return base.rstrip("/")


def webhook_tools(rt: Runtime, tenant: str | None = None) -> list[str]:
    """The configured tools that call Kickoff and that ``tenant`` (default: any tenant) uses."""
    tenants = [tenant] if tenant else list(rt.config.tenants)
    used = {tool for key in tenants for tool in rt.tenant(key).tools}
    return sorted(t for t in used if t in rt.config.tools and spec(t).webhooks is not None)


def accounts(rt: Runtime, tool: str, tenant: str | None = None) -> dict[str, list[str]]:
    """The tool's accounts in use (the shared one, tenants' own) -> the tenants each serves."""
    found: dict[str, list[str]] = {}
    for key, config in rt.config.tenants.items():
        if tool in config.tools and tenant in (None, key):
            found.setdefault(rt.config.account_of(tool, key), []).append(key)
    return found


def wanted(rt: Runtime, tool: str, tenants: Sequence[str]) -> list[Wanted]:
    """What ``tool`` must send Kickoff for ``tenants``, from their tables."""
    tables = {k: v for k, v in rt.tables.get(tool, {}).items() if k in tenants}
    return rt.mapping(tool).wanted_webhooks(tables)


def secret_name(want: Wanted, account: str) -> str:
    """Where the ledger keeps a registration's secret: a handshake path's own name, else the
    registration's name, qualified by a tenant's own account (two accounts, two secrets)."""
    if want.path or account == SHARED_ACCOUNT:
        return want.secret_name
    return f"{account}.{want.secret_name}"[:64]


@dataclass
class Registration:
    """Kickoff in one tool's account: the plan, and which account and tenants it is for."""

    plan: HookPlan
    account: str
    tenants: list[str]

    @property
    def label(self) -> str:
        return self.plan.tool if self.account == SHARED_ACCOUNT else f"{self.plan.tool} ({self.account})"


def plan_webhooks(rt: Runtime, now: datetime, *, tenant: str | None = None, tools: Sequence[str] | None = None,
                  public_url: str | None = None) -> list[Registration]:
    """Per tool and account, what registering Kickoff changes there (read from the tool). An
    account whose reads fail gets a plan whose one change carries the failure."""
    base = public_base(rt, public_url)
    found = []
    for tool in tools or webhook_tools(rt, tenant):
        url = f"{base}/webhooks/{tool}"
        for account, tenants in sorted(accounts(rt, tool, tenant).items()):
            want = wanted(rt, tool, tenants)
            names = {w.secret_name: secret_name(w, account) for w in want}
            kept = {own for own, name in names.items() if rt.ledger.webhook_secret(tool, name)}
            try:
                plan = rt.connector(tool, account).plan_webhooks(url, want, now, kept=kept)
            except VendorError as exc:
                plan = HookPlan(tool, url, [HookChange(Change.UNCHANGED, "webhooks", "(all)",
                                                       "cannot read what the tool holds", error=exc.reason)])
            found.append(Registration(plan, account, tenants))
    return found


def apply_webhooks(rt: Runtime, registrations: Sequence[Registration], now: datetime) -> list[Registration]:
    """Carry the plans out; secrets handed over go into the ledger, sealed, at once."""
    for reg in registrations:
        plan = reg.plan
        if not plan.pending:
            continue
        hooks = spec(plan.tool).webhooks
        handshake = bool(hooks and hooks.handshake)

        def arm(change: HookChange, tool: str = plan.tool) -> None:
            if change.wanted is not None and change.wanted.path:
                expect_webhook_handshake(rt.ledger, tool, change.wanted.path, now)

        rt.connector(plan.tool, reg.account).apply_webhooks(plan, now, before_create=arm if handshake else None)
        for change in plan.pending:
            change.done = not change.error
        for change in plan.changes:
            want = change.wanted or Wanted(change.kind, change.name)
            if change.secret is not None:
                rt.ledger.keep_webhook_secret(plan.tool, secret_name(want, reg.account), change.secret, now)
                change.secret = None
            elif change.change is Change.DELETE and not change.error and not handshake:
                rt.ledger.forget_webhook_secret(plan.tool, secret_name(want, reg.account), now)
    return list(registrations)
