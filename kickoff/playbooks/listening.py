"""What a playbook would act on next, for ops asking "why did nothing happen?": the facts an
onboarding waits for in its stage and status.

Read from the playbook's triggers, ``when`` conditions left aside: a rule named here may still
decide nothing on a fact whose data it does not want.
"""

from __future__ import annotations

from dataclasses import dataclass

from kickoff.events import EventType
from kickoff.model import Onboarding
from kickoff.playbooks.spec import Playbook, Trigger


@dataclass(frozen=True)
class Listener:
    """A fact (event type) and the rules that act on it."""

    event_type: str
    rules: tuple[str, ...]


def _applies(trigger: Trigger, state: Onboarding) -> bool:
    return ((trigger.stages is None or state.stage in trigger.stages)
            and (trigger.status is None or state.status.value in trigger.status))


def waiting_for(playbook: Playbook, state: Onboarding) -> list[Listener]:
    """The facts (not timers) some rule acts on in the onboarding's stage and status, with
    those rules, in the playbook's order; the start event (it came: the onboarding exists)
    only as a new cycle's, when the cycle allows one."""
    found: dict[str, list[str]] = {}
    came = {EventType.TIMER_FIRED, *playbook.start.on}
    for trigger in playbook.triggers:
        if not _applies(trigger, state):
            continue
        for event_type in trigger.on:
            if event_type not in came:
                rules = found.setdefault(event_type.value, [])
                if trigger.rule not in rules:
                    rules.append(trigger.rule)
    if playbook.cycles is not None and state.status.value == "completed":
        for event_type in playbook.cycles.on:
            found.setdefault(event_type.value, []).append(playbook.cycles.rule)
    return [Listener(kind, tuple(rules)) for kind, rules in found.items()]
