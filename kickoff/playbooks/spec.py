"""The shape of a playbook file (config/playbooks/*.yaml), as pydantic models.

A playbook is data a person can read next to the seed document: stages, owners, the facts
it remembers, and triggers (an event or a timer, conditions, actions), each line naming
the rule it implements. Expressions (``when``, ``set``, ``{...}`` in texts) are checked by
``kickoff.playbooks.check`` and evaluated by ``kickoff.playbooks.expr``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from kickoff.calendar import Calendar
from kickoff.events import EventType
from kickoff.model import RULE_ID_PATTERN, ActionKind
from kickoff.yamlfile import LINE_KEY, strip_lines

FreeDict = Annotated[dict[str, Any], BeforeValidator(strip_lines)]
"""A mapping whose content is free-form (payload fields, facts, constants): no line keys."""


def _drop_line(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != LINE_KEY}
    return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    line: int = Field(default=0, alias=LINE_KEY, description="where it starts in the file")


ONE_OR_MANY = BeforeValidator(lambda v: [v] if isinstance(v, str) else v)
"""A list that may be written as its one item (``on: contract.signed``)."""
Conditions = Annotated[list[str], ONE_OR_MANY]
Events = Annotated[list[EventType], ONE_OR_MANY]


class TimeSpec(_Spec):
    """A moment relative to the event or to a date on the onboarding, in the tenant's zone.

    ``from`` is an expression (``event``, ``now``, ``start_on``, ``data.start``,
    ``facts.flow_started_at``); ``days``/``business_days`` move the calendar date keeping
    the wall-clock time (DST-correct), ``time`` sets the local time of day, ``hours`` and
    ``minutes`` then add elapsed time. ``latest_of``/``earliest_of`` pick among several.
    """

    from_: str = Field(default="event", alias="from")
    days: int | str = 0
    business_days: int | str = Field(default=0, description="the tenant's business days (holidays skipped)")
    hours: int = 0
    minutes: int | str = 0
    time: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    latest_of: list[TimeSpec] | None = None
    earliest_of: list[TimeSpec] | None = None


class TimerSpec(_Spec):
    key: str
    at: TimeSpec
    data: FreeDict = Field(default_factory=dict)


class TaskRef(_Spec):
    task: str
    section: str | None = None


PAYLOAD_KINDS: tuple[str, ...] = tuple(k.value for k in ActionKind)
STATE_KINDS: tuple[str, ...] = ("set", "set_status", "set_timer", "cancel_timers", "use")
STATUSES: tuple[str, ...] = ("active", "paused", "stopped", "completed")


class ActionSpec(_Spec):
    """One line of a trigger: exactly one of the kinds below, with the rule it implements.

    Payload kinds (``set_stage`` ... ``notify``) become an ``Action`` for ``tool``; the
    others change the onboarding (``set``, ``set_status``), its timers, or include a block.
    """

    rule: str | None = Field(default=None, pattern=RULE_ID_PATTERN)
    tool: str | None = None
    id: str | None = Field(default=None, description="name: for complete_task and target")
    when: Conditions = Field(default_factory=list)
    once: bool = Field(default=False, description="one key per onboarding, not per occasion")
    target: str | None = Field(default=None, description="id of a create_record action")
    record: str | None = Field(default=None, description="another record than the main one")
    record_id: str | None = None

    set_stage: str | None = None
    assign_owner: str | None = None
    create_task: FreeDict | None = None
    complete_task: str | TaskRef | None = None
    add_note: FreeDict | None = None
    create_record: FreeDict | None = None
    post_action: FreeDict | None = None
    notify: FreeDict | None = None
    set: FreeDict | None = None
    set_status: Literal["active", "paused", "stopped", "completed"] | None = None
    set_timer: TimerSpec | None = None
    cancel_timers: list[str] | Literal["all"] | None = None
    use: str | None = None
    due: TimeSpec | None = Field(default=None, description="a create_task's due time (written inside it)")

    @model_validator(mode="before")
    @classmethod
    def _lift_due(cls, data: Any) -> Any:
        task = data.get("create_task") if isinstance(data, dict) else None
        if isinstance(task, dict) and "due" in task:
            data = dict(data)
            data["due"] = task["due"]
            data["create_task"] = {k: v for k, v in task.items() if k != "due"}
        return data

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ActionSpec:
        kinds = [k for k in PAYLOAD_KINDS + STATE_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"an action has exactly one of {', '.join(PAYLOAD_KINDS + STATE_KINDS)}; got {kinds or 'none'}"
            )
        if self.create_task is not None and self.due is None:
            raise ValueError("a create_task says when it is due (due: {from: ..., days: ...})")
        if kinds[0] in PAYLOAD_KINDS and not self.tool:
            raise ValueError(f"a {kinds[0]} action names its target tool (tool: ...)")
        return self

    @cached_property
    def kind(self) -> str:
        """Which of the kinds this line is (found once: every decision asks)."""
        return next(k for k in PAYLOAD_KINDS + STATE_KINDS if getattr(self, k) is not None)

    @property
    def payload_spec(self) -> dict[str, Any]:
        """The payload fields as written (templates)."""
        value = getattr(self, self.kind)
        return dict(value) if isinstance(value, dict) else {}


class Trigger(_Spec):
    """When ``on`` happens (and the timer is ``timer``), in ``stages``, if ``when``: ``do``, else ``else``."""

    rule: str = Field(pattern=RULE_ID_PATTERN)
    on: Events
    timer: str | None = None
    tasks: Annotated[list[str] | None, ONE_OR_MANY] = Field(
        default=None, description="task.updated: only for these tasks (create_task or create_record ids)")
    stages: list[str] | None = None
    status: list[Literal["active", "paused", "stopped", "completed"]] | None = None
    when: Conditions = Field(default_factory=list)
    do: list[ActionSpec] = Field(default_factory=list)
    else_: list[ActionSpec] = Field(default_factory=list, alias="else")
    note: str | None = None

    @model_validator(mode="after")
    def _timer_needs_timer_event(self) -> Trigger:
        if self.tasks is not None and self.on != [EventType.TASK_UPDATED]:
            raise ValueError("a trigger with 'tasks' is 'on: task.updated'")
        if self.timer and self.on != [EventType.TIMER_FIRED]:
            raise ValueError("a trigger with 'timer' is 'on: timer.fired'")
        if self.on == [EventType.TIMER_FIRED] and not self.timer:
            raise ValueError("a 'timer.fired' trigger names its timer (timer: ...)")
        return self


class Start(_Spec):
    """The event that creates the onboarding (its id is the event's subject)."""

    on: Events
    stage: str
    rule: str = Field(pattern=RULE_ID_PATTERN)
    when: Conditions = Field(default_factory=list)


class CycleSpec(_Spec):
    """A customer who comes back: what starts a new cycle for a subject that already has one.

    When an event of ``on`` arrives and ``when`` holds on the onboarding as it is (default:
    the previous cycle is over, status completed), a new cycle begins before the triggers
    run: stage ``stage``, status active, the ``facts`` that belong to a cycle back to their
    declared value (onboarding fields such as ``start_on`` to empty), pending timers
    cancelled, and the cycle's open tasks and created records forgotten, so nothing of the
    closed cycle drives the new one.
    """

    on: Events
    when: Conditions = Field(default_factory=lambda: ["status == 'completed'"])
    stage: str
    rule: str = Field(pattern=RULE_ID_PATTERN)
    facts: list[str] = Field(default_factory=list)


class SignalSpec(_Spec):
    """Facts that tell about a recent signal (an NPS answer): they read as empty once the
    signal is older than ``recent_days`` (the tenant may say otherwise), whatever the cycle."""

    facts: list[str]
    recent_days: int = Field(default=30, ge=1)


class StageSpec(_Spec):
    seed: str | None = Field(default=None, description="the stage's name in the seed document")
    terminal: bool = False
    description: str | None = None


class Playbook(_Spec):
    """One procedure of RULES.md, as data."""

    playbook: str
    title: str
    seed: str
    family: Literal["E", "T", "A", "W", "M"]
    timezone: str = Field(description="default when the tenant's zone is not given")
    calendar: Annotated[Calendar, BeforeValidator(strip_lines)] = Field(default_factory=Calendar,
                               description="business days when the tenant's calendar is not given")
    tools: list[str]
    stages: Annotated[dict[str, StageSpec], BeforeValidator(_drop_line)]
    owners: Annotated[dict[str, str], BeforeValidator(strip_lines)]
    record_stages: Annotated[dict[str, list[str]], BeforeValidator(strip_lines)] = Field(default_factory=dict)
    facts: FreeDict = Field(default_factory=dict)
    constants: FreeDict = Field(default_factory=dict)
    start: Start
    cycles: CycleSpec | None = None
    signals: Annotated[dict[str, SignalSpec], BeforeValidator(_drop_line)] = Field(default_factory=dict)
    blocks: Annotated[dict[str, list[ActionSpec]], BeforeValidator(_drop_line)] = Field(default_factory=dict)
    triggers: list[Trigger]
    names: FreeDict = Field(default_factory=dict, description=(
        "what the tools call the playbook's stages, owner roles and records (``kickoff discover`` "
        "matches them): stages (default: each stage's seed name), owners, and per tool its own"))

    source: str = Field(default="", exclude=True, description="the file it was loaded from")

    @property
    def name(self) -> str:
        return self.playbook

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def by_event(self) -> dict[EventType, list[Trigger]]:
        """Triggers per event type, in file order: the decision's hot path."""
        index: dict[EventType, list[Trigger]] = {}
        for trigger in self.triggers:
            for event_type in trigger.on:
                index.setdefault(event_type, []).append(trigger)
        return index
