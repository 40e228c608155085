"""What a playbook needs in an event's data: the fields it writes on as a record's id.

An action such as ``{tool: hubspot, set_stage: completed, record_id: "{data.meeting_id}"}``
can only fail at the tool (a dead letter, long after the event was accepted) when the event
does not name the record. So the event is refused where it comes in instead
(``/webhooks/events``: 422 naming the field), for the tenants whose playbook needs it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kickoff.playbooks.spec import ActionSpec, Playbook

_DATA_FIELD = re.compile(r"^\{data\.([A-Za-z_][A-Za-z0-9_]*)\}$")


def data_needs(playbook: Playbook) -> dict[str, dict[str, str]]:
    """Event type -> {data field: the rule that writes on it}, for every action a trigger of
    that type takes unconditionally (blocks it uses included) whose record id is one of the
    event's fields. (A step under its own ``when`` may never need it: not counted.)"""
    needs: dict[str, dict[str, str]] = {}
    for trigger in playbook.triggers:
        for step in _steps(playbook, [*trigger.do, *trigger.else_], set()):
            found = None if step.when else _DATA_FIELD.match(step.record_id or "")
            if found:
                for event_type in trigger.on:
                    needs.setdefault(event_type.value, {}).setdefault(found.group(1), step.rule or trigger.rule)
    return needs


def _steps(playbook: Playbook, steps: Iterable[ActionSpec], seen: set[str]) -> Iterable[ActionSpec]:
    for step in steps:
        yield step
        if not step.when and step.use and step.use not in seen and step.use in playbook.blocks:
            yield from _steps(playbook, playbook.blocks[step.use], seen | {step.use})
