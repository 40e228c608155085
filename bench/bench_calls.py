"""(1) API calls per action, per tool, against the fewest calls the vendor's batch sizes allow
and against one call per action.

Each tool's real connector (official client, real HTTP, built by ``build_connector``)
applies N vendor actions (validated by the tool's payload models) to the in-process sandbox;
the calls are counted from the sandbox's request log (e-mail: messages the SMTP server
received). Rate limits are off here (sandbox and limiter) since only the count matters;
``bench throughput`` measures the limits.

Run: ``.venv/bin/python -m bench calls [--quick]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Bench, Timer, fmt, note, print_table, ratio, sandbox_bench, vendor_calls
from bench.workloads import CALLS, Workload
from connectors import build_connector
from connectors.ratelimit import RateLimiter, WindowLimiter
from kickoff.contracts.vendor import VendorAction
from kickoff.model import Action, ResultStatus
from kickoff.retry import RetryPolicy
from mappings.base import load_tables, mapping_for


def make_connector(bench: Bench, tool: str, limiter: RateLimiter, **options: Any) -> Any:
    """The tool's connector as the flows build it (reading what its mapping needs), with
    ``options`` over the configured ones."""
    tool_config = bench.config.tools[tool]
    tool_config = tool_config.model_copy(update={"options": {**tool_config.options, **options}})
    config = bench.config.model_copy(update={"tools": {**bench.config.tools, tool: tool_config}})
    tables = load_tables(Path(bench.config.settings.config_dir)).get(tool, {})
    return build_connector(tool, config, limiter=limiter, retry=RetryPolicy(),
                           reads=mapping_for(tool).reads(tables))


def vendor_actions(actions: Sequence[Action]) -> list[VendorAction]:
    """The workloads' actions (payloads already in the tool's terms), validated by the tool's
    payload models as a mapping's ``to_vendor`` does."""
    return [VendorAction.of(action, action.payload) for action in actions]


def measure(bench: Bench, workload: Workload, n: int) -> list[Any]:
    control = bench.control
    control.reset()
    if workload.tool != "email":
        control.set_limits(workload.tool, enabled=False)
    actions = vendor_actions(workload.prepare(control, n))
    connector = make_connector(bench, workload.tool, WindowLimiter({}), **workload.options)
    since, mails = control.last_seq(), len(control.emails()) if workload.tool == "email" else 0
    now = datetime.now(UTC)  # the bench is an edge, like the flows: it reads the clock
    with Timer() as t:
        results = connector.apply(actions, now)
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
