"""(2) Throughput at the vendors' real rate limits: actions per second achieved against the
bound the limit allows (limit x batch size / window), and the 429s caused (must be 0).

The sandbox keeps each vendor's real limit; its windows run ``scale`` times faster
(``set_time_scale``), and the connectors' WindowLimiter runs on the same scaled clock
(``clock`` = monotonic x scale, ``sleep`` = seconds / scale), so a vendor minute passes in
60/scale real seconds. Figures are in vendor seconds (real rate / scale). The actions go
through the real connector in rounds of batch size x 10, as ``flows.steps.push`` sends them.

The limiter's own ceiling is part of the comparison: ``WindowLimiter`` lets at most N requests
into any vendor window, N per window widened by 2% at steady state ("limiter steady" column,
``window_rate``); the vendor's rate-limit headers correct its log as answers come. "Steady"
rates leave out the first vendor window (the first burst).

Run: ``.venv/bin/python -m bench throughput [--quick]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.bench_calls import make_connector, vendor_actions
from bench.common import Bench, Timer, fmt, note, print_table, ratio, sandbox_bench, vendor_calls
from bench.workloads import (
    asana_requests,
    hubspot_tasks,
    movidesk_tickets,
    salesforce_tasks,
    slack_messages,
    zendesk_tickets,
)
from connectors.base import chunked
from connectors.ratelimit import WindowLimiter, window_rate
from kickoff.model import ResultStatus


@dataclass
class Case:
    tool: str
    label: str
    prepare: Any
    n: int
    quick_n: int
    scale: float
    actions_per_request: float  # actions one counted request carries at best
    why: str
    options: dict[str, Any] = field(default_factory=dict)


def zendesk_repeated(control: Any, n: int) -> list[Any]:
    return zendesk_tickets(control, n, repeat=5)


CASES = [
    Case("hubspot", "create_task", hubspot_tasks, 15_000, 3_000, 1.0, 100, "100 req/10 s x 100 per batch"),
    Case("salesforce", "create_task (upsert)", salesforce_tasks, 4_000, 1_000, 1.0, 200,
         "100,000 req/24 h x 200 per collection (a daily budget)"),
    Case("zendesk", "set_stage (status+tag)", zendesk_repeated, 25_000, 5_000, 2.0, 100,
         "200 req/min x 100 per update_many"),
    Case("movidesk", "set_stage+post_action", movidesk_tickets, 120, 40, 120.0, 2,
         "10 req/min x 1 PATCH per ticket (2 actions each)"),
    Case("asana", "create_record", asana_requests, 750, 300, 60.0, 1,
         "150 req/min; each /batch action counts as a request"),
    Case("slack", "notify", slack_messages, 300, 120, 60.0, 1, "60 req/min x 1 message"),
]


def steady_rate(rounds: list[tuple[float, int]], after: float) -> float | None:
    """Actions per real second over the rounds that ended after ``after`` seconds (past the
    first vendor window, so the limiter's first burst is left out); None if too few."""
    first = next((i for i, (at, _) in enumerate(rounds) if at >= after), None)
    if first is None or first >= len(rounds) - 2:
        return None
    t1, end = rounds[first][0], rounds[-1][0]
    return sum(count for _, count in rounds[first + 1:]) / (end - t1)


def measure(bench: Bench, case: Case, quick: bool) -> list[Any]:
    control, scale = bench.control, case.scale
    control.reset()  # real limits back on, time scale 1
    n = case.quick_n if quick else case.n
    actions = vendor_actions(case.prepare(control, n))
    control.set_time_scale(scale)
    limit = bench.config.tools[case.tool].rate_limit
    limiter = WindowLimiter({case.tool: limit}, clock=lambda: time.monotonic() * scale,
                                 sleep=lambda seconds: time.sleep(seconds / scale))
    options = {"job_poll_seconds": 1.0 / scale} if case.tool == "zendesk" else {}
    connector = make_connector(bench, case.tool, limiter, **options)
    round_size = connector.round_size  # as flows.steps.push claims them
    since = control.last_seq()
    failed, rounds = 0, []
    with Timer() as t:
        for chunk in chunked(actions, round_size):
            results = connector.apply(list(chunk), datetime.now(UTC))
            failed += sum(1 for r in results if r.status is not ResultStatus.DONE)
            rounds.append((time.perf_counter() - t.started, len(chunk)))
    calls, throttled, _ = vendor_calls(control, case.tool, since)
    vendor_seconds = t.seconds * scale
    achieved = n / vendor_seconds
    steady = steady_rate(rounds, limit.per_seconds / scale)
    steady_text = fmt(steady / scale) if steady is not None else "(run < 1 window)"
    bound = limit.requests * case.actions_per_request / limit.per_seconds
    design = window_rate(limit) * case.actions_per_request  # the limiter's steady rate
    return [case.tool, case.label, n, f"{scale:g}", f"{t.seconds:.1f}", fmt(vendor_seconds, 0), calls,
            fmt(achieved), steady_text, fmt(bound), ratio(steady or achieved * scale, bound * scale),
            fmt(design), ratio(steady or achieved * scale, design * scale), throttled, failed, case.why]


def run(quick: bool = False) -> None:
    note("== throughput: actions per vendor second at the vendors' real limits (time scaled) ==")
    rows = []
    with sandbox_bench() as bench:
        for case in CASES:
            rows.append(measure(bench, case, quick))
    print_table(
        "Throughput at the real rate limits (real connector, limiter on the sandbox's scaled clock)",
        ["tool", "actions", "N", "time scale", "real s", "vendor s", "calls", "actions/s (all)",
         "actions/s (steady)", "bound", "steady/bound", "limiter steady", "steady/limiter", "429s", "failed",
         "bound is"],
        rows)
    note("Rates are actions per vendor second. 'all' includes the limiter's initial burst; 'steady' is after the "
         "first vendor window. 'limiter steady' is the window limiter's rate (N per window widened by 2%: 0.98 x the "
         "limit, no window over N); steady/limiter < 1 means the run was bound by CPU (or extra calls), not by the limit.")
