"""``kickoff up``: the whole stack on one machine for the embedded default — a local Prefect
server with SQLite, every deployment served in this process, the gateway, and (with
``--sandbox``) the sandbox — until Ctrl-C, then everything it started is stopped."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("kickoff.up")


def ensure_dead_letter_automation() -> bool:
    """The example automation: a ``kickoff.action.dead`` event shows up as a Prefect alert
    (here: it cancels nothing and notifies nobody until ops attach a notification block)."""
    try:
        from prefect.automations import Automation
        from prefect.events.actions import DoNothing
        from prefect.events.schemas.automations import EventTrigger, Posture

        existing = Automation.read(name="kickoff-dead-letter-alert")
        if existing:
            return True
    except Exception:  # noqa: BLE001 - not found, or an older API: create it below
        pass
    try:
        Automation(
            name="kickoff-dead-letter-alert",
            description="An action gave up and is in the dead-letter state: see `kickoff ledger dead`.",
            trigger=EventTrigger(expect={"kickoff.action.dead"}, match={"prefect.resource.id": "kickoff.action.*"},
                                 posture=Posture.Reactive, threshold=1),
            actions=[DoNothing()],
        ).create()
        return True
    except Exception as exc:  # noqa: BLE001 - an example; the stack runs without it
        log.warning("could not create the dead-letter automation: %s", type(exc).__name__)
        return False


def run_up(home: Path, with_sandbox: bool, prefect_port: int, gateway_port: int) -> int:
    from prefect import serve

    from connectors.ratelimit import sync_prefect_limits
    from flows.deployments import all_deployments
    from flows.local.stack import local_stack
    from flows.runtime import default_runtime

    with local_stack(home, with_sandbox=with_sandbox, prefect_port=prefect_port, gateway_port=gateway_port) as stack:
        rt = default_runtime()
        limits = sync_prefect_limits(rt.config.tools)
        ensure_dead_letter_automation()
        print(f"Prefect UI:   {stack.prefect.ui_url if stack.prefect else '-'}")
        print(f"Gateway:      {stack.gateway.url if stack.gateway else '-'}/webhooks/<tool>")
        if stack.sandbox:
            print(f"Sandbox:      {stack.sandbox.url}/_sandbox/")
        print(f"Rate limits:  {len(limits)} Prefect global concurrency limits synced")
        print("Serving every deployment; Ctrl-C stops everything.")
        try:
            serve(*all_deployments(set(rt.config.tools)))
        except KeyboardInterrupt:
            pass
    return 0
