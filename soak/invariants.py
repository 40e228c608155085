"""The invariants checked after every run, from the sandbox's state (its admin routes) and
the ledger (inbox, outbox, timers). Each violation is one line saying what and where.

- every webhook the sandbox sent was acknowledged (2xx) at least once: none lost at the door;
- every inbox row ended done or ignored (processed once; a failed row is a violation with
  its reason), none pending or claimed;
- every outbox row due by the end is done (none pending, claimed or dead), and each done
  action is in its tool exactly once: the records carrying its idempotency key are counted
  (a HubSpot/Salesforce property, a Zendesk external id, a Movidesk or Asana marker line,
  Slack metadata, an e-mail's Message-ID), a creation must be found once, any action at most
  once; notes that carry no key (Zendesk comments) are compared by content; an e-mail sent
  twice under the same Message-ID (a worker killed between SMTP and the ledger: SMTP has no
  look-up) is counted and printed, not hidden, but is not a violation;
- no timer due by the end is still pending or claimed;
- no secret value of the sandbox's credentials appears in any captured log line.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from typing import Any

import requests
from sqlalchemy import select

from kickoff.ledger.schema import inbox, outbox, timers
from kickoff.ledger.types import as_utc
from soak.record import RunRecord

KEY = re.compile(r"[0-9a-f]{32}")
# the action kinds that make something new in the tool: found exactly once when done
CREATING = {"create_record", "create_task", "add_note", "post_action", "notify"}
# (tool, kind) whose writes carry no idempotency key the tool keeps (checked otherwise)
KEYLESS = {("zendesk", "add_note")}
SOURCES: dict[str, tuple[str, ...]] = {
    "hubspot": ("tickets", "tasks", "notes", "companies", "contacts", "meetings"),
    "salesforce": ("Account", "Contact", "Case", "Task", "Opportunity"),
    "zendesk": ("tickets",),
    "asana": ("tasks", "stories"),
}


def carriers(control: Any) -> list[tuple[str, str, str]]:
    """Every record in the sandbox as (tool, kind, JSON text); Movidesk actions and Zendesk
    comments are records of their own."""
    found: list[tuple[str, str, str]] = []
    for tool, kinds in SOURCES.items():
        for kind in kinds:
            for record in control.get(tool, f"records/{kind}"):
                found.append((tool, kind, json.dumps(record, sort_keys=True, default=str)))
    comments = control.get("zendesk", "records/comments")
    items = comments.items() if isinstance(comments, dict) else enumerate(comments)
    for ticket_id, thread in items:
        for comment in thread if isinstance(thread, list) else [thread]:
            found.append(("zendesk", f"comment:{ticket_id}", json.dumps(comment, sort_keys=True, default=str)))
    for ticket in control.get("movidesk", "records/tickets"):
        full = control.get("movidesk", f"tickets/{ticket['id']}")
        actions = full.pop("actions", None) or []
        found.append(("movidesk", "ticket", json.dumps(full, sort_keys=True, default=str)))
        for action in actions:
            found.append(("movidesk", f"action:{ticket['id']}", json.dumps(action, sort_keys=True, default=str)))
    for message in control.get("slack", "messages"):
        found.append(("slack", "message", json.dumps(message, sort_keys=True, default=str)))
    for mail in control.emails():
        found.append(("email", "message", json.dumps(mail, sort_keys=True, default=str)))
    return found


def _key_counts(found: list[tuple[str, str, str]]) -> dict[str, Counter[str]]:
    """idempotency key -> {tool: number of records carrying it}."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for tool, _, text in found:
        for key in set(KEY.findall(text)):
            counts[key][tool] += 1
    return counts


def _rows(run: RunRecord, table: Any) -> list[dict[str, Any]]:
    with run.rt.ledger.database.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def check_run(run: RunRecord) -> list[str]:
    """Every violation of the run, one line each (empty: the run kept every invariant)."""
    violations: list[str] = list(run.act_errors)
    control, end = run.control, run.final_now
    armed = requests.get(f"{control.base_url}/_sandbox/faults", timeout=30).json()
    for (kind, _), rule in zip(run.plan.sandbox_rules, armed, strict=False):
        if kind != "latency":  # latency delays every matching request; it counts no hits
            run.result.faults[f"sandbox {kind} (requests hit)"] += int(rule.get("hits", 0))
    if end is None:
        return violations + ["the run did not reach its final settle"]
    until = end

    # -- deliveries: acknowledged, stored, processed once ------------------------------------
    answered: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for d in control.webhook_deliveries():
        answered[(d["vendor"], d["body"])].append(d["status"] or d["error"])
    for (vendor, body), statuses in answered.items():
        if not any(isinstance(s, int) and 200 <= s < 300 for s in statuses):
            violations.append(f"delivery lost: {vendor} webhook never acknowledged (answers {statuses}): "
                              f"{body[:160]}")
    run.result.stats["webhook deliveries"] += len(answered)
    for row in _rows(run, inbox):
        if row["status"] in ("pending", "claimed"):
            violations.append(f"inbox {row['id']} ({row['tool']} {row['dedup_key']}) stuck {row['status']}")
        elif row["status"] == "failed":
            violations.append(f"inbox {row['id']} ({row['tool']} {row['dedup_key']}) failed: {row['error']}")
    run.result.stats["inbox rows"] += len(_rows(run, inbox))

    # -- actions: exactly once, none missing --------------------------------------------------
    found = carriers(control)
    counts = _key_counts(found)
    rows = _rows(run, outbox)
    run.result.stats["outbox rows"] += len(rows)
    for row in rows:
        what = f"outbox {row['id']} {row['tool']} {row['kind']} ({row['rule']}, {row['onboarding_id']})"
        due = as_utc(row["due_at"]) <= until
        if row["status"] == "claimed":
            violations.append(f"{what} stuck claimed by {row['claimed_by']}")
        elif row["status"] == "pending" and due:
            violations.append(f"{what} still pending after the final settle: {row['last_error']}")
        elif row["status"] == "dead":
            violations.append(f"{what} dead letter after {row['attempts']} attempts: {row['last_error']}")
        carried = sum(counts.get(row["idempotency_key"], Counter()).values())
        if carried > 1 and row["tool"] == "email" and _same_message(found, row["idempotency_key"]):
            # SMTP has no look-up: a worker killed between sending and recording sends again,
            # under the same Message-ID (receivers' clients show it once). Counted, not hidden.
            run.result.stats["e-mails sent again under the same Message-ID (SMTP: at least once)"] += carried - 1
        elif carried > 1:
            violations.append(f"{what} applied {carried} times: {dict(counts[row['idempotency_key']])}")
        elif (row["status"] == "done" and carried == 0 and row["kind"] in CREATING
              and (row["tool"], row["kind"]) not in KEYLESS):
            violations.append(f"{what} done but not found in {row['tool']}")
    violations.extend(_content_duplicates(found))

    # -- timers -----------------------------------------------------------------------------
    for row in _rows(run, timers):
        if row["status"] == "claimed" or (row["status"] == "pending" and as_utc(row["fire_at"]) <= end):
            violations.append(f"timer {row['onboarding_id']} {row['key']} stuck {row['status']}")

    # -- secrets ----------------------------------------------------------------------------
    lines = run.h.capture.take()
    for path in run.child_logs:
        if path.exists():
            lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    run.result.stats["log lines scanned"] += len(lines)
    for secret in run.h.secrets:
        leaks = [line for line in lines if secret in line]
        if leaks:
            violations.append(f"secret {secret[:4]}… in {len(leaks)} log line(s), e.g. {leaks[0][:200]}")
    return violations


def _same_message(found: list[tuple[str, str, str]], key: str) -> bool:
    ids = {json.loads(text).get("message_id") for tool, _, text in found if tool == "email" and key in text}
    return len(ids) == 1 and None not in ids


def _content_duplicates(found: list[tuple[str, str, str]]) -> list[str]:
    """Zendesk keeps no key on a comment: the same internal note twice on one ticket is a double."""
    seen: Counter[tuple[str, str]] = Counter()
    for tool, kind, text in found:
        if tool == "zendesk" and kind.startswith("comment:"):
            comment = json.loads(text)
            if comment.get("public") is False:
                seen[(kind, str(comment.get("body") or comment.get("html_body")))] += 1
    return [f"zendesk internal note on ticket {kind.split(':')[1]} written {n} times: {body[:80]!r}"
            for (kind, body), n in seen.items() if n > 1]
