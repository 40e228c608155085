"""(1) API calls per action, per tool, against the fewest calls the vendor's batch sizes allow
and against one call per action.

Each tool's real connector (official client, real HTTP) applies N actions to the in-process
sandbox; the calls are counted from the sandbox's request log (e-mail: messages the SMTP
server received). Rate limits are off here (sandbox and limiter) since only the count matters;
``bench throughput`` measures the limits.

Run: ``.venv/bin/python -m bench calls [--quick]``.
"""

from __future__ import annotations

from typing import Any

from bench.common import Bench, Timer, fmt, note, print_table, ratio, sandbox_bench, vendor_calls
from bench.workloads import CALLS, Workload
from connectors.ratelimit import TokenBucketLimiter
from connectors.retry import RetryPolicy
from kickoff.model import ResultStatus


def make_connector(bench: Bench, tool: str, limiter: Any, **options: Any) -> Any:
    from flows.runtime import connector_class

    config = bench.config.tools[tool]
    config = config.model_copy(update={"options": {**config.options, **options}})
    return connector_class(tool)(config, limiter=limiter, retry=RetryPolicy())


def measure(bench: Bench, workload: Workload, n: int) -> list[Any]:
    control = bench.control
    control.reset()
    if workload.tool != "email":
        control.set_limits(workload.tool, enabled=False)
    actions = workload.prepare(control, n)
    connector = make_connector(bench, workload.tool, TokenBucketLimiter({}), **workload.options)
    since, mails = control.last_seq(), len(control.emails()) if workload.tool == "email" else 0
    with Timer() as t:
        results = connector.apply(actions)
    failed = sum(1 for r in results if r.status is not ResultStatus.DONE)
    if workload.tool == "email":
        calls, routes = len(control.emails()) - mails, {"SMTP messages": len(control.emails()) - mails}
    else:
        calls, _, routes = vendor_calls(control, workload.tool, since)
    minimum = workload.minimum(n)
    detail = ", ".join(f"{count} {route.split(' ', 1)[1]}" for route, count in sorted(routes.items()))
    return [workload.tool, workload.label, n, calls, f"{calls / n:.3f}", minimum, ratio(calls, minimum),
            n, f"{calls / n:.3f}", f"{t.seconds:.1f}", fmt(n / t.seconds, 0), failed, detail, workload.why]


def run(quick: bool = False) -> None:
    sizes = (250,) if quick else (250, 1000)
    note(f"== calls: API calls per action, N = {', '.join(map(str, sizes))} actions per tool ==")
    rows = []
    with sandbox_bench() as bench:
        for workload in CALLS:
            for n in sizes:
                rows.append(measure(bench, workload, n))
    print_table(
        "API calls per action (sandbox request log; limits off)",
        ["tool", "actions", "N", "calls", "calls/action", "minimum", "calls/min", "1-per-action",
         "calls/baseline", "s", "actions/s (no limit)", "failed", "calls by route", "minimum is"],
        rows)
    worst = max(float(r[6]) for r in rows)
    note(f"calls/min: 1.00 means the vendor's batch size is fully used; worst here {worst:.2f}. "
         "actions/s (no limit) is this machine's ceiling (client and sandbox share one process).")
