"""Slack's table against a live workspace: ``propose`` fills in each channel the playbook
names (``#retention-alerts``, a role's channel) by its name, ``verify`` checks every channel id
is a channel of the workspace, not archived."""

from __future__ import annotations

import copy
from typing import Any

from kickoff.contracts.account import Account
from mappings.discovery import Names, Problem, Problems, Proposal


def propose(table: dict[str, Any], account: Account, names: Names, *, own_account: bool) -> Proposal:
    found = Proposal(copy.deepcopy(table))
    wanted = {**{key: key.lstrip("#") for key in found.table.get("channels") or {}},
              **(names.tool.get("channels") or {})}
    for key, name in wanted.items():
        found.pick(f"channels.{key}", account.channels, [str(name)], "channel",
                   keep=lambda i: account.channel(i) is not None)
    return found


def verify(table: dict[str, Any], account: Account) -> list[Problem]:
    problems = Problems()
    for key, channel in (table.get("channels") or {}).items():
        if account.channel(str(channel)) is None:
            known = ", ".join(f"{c.id} (#{c.name})" for c in account.channels)[:300]
            problems.add(f"channels.{key}", f"no channel {channel} in the workspace (channels: {known or 'none'})")
    default = table.get("default_channel")
    if default and default not in (table.get("channels") or {}):
        problems.add("default_channel", f"{default} is not one of channels")
    return list(problems)
