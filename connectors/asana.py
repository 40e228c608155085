"""Asana: requests on a board (a project whose sections are the columns), written through
``/batch`` ten actions a call, read back by ``modified_since``.

Payloads (already in Asana terms; ``record_id`` is the task's gid):

- ``create_task`` / ``create_record``: ``{"project": gid, "section": gid or column name
  (default: the first column, "new request"), "name": str, "notes": str?, "assignee": gid
  or e-mail?, "due_on": "YYYY-MM-DD"? or "due_at": ISO time?, "custom_fields": {field gid:
  value, enum options by gid}?}``
- ``complete_task``: ``{"record_id", "project", "section"?}`` (completed, then moved to the
  given column, default the last one: "meeting set or resolved")
- ``set_stage``: ``{"record_id", "project", "section": gid or column name}``
- ``assign_owner``: ``{"record_id", "assignee": gid, e-mail or null}``
- ``add_note``: ``{"record_id", "text": str}`` (a comment story)

Options: ``projects`` (the board gids ``read_changes`` polls), ``key_field`` (gid of the
"Kickoff key" text custom field; optional, custom fields need a paid domain).

Idempotency: Asana takes no idempotency key, so a creation carries its key in the "Kickoff
key" field (when configured) and always as the last line of its text, ``kickoff-key:
<key>``. After an unknown outcome the connector looks the key up with "get tasks of a
project modified since" (read-your-writes) — not with search, which Asana indexes 10 to
60 s late, only on paid domains and at 60 calls a minute. Updates set absolute values and
are simply sent again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asana
from asana.rest import ApiException
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from connectors.base import Connector, ReadResult, done, result_for
from connectors.errors import ErrorKind, UnknownOutcome, VendorError, classify
from connectors.ratelimit import bucket_for
from connectors.webhooks import (
    WebhookRejected,
    WebhookRequest,
    constant_time_equal,
    hmac_digest,
    require,
)
from kickoff.model import Action, ActionKind, ActionResult, Delivery

T = TypeVar("T")
log = logging.getLogger("kickoff.connectors.asana")

MAX_BATCH_ACTIONS = 10
KEY_PREFIX = "kickoff-key: "
LOOKUP_WINDOW = timedelta(minutes=15)  # how far back a lost write is looked for (clock skew included)
TASK_FIELDS = (
    "name,notes,completed,completed_at,modified_at,due_on,due_at,assignee.email,"
    "memberships.project.name,memberships.section.name,custom_fields.name,"
    "custom_fields.display_value,custom_fields.text_value,custom_fields.enum_value.name"
)
CREATIONS = (ActionKind.CREATE_TASK, ActionKind.CREATE_RECORD)


def translate(exc: Exception, *, write: bool) -> VendorError:
    """The asana client's failures as VendorError: ApiException by status with Asana's
    message; a write that lost its connection after sending is an UnknownOutcome."""
    if isinstance(exc, ApiException):
        if not exc.status:
            return classify(503, reason=f"asana: {exc.reason}")
        return classify(exc.status, dict(exc.headers or {}), f"asana: {_message(exc.body) or exc.reason}")
    reason = getattr(exc, "reason", None) or exc
    if isinstance(exc, ConnectTimeoutError) or isinstance(reason, ConnectTimeoutError):
        return classify(503, reason=f"asana: connection failed ({type(exc).__name__})")
    if write and isinstance(exc, ProtocolError | ReadTimeoutError):
        return UnknownOutcome(f"asana: no answer after sending ({type(exc).__name__})")
    return classify(503, reason=f"asana: {type(exc).__name__}")


def _message(body: Any) -> str | None:
    """The first ``errors[].message`` of an Asana error body."""
    try:
        data = json.loads(body) if isinstance(body, bytes | str) else body
        return str(data["errors"][0]["message"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def key_line(key: str) -> str:
    return f"{KEY_PREFIX}{key}"


def carries_key(text: str | None, key: str) -> bool:
    return bool(text) and text.rstrip().splitlines()[-1].strip() == key_line(key)


@dataclass(frozen=True)
class Handshake:
    """Answer to Asana's webhook handshake: echo ``headers`` with a 200, keep ``secret``
    (it signs every later delivery: store it where ``webhook_secret`` resolves)."""

    headers: dict[str, str]
    secret: str


@dataclass
class _Plan:
    """One Kickoff action as the batch actions that carry it out."""

    index: int
    action: Action
    requests: list[dict[str, Any]]


class AsanaConnector(Connector):
    tool = "asana"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: asana.ApiClient | None = None
        self._sections: dict[str, list[tuple[str, str]]] = {}

    # --- the client -------------------------------------------------------------------
    @property
    def client(self) -> asana.ApiClient:
        if self._client is None:
            cfg = asana.Configuration()
            cfg.access_token = self.secret("token")
            if self.base_url:
                cfg.host = f"{self.base_url.rstrip('/')}/api/1.0"
            cfg.retry_strategy = Retry(total=False)  # our one retry policy decides
            self._client = asana.ApiClient(cfg)
        return self._client

    def _invoke(self, fn: Callable[[], T], *, write: bool = False, slots: int = 1,
                lookup: Callable[[], T | None] | None = None) -> T:
        """One client call under the limiter and the retry policy, errors translated."""

        def attempt() -> T:
            try:
                return fn()
            except (ApiException, HTTPError) as exc:
                raise translate(exc, write=write) from exc

        return self.call(attempt, lookup=lookup, slots=slots)

    def _pages(self, fetch: Callable[[dict[str, Any]], dict[str, Any]], opts: dict[str, Any]) -> list[dict[str, Any]]:
        """Every page of a list endpoint, one limited and retried call per page."""
        items: list[dict[str, Any]] = []
        opts = {"limit": 100, **opts}
        while True:
            page = self._invoke(lambda o=dict(opts): fetch(o))
            items += page.get("data") or []
            nxt = page.get("next_page")
            if not nxt:
                return items
            opts["offset"] = nxt["offset"]

    # --- reads ------------------------------------------------------------------------
    def read_changes(self, cursor: str | None, *, limit: int | None = None) -> ReadResult:
        """Tasks of the board projects modified since the cursor, oldest change first.

        The cursor is ``{"since": modified_at, "seen": [gids at exactly that time]}``: Asana's
        ``modified_since`` includes the boundary, so those are dropped instead of re-read."""
        state = json.loads(cursor) if cursor else {"since": None, "seen": []}
        tasks_api = asana.TasksApi(self.client)
        found: dict[str, dict[str, Any]] = {}
        for project in self.config.options.get("projects", []):
            opts = {"opt_fields": TASK_FIELDS, **({"modified_since": state["since"]} if state["since"] else {})}
            for task in self._pages(lambda o, p=project: tasks_api.get_tasks_for_project(p, o, full_payload=True), opts):
                found[task["gid"]] = task
        fresh = sorted((t for t in found.values()
                        if not (t["modified_at"] == state["since"] and t["gid"] in state["seen"])),
                       key=lambda t: (t["modified_at"], t["gid"]))
        if limit is not None:
            fresh = fresh[:limit]
        if not fresh:
            return ReadResult([], cursor)
        now = datetime.now(UTC)
        deliveries = [Delivery(tool="asana", dedup_key=f"asana:task:{t['gid']}:{t['modified_at']}", kind="poll",
                               received_at=now, payload=t, record_id=t["gid"]) for t in fresh]
        last = fresh[-1]["modified_at"]
        seen = [t["gid"] for t in fresh if t["modified_at"] == last]
        if last == state["since"]:
            seen += state["seen"]
        return ReadResult(deliveries, json.dumps({"since": last, "seen": sorted(set(seen))}))

    # --- webhooks ---------------------------------------------------------------------
    @staticmethod
    def is_handshake(request: WebhookRequest) -> bool:
        return request.header("x-hook-secret") is not None

    @staticmethod
    def handshake(request: WebhookRequest) -> Handshake:
        """The gateway's answer to the handshake POST (only while it is creating a webhook)."""
        secret = request.header("x-hook-secret")
        if not secret:
            raise WebhookRejected(400, "not an Asana handshake: no X-Hook-Secret header")
        return Handshake(headers={"X-Hook-Secret": secret}, secret=secret)

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """``X-Hook-Signature`` = hex HMAC-SHA256 of the raw body with the handshake secret.
        Asana signs no timestamp (and re-sends for 24 h): replays are caught by dedup keys."""
        signature = require(request.header("x-hook-signature"), "X-Hook-Signature header")
        try:
            secret = self.secret("webhook_secret")
        except VendorError:
            raise WebhookRejected(401, "no Asana webhook secret stored (was the handshake done?)") from None
        if not constant_time_equal(hmac_digest(secret, request.body).hex(), signature.strip().lower()):
            raise WebhookRejected(401, "X-Hook-Signature does not match the body")

    def parse_webhook(self, request: WebhookRequest) -> list[Delivery]:
        """One delivery per event of ``{"events": [...]}``; an empty list is a heartbeat.
        Asana events have no id: the dedup key hashes the whole event."""
        try:
            body = json.loads(request.body)
        except ValueError:
            raise WebhookRejected(400, "Asana webhook body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise WebhookRejected(400, 'Asana webhook body is not an object with an "events" list')
        now = datetime.now(UTC)
        deliveries = []
        for n, event in enumerate(body["events"]):
            resource = event.get("resource") if isinstance(event, dict) else None
            if not isinstance(resource, dict) or not resource.get("gid"):
                raise WebhookRejected(400, f"Asana event {n} has no resource gid")
            if not event.get("action") or not event.get("created_at"):
                raise WebhookRejected(400, f"Asana event {n} has no action or created_at")
            digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:32]
            record = event["parent"]["gid"] if resource.get("resource_type") == "story" and event.get("parent") else resource["gid"]
            deliveries.append(Delivery(tool="asana", dedup_key=f"asana:event:{digest}", kind="webhook",
                                       received_at=now, payload=event, record_id=str(record)))
        return deliveries

    # --- notices made whole --------------------------------------------------------------
    def enrich(self, delivery: Delivery) -> Delivery:
        """A webhook event carries only gids: a task's ``completed`` change is read once (name,
        notes with the kickoff key, completed, memberships and sections, custom fields) and
        becomes the task as read (the event kept under ``event``), which the mapping reads as
        it reads a polled task. Other events, and a task deleted since, as they came."""
        event = delivery.payload if isinstance(delivery.payload, dict) else {}
        resource = event.get("resource") or {}
        change = event.get("change") or {}
        if (delivery.kind != "webhook" or event.get("action") != "changed" or not isinstance(resource, dict)
                or resource.get("resource_type") != "task" or not resource.get("gid")
                or not isinstance(change, dict) or change.get("field") != "completed"):
            return delivery
        gid = str(resource["gid"])
        tasks_api = asana.TasksApi(self.client)
        try:
            task = self._invoke(lambda: tasks_api.get_task(gid, {"opt_fields": TASK_FIELDS}))
        except VendorError as error:
            if error.status == 404:
                log.info("task %s is gone: delivery %s left as it came", gid, delivery.dedup_key)
                return delivery
            raise
        task = task.get("data", task) if isinstance(task, dict) else {}
        return delivery.model_copy(update={"payload": {**task, "gid": gid, "event": event}}, deep=True)

    # --- writes -----------------------------------------------------------------------
    def apply(self, actions: Sequence[Action]) -> list[ActionResult]:
        results: dict[int, ActionResult] = {}
        plans: list[_Plan] = []
        for index, action in enumerate(actions):
            try:
                plans.append(_Plan(index, action, self._requests_for(action)))
            except VendorError as error:
                results[index] = result_for(action, error)
        for chunk in _packed(plans, self._batch_limit):
            results.update(self._send(chunk))
        return [results[i] for i in range(len(actions))]

    @property
    def _batch_limit(self) -> int:
        """Asana's 10, the configured batch size, and what the limiter can grant at once
        (each batch action counts as one request against Asana's limit)."""
        limit = self.config.rate_limit
        capacity = bucket_for(limit).capacity if limit else MAX_BATCH_ACTIONS
        return max(1, min(MAX_BATCH_ACTIONS, self.batch_size, capacity))

    def _requests_for(self, action: Action) -> list[dict[str, Any]]:
        """The batch actions for one Kickoff action (a bad payload is a permanent failure)."""
        p = action.payload
        try:
            if action.kind in CREATIONS:
                data = {k: p[k] for k in ("name", "assignee", "due_on", "due_at") if p.get(k) is not None}
                data["notes"] = f"{p.get('notes') or ''}\n\n{key_line(action.idempotency_key)}".lstrip()
                fields = dict(p.get("custom_fields") or {})
                if self.config.options.get("key_field"):
                    fields[str(self.config.options["key_field"])] = action.idempotency_key
                data["custom_fields"] = fields
                section = self._section(p["project"], p.get("section"), default=0)
                data["memberships"] = [{"project": p["project"], "section": section}]
                return [{"relative_path": "/tasks", "method": "post", "data": data}]
            task = p["record_id"]
            if action.kind is ActionKind.COMPLETE_TASK:
                return [{"relative_path": f"/tasks/{task}", "method": "put", "data": {"completed": True}},
                        self._move(task, self._section(p["project"], p.get("section"), default=-1))]
            if action.kind is ActionKind.SET_STAGE:
                return [self._move(task, self._section(p["project"], p["section"], default=None))]
            if action.kind is ActionKind.ASSIGN_OWNER:
                return [{"relative_path": f"/tasks/{task}", "method": "put", "data": {"assignee": p["assignee"]}}]
            if action.kind is ActionKind.ADD_NOTE:
                text = f"{p['text']}\n\n{key_line(action.idempotency_key)}"
                return [{"relative_path": f"/tasks/{task}/stories", "method": "post", "data": {"text": text}}]
        except KeyError as missing:
            raise VendorError(ErrorKind.PERMANENT, f"asana: {action.kind} payload has no {missing}") from None
        raise VendorError(ErrorKind.PERMANENT, f"asana: {action.kind} is not an Asana action")

    @staticmethod
    def _move(task: str, section: str) -> dict[str, Any]:
        return {"relative_path": f"/sections/{section}/addTask", "method": "post", "data": {"task": task}}

    def _section(self, project: str, ref: str | None, default: int | None) -> str:
        """A column's gid from its gid or name; ``default`` picks by position when none is named."""
        if project not in self._sections:
            api = asana.SectionsApi(self.client)
            pages = self._pages(lambda o: api.get_sections_for_project(project, o, full_payload=True),
                                {"opt_fields": "name"})
            self._sections[project] = [(s["gid"], s["name"]) for s in pages]
        columns = self._sections[project]
        if ref is None and default is not None and columns:
            return columns[default][0]
        wanted = str(ref).lower()
        for gid, name in columns:
            if wanted in (gid, name.lower()):
                return gid
        raise VendorError(ErrorKind.PERMANENT, f"asana: project {project} has no column {ref!r}")

    def _send(self, chunk: list[_Plan]) -> dict[int, ActionResult]:
        """One ``/batch`` call; after an unknown outcome, what landed is looked up, not re-sent."""
        known: dict[int, ActionResult] = {}
        # an earlier attempt (a worker that died, an outcome that stayed unknown) wrote no
        # earlier than the action fell due, however long ago that was
        since = min([datetime.now(UTC), *(p.action.due_at for p in chunk)]) - LOOKUP_WINDOW

        def send() -> dict[int, ActionResult]:
            pending = [p for p in chunk if p.index not in known]
            body = {"data": {"actions": [r for p in pending for r in p.requests]}}
            answer = asana.BatchAPIApi(self.client).create_batch_request(body, {}, full_payload=True)
            return {**known, **_results_of(pending, answer["data"])}

        def lookup() -> dict[int, ActionResult] | None:
            known.update(self._find_written([p for p in chunk if p.index not in known], since))
            return dict(known) if len(known) == len(chunk) else None

        try:
            return self._invoke(send, write=True, slots=sum(len(p.requests) for p in chunk), lookup=lookup)
        except VendorError as error:
            return {p.index: known.get(p.index) or result_for(p.action, error) for p in chunk}

    def _find_written(self, plans: list[_Plan], since: datetime) -> dict[int, ActionResult]:
        """Creations and notes that carry their key in Asana (updates cannot be told apart)."""
        found: dict[int, ActionResult] = {}
        creations = [p for p in plans if p.action.kind in CREATIONS]
        tasks_api = asana.TasksApi(self.client)
        for project in {p.action.payload["project"] for p in creations}:
            opts = {"modified_since": since.isoformat(), "opt_fields": "notes,custom_fields.text_value"}
            tasks = self._pages(lambda o, pr=project: tasks_api.get_tasks_for_project(pr, o, full_payload=True), opts)
            for plan in creations:
                key = plan.action.idempotency_key
                hit = next((t for t in tasks if carries_key(t.get("notes"), key)
                            or any(f.get("text_value") == key for f in t.get("custom_fields") or [])), None)
                if hit and plan.action.payload["project"] == project:
                    found[plan.index] = done(plan.action, hit["gid"])
        stories_api = asana.StoriesApi(self.client)
        for plan in (p for p in plans if p.action.kind is ActionKind.ADD_NOTE):
            task = plan.action.payload["record_id"]
            stories = self._pages(lambda o, t=task: stories_api.get_stories_for_task(t, o, full_payload=True),
                                  {"opt_fields": "text"})
            hit = next((s for s in stories if carries_key(s.get("text"), plan.action.idempotency_key)), None)
            if hit:
                found[plan.index] = done(plan.action, hit["gid"])
        if found:
            log.info("asana: %d write(s) found by idempotency key after an unknown outcome", len(found))
        return found


def _packed(plans: list[_Plan], size: int) -> list[list[_Plan]]:
    """Batches of at most ``size`` batch actions, never splitting one Kickoff action."""
    chunks: list[list[_Plan]] = []
    current: list[_Plan] = []
    for plan in plans:
        if current and sum(len(p.requests) for p in current) + len(plan.requests) > size:
            chunks.append(current)
            current = []
        current.append(plan)
    return chunks + ([current] if current else [])


def _results_of(plans: list[_Plan], answers: list[dict[str, Any]]) -> dict[int, ActionResult]:
    """Per-action results from the batch's per-request answers (same order as sent)."""
    results: dict[int, ActionResult] = {}
    position = 0
    for plan in plans:
        mine = answers[position:position + len(plan.requests)]
        position += len(plan.requests)
        failed = next((a for a in mine if not 200 <= int(a.get("status_code", 0)) < 300), None)
        if len(mine) < len(plan.requests):
            results[plan.index] = result_for(plan.action, classify(502, reason="asana: batch answer is missing results"))
        elif failed is not None:
            error = classify(int(failed["status_code"]), failed.get("headers") or {},
                             f"asana: {_message(failed.get('body')) or 'HTTP ' + str(failed['status_code'])}")
            results[plan.index] = result_for(plan.action, error)
        else:
            first = (mine[0].get("body") or {}).get("data") or {}
            created = plan.action.kind in CREATIONS or plan.action.kind is ActionKind.ADD_NOTE
            results[plan.index] = done(plan.action, first.get("gid") if created else plan.action.payload["record_id"])
    return results
