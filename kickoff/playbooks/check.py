"""``playbook check``: what a playbook says must make sense before it runs.

Every problem names the file and line. Checked: rule ids (known, of the playbook's
family, every rule of the family implemented, checks that never pass silently), stages
(known, reachable, with a way out), owners, tools, payload fields, expressions and the
names they read, timers (set and handled, never re-arming forever), blocks, tasks and
records referred to, what a new cycle forgets and which facts a signal's recency hides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kickoff.actions import PAYLOAD_MODELS
from kickoff.events import EVENT_DATA_MODELS, EventType
from kickoff.model import ActionKind
from kickoff.playbooks.decide import ONBOARDING_FIELDS
from kickoff.playbooks.expr import Compiled, ExprError, compile_expr, holes, template_reads
from kickoff.playbooks.loader import PlaybookError, load_playbook
from kickoff.playbooks.rules import RULES, family_of
from kickoff.playbooks.spec import ActionSpec, Playbook, TimeSpec, Trigger
from kickoff.tools import tool_names

PAYLOAD_KINDS = {k.value for k in ActionKind}
_BUILT_IN = {"target", "due_at", "record", "record_id", "task_key"}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line or '?'}: {self.message}"


@dataclass(frozen=True)
class _Ctx:
    """Where an action sits: its trigger's rule, event types and timer."""

    rule: str
    events: tuple[EventType, ...]
    timer: str | None
    stages: tuple[str, ...] | None


def check_files(paths: list[Path]) -> list[Problem]:
    """Load and check every file; a file that does not load is one problem."""
    problems: list[Problem] = []
    for path in paths:
        try:
            playbook = load_playbook(path)
        except PlaybookError as exc:
            problems.append(Problem(exc.file, exc.line, exc.message))
            continue
        problems.extend(check_playbook(playbook))
    return problems


def check_playbook(pb: Playbook) -> list[Problem]:
    """Every problem of one loaded playbook, in file order."""
    return sorted(_Checker(pb).run(), key=lambda p: (p.line or 0, p.message))


class _Checker:
    def __init__(self, pb: Playbook) -> None:
        self.pb = pb
        self.file = pb.source or f"{pb.playbook}.yaml"
        self.problems: list[Problem] = []
        self.task_ids = {a.id for a, _ in self.all_actions() if a.create_task is not None and a.id}
        self.records = {a.id: a for a, _ in self.all_actions() if a.create_record is not None and a.id}

    def err(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    # -- walking -----------------------------------------------------------------------
    def contexts(self) -> Iterator[tuple[Trigger, _Ctx]]:
        for trigger in self.pb.triggers:
            stages = tuple(trigger.stages) if trigger.stages is not None else None
            yield trigger, _Ctx(trigger.rule, tuple(trigger.on), trigger.timer, stages)

    def actions_of(self, specs: list[ActionSpec], ctx: _Ctx, seen: tuple[str, ...] = ()) -> Iterator[tuple[ActionSpec, _Ctx]]:
        """Each action with its context, blocks expanded (a block used in a block too)."""
        for spec in specs:
            rule = spec.rule or ctx.rule
            here = _Ctx(rule, ctx.events, ctx.timer, ctx.stages)
            yield spec, here
            if spec.use and spec.use in self.pb.blocks and spec.use not in seen:
                yield from self.actions_of(self.pb.blocks[spec.use], here, (*seen, spec.use))

    def all_actions(self) -> Iterator[tuple[ActionSpec, _Ctx]]:
        for trigger, ctx in self.contexts():
            yield from self.actions_of([*trigger.do, *trigger.else_], ctx)

    # -- the checks ------------------------------------------------------------------------
    def run(self) -> list[Problem]:
        pb = self.pb
        for tool in pb.tools:
            if tool not in tool_names():
                self.err(pb.line, f"unknown tool {tool!r} in tools (known: {', '.join(tool_names())})")
        for name in pb.facts:
            if name in ONBOARDING_FIELDS or name.startswith("_"):
                self.err(pb.line, f"fact {name!r}: the name is reserved")
        self.rule(pb.start.rule, pb.start.line)
        if pb.start.stage not in pb.stages:
            self.err(pb.start.line, f"unknown stage {pb.start.stage!r} in start")
        for source in pb.start.when:
            self.expression(source, pb.start.line, tuple(pb.start.on), None)
        self.cycles_and_signals()
        for name, specs in pb.blocks.items():
            if not any(a.use == name for a, _ in self.all_actions()):
                self.err(specs[0].line if specs else pb.line, f"block {name!r} is never used")
        for trigger, ctx in self.contexts():
            self.trigger(trigger, ctx)
        seen_actions: set[int] = set()
        for spec, ctx in self.all_actions():
            if id(spec) in seen_actions:
                continue
            seen_actions.add(id(spec))
            self.action(spec, ctx)
        self.coverage()
        self.checks_never_pass_silently()
        self.timers()
        self.stage_graph()
        return self.problems

    def rule(self, rule_id: str, line: int) -> None:
        if rule_id not in RULES:
            self.err(line, f"unknown rule id {rule_id!r} (not in RULES.md)")
        elif family_of(rule_id) != self.pb.family:
            self.err(line, f"rule {rule_id} belongs to family {family_of(rule_id)}, not {self.pb.family}")

    def cycles_and_signals(self) -> None:
        pb, cycle = self.pb, self.pb.cycles
        if cycle is not None:
            self.rule(cycle.rule, cycle.line)
            if cycle.stage not in pb.stages:
                self.err(cycle.line, f"unknown stage {cycle.stage!r} in cycles")
            for source in cycle.when:
                self.expression(source, cycle.line, tuple(cycle.on), None)
            for name in cycle.facts:
                if name not in pb.facts and name not in ONBOARDING_FIELDS:
                    self.err(cycle.line, f"cycles: unknown fact {name!r}: declare it under facts:")
        for signal, spec in pb.signals.items():
            for name in spec.facts:
                if name not in pb.facts:
                    self.err(spec.line, f"signal {signal!r}: unknown fact {name!r}: declare it under facts:")

    def trigger(self, trigger: Trigger, ctx: _Ctx) -> None:
        self.rule(trigger.rule, trigger.line)
        for task in trigger.tasks or []:
            if task not in self.task_ids and task not in self.records:
                self.err(trigger.line, f"tasks: {task!r} is not the id of any create_task or create_record")
        for stage in trigger.stages or []:
            if stage not in self.pb.stages:
                self.err(trigger.line, f"unknown stage {stage!r} in stages")
        for source in trigger.when:
            self.expression(source, trigger.line, ctx.events, ctx.timer)
        if not trigger.do and not trigger.else_:
            self.err(trigger.line, f"trigger for {trigger.rule} does nothing")

    def action(self, spec: ActionSpec, ctx: _Ctx) -> None:
        pb, line = self.pb, spec.line
        if spec.rule:
            self.rule(spec.rule, line)
        for source in spec.when:
            self.expression(source, line, ctx.events, ctx.timer)
        kind = spec.kind
        if kind in PAYLOAD_KINDS:
            if spec.tool not in pb.tools:
                self.err(line, f"unknown tool {spec.tool!r}: this playbook's tools are {', '.join(pb.tools)}")
            allowed = set(PAYLOAD_MODELS[ActionKind(kind)].model_fields) - _BUILT_IN
            for field in spec.payload_spec:
                if field not in allowed:
                    self.err(line, f"unknown field {field!r} in {kind} (known: {', '.join(sorted(allowed))})")
            self.templates(spec.payload_spec, line, ctx)
        if spec.target and spec.target not in self.records:
            self.err(line, f"target {spec.target!r} is not the id of any create_record")
        if spec.record and spec.record not in pb.record_stages and kind == "set_stage":
            self.err(line, f"record {spec.record!r} has no record_stages")
        if spec.record_id:
            self.templates(spec.record_id, line, ctx)
        if spec.set_stage is not None:
            self.stage_name(spec, line)
        if spec.assign_owner is not None and not holes(spec.assign_owner) and spec.assign_owner not in pb.owners:
            self.err(line, f"unknown owner {spec.assign_owner!r} (owners: {', '.join(pb.owners)})")
        if spec.create_task is not None:
            owner = spec.create_task.get("owner")
            if isinstance(owner, str) and not holes(owner) and owner not in pb.owners:
                self.err(line, f"unknown owner {owner!r} in create_task (owners: {', '.join(pb.owners)})")
            if spec.due is not None:
                self.time_spec(spec.due, ctx)
        if spec.complete_task is not None:
            task = spec.complete_task if isinstance(spec.complete_task, str) else spec.complete_task.task
            if task not in self.task_ids:
                self.err(line, f"complete_task {task!r}: no create_task has that id")
        if spec.set is not None:
            for name, value in spec.set.items():
                if name not in ONBOARDING_FIELDS and name not in pb.facts:
                    self.err(line, f"unknown field {name!r} in set: declare it under facts:")
                if isinstance(value, str):
                    self.expression(value, line, ctx.events, ctx.timer)
        if spec.set_timer is not None:
            self.templates(spec.set_timer.key, line, ctx)
            self.templates(spec.set_timer.data, line, ctx)
            self.time_spec(spec.set_timer.at, ctx)
        if spec.use is not None and spec.use not in pb.blocks:
            self.err(line, f"unknown block {spec.use!r}")

    def stage_name(self, spec: ActionSpec, line: int) -> None:
        value = spec.set_stage or ""
        if holes(value):
            return
        if spec.record:
            allowed = self.pb.record_stages.get(spec.record, [])
        elif spec.target:
            record = self.records.get(spec.target)
            obj = (record.create_record or {}).get("object") if record else None
            allowed = self.pb.record_stages.get(str(obj), [])
        else:
            allowed = list(self.pb.stages)
        if value not in allowed:
            self.err(line, f"unknown stage {value!r} (known: {', '.join(allowed) or 'none'})")

    def time_spec(self, spec: TimeSpec, ctx: _Ctx) -> None:
        for inner in [*(spec.latest_of or []), *(spec.earliest_of or [])]:
            self.time_spec(inner, ctx)
        if not (spec.latest_of or spec.earliest_of):
            self.expression(spec.from_, spec.line, ctx.events, ctx.timer)
            for step in (spec.days, spec.business_days, spec.minutes):
                if isinstance(step, str):
                    self.expression(step, spec.line, ctx.events, ctx.timer)

    def templates(self, value: object, line: int, ctx: _Ctx) -> None:
        for source, compiled in template_reads(value):
            if isinstance(compiled, ExprError):
                self.err(line, str(compiled))
            else:
                self.reads(compiled, line, ctx.events, ctx.timer)

    def expression(self, source: str, line: int, events: tuple[EventType, ...], timer: str | None) -> None:
        try:
            compiled = compile_expr(source)
        except ExprError as exc:
            self.err(line, str(exc))
            return
        self.reads(compiled, line, events, timer)

    def reads(self, compiled: Compiled, line: int, events: tuple[EventType, ...], timer: str | None) -> None:
        data_fields: set[str] = set()
        for event_type in events:
            data_fields |= set(EVENT_DATA_MODELS[event_type].model_fields)
        if timer is not None:
            data_fields |= self.timer_data(timer)
        for name in sorted(compiled.reads):
            root, _, field = name.partition(".")
            if root == "data" and field not in data_fields:
                on = ", ".join(str(e) for e in events)
                self.err(line, f"unknown field data.{field} for {on} in {compiled.source!r}")
            elif root == "facts" and field not in self.pb.facts:
                self.err(line, f"unknown field facts.{field} in {compiled.source!r}: declare it under facts:")
            elif root == "const" and field not in self.pb.constants:
                self.err(line, f"unknown field const.{field} in {compiled.source!r}: declare it under constants:")
            elif root == "timer" and timer is None:
                self.err(line, f"'timer' is only known in a timer.fired trigger ({compiled.source!r})")

    def timer_data(self, timer: str) -> set[str]:
        keys: set[str] = set()
        for spec, _ in self.all_actions():
            if spec.set_timer is not None and spec.set_timer.key == timer:
                keys |= set(spec.set_timer.data)
        return keys

    def coverage(self) -> None:
        used = {t.rule for t in self.pb.triggers} | {self.pb.start.rule}
        used |= {spec.rule for spec, _ in self.all_actions() if spec.rule}
        for rule_id in RULES:
            if family_of(rule_id) == self.pb.family and rule_id not in used:
                self.err(self.pb.line, f"rule {rule_id} ({RULES[rule_id].title}) is not implemented")

    def checks_never_pass_silently(self) -> None:
        alerting: dict[str, bool] = {}
        first_line: dict[str, int] = {}
        for spec, ctx in self.all_actions():
            if ctx.rule in RULES and RULES[ctx.rule].is_check:
                first_line.setdefault(ctx.rule, spec.line)
                alerting[ctx.rule] = alerting.get(ctx.rule, False) or spec.kind in ("create_task", "notify")
        for rule_id, ok in alerting.items():
            if not ok:
                lines = [t.line for t in self.pb.triggers if t.rule == rule_id] or [first_line[rule_id]]
                self.err(lines[0], f"check {rule_id} never creates a task or an alert when it fails")

    def timers(self) -> None:
        set_by: dict[str, list[tuple[ActionSpec, _Ctx]]] = {}
        cancelled: set[str] = set()
        cancel_all = False
        for spec, ctx in self.all_actions():
            if spec.set_timer is not None:
                set_by.setdefault(spec.set_timer.key, []).append((spec, ctx))
            if spec.cancel_timers == "all":
                cancel_all = True
            elif spec.cancel_timers:
                cancelled |= set(spec.cancel_timers)
        handled = {t.timer: t for t in self.pb.triggers if t.timer}
        for key, places in set_by.items():
            spec = places[0][0]
            if key not in handled:
                self.err(spec.line, f"timer {key!r} is set but no trigger handles it: a timer with no way out")
            rearms = any(ctx.timer == key for _, ctx in places)
            if rearms and key not in cancelled and not cancel_all:
                self.err(spec.line, f"timer {key!r} re-arms itself and nothing cancels it: a timer with no way out")
        for key, trigger in handled.items():
            if key not in set_by:
                self.err(trigger.line, f"trigger for timer {key!r}, but no line sets that timer")

    def stage_graph(self) -> None:
        pb = self.pb
        edges: dict[str, set[str]] = {s: set() for s in pb.stages}
        for spec, ctx in self.all_actions():
            target = spec.set_stage
            if target is None or spec.record or spec.target or target not in pb.stages:
                continue
            for source in ctx.stages or tuple(pb.stages):
                if source in edges and source != target:
                    edges[source].add(target)
        reached, todo = {pb.start.stage}, [pb.start.stage]
        while todo:
            for nxt in edges.get(todo.pop(), set()):
                if nxt not in reached:
                    reached.add(nxt)
                    todo.append(nxt)
        for name, stage in pb.stages.items():
            if name not in reached and name in edges:
                self.err(stage.line, f"stage {name!r} is unreachable from the start stage {pb.start.stage!r}")
            elif not stage.terminal and not edges.get(name):
                self.err(stage.line, f"stage {name!r} has no way out (mark it terminal: true if it is an end)")
