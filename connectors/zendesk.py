"""Zendesk through the official client, ``zenpy``: incremental reads, batched writes, webhooks.

Reads follow the cursor-based incremental export: ``tickets.incremental(start_time=...)`` on
the first read, ``tickets.incremental(cursor=...)`` after that (never both), one page per call
so a read can stop at ``limit`` on a page boundary. The cursor stored by Kickoff is JSON:
Zendesk's ``after_cursor`` plus the (id, updated_at) keys at the read's last timestamp, which
are skipped once more at the next read. A ticket in the export with status ``deleted`` becomes
a tombstone delivery (``payload["event"] == "ticket.deleted"``); a ticket that merely stops
appearing (archived, out of a view) is NOT a deletion and produces nothing.

Writes. Each action's payload is one of Zendesk's payload models (``kickoff.tools.zendesk``),
validated where the mapping made it: ``set_stage`` (status, custom fields, tags),
``assign_owner`` (assignee and/or group), ``add_note`` (an internal note unless ``public``),
``create_record`` (a ticket whose ``external_id`` is the action's idempotency key; the
``Idempotency-Key`` header is sent too).

Webhooks. An event-subscription webhook (``type`` ``zen:event-type:...``) is deduplicated by
Zendesk's event ``id``. A trigger webhook's body is whatever its template says: the connector
reads nothing of it (the mapping does, by the paths of its table) and deduplicates it by a
hash of the body, so Zendesk's re-sends of one delivery are stored once.
A ``ticket.created`` event-subscription webhook lacks custom field values: ``enrich`` reads the
ticket once and adds the ones the mapping reads (``reads["custom_fields"]``) to its ``detail``;
for a new alert the mapping weighs an open opportunity for (``reads["opportunity_alerts"]``,
tags), one search adds the ids of the account's open tickets with the opportunity tags
(``reads["opportunity_tags"]``; the account is the first of ``reads["accounts"]`` the ticket
has). A trigger webhook of a new alert gets that search too, its result at the top of the body
(the trigger ``kickoff webhooks apply`` registers names the ticket's tags and account fields
there). Zendesk indexes a new ticket for search within minutes: one made seconds ago may be missed.

Updates go through ``update_many`` (at most 100 tickets a call; several actions on one ticket
are merged into one ticket update when their fields do not collide), and each job is followed
through ``job_statuses/show_many`` to its per-ticket results: refused tickets fail with
Zendesk's reason, accepted ones are done and never re-sent. Tags are added with
``additional_tags`` (add semantics: setting ``tags`` would replace the whole list).
An update whose answer is lost may be re-sent: status, assignee, fields and tags are
idempotent, an internal note could appear twice (Zendesk has no idempotency for updates).
So before an update is sent again after an unknown outcome, and before ``apply_again``
(rows taken over from a worker that died mid-push) sends a note, the ticket's comments are
read and a note already there is not added twice.
A creation whose answer is lost is looked up by ``external_id`` before it is sent again.

zenpy sleeps on a 429 by itself; a response hook on its session raises our ``VendorError``
first (with Retry-After), so the one retry policy decides. Proactive rate limiting is off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import requests
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket, User
from zenpy.lib.exception import APIException, ZenpyException

from connectors.base import Connector, ReadResult, chunked, done, result_for
from connectors.http import Observer, SandboxRedirectAdapter, make_session, transport_error
from connectors.zendesk_hooks import ZendeskWebhooks
from kickoff.contracts.errors import ErrorKind, VendorError, classify
from kickoff.contracts.vendor import VendorAction, VendorPayload
from kickoff.contracts.webhooks import (
    WebhookRejected,
    WebhookRequest,
    check_freshness,
    check_signature,
    json_body,
)
from kickoff.model import ActionResult, Delivery
from kickoff.tools.zendesk import (
    ACCOUNT_SEARCH,
    OPEN_OPPORTUNITIES,
    AddNotePayload,
    AssignOwnerPayload,
    CreateRecordPayload,
    SetStagePayload,
)

T = TypeVar("T")
log = logging.getLogger("kickoff.connectors.zendesk")

MAX_UPDATE_MANY = 100
EVENT_PREFIX = "zen:event-type:"
TRIGGER_KEY = "zendesk:trigger:"
"""How a trigger webhook's dedup key begins (the rest: a hash of its body)."""


# --- the client ---------------------------------------------------------------------------
def _vendor_reason(response: requests.Response) -> str:
    """Zendesk's own words: ``description`` (or ``error``), else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason
    if isinstance(body, dict):
        details = body.get("details")
        parts = [str(body.get("error") or ""), str(body.get("description") or "")]
        if isinstance(details, dict):
            parts += [d.get("description", "") for items in details.values() for d in items if isinstance(d, dict)]
        return ": ".join(p for p in parts if p) or response.text[:300]
    return response.text[:300]


def _raise_on_429(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Session hook: a 429 becomes our error before zenpy can start sleeping on it."""
    if response.status_code == 429:
        raise classify(429, response.headers, _vendor_reason(response))


def zendesk_session(base_url: str | None, observe: Observer | None = None) -> requests.Session:
    """A session with no hidden retries, 429s raised at once, and (for the sandbox) redirected;
    every answer's rate-limit headers go to ``observe`` (before a 429 is raised)."""
    session = make_session(None, observe)
    if base_url:
        adapter = SandboxRedirectAdapter(base_url)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    session.hooks["response"].append(_raise_on_429)
    return session


def translate(exc: Exception, *, write: bool) -> VendorError:
    """zenpy's and requests' exceptions as a classified VendorError (the one place this happens)."""
    if isinstance(exc, VendorError):
        return exc
    if isinstance(exc, APIException) and exc.response is not None:
        return classify(exc.response.status_code, exc.response.headers, _vendor_reason(exc.response))
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return transport_error(exc, write=write)
    return VendorError(ErrorKind.PERMANENT, f"{type(exc).__name__}: {exc}")


def _guarded(fn: Callable[[], T], *, write: bool) -> Callable[[], T]:
    def run() -> T:
        try:
            return fn()
        except (VendorError, APIException, ZenpyException, requests.RequestException) as exc:
            raise translate(exc, write=write) from exc

    return run


# --- action payloads ----------------------------------------------------------------------
def update_fields(payload: VendorPayload) -> tuple[int, dict[str, Any]]:
    """(ticket id, the ticket fields one update action sets); TypeError for a payload that
    is not a ticket update."""
    if isinstance(payload, SetStagePayload):
        fields: dict[str, Any] = {"status": payload.status} if payload.status else {}
        if payload.custom_fields:
            fields["custom_fields"] = [f.model_dump() for f in payload.custom_fields]
    elif isinstance(payload, AssignOwnerPayload):
        who = (("assignee_id", payload.assignee_id), ("group_id", payload.group_id))
        fields = {k: v for k, v in who if v is not None}
    elif isinstance(payload, AddNotePayload):
        fields = {"comment": {"body": payload.body, "public": payload.public}}
    else:
        raise TypeError(f"zendesk does not update a ticket with a {type(payload).__name__}")
    if payload.add_tags:
        fields["additional_tags"] = sorted(set(payload.add_tags))
    return payload.ticket_id, fields


@dataclass
class _Update:
    """One ticket's update in one update_many call, carrying the actions merged into it."""

    ticket_id: int
    fields: dict[str, Any]
    indexes: list[int] = field(default_factory=list)

    def absorb(self, fields: dict[str, Any], index: int) -> bool:
        """Merge another action's fields unless one would overwrite the other."""
        if (set(fields) - {"additional_tags"}) & set(self.fields):
            return False
        tags = sorted(set(self.fields.get("additional_tags", [])) | set(fields.get("additional_tags", [])))
        self.fields.update(fields)
        if tags:
            self.fields["additional_tags"] = tags
        self.indexes.append(index)
        return True

    def ticket(self) -> Ticket:
        fields = dict(self.fields)
        comment = fields.pop("comment", None)
        ticket = Ticket(id=self.ticket_id, **fields)
        if comment:
            ticket.comment = Comment(**comment)
        return ticket


def plan_rounds(updates: list[tuple[int, int, dict[str, Any]]]) -> list[list[_Update]]:
    """Rounds of ticket updates, each ticket at most once per round (one update_many never
    names a ticket twice); actions merge into the earliest round where they fit."""
    rounds: list[list[_Update]] = []
    for index, ticket_id, fields in updates:
        for round_ in rounds:
            mine = next((u for u in round_ if u.ticket_id == ticket_id), None)
            if mine is None:
                round_.append(_Update(ticket_id, dict(fields), [index]))
                break
            if mine.absorb(fields, index):
                break
        else:
            rounds.append([_Update(ticket_id, dict(fields), [index])])
    return rounds


# --- the cursor ---------------------------------------------------------------------------
@dataclass
class ExportCursor:
    """Zendesk's ``after_cursor`` plus the keys already delivered at the last timestamp."""

    after_cursor: str | None = None
    boundary: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def load(cls, value: str | None) -> ExportCursor:
        if not value:
            return cls()
        data = json.loads(value)
        return cls(data.get("after_cursor"), {(str(i), str(u)) for i, u in data.get("boundary", [])})

    def dump(self) -> str:
        return json.dumps({"after_cursor": self.after_cursor, "boundary": sorted(self.boundary)})


def _timestamp(value: str) -> float:
    """Zendesk sends ISO 8601 (``2026-03-02T09:00:00Z``); plain Unix seconds are accepted too."""
    if value.isdigit():
        return float(value)
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise WebhookRejected(401, "unreadable signature timestamp") from None


# --- the connector ------------------------------------------------------------------------
class ZendeskConnector(ZendeskWebhooks, Connector):
    """Zendesk Support through zenpy. Options (tools.yaml ``options``): ``subdomain``,
    ``start_time`` (Unix seconds of the first read), ``per_page`` (first export page, ≤ 1000),
    ``job_poll_seconds``, ``job_timeout_seconds``, ``max_jobs_in_flight`` (≤ 30),
    ``webhook_tolerance_seconds``, ``timeout_seconds``.

    Example::

        connector = build_connector("zendesk", load_config(), limiter=limiter)
        result = connector.read_changes(None, now=now, limit=500)
    """

    tool: ClassVar[str] = "zendesk"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client: Zenpy | None = None

    @property
    def options(self) -> dict[str, Any]:
        return self.config.options

    @property
    def client(self) -> Zenpy:
        if self._client is None:
            self._client = Zenpy(
                subdomain=self.options.get("subdomain", "sandbox"), email=self.secret("email"),
                token=self.secret("token"), session=zendesk_session(self.base_url, self.observe), disable_cache=True,
                timeout=float(self.options.get("timeout_seconds", 30)),
            )
        return self._client

    @property
    def round_size(self) -> int:
        """Four waves of jobs per round (``max_jobs_in_flight`` update_many calls each), so the
        round's jobs are pipelined (``_update_round``) rather than waited for wave by wave."""
        return min(self.batch_size, MAX_UPDATE_MANY) * self._wave * 4

    @property
    def _wave(self) -> int:
        return max(1, min(int(self.options.get("max_jobs_in_flight", 25)), 30))

    def _zd(self, fn: Callable[[], T], *, write: bool = False, lookup: Callable[[], T | None] | None = None) -> T:
        """One zenpy call under the limiter and the retry policy, its errors translated."""
        return self.call(_guarded(fn, write=write), lookup=_guarded(lookup, write=False) if lookup else None)

    # --- reads ----------------------------------------------------------------------------
    def read_changes(self, cursor: str | None, *, now: datetime,
                     limit: int | None = None) -> ReadResult:
        state = ExportCursor.load(cursor)
        seen: list[dict[str, Any]] = []
        while True:
            tickets, after, end = self._zd(lambda: self._export_page(state.after_cursor))
            seen += [t for t in tickets if (str(t["id"]), str(t["updated_at"])) not in state.boundary]
            state.after_cursor = after or state.after_cursor
            if end or (limit is not None and len(seen) >= limit):
                break
        if seen:
            latest = max(str(t["updated_at"]) for t in seen)
            state.boundary = {(str(t["id"]), latest) for t in seen if str(t["updated_at"]) == latest}
        return ReadResult([self._poll_delivery(t, now) for t in seen], state.dump())

    def _export_page(self, after_cursor: str | None) -> tuple[list[dict[str, Any]], str | None, bool]:
        if after_cursor:
            page = self.client.tickets.incremental(cursor=after_cursor)
        else:
            page = self.client.tickets.incremental(start_time=int(self.options.get("start_time", 0)),
                                                   per_page=int(self.options.get("per_page", 1000)))
        tickets = [t.to_dict() for t in (page.values or [])]
        return tickets, getattr(page, "after_cursor", None), bool(getattr(page, "end_of_stream", True))

    def _poll_delivery(self, ticket: dict[str, Any], now: datetime) -> Delivery:
        deleted = ticket.get("status") == "deleted"
        return Delivery(tool="zendesk", kind="poll", received_at=now, record_id=str(ticket["id"]),
                        dedup_key=f"zendesk:ticket:{ticket['id']}:{ticket['updated_at']}",
                        payload={"event": "ticket.deleted" if deleted else "ticket.changed", "ticket": ticket})

    # --- webhooks -------------------------------------------------------------------------
    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        signature = request.required("X-Zendesk-Webhook-Signature")
        stamp = request.required("X-Zendesk-Webhook-Signature-Timestamp")
        check_freshness(_timestamp(stamp), now, float(self.options.get("webhook_tolerance_seconds", 300)))
        check_signature(signature.strip(), self.secret("webhook_secret"), stamp.encode() + request.body,
                        encoding="base64", refused="X-Zendesk-Webhook-Signature does not match the body")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        body = json_body(request.body, "zendesk webhook")
        if isinstance(body.get("type"), str) and body["type"].startswith(EVENT_PREFIX):
            return [self._event_delivery(body, now)]
        return [self._trigger_delivery(body, now)]

    @staticmethod
    def _event_delivery(body: dict[str, Any], now: datetime) -> Delivery:
        """An event-subscription webhook: one event, deduplicated by Zendesk's event ``id``."""
        for name in ("id", "subject"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise WebhookRejected(400, f"zendesk event {body['type']!r} has no {name!r}")
        if not isinstance(body.get("detail", {}), dict) or not isinstance(body.get("event", {}), dict):
            raise WebhookRejected(400, "zendesk event 'detail' and 'event' must be objects")
        return Delivery(tool="zendesk", kind="webhook", received_at=now,
                        dedup_key=f"zendesk:event:{body['id']}", record_id=body["subject"].rsplit(":", 1)[-1],
                        payload=body)

    @staticmethod
    def _trigger_delivery(body: dict[str, Any], now: datetime) -> Delivery:
        """A trigger webhook, shaped by its template: stored as it came, deduplicated by a hash
        of the body (a re-send is the same body; a new change carries its new values). Which
        ticket it is, and what changed, the mapping reads by the paths of its table."""
        if not body:
            raise WebhookRejected(400, "zendesk webhook body is an empty object: neither an "
                                       "event-subscription payload ('type' zen:event-type:...) "
                                       "nor a trigger's template")
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        digest = hashlib.sha256(canonical).hexdigest()[:40]
        return Delivery(tool="zendesk", kind="webhook", received_at=now,
                        dedup_key=f"{TRIGGER_KEY}{digest}", payload=body)

    # --- tickets already under way (``kickoff adopt``) -------------------------------------------
    def read_running(self, query: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
        """Every ticket in one of the query's ``statuses`` with one of its ``tags_any`` or
        ``form_ids``: the whole incremental export read once (no search here), filtered."""
        statuses, tags = set(query.get("statuses") or []), set(query.get("tags_any") or [])
        forms = {str(f) for f in query.get("form_ids") or []}
        found, after = [], None
        while True:
            tickets, after_cursor, end = self._zd(lambda a=after: self._export_page(a))
            found += [t for t in tickets if t.get("status") in statuses and (
                tags & set(t.get("tags") or []) or str(t.get("ticket_form_id")) in forms)]
            if end or not after_cursor or after_cursor == after:
                return sorted(found, key=lambda t: str(t.get("created_at")))
            after = after_cursor

    # --- notices made whole -----------------------------------------------------------------
    def enrich(self, delivery: Delivery, now: datetime) -> Delivery:
        """A ``ticket.created`` event-subscription webhook carries no custom field values (an
        alert's data, e.g. the red alert's competitor date): when the mapping reads custom
        fields (``reads["custom_fields"]``, their ids), one read of the ticket adds those
        (``detail.custom_fields``, plus ``ticket_form_id``); when it is an alert the mapping
        weighs open opportunities for, one search adds those of its account
        (``detail[OPEN_OPPORTUNITIES]``). The event is kept as it came; other events say
        what changed already; a ticket deleted since is left as it came."""
        body = delivery.payload if isinstance(delivery.payload, dict) else {}
        if delivery.kind == "webhook" and delivery.dedup_key.startswith(TRIGGER_KEY):
            found = self._alert_opportunities(body)
            if found is None:
                return delivery
            return delivery.model_copy(update={"payload": {**body, OPEN_OPPORTUNITIES: found}}, deep=True)
        detail = body.get("detail")
        created = delivery.kind == "webhook" and body.get("type") == f"{EVENT_PREFIX}ticket.created"
        if not created or not isinstance(detail, dict) or not delivery.record_id:
            return delivery
        enriched = dict(detail)
        wanted = {str(i) for i in self.reads.get("custom_fields", [])}
        if wanted and "custom_fields" not in detail:
            ticket_id = int(delivery.record_id)
            try:
                ticket = self._zd(lambda: self.client.tickets(id=ticket_id).to_dict())
            except VendorError as error:
                if error.status == 404:
                    log.info("ticket %s is gone: delivery %s left as it came", ticket_id, delivery.dedup_key)
                    return delivery
                raise
            enriched["custom_fields"] = [{"id": f.get("id"), "value": f.get("value")}
                                         for f in ticket.get("custom_fields") or []
                                         if isinstance(f, dict) and str(f.get("id")) in wanted]
            enriched["ticket_form_id"] = ticket.get("ticket_form_id")
        found = self._alert_opportunities(detail)
        if found is not None:
            enriched[OPEN_OPPORTUNITIES] = found
        if enriched == detail:
            return delivery
        return delivery.model_copy(update={"payload": {**body, "detail": enriched}}, deep=True)

    def _alert_opportunities(self, ticket: dict[str, Any]) -> list[str] | None:
        """For a new alert the mapping weighs open opportunities for (by its tags; a trigger
        body's tags are one space-separated text), its account's open ones; else None."""
        tags = ticket.get("tags") or []
        tags = set(tags.split() if isinstance(tags, str) else tags)
        opportunity = set(self.reads.get("opportunity_tags", []))
        if (OPEN_OPPORTUNITIES in ticket or not tags & set(self.reads.get("opportunity_alerts", []))
                or opportunity <= tags):  # not an alert, or an opportunity itself
            return None
        return self._open_opportunities(ticket)

    def _open_opportunities(self, detail: dict[str, Any]) -> list[str] | None:
        """Ids of the open tickets (not solved, not closed) of the alert's account that carry
        every opportunity tag: one search. None when the ticket names no account."""
        tags = list(self.reads.get("opportunity_tags", []))
        account = next(((field, detail[field]) for field in self.reads.get("accounts", [])
                        if field in ACCOUNT_SEARCH and detail.get(field) not in (None, "")), None)
        if not tags or account is None:
            return None
        who = {ACCOUNT_SEARCH[account[0]]: account[1]}
        found = self._zd(lambda: [t.to_dict() for t in self.client.search(
            type="ticket", tags=tags[0], status_less_than="solved", **who)])
        return sorted(str(t["id"]) for t in found
                      if set(tags) <= set(t.get("tags") or []) and t.get("status") not in ("solved", "closed"))

    # --- writes ---------------------------------------------------------------------------
    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        results: dict[int, ActionResult] = {}
        updates: list[tuple[int, int, dict[str, Any]]] = []
        for index, action in enumerate(actions):
            if isinstance(action.payload, CreateRecordPayload):
                results[index] = self._create(action, action.payload)
                continue
            try:
                ticket_id, fields = update_fields(action.payload)
            except TypeError as exc:
                results[index] = result_for(action, VendorError(ErrorKind.PERMANENT, f"bad payload: {exc}"))
                continue
            updates.append((index, ticket_id, fields))
        for round_ in plan_rounds(updates):
            results.update(self._update_round(round_, actions))
        return [results[i] for i in range(len(actions))]

    def apply_again(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        """As ``Connector.apply_again`` (creations looked up by ``external_id`` first), and an
        internal note an earlier attempt may have added is looked for on the ticket first:
        Zendesk keeps no key on a comment, so the same body and visibility counts as written."""
        results: dict[int, ActionResult] = {}
        rest: list[int] = []
        for index, action in enumerate(actions):
            note = action.payload
            if isinstance(note, AddNotePayload):
                try:
                    comment = {"body": note.body, "public": note.public}
                    if self._has_comment(note.ticket_id, comment):
                        results[index] = done(action, str(note.ticket_id))
                        continue
                except VendorError as error:
                    results[index] = result_for(action, error)
                    continue
            rest.append(index)
        again = super().apply_again([actions[i] for i in rest], now)
        results.update(zip(rest, again, strict=True))
        return [results[i] for i in range(len(actions))]

    def _drop_written_notes(self, batch: list[_Update]) -> None:
        """After an unknown outcome of update_many: a note the ticket already shows is taken
        out of the update before it is sent again (the other fields are idempotent). Always
        None: the rest is re-sent."""
        for update in batch:
            comment = update.fields.get("comment")
            if comment and self._has_comment(update.ticket_id, comment):
                update.fields.pop("comment")

    def _has_comment(self, ticket_id: int, comment: dict[str, Any]) -> bool:
        found = self._zd(lambda: list(self.client.tickets.comments(ticket=ticket_id)))
        return any(str(c.body) == str(comment["body"]) and bool(c.public) == bool(comment["public"]) for c in found)

    def _create(self, action: VendorAction, payload: CreateRecordPayload) -> ActionResult:
        key = action.idempotency_key
        fields = payload.model_dump(mode="json", exclude_none=True, exclude={"body", "requester"})
        fields.update(external_id=key)

        def create() -> str:
            # zenpy objects are built anew for every attempt: once sent, an object serialises
            # only what changed since, so a re-sent Comment would go out empty (422)
            extra = {"requester": User(**payload.requester.model_dump(exclude_none=True))} if payload.requester else {}
            ticket = Ticket(**fields, **extra, comment=Comment(body=payload.body))
            with self._header("Idempotency-Key", key):
                return str(self.client.tickets.create(ticket).ticket.id)

        def lookup() -> str | None:
            found = list(self.client.tickets(external_id=key))
            return str(found[0].id) if found else None

        try:
            return done(action, self._zd(create, write=True, lookup=lookup))
        except VendorError as error:
            return result_for(action, error)

    @contextmanager
    def _header(self, name: str, value: str) -> Iterator[None]:
        """zenpy has no per-request headers: set one on its session for the length of a call."""
        session = self.client.tickets.session
        session.headers[name] = value
        try:
            yield
        finally:
            session.headers.pop(name, None)

    def _update_round(self, round_: list[_Update],
                      actions: Sequence[VendorAction]) -> dict[int, ActionResult]:
        """Submit a round's update_many calls, never more jobs in flight than allowed, and
        follow them to their per-ticket results. Pipelined: once the jobs in flight reach the
        cap, one status poll collects the finished ones and their places go to the next
        calls, so the writes never stop while jobs run (a poll costs a call of the same
        per-minute budget: one per poll, not one per wave)."""
        results: dict[int, ActionResult] = {}
        size = min(self.batch_size, MAX_UPDATE_MANY)
        batches = list(chunked(round_, size))
        in_flight: dict[str, tuple[list[_Update], float]] = {}
        interval = float(self.options.get("job_poll_seconds", 1.0))
        while batches or in_flight:
            if batches and len(in_flight) < self._wave:
                batch = list(batches.pop(0))
                try:
                    job = self._zd(lambda batch=batch: self.client.tickets.update([u.ticket() for u in batch]),
                                   write=True, lookup=lambda batch=batch: self._drop_written_notes(batch))
                except VendorError as error:
                    results.update({i: result_for(actions[i], error) for u in batch for i in u.indexes})
                    continue
                in_flight[job.id] = (batch, time.monotonic())
                continue
            oldest = min(at for _, at in in_flight.values())
            time.sleep(max(0.0, oldest + interval - time.monotonic()))
            finished = self._follow({job: ups for job, (ups, _) in in_flight.items()}, actions,
                                    until_first=bool(batches))
            results.update(finished.results)
            for job in finished.jobs:
                in_flight.pop(job, None)
        return results

    def _follow(self, jobs: dict[str, list[_Update]], actions: Sequence[VendorAction], *,
                until_first: bool = False) -> _Followed:
        """Poll the jobs together until each is completed or failed (``until_first``: until
        any is, to free its place); per-ticket outcomes and the jobs finished. Every poll is
        a call against the account's per-minute limit (Zendesk exempts no endpoint from it),
        so the caller polls only once the oldest job has had ``job_poll_seconds``."""
        results: dict[int, ActionResult] = {}
        interval = float(self.options.get("job_poll_seconds", 1.0))
        deadline = time.monotonic() + float(self.options.get("job_timeout_seconds", 120))
        pending = dict(jobs)
        while pending and not (until_first and len(pending) < len(jobs)):
            try:
                statuses = self._zd(lambda: self.client.job_status(ids=list(pending))["job_statuses"])
            except VendorError as error:
                statuses, failure = [], error
            else:
                failure = None
            for status in statuses:
                if status.status in ("completed", "failed", "killed") and status.id in pending:
                    results.update(self._job_results(status, pending.pop(status.id), actions))
            if pending and (failure is not None or time.monotonic() >= deadline):
                error = failure or VendorError(ErrorKind.RETRYABLE, "update_many job still running at the deadline")
                results.update({i: result_for(actions[i], error) for ups in pending.values() for u in ups
                                for i in u.indexes})
                pending.clear()
                break
            if pending and not (until_first and len(pending) < len(jobs)):
                time.sleep(interval)
        return _Followed(results, [job for job in jobs if job not in pending])

    def _job_results(self, status: Any, updates: list[_Update],
                     actions: Sequence[VendorAction]) -> dict[int, ActionResult]:
        by_ticket = {str(_field(r, "id")): r for r in (status.results or [])} if status.status == "completed" else {}
        results: dict[int, ActionResult] = {}
        for update in updates:
            outcome = by_ticket.get(str(update.ticket_id))
            for i in update.indexes:
                if outcome is None:
                    reason = status.message or f"update_many job {status.status} without a result for this ticket"
                    results[i] = result_for(actions[i], VendorError(ErrorKind.RETRYABLE, str(reason)))
                elif _field(outcome, "success"):
                    results[i] = done(actions[i], str(update.ticket_id))
                else:
                    reason = _field(outcome, "errors") or _field(outcome, "details") or _field(outcome, "error")
                    results[i] = result_for(actions[i], VendorError(ErrorKind.PERMANENT, str(reason or "refused")))
        return results


@dataclass
class _Followed:
    results: dict[int, ActionResult]
    jobs: list[str]  # the jobs finished (or given up at the deadline)


def _field(item: Any, name: str) -> Any:
    """A job result's field, whether zenpy gave an object or a plain dict."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


CONNECTOR = ZendeskConnector
