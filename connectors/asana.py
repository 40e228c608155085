"""Asana: requests on a board (a project whose sections are the columns), written through
``/batch`` ten actions a call, read back by ``modified_since``.

Payloads are Asana's payload models (``kickoff.tools.asana``), validated where the mapping
made them: a new task (``create_task``, ``create_record``) lands in the named column (default
the first); ``complete_task`` completes a task and moves it to a column (default the last);
``set_stage`` moves it; ``assign_owner`` sets or clears its assignee; ``add_note`` comments.

What is read comes from the mapping (``reads``): ``projects``, the board gids
``read_changes`` polls, and ``tasks``, the task fields the mapping reads (``opt_fields``, on
top of the connector's own ``modified_at``). Options: ``key_field`` (gid of the "Kickoff
key" text custom field; optional, custom fields need a paid domain).

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
from datetime import datetime, timedelta
from typing import Any, TypeVar

import asana
from asana.rest import ApiException
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from connectors.asana_hooks import AsanaWebhooks
from connectors.base import Connector, ReadResult, done, result_for
from connectors.http import observe_pool
from connectors.ratelimit import bucket_for
from kickoff.contracts.errors import ErrorKind, UnknownOutcome, VendorError, classify
from kickoff.contracts.vendor import VendorAction
from kickoff.contracts.webhooks import (
    WebhookRejected,
    WebhookRequest,
    check_signature,
    json_body,
)
from kickoff.model import ActionResult, Delivery
from kickoff.tools.asana import (
    AddNotePayload,
    AssignOwnerPayload,
    CompleteTaskPayload,
    SetStagePayload,
    TaskChange,
    TaskPayload,
    key_in,
    key_line,
)

T = TypeVar("T")
log = logging.getLogger("kickoff.connectors.asana")

MAX_BATCH_ACTIONS = 10
LOOKUP_WINDOW = timedelta(minutes=15)  # how far back a lost write is looked for (clock skew included)
OWN_TASK_FIELDS = ("modified_at",)  # what the poll's cursor needs, whatever the mapping reads


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
    action: VendorAction
    requests: list[dict[str, Any]]

    def result_id(self, answer: dict[str, Any]) -> str | None:
        """The gid a done action reports: the task or story it made, else the task it changed."""
        payload = self.action.payload
        if isinstance(payload, TaskChange) and not isinstance(payload, AddNotePayload):
            return payload.record_id
        return answer.get("gid")


class AsanaConnector(AsanaWebhooks, Connector):
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
            _close_thread_pool(self._client)
            observe_pool(self._client.rest_client.pool_manager, self.observe)
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

    @property
    def task_fields(self) -> str:
        """``opt_fields`` of a task read: the connector's own and what the mapping reads."""
        return ",".join(sorted({*OWN_TASK_FIELDS, *self.reads.get("tasks", [])}))

    # --- reads ------------------------------------------------------------------------
    def read_changes(self, cursor: str | None, *, now: datetime,
                     limit: int | None = None) -> ReadResult:
        """Tasks of the board projects modified since the cursor, oldest change first.

        The cursor is ``{"since": modified_at, "seen": [gids at exactly that time]}``: Asana's
        ``modified_since`` includes the boundary, so those are dropped instead of re-read."""
        state = json.loads(cursor) if cursor else {"since": None, "seen": []}
        tasks_api = asana.TasksApi(self.client)
        found: dict[str, dict[str, Any]] = {}
        for project in self.reads.get("projects", []):
            since = {"modified_since": state["since"]} if state["since"] else {}
            opts = {"opt_fields": self.task_fields, **since}
            for task in self._pages(lambda o, p=project: tasks_api.get_tasks_for_project(p, o, full_payload=True), opts):
                found[task["gid"]] = task
        fresh = sorted((t for t in found.values()
                        if not (t["modified_at"] == state["since"] and t["gid"] in state["seen"])),
                       key=lambda t: (t["modified_at"], t["gid"]))
        if limit is not None:
            fresh = fresh[:limit]
        if not fresh:
            return ReadResult([], cursor)
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
        signature = request.required("x-hook-signature", "X-Hook-Signature header")
        try:
            secret = self.secret("webhook_secret")
        except VendorError:
            raise WebhookRejected(401, "no Asana webhook secret stored (was the handshake done?)") from None
        check_signature(signature.strip().lower(), secret, request.body, encoding="hex",
                        refused="X-Hook-Signature does not match the body")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        """One delivery per event of ``{"events": [...]}``; an empty list is a heartbeat.
        Asana events have no id: the dedup key hashes the whole event."""
        body = json_body(request.body, "Asana webhook")
        if not isinstance(body.get("events"), list):
            raise WebhookRejected(400, 'Asana webhook body is not an object with an "events" list')
        deliveries = []
        for n, event in enumerate(body["events"]):
            resource = event.get("resource") if isinstance(event, dict) else None
            if not isinstance(resource, dict) or not resource.get("gid"):
                raise WebhookRejected(400, f"Asana event {n} has no resource gid")
            if not event.get("action") or not event.get("created_at"):
                raise WebhookRejected(400, f"Asana event {n} has no action or created_at")
            digest = hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:32]
            parent = event.get("parent")
            story = resource.get("resource_type") == "story"
            on_task = story and isinstance(parent, dict) and parent.get("gid")
            record = parent["gid"] if on_task else resource["gid"]  # a story is about its task
            deliveries.append(Delivery(tool="asana", dedup_key=f"asana:event:{digest}", kind="webhook",
                                       received_at=now, payload=event, record_id=str(record)))
        return deliveries

    # --- notices made whole --------------------------------------------------------------
    def enrich(self, delivery: Delivery, now: datetime) -> Delivery:
        """A webhook event carries only gids: a task's ``completed`` change is read once (the
        fields a poll reads) and becomes the task as read (the event kept under ``event``),
        which the mapping reads as it reads a polled task. Other events, and a task deleted
        since, as they came."""
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
            task = self._invoke(lambda: tasks_api.get_task(gid, {"opt_fields": self.task_fields}))
        except VendorError as error:
            if error.status == 404:
                log.info("task %s is gone: delivery %s left as it came", gid, delivery.dedup_key)
                return delivery
            raise
        task = task.get("data", task) if isinstance(task, dict) else {}
        return delivery.model_copy(update={"payload": {**task, "gid": gid, "event": event}}, deep=True)

    # --- writes -----------------------------------------------------------------------
    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        results: dict[int, ActionResult] = {}
        plans: list[_Plan] = []
        for index, action in enumerate(actions):
            try:
                plans.append(_Plan(index, action, self._requests_for(action)))
            except VendorError as error:
                results[index] = result_for(action, error)
        for chunk in _packed(plans, self._batch_limit):
            results.update(self._send(chunk, now))
        return [results[i] for i in range(len(actions))]

    @property
    def _batch_limit(self) -> int:
        """Asana's 10, the configured batch size, and what the limiter can grant at once
        (each batch action counts as one request against Asana's limit)."""
        limit = self.config.rate_limit
        capacity = bucket_for(limit).capacity if limit else MAX_BATCH_ACTIONS
        return max(1, min(MAX_BATCH_ACTIONS, self.batch_size, capacity))

    def _requests_for(self, action: VendorAction) -> list[dict[str, Any]]:
        """The batch actions for one Kickoff action (an unknown column is a permanent failure)."""
        p = action.payload
        if isinstance(p, TaskPayload):
            data = p.model_dump(mode="json", exclude_none=True,
                                include={"name", "assignee", "due_on", "due_at"})
            data["notes"] = f"{p.notes or ''}\n\n{key_line(action.idempotency_key)}".lstrip()
            fields = dict(p.custom_fields)
            if self.config.options.get("key_field"):
                fields[str(self.config.options["key_field"])] = action.idempotency_key
            data["custom_fields"] = fields
            section = self._section(p.project, p.section, default=0)
            data["memberships"] = [{"project": p.project, "section": section}]
            return [{"relative_path": "/tasks", "method": "post", "data": data}]
        if isinstance(p, CompleteTaskPayload):
            return [_put(p.record_id, {"completed": True}),
                    self._move(p.record_id, self._section(p.project, p.section, default=-1))]
        if isinstance(p, SetStagePayload):
            return [self._move(p.record_id, self._section(p.project, p.section, default=None))]
        if isinstance(p, AssignOwnerPayload):
            return [_put(p.record_id, {"assignee": p.assignee})]
        if isinstance(p, AddNotePayload):
            text = f"{p.text}\n\n{key_line(action.idempotency_key)}"
            return [{"relative_path": f"/tasks/{p.record_id}/stories", "method": "post",
                     "data": {"text": text}}]
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

    def _send(self, chunk: list[_Plan], now: datetime) -> dict[int, ActionResult]:
        """One ``/batch`` call; after an unknown outcome, what landed is looked up, not re-sent."""
        known: dict[int, ActionResult] = {}
        # an earlier attempt (a worker that died, an outcome that stayed unknown) wrote no
        # earlier than the action fell due, however long ago that was
        since = min([now, *(p.action.due_at for p in chunk)]) - LOOKUP_WINDOW

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
        creations = [(p, p.action.payload) for p in plans
                     if isinstance(p.action.payload, TaskPayload)]
        tasks_api = asana.TasksApi(self.client)
        for project in {task.project for _, task in creations}:
            opts = {"modified_since": since.isoformat(), "opt_fields": "notes,custom_fields.text_value"}
            tasks = self._pages(lambda o, pr=project: tasks_api.get_tasks_for_project(pr, o, full_payload=True), opts)
            for plan, task in creations:
                key = plan.action.idempotency_key
                hit = next((t for t in tasks if key_in(t.get("notes")) == key
                            or any(f.get("text_value") == key for f in t.get("custom_fields") or [])), None)
                if hit and task.project == project:
                    found[plan.index] = done(plan.action, hit["gid"])
        stories_api = asana.StoriesApi(self.client)
        for plan in plans:
            note = plan.action.payload
            if not isinstance(note, AddNotePayload):
                continue
            stories = self._pages(
                lambda o, t=note.record_id: stories_api.get_stories_for_task(t, o, full_payload=True),
                {"opt_fields": "text"})
            hit = next((s for s in stories if key_in(s.get("text")) == plan.action.idempotency_key), None)
            if hit:
                found[plan.index] = done(plan.action, hit["gid"])
        if found:
            log.info("asana: %d write(s) found by idempotency key after an unknown outcome", len(found))
        return found


def _put(task: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"relative_path": f"/tasks/{task}", "method": "put", "data": data}


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
            results[plan.index] = done(plan.action, plan.result_id(first))
    return results


def _close_thread_pool(client: asana.ApiClient) -> None:
    """The client starts a thread pool for ``async_req`` calls, which Kickoff never makes; closed
    now, it holds no threads, and the client's ``__del__`` does not fail on it at interpreter exit
    ("Bad file descriptor" printed after a run)."""
    pool = getattr(client, "pool", None)
    if pool is not None:
        pool.close()
        pool.join()
        del client.pool


CONNECTOR = AsanaConnector

