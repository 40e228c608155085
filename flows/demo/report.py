"""What the demo prints: per procedure, the timeline read from the ledger's outbox (every
action Kickoff decided, when, by which rule, in which tool, and what the tool answered),
with the people's acts in between; then the procedure's checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flows.demo.clock import Act
from flows.demo.procedures import Check, Procedure

OK, FAILED = "✓", "✗"
WIDTHS = {"time": 16, "rule": 4, "tool": 11, "action": 66}


@dataclass
class Line:
    at: datetime
    rule: str
    tool: str
    action: str
    result: str
    act: bool = False


def _short(text: Any, width: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %m-%d %H:%M")


def summary(kind: str, payload: dict[str, Any], tasks: dict[str, str], zone: ZoneInfo) -> str:
    """An action in a few words: its kind and what it says."""
    p = payload or {}
    if kind == "set_stage":
        what = f"{p.get('record')} " if p.get("record") else ""
        return f"stage: {what}→ {p.get('stage')}"
    if kind == "assign_owner":
        return f"owner → {p.get('owner')}"
    if kind == "create_record":
        fields = p.get("fields") or {}
        name = fields.get("subject") or fields.get("name") or fields.get("product") or fields.get("type") or ""
        return f"create {p.get('object')}: {name}".rstrip(": ")
    if kind == "create_task":
        due = p.get("due_at")
        when = f" (due {_local(datetime.fromisoformat(due), zone)})" if due else ""
        return f"task: {p.get('subject')}{when}"
    if kind == "complete_task":
        return f"complete task: {tasks.get(str(p.get('task_key')), str(p.get('task_key'))[:12])}"
    if kind == "notify":
        to = ", ".join(str(t) for t in p.get("to") or [])
        return f"notify {to}: {p.get('subject') or p.get('template') or p.get('body') or ''}"
    if kind == "add_note":
        return f"note: {p.get('body')}"
    if kind == "post_action":
        return f"{'public' if p.get('public', True) else 'internal'} action: {p.get('description')}"
    return f"{kind}: {p}"


def result_of(row: dict[str, Any]) -> str:
    status = row["status"]
    if status == "done":
        tool_id = str(row.get("external_id") or "")
        return "done (sent)" if tool_id.startswith("<") else f"done {tool_id}".rstrip()  # e-mail: a Message-ID
    if status == "dead":
        return f"DEAD: {row.get('last_error') or ''}"
    return f"{status} (try {row.get('attempts', 0)}: {row.get('last_error') or 'not yet due'})"


def timeline(procedure: Procedure, rows: Iterable[dict[str, Any]], acts: Iterable[Act]) -> list[Line]:
    """The procedure's acts and its onboardings' outbox rows, in time order."""
    zone = procedure.zone
    mine = [r for r in rows if str(r["onboarding_id"]).startswith(f"{procedure.key}:")]
    tasks = {r["idempotency_key"]: _short((r["payload"] or {}).get("subject", ""), 40)
             for r in mine if r["kind"] == "create_task"}
    lines = [Line(r["due_at"], r["rule"], r["tool"], summary(r["kind"], r["payload"], tasks, zone), result_of(r))
             for r in mine]
    for act in acts:
        if act.procedure == procedure.key:
            tool, _, what = act.label.partition(": ")
            result = f"(poll-{', poll-'.join(act.poll)})" if act.poll else "(a person)"
            lines.append(Line(act.at, "", tool if what else "", what or act.label, result, act=True))
    return sorted(lines, key=lambda line: (line.at, not line.act))


def render(procedure: Procedure, lines: list[Line], checks: list[Check], out: Callable[[str], None] = print) -> bool:
    """Print one procedure's timeline and checks; True if every check passed."""
    zone = procedure.zone
    out("")
    out(f"== {procedure.family} · {procedure.title} · times in {zone.key} " + "=" * 20)
    out(f"  {'time':<{WIDTHS['time']}} {'rule':<{WIDTHS['rule']}} {'tool':<{WIDTHS['tool']}} "
        f"{'action':<{WIDTHS['action']}} result")
    for line in lines:
        marker = "»" if line.act else " "
        out(f"{marker} {_local(line.at, zone):<{WIDTHS['time']}} {line.rule:<{WIDTHS['rule']}} "
            f"{_short(line.tool, WIDTHS['tool']):<{WIDTHS['tool']}} {_short(line.action, WIDTHS['action']):<{WIDTHS['action']}} "
            f"{_short(line.result, 40)}")
    out("  checks (read back from the sandbox):")
    for name, ok, detail in checks:
        out(f"   {OK if ok else FAILED} {name}: {detail}")
    return all(ok for _, ok, _ in checks)
