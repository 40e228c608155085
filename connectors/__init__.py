"""One module per tool: read changes, verify and parse webhooks, write actions in batches.

Only I/O and the vendor's quirks live here; business decisions are the playbook's. Each
``connectors/<tool>.py`` exports its class as ``CONNECTOR``; ``build_connector`` is the one
way to make one (the shared rate limiter, the one retry policy, what the mapping needs read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.ratelimit import RateLimiter
from kickoff.retry import RetryPolicy
from kickoff.settings import SHARED_ACCOUNT, Config
from kickoff.tools import plugin


def connector_class(tool: str) -> type[Any]:
    """The connector class of ``tool`` (imported on first use: each pulls in its vendor client)."""
    return plugin("connectors", tool, "CONNECTOR")


def build_connector(tool: str, config: Config, *, limiter: RateLimiter, retry: RetryPolicy | None = None,
                    reads: Mapping[str, Sequence[str]] | None = None, account: str = SHARED_ACCOUNT) -> Any:
    """The connector for ``tool`` as configured for ``account`` (tools.yaml's shared one, or a
    tenant's own: ``Config.account_config``), spending ``limiter`` (shared by every connector of
    the process, or every worker with Prefect's global limits) under the account's own budget:
    the limiter's key is the account."""
    if tool not in config.tools:
        raise LookupError(f"{tool} is not configured in tools.yaml")
    return connector_class(tool)(config.account_config(tool, account), limiter=limiter,
                                 retry=retry or RetryPolicy(), reads=reads, credential_key=account)
