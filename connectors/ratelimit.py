"""The one rate limiter: a budget spent *before* each call, so Kickoff causes no 429s.

Every vendor enforces "N requests per W seconds" over a rolling window. Without a Prefect
API the limiter is in-process (``WindowLimiter``): a log of the calls started in the last
window, widened a little (``window_seconds``: 2% of W, for the jitter of arrival times at
the vendor), and a call starts when the log plus its own requests hold at most N. So no
vendor window sees more than N, a lump (Asana's /batch of 10 takes 10 at once) waits for
that many places, and the steady rate is N per widened window, 0.98 N. A fresh (or idle)
log starts as though the last window had been spent evenly but for a small burst, so a
large job is paced from its first call rather than sent in bursts of N a window apart.

With a Prefect API configured the budget is a Prefect global concurrency limit used as a
rate limit, held in the server's database and so shared by every worker. The server only
offers slots that decay, i.e. a token bucket (``bucket_for``): capacity C and refill r such
that floor(C + r*W), the most requests a window can see, stays at N with half a request to
spare, and r*W at most ``HEADROOM`` x N (0.94-0.97 of the bound).

The vendors' own numbers correct the budget as answers come (``observe``, fed by every
connector's HTTP layer through ``connectors.http``): a ``Remaining`` below what the log has
free (someone else spends the same token) caps it; a ``Retry-After`` blocks new calls for
that long; a daily allowance (HubSpot's ``X-HubSpot-RateLimit-Daily*``, Salesforce's
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
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from kickoff.settings import Config, RateLimit, ToolConfig

HEADROOM = 0.97        # the steady rate, as a share of the vendor's N per window
BURST_FRACTION = 0.05  # the most of N the bucket holds at once (what the headroom leaves, at most this)
JITTER_REQUESTS = 0.5  # spare in any window, in requests: arrival times at the vendor vary
JITTER_SHARE = 0.02    # the in-process window's widening, as a share of the vendor's window ...
JITTER_SECONDS = 0.1   # ... and at least this (a short window's calls vary as much on the way)
LOG_ENTRIES = 1000     # the most entries a window's log needs: calls closer than 1/1000 of it share one


@dataclass(frozen=True)
class Bucket:
    capacity: int
    per_second: float


def bucket_for(limit: RateLimit, headroom: float = HEADROOM) -> Bucket:
    """Prefect's shared limit (capacity and slot decay): no rolling window of the vendor's sees
    more than N requests and the steady rate is at most ``headroom`` x N per window. Its
    capacity is also the in-process limiter's first burst (``WindowLimiter``). A window sees at most
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


def window_seconds(limit: RateLimit) -> float:
    """The window the in-process limiter counts in: the vendor's, widened by ``JITTER_SHARE``
    (at least ``JITTER_SECONDS``). A call is logged when it starts, but the vendor counts it
    when it arrives: if the oldest call of a window arrives late and a newer one early, the
    vendor sees them closer together than we started them. Starting the (N+1)th call one
    widened window after the first keeps any vendor window at N as long as a call's delay on
    the way varies by less than the widening."""
    return limit.per_seconds + max(limit.per_seconds * JITTER_SHARE, JITTER_SECONDS)


def window_rate(limit: RateLimit) -> float:
    """Requests per second the in-process limiter sustains: N per widened window (0.98 N)."""
    return limit.requests / window_seconds(limit)


class _Log:
    """One (limiter key, credential)'s calls in the last widened window: (start, slots), oldest
    first, with their slot count, and the vendor's block (``Retry-After``) if any."""

    def __init__(self) -> None:
        self.calls: deque[tuple[float, int]] = deque()
        self.used = 0
        self.first = float("-inf")  # the first call in the last entry
        self.blocked_until = float("-inf")

    def add(self, at: float, slots: int, merge_within: float) -> None:
        """Log ``slots`` at ``at``. Calls within ``merge_within`` of the last entry's first call
        join it, stamped with the latest time (their slots free a little late, never early):
        a window of a day (Salesforce) keeps a log of bounded length."""
        if self.calls and at - self.first <= merge_within:
            slots_before = self.calls.pop()[1]
            self.calls.append((at, slots_before + slots))
        else:
            self.calls.append((at, slots))
            self.first = at
        self.used += slots

    def expire(self, now: float, window: float) -> None:
        while self.calls and self.calls[0][0] <= now - window + 1e-9:  # float dust must not turn into a spin
            self.used -= self.calls.popleft()[1]

    def seed(self, now: float, limit: RateLimit, window: float) -> None:
        """Start as though the last window had been spent evenly but for the bucket's burst
        (``bucket_for``'s capacity, what Prefect's shared limit starts with too): a fresh
        or idle limiter answers a small job at once and paces a large one at N per window
        from its first call, instead of a burst of N and then a window of nothing, again and
        again. A restarted process cannot know what the one before spent in the window: its
        first burst is the bucket's, no larger. In at most ``LOG_ENTRIES`` pieces; a piece
        frees when its last slot would have."""
        n, burst = limit.requests, min(bucket_for(limit).capacity, limit.requests)
        spread, spacing = n - burst, window / n
        pieces, done = min(n - burst, LOG_ENTRIES), 0
        for k in range(1, pieces + 1):
            upto = -(-k * spread // pieces)
            self.calls.append((now - window + upto * spacing, upto - done))
            done = upto
        self.used = spread

    def free_at(self, slots: int, limit: int, window: float) -> float:
        """When enough of the oldest calls will have left the window for ``slots`` more
        (minus infinity: they fit now)."""
        excess = self.used + slots - limit
        if excess <= 0:
            return float("-inf")
        for at, held in self.calls:
            excess -= held
            if excess <= 0:
                return at + window
        return self.calls[-1][0] + window  # not reached: slots <= limit, and the log holds ``used``


class WindowLimiter(Observing):
    """In-process sliding-window logs, one per (limiter key, credential); thread-safe. A call
    of ``slots`` starts when the slots logged in the last widened window (``window_seconds``)
    plus its own are at most the vendor's N: no vendor window ever sees more than N, a lump
    (Asana's /batch of 10) simply waits for that many places, and the steady rate is N per
    widened window."""

    def __init__(self, limits: Mapping[str, RateLimit | None], clock=time.monotonic, sleep=time.sleep) -> None:
        super().__init__()
        self._limits = limits
        self._clock, self._sleep = clock, sleep
        self._logs: dict[tuple[str, str], _Log] = {}
        self._lock = threading.Lock()

    def _limit(self, tool: str, key: str) -> RateLimit | None:
        return self._limits.get(f"{tool}@{key}") or self._limits.get(tool)  # an account's own plan first

    def _log(self, tool: str, key: str, limit: RateLimit, now: float) -> _Log:
        """The key's log at ``now``: calls out of the window dropped; seeded when empty."""
        log = self._logs.setdefault((tool, key), _Log())
        window = window_seconds(limit)
        log.expire(now, window)
        if not log.calls:
            log.seed(now, limit, window)
        return log

    def acquire(self, tool: str, key: str = "default", slots: int = 1) -> None:
        limit = self._limit(tool, key)
        if limit is None:
            return
        if slots > limit.requests:
            raise ValueError(f"{slots} slots exceed what one {tool} window allows ({limit.requests})")
        window = window_seconds(limit)
        while True:
            with self._lock:
                now = self._clock()
                log = self._log(tool, key, limit, now)
                if now >= log.blocked_until and log.used + slots <= limit.requests:
                    log.add(now, slots, window / LOG_ENTRIES)
                    return
                wait = max(log.blocked_until, log.free_at(slots, limit.requests, window)) - now
            self._sleep(max(wait, 1e-6))

    def observe(self, tool: str, key: str, report: Reported) -> None:
        """Correct the log by what the vendor reports: a ``Remaining`` below the places we
        think free means someone else spends the same credential, so the difference is
        logged as calls made now; after a ``Retry-After``, no call for that long."""
        super().observe(tool, key, report)
        limit = self._limit(tool, key)
        if limit is None or (report.remaining is None and report.retry_after is None):
            return
        with self._lock:
            now = self._clock()
            log = self._log(tool, key, limit, now)
            free = limit.requests - log.used
            if report.remaining is not None and max(report.remaining, 0) < free:
                log.add(now, free - max(report.remaining, 0), window_seconds(limit) / LOG_ENTRIES)
            if report.retry_after:
                log.blocked_until = max(log.blocked_until, now + report.retry_after)


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
    """Prefect's shared limits when a Prefect API is configured, else in-process window logs
    (``accounts``: own accounts' plans, from ``account_limits``)."""
    limits = {**configured_limits(tools), **(accounts or {})}
    if os.environ.get("PREFECT_API_URL") and os.environ.get("KICKOFF_RATE_LIMITER", "prefect") == "prefect":
        return PrefectRateLimiter(limited=set(limits))
    return WindowLimiter(limits)
