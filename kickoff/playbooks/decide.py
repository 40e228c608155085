"""The decision: (onboarding state, canonical event, now, playbook) -> Decision.

Pure: no clock, no I/O; the same inputs give the same state, actions, timers and keys.
Triggers run top to bottom and each sees what the ones above it changed. The engine's own
bookkeeping lives in ``state.facts`` under names starting with ``_`` (pending timers, open
tasks, created records, the cycle, when each signal came), so a stored state is all a later
decision needs.

A customer who comes back starts a new cycle (the playbook's ``cycles``): what belonged to
the closed cycle (its facts, open tasks, records, timers) is forgotten first. A task done in
its tool (``task.updated``, completed) is matched to the open task of this cycle it is; a
task of another cycle, or one already done, drives nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from kickoff.actions import PAYLOAD_MODELS
from kickoff.calendar import Calendar
from kickoff.events import EVENT_DATA_MODELS, READ_ON_ARRIVAL, EventType
from kickoff.model import (
    CREATED_RECORDS_FACT,
    CYCLE_FACT,
    DONE_TASKS_FACT,
    OPEN_TASKS_FACT,
    Action,
    ActionKind,
    Decision,
    Event,
    Onboarding,
    OnboardingStatus,
    Timer,
    idempotency_key,
)
from kickoff.playbooks import expr
from kickoff.playbooks.functions import as_date, as_datetime
from kickoff.playbooks.spec import ActionSpec, Playbook, Trigger
from kickoff.playbooks.timecalc import NoAnchor, resolve

TIMERS, TASKS, RECORDS = "_timers", OPEN_TASKS_FACT, CREATED_RECORDS_FACT
CYCLE, SIGNALS, DONE = CYCLE_FACT, "_signals", DONE_TASKS_FACT
CYCLE_BOOKKEEPING = (TASKS, RECORDS, DONE)
"""What the engine keeps per cycle: open tasks, created records, tasks done in their tool."""
ONBOARDING_FIELDS: dict[str, str] = {
    "owner": "text",
    "account_id": "text",
    "account_name": "text",
    "signed_on": "date",
    "start_on": "date",
    "go_live_on": "date",
}
"""Onboarding fields a playbook may ``set``; every other name is a declared fact."""


class PlaybookRuntimeError(RuntimeError):
    """A playbook line that cannot be carried out (``playbook check`` should have caught it)."""


def decide(
    state: Onboarding | None,
    event: Event,
    now: datetime,
    playbook: Playbook,
    *,
    tz: ZoneInfo | str | None = None,
    tenant: str | None = None,
    calendar: Calendar | None = None,
    recent_days: Mapping[str, int] | None = None,
) -> Decision | None:
    """Decide what ``event`` means for the onboarding at ``now``.

    ``state`` None: the playbook's start trigger creates the onboarding (id = event.subject);
    an event that starts nothing gives None. ``tz`` is the tenant's time zone, ``calendar``
    its business days and ``recent_days`` its recency windows per signal (defaults: the
    playbook's). A ``timer.fired`` event for a timer that is no longer pending (cancelled,
    replaced) changes nothing.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(tz) if isinstance(tz, str) else (tz or playbook.zone)
    audit: list[str] = []
    if state is None:
        state = _start(event, playbook, zone, now, tenant)
        if state is None:
            return None
        audit.append(
            f"{playbook.start.rule}: onboarding {state.id} started in stage {state.stage} "
            f"by {event.type} {event.id}"
        )
    else:
        state = copy_state(state)
    run = _Run(playbook, state, event, now, zone, audit, calendar, recent_days)
    if event.type == EventType.TIMER_FIRED and not run.take_timer():
        return Decision(state=state, audit=run.audit)
    if event.type == EventType.TASK_UPDATED and not run.take_task():
        return run.decision()
    run.new_cycle()
    for trigger in playbook.by_event.get(EventType(event.type), []):
        run.trigger(trigger)
    return run.decision()


def _start(
    event: Event, playbook: Playbook, zone: ZoneInfo, now: datetime, tenant: str | None
) -> Onboarding | None:
    if EventType(event.type) not in playbook.start.on:
        return None
    facts = json.loads(json.dumps(playbook.facts))
    facts.update({TIMERS: {}, TASKS: {}, RECORDS: {}})
    state = Onboarding(
        id=event.subject,
        tenant=tenant or event.tenant or playbook.name,
        playbook=playbook.name,
        stage=playbook.start.stage,
        facts=facts,
    )
    if playbook.start.when and not expr.holds(
        playbook.start.when, _Run(playbook, state, event, now, zone, []).env()
    ):
        return None
    return state


def copy_state(state: Onboarding) -> Onboarding:
    """A copy the decision may change, ``state`` left as it was: its facts and refs copied
    (JSON: dicts, lists and scalars), its other fields are immutable values. Much cheaper
    than a generic deep copy, which was a tenth of every decision."""
    return state.model_copy(update={"facts": _copy_json(state.facts), "refs": dict(state.refs)})


def _copy_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


def event_occasion(event: Event) -> str:
    """What makes this event's actions unique, ignoring its id (a redelivery may get a new one)
    and what a source read on arrival (``READ_ON_ARRIVAL``)."""
    if event.type == EventType.TIMER_FIRED:
        fire_at = as_datetime(event.data.get("fire_at")) or event.occurred_at
        return f"timer:{event.data['timer']}@{fire_at.astimezone(UTC).isoformat()}"
    body = json.dumps(
        {
            "type": str(event.type),
            "subject": event.subject,
            "at": event.occurred_at.astimezone(UTC).isoformat(),
            "data": {k: v for k, v in event.data.items() if k not in READ_ON_ARRIVAL},
        },
        sort_keys=True,
        default=str,
    )
    return "event:" + hashlib.sha256(body.encode()).hexdigest()[:16]


_AS_IS = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Dates as ISO text, recursively: facts and timer data are stored as JSON."""
    if type(value) in _AS_IS:  # most values: one set lookup instead of three isinstance calls
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def action_name(spec: ActionSpec) -> str:
    """A stable name for a playbook line: its ``id``, or a digest of what it says (worked out
    once per line: a loaded playbook's lines do not change)."""
    if spec.id:
        return spec.id
    known = _NAMES.get(id(spec))
    if known is not None and known[0] is spec:
        return known[1]
    body = spec.model_dump_json(exclude={"line"}, exclude_none=True, by_alias=True)
    name = hashlib.sha256(body.encode()).hexdigest()[:12]
    _NAMES[id(spec)] = (spec, name)
    return name


_NAMES: dict[int, tuple[ActionSpec, str]] = {}


class _Run:
    """One decision in progress: the state being changed and what has been decided so far."""

    def __init__(
        self,
        playbook: Playbook,
        state: Onboarding,
        event: Event,
        now: datetime,
        zone: ZoneInfo,
        audit: list[str],
        calendar: Calendar | None = None,
        recent_days: Mapping[str, int] | None = None,
    ) -> None:
        self.playbook, self.state, self.event, self.now, self.zone = playbook, state, event, now, zone
        self.audit = audit
        self.calendar = calendar or playbook.calendar
        self.recent_days = recent_days or {}
        self.task: str | None = None
        """The playbook's name of the task a ``task.updated`` event is about."""
        self.actions: list[Action] = []
        self.timers_set: dict[str, Timer] = {}
        self.timers_cancelled: set[str] = set()
        self.keys: set[str] = set()
        self.is_timer = event.type == EventType.TIMER_FIRED
        self.timer_key: str | None = event.data.get("timer") if self.is_timer else None
        self.origin_event = (event.data.get("set_by") or event.id) if self.is_timer else event.id
        self.occasion = event_occasion(event)
        model = EVENT_DATA_MODELS[EventType(event.type)]
        self.data = _local(model.model_validate(event.data, context={"zone": zone}).model_dump(), zone)
        local_now = now.astimezone(zone)
        self._fixed = {"data": self.data, "const": playbook.constants, "event": event.occurred_at.astimezone(zone),
                       "now": local_now, "today": local_now.date(), "timer": self.timer_key}
        self._env: dict[str, Any] | None = None

    # -- reading ------------------------------------------------------------------------
    def env(self) -> dict[str, Any]:
        """What expressions read. Built once and kept until the state changes (``changed``):
        the triggers of one decision read it a dozen times."""
        if self._env is not None:
            return self._env
        state = self.state
        self._env = {
            **self._fixed,
            "facts": self.facts(),
            "stage": state.stage,
            "status": str(state.status),
            "owner": state.owner,
            "account_name": state.account_name,
            "account_id": state.account_id,
            "signed_on": state.signed_on,
            "start_on": state.start_on,
            "go_live_on": state.go_live_on,
            "id": state.id,
            "tenant": state.tenant,
        }
        return self._env

    def changed(self) -> None:
        """The state's fields or declared facts changed: expressions must read them anew."""
        self._env = None

    def eval(self, source: str) -> Any:
        return expr.evaluate(source, self.env())

    def facts(self) -> dict[str, Any]:
        """The declared facts; a signal's facts read as empty once the signal is not recent."""
        facts = {k: v for k, v in self.state.facts.items() if not k.startswith("_")}
        stamps = self.state.facts.get(SIGNALS) or {}
        for name, signal in self.playbook.signals.items():
            came = as_datetime(stamps.get(name))
            days = self.recent_days.get(name, signal.recent_days)
            if came is None or self.event.occurred_at - came > timedelta(days=days):
                facts.update({fact: None for fact in signal.facts})
        return facts

    @property
    def cycle(self) -> int:
        return self.state.cycle

    # -- cycles and tasks -------------------------------------------------------------------
    def new_cycle(self) -> None:
        """Start a new cycle when the playbook says this event does (a customer who comes back)."""
        spec = self.playbook.cycles
        if spec is None or EventType(self.event.type) not in spec.on or not expr.holds(spec.when, self.env()):
            return
        facts, number = self.state.facts, self.cycle + 1
        for key in sorted(facts.get(TIMERS) or {}):
            self.timers_cancelled.add(key)
        facts[TIMERS] = {}
        for name in CYCLE_BOOKKEEPING:
            facts.pop(name, None)
        facts.update({TASKS: {}, RECORDS: {}})
        defaults = json.loads(json.dumps(self.playbook.facts))
        for name in spec.facts:
            if name in ONBOARDING_FIELDS:
                setattr(self.state, name, None)
            else:
                facts[name] = defaults.get(name)
        facts[CYCLE] = {"n": number, "started_at": self.event.occurred_at.isoformat(), "by": self.event.id}
        self.state.stage, self.state.status = spec.stage, OnboardingStatus.ACTIVE
        self.changed()
        self.audit.append(
            f"{spec.rule}: cycle {number} of {self.state.id} starts in stage {spec.stage} by "
            f"{self.event.type} {self.event.id}; the closed cycle's facts ({', '.join(spec.facts) or 'none'}), "
            "tasks, records and timers are forgotten"
        )

    def take_task(self) -> bool:
        """A task done (or reopened) in its tool: which of this cycle's tasks it is. A task
        of a closed cycle, unknown, or already done, drives nothing (audited)."""
        key = self.data.get("task_key")
        facts = self.state.facts
        open_tasks = facts.setdefault(TASKS, {})
        if key is None and self.data.get("task"):  # named as the playbook names it (events files)
            key = open_tasks.get(self.data["task"]) or (facts.get(RECORDS) or {}).get(self.data["task"])
        name = next((n for n, k in open_tasks.items() if k == key), None)
        if name is None:
            name = next((n for n, k in (facts.get(RECORDS) or {}).items() if k == key), None)
        done = facts.setdefault(DONE, [])
        if name is None or key in done:
            why = "already done" if key in done else "not a task of this cycle"
            self.audit.append(f"task {str(key)[:12]} {self.data.get('status')}: {why}: ignored")
            return False
        if self.data.get("status") == "completed":
            open_tasks.pop(name, None)
            done.append(key)
        self.task = name
        self.audit.append(f"task {name} ({str(key)[:12]}) {self.data.get('status')} in its tool")
        return True

    # -- timers -------------------------------------------------------------------------
    def take_timer(self) -> bool:
        """Accept the firing timer if it is still pending (and remove it); else audit why not."""
        pending = self.state.facts.setdefault(TIMERS, {})
        entry = pending.get(self.timer_key)
        fired_for = as_datetime(self.event.data.get("fire_at"))
        if entry is None or (fired_for is not None and as_datetime(entry["fire_at"]) != fired_for):
            self.audit.append(f"timer {self.timer_key} is not pending: ignored (stale or cancelled)")
            return False
        del pending[self.timer_key]
        self.audit.append(
            f"timer {self.timer_key} (rule {entry['rule']}) fired at "
            f"{self.event.occurred_at.astimezone(self.zone).isoformat()}, set by event {self.origin_event}"
        )
        return True

    # -- triggers and actions -------------------------------------------------------------
    def trigger(self, trigger: Trigger) -> None:
        if trigger.timer is not None and trigger.timer != self.timer_key:
            return
        if trigger.tasks is not None and self.task not in trigger.tasks:
            return
        if trigger.stages is not None and self.state.stage not in trigger.stages:
            return
        if trigger.status is not None and str(self.state.status) not in trigger.status:
            return
        passed = expr.holds(trigger.when, self.env())
        branch = trigger.do if passed else trigger.else_
        if trigger.when:
            verdict = "holds" if passed else "fails"
            self.audit.append(f"{trigger.rule} (line {trigger.line}): {' and '.join(trigger.when)} {verdict}")
        self.apply(branch, trigger.rule)

    def apply(self, specs: list[ActionSpec], rule: str) -> None:
        for spec in specs:
            line_rule = spec.rule or rule
            if spec.when and not expr.holds(spec.when, self.env()):
                continue
            try:
                getattr(self, f"_do_{spec.kind}")(spec, line_rule)
            except NoAnchor as exc:
                self.audit.append(f"{line_rule} (line {spec.line}): {spec.kind} not done: {exc}")

    def _do_use(self, spec: ActionSpec, rule: str) -> None:
        self.apply(self.playbook.blocks[spec.use or ""], rule)

    def _do_set(self, spec: ActionSpec, rule: str) -> None:
        for name, source in (spec.set or {}).items():
            value = self.eval(source) if isinstance(source, str) else source
            if name in ONBOARDING_FIELDS:
                if ONBOARDING_FIELDS[name] == "date":
                    value = as_date(value)
                setattr(self.state, name, value)
            else:
                self.state.facts[name] = jsonable(value)
                self._stamp_signal(name)
            self.changed()
            self.audit.append(f"{rule}: {name} = {jsonable(value)!r}")

    def _stamp_signal(self, fact: str) -> None:
        for signal, spec in self.playbook.signals.items():
            if fact in spec.facts:
                stamps = self.state.facts.setdefault(SIGNALS, {})
                stamps[signal] = self.event.occurred_at.isoformat()

    def _do_set_status(self, spec: ActionSpec, rule: str) -> None:
        self.state.status = OnboardingStatus(spec.set_status)
        self.changed()
        self.audit.append(f"{rule}: status {spec.set_status}")

    def _do_set_timer(self, spec: ActionSpec, rule: str) -> None:
        assert spec.set_timer is not None
        env = self.env()
        key = str(expr.render(spec.set_timer.key, env))
        fire_at = resolve(spec.set_timer.at, self.zone, lambda s: expr.evaluate(s, env), self.calendar)
        data = jsonable(expr.render(dict(spec.set_timer.data), env)) if spec.set_timer.data else {}
        data["set_by"] = self.origin_event
        timer = Timer(key=key, onboarding_id=self.state.id, fire_at=fire_at, rule=rule, data=data)
        fires = fire_at.isoformat()
        self.state.facts.setdefault(TIMERS, {})[key] = {"fire_at": fires, "rule": rule}
        self.timers_set[key] = timer
        self.timers_cancelled.discard(key)
        self.audit.append(f"{rule}: timer {key} set for {fires}")

    def _do_cancel_timers(self, spec: ActionSpec, rule: str) -> None:
        pending = self.state.facts.setdefault(TIMERS, {})
        if spec.cancel_timers == "all":
            keys = sorted(set(pending) | set(self.timers_set))
        else:
            keys = [str(expr.render(k, self.env())) for k in spec.cancel_timers or []]
        for key in keys:
            was = pending.pop(key, None) is not None or self.timers_set.pop(key, None) is not None
            if was:
                self.timers_cancelled.add(key)
                self.audit.append(f"{rule}: timer {key} cancelled")

    def _do_set_stage(self, spec: ActionSpec, rule: str) -> None:
        self._set_own(spec, rule, ActionKind.SET_STAGE, "stage", spec.set_stage,
                      "already in stage {}")

    def _do_assign_owner(self, spec: ActionSpec, rule: str) -> None:
        self._set_own(spec, rule, ActionKind.ASSIGN_OWNER, "owner", spec.assign_owner,
                      "owner already {}")

    def _set_own(self, spec: ActionSpec, rule: str, kind: ActionKind, name: str, template: Any,
                 unchanged: str) -> None:
        """Set the rendered ``name`` (stage, owner). On the onboarding's own record it is the
        state's too, and a value it already has is not written again (``unchanged`` is audited)."""
        value = str(expr.render(template, self.env()))
        if not (spec.record or spec.target):
            if getattr(self.state, name) == value:
                self.audit.append(f"{rule}: {unchanged.format(value)}")
                return
            setattr(self.state, name, value)
            self.changed()
        self._emit(spec, rule, kind, {name: value})

    def _do_create_task(self, spec: ActionSpec, rule: str) -> None:
        env = self.env()
        assert spec.due is not None
        due_at = resolve(spec.due, self.zone, lambda s: expr.evaluate(s, env), self.calendar)
        payload = expr.render(spec.payload_spec, env)
        payload["due_at"] = due_at
        self._emit(spec, rule, ActionKind.CREATE_TASK, payload)

    def _do_complete_task(self, spec: ActionSpec, rule: str) -> None:
        ref = spec.complete_task
        task_id = ref if isinstance(ref, str) else ref.task  # type: ignore[union-attr]
        key = self.state.facts.setdefault(TASKS, {}).get(task_id)
        if key is None:
            self.audit.append(f"{rule}: no open task {task_id} to complete")
            return
        payload: dict[str, Any] = {"task_key": key}
        if not isinstance(ref, str) and ref is not None and ref.section:
            payload["section"] = ref.section
        del self.state.facts[TASKS][task_id]
        self._emit(spec, rule, ActionKind.COMPLETE_TASK, payload)

    def _do_add_note(self, spec: ActionSpec, rule: str) -> None:
        self._emit(spec, rule, ActionKind.ADD_NOTE, expr.render(spec.payload_spec, self.env()))

    def _do_create_record(self, spec: ActionSpec, rule: str) -> None:
        self._emit(spec, rule, ActionKind.CREATE_RECORD, expr.render(spec.payload_spec, self.env()))

    def _do_post_action(self, spec: ActionSpec, rule: str) -> None:
        self._emit(spec, rule, ActionKind.POST_ACTION, expr.render(spec.payload_spec, self.env()))

    def _do_notify(self, spec: ActionSpec, rule: str) -> None:
        self._emit(spec, rule, ActionKind.NOTIFY, expr.render(spec.payload_spec, self.env()))

    def _emit(self, spec: ActionSpec, rule: str, kind: ActionKind, payload: dict[str, Any]) -> None:
        env = self.env()
        if spec.target:
            payload["target"] = self.state.facts.setdefault(RECORDS, {}).get(spec.target)
        if spec.record:
            payload["record"] = spec.record
        if spec.record_id:
            payload["record_id"] = expr.render(spec.record_id, env)
        try:
            checked = PAYLOAD_MODELS[kind].model_validate(jsonable(payload))
        except ValidationError as exc:
            raise PlaybookRuntimeError(
                f"{self.playbook.source}:{spec.line}: {rule} {kind} payload: {exc.errors()[0]['msg']}"
            ) from exc
        occasion = ("once" if self.cycle == 1 else f"once@{self.cycle}") if spec.once else self.occasion
        key = idempotency_key(self.state.id, rule, action_name(spec), occasion)
        while key in self.keys:  # the same line twice in one decision (a block used twice)
            key = idempotency_key(key, "again")
        self.keys.add(key)
        action = Action(
            kind=kind,
            tool=spec.tool,  # type: ignore[arg-type]
            onboarding_id=self.state.id,
            payload=checked.model_dump(mode="json", exclude_none=True),
            idempotency_key=key,
            rule=rule,
            due_at=self.now,
            caused_by_event=self.origin_event,
            caused_by_timer=self.timer_key,
        )
        if kind == ActionKind.CREATE_TASK:
            self.state.facts.setdefault(TASKS, {})[spec.id or action_name(spec)] = key
        if kind == ActionKind.CREATE_RECORD:
            self.state.facts.setdefault(RECORDS, {})[spec.id or action_name(spec)] = key
        self.actions.append(action)
        cause = f"timer {self.timer_key}, event {self.origin_event}" if self.is_timer else f"event {self.event.type} {self.event.id}"
        self.audit.append(f"{rule}: {kind} -> {spec.tool} {_summary(action.payload)} ({cause}) key {key[:12]}")

    def decision(self) -> Decision:
        # state.version stays the version decided on: the ledger stores version + 1
        return Decision(
            state=self.state,
            actions=self.actions,
            set_timers=list(self.timers_set.values()),
            cancel_timers=sorted(self.timers_cancelled - set(self.timers_set)),
            audit=self.audit,
        )


def _local(data: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """Times of the event's data in the tenant's zone: ``date(data.start)`` is the local day."""
    return {k: v.astimezone(zone) if isinstance(v, datetime) and v.tzinfo else v for k, v in data.items()}


def _summary(payload: dict[str, Any]) -> str:
    for field in ("stage", "owner", "subject", "description", "template", "object", "body", "task_key"):
        if payload.get(field):
            text = str(payload[field])
            return repr(text if len(text) <= 60 else text[:57] + "...")
    return ""
