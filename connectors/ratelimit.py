"""The one rate limiter: a budget spent *before* each call, so Kickoff causes no 429s.

Every vendor enforces "N requests per W seconds" over a rolling window. A token bucket
with capacity C refilled at r per second lets at most floor(C + r*W) requests into any
window (requests are whole), so we pick C and r to keep that at N with half a request to
spare against timing jitter, and r*W at most ``HEADROOM`` x N: the steady rate runs at
0.95-0.97 of the bound. With a Prefect API configured the bucket is a Prefect global
concurrency limit used as a rate limit (limit C, slot decay r), held in the server's
database and so shared by every worker; without one, an in-process bucket.

The vendors' own numbers correct the budget as answers come (``observe``, fed by every
connector's HTTP layer through ``connectors.http``): a ``Remaining`` below what the bucket
holds (someone else spends the same token) caps it; a ``Retry-After`` empties it for that
long; a daily allowance (HubSpot's ``X-HubSpot-RateLimit-Daily*``, Salesforce's
``Sforce-Limit-Info``) is kept as the latest report, which the push step stores in the
ledger's budgets (``kickoff.ledger.budgets``), shared by every worker. On Prefect's shared
limits only the daily reports are kept: the shared bucket already counts every worker's
calls, and a 429's ``Retry-After`` is waited out by the one retry policy.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from kickoff.settings import Config, RateLimit, ToolConfig

HEADROOM = 0.97        # the steady rate, as a share of the vendor's N per window
BURST_FRACTION = 0.05  # the most of N the bucket holds at once (what the headroom leaves, at most this)
JITTER_REQUESTS = 0.5  # spare in any window, in requests: arrival times at the vendor vary


@dataclass(frozen=True)
class Bucket:
    capacity: int
    per_second: float


def bucket_for(limit: RateLimit, headroom: float = HEADROOM) -> Bucket:
    """Capacity and refill so that no rolling window of the vendor's sees more than N requests
    and the steady rate is at most ``headroom`` x N per window. A window sees at most
    floor(C + r*W) requests, kept at N with ``JITTER_REQUESTS`` spare. The capacity holds at
    least the largest call (``lump``: Asana's /batch of 10 takes 10 at once), which is what
    its refill pays for (Asana: 0.94 N)."""
    n = limit.requests
    spare = n + 1 - JITTER_REQUESTS - n * headroom  # what the steady rate leaves of a window
    capacity = max(limit.lump, 1, min(int(spare), int(n * BURST_FRACTION)))
    refill = min(n * headroom, n + 1 - capacity - JITTER_REQUESTS)
    return Bucket(capacity, max(refill, 0.5) / limit.per_seconds)


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


@dataclass(frozen=True)
class Reported:
    """What one vendor answer says of its limits; None where it says nothing."""

    remaining: int | None = None       # requests left in the short window (HubSpot, Zendesk)
    retry_after: float | None = None   # seconds to wait (a 429; Movidesk's block)
    daily_limit: int | None = None     # the day's (Salesforce: 24 hours') allowance
    daily_used: int | None = None


def _int(value: str | None) -> int | None:
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def reported(headers: Mapping[str, str] | None) -> Reported:
    """The limits an answer's headers report, whichever vendor sent them: HubSpot's
    ``X-HubSpot-RateLimit-{Remaining,Daily,Daily-Remaining}``, Zendesk's
    ``X-Rate-Limit-Remaining`` / ``ratelimit-remaining``, Salesforce's ``Sforce-Limit-Info:
    api-usage=used/limit``, and ``Retry-After`` (seconds) from any of them."""
    h = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    remaining = next((_int(h[name]) for name in ("x-hubspot-ratelimit-remaining", "x-rate-limit-remaining",
                                                 "ratelimit-remaining") if name in h), None)
    retry_after = None
    if "retry-after" in h:
        try:
            retry_after = max(0.0, float(h["retry-after"]))
        except ValueError:
            retry_after = None  # an HTTP date: the retry policy reads it
    daily_limit = daily_used = None
    if "x-hubspot-ratelimit-daily" in h:
        daily_limit = _int(h["x-hubspot-ratelimit-daily"])
        left = _int(h.get("x-hubspot-ratelimit-daily-remaining"))
        daily_used = daily_limit - left if daily_limit is not None and left is not None else None
    usage = h.get("sforce-limit-info", "")
    if "api-usage=" in usage:
        used, _, total = usage.split("api-usage=", 1)[1].split(",")[0].partition("/")
        daily_used, daily_limit = _int(used), _int(total)
    return Reported(remaining, retry_after, daily_limit, daily_used)


class Observing:
    """The part every limiter shares: the latest daily report per (tool, credential), which
    the push step stores in the ledger's budgets (shared by every worker)."""

    def __init__(self) -> None:
        self._daily: dict[tuple[str, str], Reported] = {}
        self._daily_lock = threading.Lock()

    def observe(self, tool: str, key: str, report: Reported) -> None:
        if report.daily_limit is not None and report.daily_used is not None:
            with self._daily_lock:
                self._daily[(tool, key)] = report

    def daily(self, tool: str, key: str = "default") -> Reported | None:
        """The latest daily allowance a ``tool`` answer under ``key`` reported, if any."""
        with self._daily_lock:
            return self._daily.get((tool, key))


class TokenBucketLimiter(Observing):
    """In-process buckets, one per (limiter key, credential); thread-safe."""

    def __init__(self, limits: Mapping[str, RateLimit | None], clock=time.monotonic, sleep=time.sleep) -> None:
        super().__init__()
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

    def observe(self, tool: str, key: str, report: Reported) -> None:
        """Correct the bucket by what the vendor reports: never more tokens than requests it
        says remain; after a ``Retry-After``, no token for that long."""
        super().observe(tool, key, report)
        limit = self._limits.get(f"{tool}@{key}") or self._limits.get(tool)
        if limit is None or (report.remaining is None and report.retry_after is None):
            return
        bucket = bucket_for(limit)
        name = limit_name(tool, key)
        with self._lock:
            now = self._clock()
            tokens, last = self._state.get(name, (float(bucket.capacity), now))
            tokens = min(bucket.capacity, tokens + (now - last) * bucket.per_second)
            if report.remaining is not None:
                tokens = min(tokens, float(report.remaining))
            if report.retry_after:
                tokens = min(tokens, -report.retry_after * bucket.per_second)
            self._state[name] = (tokens, now)


class PrefectRateLimiter(Observing):
    """Prefect global concurrency limits with slot decay; strict, so a missing limit fails
    loudly instead of running unthrottled (create them with ``kickoff limits sync``).

    Why not Prefect's own ``rate_limit`` loop: the server decays a limit's slots from the
    row's last update, and a refused attempt (423) updates the row too, so every early retry
    throws away the decay accrued so far; with several workers retrying on the server's
    jittered ``Retry-After`` about a fifth of the budget went unused. Here a refused attempt
    reads the limit (a read changes nothing) and waits until its slots have decayed enough,
    so attempts come when a slot is free and the limit runs at its designed rate."""

    def __init__(self, timeout_seconds: float | None = 600.0, limited: set[str] | None = None) -> None:
        super().__init__()
        self.timeout_seconds = timeout_seconds
        self.limited = limited  # the limiter keys with a limit (None: all); the others are not limited
        self._local = threading.local()

    def _client(self):
        """One API client per thread, kept: a new one per call costs more than the call."""
        client = getattr(self._local, "client", None)
        if client is None:
            from prefect.client.orchestration import get_client

            client = self._local.client = get_client(sync_client=True).__enter__()
        return client

    def acquire(self, tool: str, key: str = "default", slots: int = 1) -> None:
        if self.limited is not None and tool not in self.limited:
            return  # no limit in tools.yaml (e-mail): no global limit was synced for it
        import httpx
        from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

        name = limit_name(tool, key)
        deadline = None if self.timeout_seconds is None else time.monotonic() + self.timeout_seconds
        client = self._client()
        while True:
            try:
                if not client.increment_concurrency_slots(names=[name], slots=slots, mode="rate_limit").json():
                    raise ConcurrencySlotAcquisitionError(f"no global concurrency limit {name}: "
                                                          "run `kickoff limits sync`")
                return
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 423:
                    raise
                server_wait = float(exc.response.headers.get("Retry-After", 1.0))
            wait = self._until_free(client, name, slots, server_wait)
            if deadline is not None and time.monotonic() + wait > deadline:
                raise TimeoutError(f"no {slots} slot(s) of {name} within {self.timeout_seconds} s")
            time.sleep(wait)

    @staticmethod
    def _until_free(client, name: str, slots: int, server_wait: float) -> float:
        """Seconds until ``slots`` have decayed free on ``name`` (the server's wait if unknown),
        plus a little jitter so that workers waiting together do not all try at once."""
        from datetime import UTC, datetime

        limit = client.read_global_concurrency_limit_by_name(name)
        decay = limit.slot_decay_per_second
        if decay <= 0 or limit.updated is None:
            return server_wait
        excess = limit.active_slots + slots - limit.limit  # slots that must decay first
        elapsed = (datetime.now(UTC) - limit.updated).total_seconds()
        wait = max(excess / decay - elapsed, 0.0) if excess > 0 else 0.0
        return min(wait, server_wait) + random.uniform(0.0, min(0.05, 0.05 / decay))


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
