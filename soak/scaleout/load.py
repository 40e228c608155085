"""The load phase of a scale-out run: enough writes to two tools with small rate limits that
only the limit shared by every worker (a Prefect global concurrency limit) keeps the three
workers under the vendor's window.

Slack allows 60 posts a minute and Movidesk 10 requests a minute; each push run on its own
would start with a full in-process bucket, so several push runs at once would exceed the
window. The actions are committed the way the engine commits them (one decision per
synthetic onboarding, state + action in one transaction), then pushed by several flow runs
at once, one of which is killed mid-push.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kickoff.model import Action, ActionKind, Decision, Onboarding, idempotency_key

SLACK_POSTS = 80        # > the 59 a minute the limiter allows: the window is filled
MOVIDESK_TICKETS = 13   # > the 10 a minute the limiter allows
LOADED_TOOLS = ("slack", "movidesk")


@dataclass(frozen=True)
class WindowPeak:
    """The most requests the sandbox answered for one vendor in any rolling window."""

    vendor: str
    peak: int
    limit: int
    window_seconds: float
    requests: int


def _decision(seed: int, tool: str, index: int, now: datetime) -> Decision:
    tenant, playbook = ("retention", "retention-alerts") if tool == "slack" else ("core", "core-implementation")
    onboarding = f"load-{seed}-{tool}-{index:03d}"
    state = Onboarding(id=onboarding, tenant=tenant, playbook=playbook, stage="new",
                       account_name=f"Load Test {index:03d} AB")
    if tool == "slack":
        action = Action(kind=ActionKind.NOTIFY, tool="slack", onboarding_id=onboarding, rule="W2", due_at=now,
                        payload={"to": ["#retention-alerts"], "body": f"Load test alert {index} (seed {seed})"},
                        idempotency_key=idempotency_key("load", seed, tool, index))
    else:
        action = Action(kind=ActionKind.CREATE_RECORD, tool="movidesk", onboarding_id=onboarding, rule="M1",
                        due_at=now, idempotency_key=idempotency_key("load", seed, tool, index),
                        payload={"object": "ticket", "fields": {"subject": f"CORE - Load Test {index:03d}"}})
    return Decision(state=state, actions=[action], audit=[f"scale-out load phase, seed {seed}"])


def commit_load(ledger: Any, seed: int, now: datetime) -> dict[str, int]:
    """Commit the load's decisions; return the number of actions per tool."""
    sizes = {"slack": SLACK_POSTS, "movidesk": MOVIDESK_TICKETS}
    for tool, count in sizes.items():
        for index in range(count):
            ledger.commit_decision(_decision(seed, tool, index, now), now=now)
    return sizes


def window_peaks(entries: list[dict[str, Any]], limits: dict[str, dict[str, Any]]) -> list[WindowPeak]:
    """For each loaded vendor: the largest number of requests inside any window of its length."""
    peaks = []
    for vendor in LOADED_TOOLS:
        limit = limits[vendor]
        window = float(limit["window_seconds"])
        times = sorted(e["at"] for e in entries if e["vendor"] == vendor)
        peak, first = 0, 0
        for last, moment in enumerate(times):
            while moment - times[first] >= window:
                first += 1
            peak = max(peak, last - first + 1)
        peaks.append(WindowPeak(vendor, peak, int(limit["requests"]), window, len(times)))
    return peaks


def load_moment(final_now: datetime) -> datetime:
    """An hour after the procedures' last moment: nothing of theirs is due then."""
    return final_now + timedelta(hours=1)
