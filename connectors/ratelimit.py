"""The one rate limiter: a budget spent *before* each call, so Kickoff causes no 429s.

Every vendor enforces "N requests per W seconds" over a rolling window. A token bucket
with capacity C refilled at r per second never exceeds C + r*W requests in any window,
so we pick C and r to keep that under ``headroom`` x N. With a Prefect API configured the
bucket is a Prefect global concurrency limit used as a rate limit (limit C, slot decay r),
held in the server's database and so shared by every worker; without one, an in-process
bucket with the same parameters.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from kickoff.settings import Config, RateLimit, ToolConfig

HEADROOM = 0.9
BURST_FRACTION = 0.1


@dataclass(frozen=True)
class Bucket:
    capacity: int
    per_second: float


def bucket_for(limit: RateLimit, headroom: float = HEADROOM) -> Bucket:
    """Capacity and refill so that no rolling window of the vendor's sees more than headroom x N."""
    budget = max(1.0, limit.requests * headroom)
    capacity = max(1, int(budget * BURST_FRACTION))
    per_second = max(budget - capacity, 1.0) / limit.per_seconds
    return Bucket(capacity, per_second)


def configured_limits(tools: dict[str, ToolConfig]) -> dict[str, RateLimit]:
    """Every limit to keep, by limiter key: ``tool`` for the tool's own limit and
    ``tool.endpoint`` for an endpoint's limit on top of it (``hubspot.search``)."""
    limits: dict[str, RateLimit] = {}
    for tool, config in tools.items():
        if config.rate_limit is not None:
            limits[tool] = config.rate_limit
        limits.update({f"{tool}.{endpoint}": limit for endpoint, limit in config.endpoint_limits.items()})
    return limits


def limit_name(tool: str, key: str = "default") -> str:
    """The global concurrency limit's name: per tool and per credential (never the secret itself)."""
    safe = key if key == "default" else hashlib.sha256(key.encode()).hexdigest()[:12]
    return f"kickoff-{tool}-{safe}"


class RateLimiter(Protocol):
    def acquire(self, tool: str, key: str = "default", slots: int = 1) -> None:
        """Block until ``slots`` requests to ``tool`` under credential ``key`` are allowed."""


class TokenBucketLimiter:
    """In-process buckets, one per (limiter key, credential); thread-safe."""

    def __init__(self, limits: Mapping[str, RateLimit | None], clock=time.monotonic, sleep=time.sleep) -> None:
        self._limits = limits
        self._clock, self._sleep = clock, sleep
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, tool: str, key: str = "default", slots: int = 1) -> None:
        limit = self._limits.get(f"{tool}@{key}") or self._limits.get(tool)  # an account's own plan first
        if limit is None:
            return
        bucket = bucket_for(limit)
        if slots > bucket.capacity:
            raise ValueError(f"{slots} slots exceed the {tool} bucket's capacity {bucket.capacity}")
        name = limit_name(tool, key)
        while True:
            with self._lock:
                now = self._clock()
                tokens, last = self._state.get(name, (float(bucket.capacity), now))
                tokens = min(bucket.capacity, tokens + (now - last) * bucket.per_second)
                if tokens >= slots - 1e-9:  # float dust must not turn into a spin
                    self._state[name] = (tokens - slots, now)
                    return
                self._state[name] = (tokens, now)
                wait = max((slots - tokens) / bucket.per_second, 1e-3)
            self._sleep(wait)


class PrefectRateLimiter:
    """Prefect global concurrency limits with slot decay; strict, so a missing limit fails
    loudly instead of running unthrottled (create them with ``kickoff limits sync``)."""

    def __init__(self, timeout_seconds: float | None = 600.0, limited: set[str] | None = None) -> None:
        self.timeout_seconds = timeout_seconds
        self.limited = limited  # the limiter keys with a limit (None: all); the others are not limited

    def acquire(self, tool: str, key: str = "default", slots: int = 1) -> None:
        if self.limited is not None and tool not in self.limited:
            return  # no limit in tools.yaml (e-mail): no global limit was synced for it
        from prefect.concurrency.sync import rate_limit

        rate_limit(limit_name(tool, key), occupy=slots, timeout_seconds=self.timeout_seconds, strict=True)


def sync_prefect_limits(tools: dict[str, ToolConfig], key: str = "default") -> list[tuple[str, Bucket]]:
    """Create or update one global concurrency limit per configured limit (tool or endpoint)."""
    from prefect.client.orchestration import get_client

    done: list[tuple[str, Bucket]] = []
    with get_client(sync_client=True) as client:
        for limited, limit in sorted(configured_limits(tools).items()):
            bucket = bucket_for(limit)
            name = limit_name(limited, key)
            client.upsert_global_concurrency_limit_by_name(name, bucket.capacity, bucket.per_second)
            done.append((name, bucket))
    return done


def sync_account_limits(config: Config) -> list[tuple[str, Bucket]]:
    """``sync_prefect_limits`` for every tenant's own account (its plan, or the tool's): one
    global limit per (limiter key, account), as the connectors of that account spend them."""
    done: list[tuple[str, Bucket]] = []
    for tool in config.tools:
        for account in config.accounts(tool):
            if account != "default":
                done += sync_prefect_limits({tool: config.account_config(tool, account)}, key=account)
    return done


def account_limits(config: Config) -> dict[str, RateLimit]:
    """Tenants' own accounts with a plan of their own (``accounts.<tool>.rate_limit``), by
    limiter key ``tool@account``: their budget, instead of the tool's."""
    return {f"{tool}@{account}": own.rate_limit for account, tenant in config.tenants.items()
            for tool, own in tenant.accounts.items() if own.rate_limit is not None}


def limiter_for(tools: dict[str, ToolConfig], accounts: Mapping[str, RateLimit] | None = None) -> RateLimiter:
    """Prefect's shared limits when a Prefect API is configured, else in-process buckets
    (``accounts``: own accounts' plans, from ``account_limits``)."""
    limits = {**configured_limits(tools), **(accounts or {})}
    if os.environ.get("PREFECT_API_URL") and os.environ.get("KICKOFF_RATE_LIMITER", "prefect") == "prefect":
        return PrefectRateLimiter(limited=set(limits))
    return TokenBucketLimiter(limits)
