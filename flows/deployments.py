"""Every deployment, described once as data: ``kickoff up`` serves them (``all_deployments``)
and ``prefect.yaml`` is generated from them (``python -m flows.deployments > prefect.yaml``;
a test keeps the file equal to the generated text).

The fixed ones (process-inbox, tick, reconcile, replay-dead-letters) plus, from the tools'
declarations, ``poll-<tool>`` for each tool Kickoff reads and ``push-<tool>`` for each it
writes to. Event triggers (always matched on our own resource namespace: an omitted
``match`` would fire on every resource) do the work; the runs that set timers schedule the
tick for their moment, and a push with retries schedules itself for the next one. Schedules
are slow safety nets: ``kickoff up`` replaces those of the ledger's deployments (``swept``)
by ``flows.sweep``, which reads the ledger and starts a run only when work is due.

Nothing here imports Prefect until a deployment is built for serving.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from flows.prefect_events import INBOX_RECEIVED, OUTBOX_READY
from kickoff.tools import declared

FLOWS_MODULE = "flows/flows.py"
PREFECT_VERSION = "3.8.8"
WORK_POOL = {"name": "kickoff", "work_queue_name": "default"}
SAFETY_INTERVAL = 1800
"""Seconds between the safety runs of the ledger's deployments (events and the runs'
own scheduling do the work; on a work pool this catches what they missed)."""
POLL_INTERVAL = 1800
"""Seconds between polls: every polled tool also sends webhooks, and ``reconcile`` re-reads
everything hourly; the polls catch what webhooks never carry (a HubSpot task marked done)."""
"""The process work pool every deployment of ``prefect.yaml`` runs on (``*pool`` there)."""


@dataclass(frozen=True)
class Trigger:
    """Start the deployment when ``event`` is emitted about the resource ``resource``."""

    name: str
    event: str
    resource: str

    def as_yaml(self) -> dict[str, Any]:
        return {"name": self.name, "enabled": True, "match": {"prefect.resource.id": self.resource},
                "expect": [self.event]}


@dataclass(frozen=True)
class Deployment:
    """One deployment of a flow in ``flows/flows.py``."""

    name: str
    flow: str
    description: str
    tool: str | None = None
    interval: int | None = None
    cron: str | None = None
    concurrency_limit: int | None = None
    triggers: tuple[Trigger, ...] = ()
    swept: bool = False
    """Its work is in the ledger, so ``flows.sweep`` can tell when it is due (served without
    the safety schedule by ``kickoff up``, whose sweep loop starts it instead)."""

    @property
    def parameters(self) -> dict[str, Any]:
        return {"tool": self.tool} if self.tool else {}

    def schedules(self) -> list[dict[str, Any]]:
        if self.interval is not None:
            return [{"interval": self.interval}]
        if self.cron is not None:
            return [{"cron": self.cron}]
        return []

    def as_yaml(self) -> dict[str, Any]:
        """The deployment's entry in ``prefect.yaml``, as YAML reads it back."""
        entry: dict[str, Any] = {"name": self.name, "entrypoint": f"{FLOWS_MODULE}:{self.flow}",
                                 "description": self.description}
        if self.parameters:
            entry["parameters"] = self.parameters
        entry["work_pool"] = WORK_POOL
        if self.concurrency_limit is not None:
            entry["concurrency_limit"] = self.concurrency_limit
        if self.schedules():
            entry["schedules"] = self.schedules()
        if self.triggers:
            entry["triggers"] = [trigger.as_yaml() for trigger in self.triggers]
        return entry

    def served(self, sweeping: bool = False) -> Any:
        """The deployment for ``prefect.serve`` (imports Prefect and the flows); with
        ``sweeping`` a swept deployment has no schedule (the sweep loop starts it when due)."""
        from prefect.events import DeploymentEventTrigger

        from flows import flows

        triggers = [DeploymentEventTrigger(name=t.name, expect={t.event},
                                           match={"prefect.resource.id": t.resource})
                    for t in self.triggers]
        scheduled = not (sweeping and self.swept)
        return getattr(flows, self.flow).to_deployment(
            name=self.name, parameters=self.parameters or None, interval=self.interval if scheduled else None,
            cron=self.cron if scheduled else None, triggers=triggers or None, concurrency_limit=self.concurrency_limit,
            description=self.description)


def deployments() -> list[Deployment]:
    """Every deployment: the fixed ones, then poll-<tool> and push-<tool> from the declarations."""
    fixed = [
        Deployment("process-inbox", "process_inbox_flow", interval=SAFETY_INTERVAL, concurrency_limit=1,
                   triggers=(Trigger("on-inbox-received", INBOX_RECEIVED, "kickoff.inbox.*"),), swept=True,
                   description="Inbox -> mapping -> playbook -> decision committed; "
                               "on kickoff.inbox.received (a safety run every 30 minutes)."),
        Deployment("tick", "tick_flow", interval=SAFETY_INTERVAL, concurrency_limit=1, swept=True,
                   description="Due timers -> playbook; scheduled for each timer's moment by the run "
                               "that set it (a safety run every 30 minutes)."),
        Deployment("reconcile", "reconcile_flow", interval=3600, concurrency_limit=1,
                   description="Re-reads every polled tool (a missed webhook is found) and "
                               "repairs stage drift, hourly."),
        Deployment("replay-dead-letters", "replay_dead_letters_flow",
                   description="Manual: sends dead letters again."),
    ]
    tools = declared()
    polls = [Deployment(f"poll-{t.name}", "poll_flow", tool=t.name, interval=POLL_INTERVAL,
                        concurrency_limit=1,
                        description=f"{t.title} changes since the cursor -> inbox, every 30 minutes "
                                    "(what its webhooks do not send).")
             for t in tools if t.polls]
    pushes = [Deployment(f"push-{t.name}", "push_flow", tool=t.name, interval=SAFETY_INTERVAL,
                         concurrency_limit=1, swept=True,
                         triggers=(Trigger(f"on-outbox-ready-{t.name}", OUTBOX_READY,
                                           f"kickoff.outbox.{t.name}"),),
                         description=f"Outbox -> {t.title}, batched and rate-limited; on "
                                     "kickoff.outbox.ready, and scheduled for its next retry "
                                     "(a safety run every 30 minutes).")
              for t in tools if t.pushes]
    return fixed + polls + pushes


def all_deployments(tools: Iterable[str] | None = None, sweeping: bool = False) -> list[Any]:
    """The served deployments for the configured ``tools`` (every declared one when None);
    ``sweeping``: the caller runs ``flows.sweep``'s loop, which replaces the safety schedules."""
    wanted = None if tools is None else set(tools)
    return [d.served(sweeping) for d in deployments()
            if d.tool is None or wanted is None or d.tool in wanted]


# --- prefect.yaml -------------------------------------------------------------------------
HEADER = """\
# Kickoff's deployments for a Prefect process work pool (`prefect deploy --all`), then
# `prefect worker start -p kickoff --type process` on as many machines as you like.
# `kickoff up` serves the same set in one process without a work pool.
# Generated from flows/deployments.py and the tools' declarations (kickoff/tools/):
# `python -m flows.deployments > prefect.yaml` (a test fails while the two differ).
name: kickoff
prefect-version: {version}

pull:
  - prefect.deployments.steps.set_working_directory:
      directory: "{{{{ $KICKOFF_ROOT }}}}"

definitions:
  work_pool: &pool
    name: {pool[name]}
    work_queue_name: {pool[work_queue_name]}

deployments:
"""

FOOTER = """
# After `prefect deploy --all` (and whenever config/alerts.yaml changes): `kickoff alerts sync`
# creates or updates the automations kickoff-dead-letter-alert and kickoff-failed-timer-alert,
# which turn each push run's kickoff.push.dead_letters, and each tick run's
# kickoff.tick.timers_failed, into a notification through the Prefect block config/alerts.yaml
# names (a Slack webhook, e-mail...). `kickoff blocks register` puts the tools' credentials in
# Prefect Secret blocks, which config/tools.yaml then names block:NAME.
"""


def prefect_yaml() -> str:
    """The text of ``prefect.yaml``: every deployment on the ``kickoff`` process work pool."""
    lines = [HEADER.format(version=PREFECT_VERSION, pool=WORK_POOL).rstrip("\n")]
    for deployment in deployments():
        entry = deployment.as_yaml()
        lines.append(f"  - name: {_scalar(entry.pop('name'), flow=False)}")
        for key, value in entry.items():
            if key == "triggers":
                lines.append("    triggers:")
                lines += [f"      - {_flow(trigger)}" for trigger in value]
                continue
            if value is WORK_POOL:
                text = "*pool"
            elif isinstance(value, dict | list):
                text = _flow(value)
            else:
                text = _scalar(value, flow=False)
            lines.append(f"    {key}: {text}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n" + FOOTER


def _flow(value: Any) -> str:
    """``value`` in YAML flow style: ``{k: v}``, ``[a, b]``, scalars as plain as YAML allows."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _scalar(value: Any, *, flow: bool = True) -> str:
    """A scalar written plain when YAML reads it back unchanged there, else double-quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    probe = f"[{text}]" if flow else f"k: {text}"
    try:
        plain = yaml.safe_load(probe) == ([text] if flow else {"k": text})
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)


if __name__ == "__main__":
    sys.stdout.write(prefect_yaml())
