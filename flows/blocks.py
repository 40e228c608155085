"""Credentials as Prefect Secret blocks: ``kickoff blocks register`` copies each credential
that ``config/tools.yaml`` (and the tenants' own accounts) read from the environment into a
Secret block, so they are on the server's Blocks page and a worker needs no environment of
its own: the config then names them ``block:NAME`` (``connectors.credentials``).

Values are compared and written, never printed: the report names blocks and variables only.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Literal

from kickoff.settings import SHARED_ACCOUNT, Config

Outcome = Literal["created", "updated", "unchanged", "missing"]


@dataclass(frozen=True)
class Credential:
    """One credential reference of one account: where it is read now and the block it gets."""

    tool: str
    account: str  # the shared account, or the tenant whose own account it is
    key: str
    ref: str

    @property
    def env(self) -> str | None:
        scheme, _, name = self.ref.partition(":")
        return name if scheme == "env" else None

    @property
    def block(self) -> str:
        """``kickoff-<tool>-<key>``, or ``kickoff-<tenant>-<tool>-<key>`` for a tenant's own
        account: lower case, digits and dashes, as Prefect block names are."""
        parts = ["kickoff"] + ([] if self.account == SHARED_ACCOUNT else [self.account]) + [self.tool, self.key]
        return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def credentials(config: Config, tenant: str | None = None) -> list[Credential]:
    """Every ``env:`` credential of the accounts in use (those ``tenant`` uses, when given);
    ``block:`` references are blocks already."""
    found: dict[tuple[str, str, str], Credential] = {}
    for tool in sorted(config.tools):
        for account, settings in config.accounts(tool).items():
            if tenant is not None and not _uses(config, tenant, tool, account):
                continue
            for key, ref in sorted(settings.credentials.items()):
                if ref.startswith("env:"):
                    found.setdefault((tool, account, key), Credential(tool, account, key, ref))
    return list(found.values())


def _uses(config: Config, tenant: str, tool: str, account: str) -> bool:
    """Whether ``tenant`` works in ``tool`` through ``account`` (its own, else the shared one)."""
    own = config.tenant(tenant)
    return (tool in own.tools or tool in own.accounts) and config.account_of(tool, tenant) == account


def register(credential: Credential) -> Outcome:
    """Make or refresh ``credential``'s Secret block from the environment."""
    from prefect.blocks.system import Secret

    value = os.environ.get(credential.env or "")
    if value is None:
        return "missing"
    try:
        current: str | None = str(Secret.load(credential.block).get())
    except ValueError:  # no such block
        current = None
    if current == value:
        return "unchanged"
    Secret(value=value).save(credential.block, overwrite=True)
    return "created" if current is None else "updated"
