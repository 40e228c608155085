"""One customer's story as ops read it (``kickoff onboarding show``): every time in the
tenant's zone, and for each way a customer may not have got something, the line that says
why: an action dead (its reason), a timer still pending (when it fires), a fact ignored (why:
what the playbook's rules on it need), or a fact that never came (what the playbook waits
for, the last thing received and that nothing came after)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kickoff.ledger.story import Story, Summary
from kickoff.playbooks.listening import Listener, waiting_for
from kickoff.playbooks.spec import Playbook

CANONICAL = "kickoff"  # the tool name of canonical events (POST /webhooks/events)
ECHO_PREFIX = "echo:"


def local(moment: datetime | None, zone: ZoneInfo) -> str:
    """``moment`` in the tenant's zone, to the minute, with the zone's abbreviation."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"


def ago(delta: timedelta) -> str:
    days, hours = delta.days, delta.seconds // 3600
    if days:
        return f"{days} day{'s' * (days != 1)}" + (f" {hours} h" if hours else "")
    return f"{hours} h {delta.seconds % 3600 // 60} min" if hours else f"{delta.seconds // 60} min"


def fact_of(row: dict[str, Any]) -> str:
    """What an inbox row was: a canonical event's type, else the tool's record it named."""
    payload = row.get("payload")
    if row["tool"] == CANONICAL and isinstance(payload, dict) and isinstance(payload.get("type"), str):
        return str(payload["type"])
    record = f" record {row['record_id']}" if row.get("record_id") else ""
    return f"{row['tool']} {row['kind']}{record}"


@dataclass(frozen=True)
class View:
    """The story with what it takes to read it: the tenant's zone, the playbook, the moment."""

    story: Story
    zone: ZoneInfo
    playbook: Playbook | None
    now: datetime

    @property
    def received(self) -> list[dict[str, Any]]:
        """Facts from outside (Kickoff's own echoes left out: they are not news)."""
        return [r for r in self.story.inbox if not str(r.get("error") or "").startswith(ECHO_PREFIX)]

    @property
    def waiting(self) -> list[Listener]:
        return waiting_for(self.playbook, self.story.onboarding) if self.playbook else []

    def last_received(self) -> dict[str, Any] | None:
        received = self.received
        return received[-1] if received else None


def _action_line(row: dict[str, Any], zone: ZoneInfo) -> str:
    head = f"  {local(row['due_at'], zone)}  {row['rule']:<3} {row['tool']} {row['kind']}"
    tries = f"{row['attempts']} tr{'ies' if row['attempts'] != 1 else 'y'}"
    if row["status"] == "done":
        return f"{head}: done, {row['tool']} id {row['external_id'] or '-'} ({local(row['updated_at'], zone)})"
    if row["status"] == "dead":
        return f"{head}: DEAD after {tries}: {row['last_error'] or 'no reason kept'}"
    retry = f", next try {local(row['next_try_at'], zone)}"
    last = f"; last error: {row['last_error']}" if row.get("last_error") else ""
    return f"{head}: {row['status']} ({tries}{retry}){last}"


def _inbox_line(row: dict[str, Any], view: View) -> str:
    head = f"  {local(row['received_at'], view.zone)}  #{row['id']} {fact_of(row)} from {row['tool']}"
    if row["status"] == "ignored":
        return f"{head}: ignored: {row.get('error') or 'no reason kept'}"
    if row["status"] == "failed":
        return f"{head}: FAILED: {row.get('error') or 'no reason kept'}"
    return f"{head}: {row['status']}"


def _timer_line(row: dict[str, Any], zone: ZoneInfo) -> str:
    head = f"  {row['key']} ({row['rule']}): "
    if row["status"] in ("pending", "claimed"):
        return f"{head}{row['status']}, due {local(row['fire_at'], zone)}"
    if row["status"] == "failed":
        return (f"{head}FAILED at {local(row['updated_at'], zone)}: {row.get('error') or 'no reason kept'} "
                "(kickoff ledger retry-timers fires it again)")
    return f"{head}{row['status']} ({local(row['updated_at'], zone)})"


def _waiting_lines(view: View) -> list[str]:
    lines = []
    if view.waiting:
        lines.append("  facts the playbook acts on now: " + ", ".join(
            f"{w.event_type} ({', '.join(w.rules)})" for w in view.waiting))
    pending = view.story.pending_timers
    if pending:
        lines.append("  timers: " + ", ".join(f"{t['key']} at {local(t['fire_at'], view.zone)}" for t in pending))
    last = view.last_received()
    if last is None:
        lines.append("  nothing received about it yet")
    else:
        lines.append(f"  last received: {fact_of(last)} from {last['tool']} at {local(last['received_at'], view.zone)}"
                     f"; nothing received since ({ago(view.now - last['received_at'])} as of "
                     f"{local(view.now, view.zone)})")
    return lines


def text(view: View) -> str:
    """The story as text, in the tenant's zone."""
    ob, zone = view.story.onboarding, view.zone
    facts = ", ".join(f"{k}={v}" for k, v in ob.facts.items() if not k.startswith("_") and v not in (None, ""))
    out = [f"{ob.account_name or ob.id}  ({ob.id}, tenant {ob.tenant}, playbook {ob.playbook}; times in {zone})",
           f"  stage {ob.stage}, {ob.status.value}; last decision {local(view.story.updated_at, zone)}",
           f"  facts: {facts or '-'}", "", "Decisions:"]
    out += [f"  {local(d['at'], zone)}  {d['rule'] or '-':<3} {d['line']}" for d in view.story.decisions] or ["  none"]
    out += ["", "Actions:"]
    out += [_action_line(a, zone) for a in view.story.actions] or ["  none"]
    out += ["", "Timers:"]
    out += [_timer_line(t, zone) for t in view.story.timers] or ["  none"]
    out += ["", "Received:"]
    out += [_inbox_line(r, view) for r in view.received] or ["  nothing"]
    out += ["", "Waiting for:", *_waiting_lines(view)]
    return "\n".join(out)


def _iso(value: Any, zone: ZoneInfo) -> Any:
    return {"utc": value.isoformat(), "local": value.astimezone(zone).isoformat()} if isinstance(value, datetime) else value


def as_json(view: View) -> dict[str, Any]:
    """The story as data: every time as ``{"utc", "local"}`` (the tenant's zone)."""
    zone = view.zone

    def rows(found: list[dict[str, Any]], *drop: str) -> list[dict[str, Any]]:
        return [{k: _iso(v, zone) for k, v in r.items() if k not in drop} for r in found]

    inbox = [{**r, "fact": fact_of(row)}
             for r, row in zip(rows(view.received, "payload", "claimed_by", "lease_until"), view.received, strict=True)]
    last = view.last_received()
    return {
        "onboarding": view.story.onboarding.model_dump(mode="json"),
        "zone": str(zone),
        "as_of": _iso(view.now, zone),
        "updated_at": _iso(view.story.updated_at, zone),
        "decisions": rows(view.story.decisions),
        "actions": rows(view.story.actions, "claimed_by", "lease_until"),
        "timers": rows(view.story.timers, "claimed_by", "lease_until"),
        "pending_timers": rows(view.story.pending_timers, "claimed_by", "lease_until"),
        "inbox": inbox,
        "waiting_for": [{"event": w.event_type, "rules": list(w.rules)} for w in view.waiting],
        "last_received": None if last is None else {
            "inbox_id": last["id"], "fact": fact_of(last), "tool": last["tool"],
            "received_at": _iso(last["received_at"], zone),
            "nothing_since_seconds": int((view.now - last["received_at"]).total_seconds())},
    }


def summary_line(one: Summary, zone: ZoneInfo | None) -> str:
    when = local(one.updated_at, zone) if zone else one.updated_at.strftime("%Y-%m-%d %H:%M UTC")
    state = "STUCK: " + "; ".join(one.stuck) if one.stuck else "ok"
    return f"{one.id}\t{one.tenant}\t{one.name or '-'}\t{one.stage}\t{one.status}\t{when}\t{state}"
