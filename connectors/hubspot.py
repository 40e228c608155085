"""HubSpot through the official ``hubspot-api-client`` (CRM objects: batch and search APIs).

Payloads are the models declared in ``kickoff.tools.hubspot`` (one per action kind: a
ticket's stage or another object's enumeration, an owner, a task, a completion, a note, a
ticket), already in HubSpot's terms and validated where the mapping made them.

Writes go out as batch calls of at most 100 inputs: updates go out per object type (tickets,
meetings, companies, ...) and are merged per record (stage and owner of one ticket in one
input); tasks, notes and tickets are batch-created with their associations inline and the
action's idempotency key in the ``kickoff_key`` property.

HubSpot refuses a whole batch when one input is invalid (400 VALIDATION_ERROR, without saying
which input). The connector then splits the batch in halves and sends each again, down to the
single refused input, which fails permanently with HubSpot's message; nothing valid is sent
twice, since a refused batch created nothing. One bad input among 100 costs about 14 calls.

A create whose answer is lost (or a 5xx, which may have been applied) is looked up by its
``kickoff_key`` (CRM search ``IN``) before anything is sent again; only missing keys are
re-created; so are the creates of ``apply_again`` (rows taken over from a worker that died
mid-push, or tried before), before their first send. Reads page the CRM search on
``hs_lastmodifieddate`` (ascending, 200 a page), each page restarting from the last timestamp
seen, so no query comes near the 10,000-result cap; changes at that millisecond already
delivered are recognised by their ids in the cursor.

What is read of a record is what the mapping reads (``reads``, from ``Mapping.reads``) plus
the connector's own modification time and key: no property list is hard-coded here. Time is
passed in: deliveries are received at ``now``, and a 429 of the daily budget waits until the
midnight after it in the portal's time zone (read once from its account details).

Webhooks of meetings and calls are notices: no associations, one property at a time.
``enrich`` reads the record once (its ticket and company associations and the properties the
mapping reads) and returns the same delivery with the read merged in; a record gone since
(404) leaves the delivery as it was, for the mapping to fail with its reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cached_property
from typing import Any, TypeVar

from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicObjectSearchRequest,
)
from hubspot.crm.objects.exceptions import ApiException
from hubspot.discovery.discovery_base import DiscoveryBase
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, ProtocolError, ReadTimeoutError
from urllib3.util.retry import Retry

from connectors import hubspot_account
from connectors.base import Connector, ReadResult, chunked, done, result_for
from connectors.http import observe_pool
from connectors.hubspot_adopt import HubSpotRunning
from connectors.hubspot_hooks import HubSpotWebhooks
from kickoff.contracts.errors import (
    ErrorKind,
    UnknownOutcome,
    VendorError,
    classify,
    retry_after_from_headers,
)
from kickoff.contracts.vendor import VendorAction
from kickoff.contracts.webhooks import (
    WebhookRejected,
    WebhookRequest,
    check_freshness,
    check_signature,
    json_body,
)
from kickoff.model import ActionResult, Delivery, ResultStatus
from kickoff.tools.hubspot import (
    ASSOCIATION_TYPES,
    KEY_PROPERTY,
    MODIFIED,
    NOTICE_ASSOCIATIONS,
    NOTICES,
    OWNER,
    TASK_STATUS,
    AddNotePayload,
    CreateRecordPayload,
    CreateTaskPayload,
    UpdatePayload,
    object_type,
)

T = TypeVar("T")
log = logging.getLogger("kickoff.connectors.hubspot")

BATCH_MAX = 100
SEARCH_PAGE = 200
SEARCH_RESULT_CAP = 10_000
SIGNATURE_TOLERANCE_SECONDS = 300
OWN_READS = [MODIFIED, KEY_PROPERTY]
"""What the connector itself reads of any record (its cursor, its idempotency keys); what the
mapping reads comes in ``reads``."""
TASKS_CURSOR = "tasks="
"""In the poll's cursor, what follows ``|`` and this is the tasks' position (the tickets' before)."""
V3_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
              "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def vendor_error(exc: Exception, now: datetime | None = None, zone: tzinfo = UTC) -> VendorError:
    """The client's exception as a classified VendorError (the one place this is done);
    ``now`` dates a 429 of the daily budget, which waits until midnight in the portal's ``zone``."""
    if isinstance(exc, ApiException) or api_exception(exc):
        body = _json_object(exc.body)
        category = body.get("category") or body.get("errorType")
        message = body.get("message") or exc.reason or f"HTTP {exc.status}"
        reason = f"{category}: {message}" if category else str(message)
        required = [scope for detail in body.get("errors") or [] if isinstance(detail, dict)
                    for scope in (detail.get("context") or {}).get("requiredScopes") or []]
        if required:
            reason += f" [required scopes: {', '.join(required)}]"
        if not exc.status:  # the client's own failure before an answer (e.g. TLS)
            return VendorError(ErrorKind.RETRYABLE, reason)
        error = classify(exc.status, exc.headers, reason)
        if exc.status == 429:
            error.retry_after = _rate_limit_wait(body.get("policyName"), exc.headers, now, zone)
        return error
    cause = exc.reason if isinstance(exc, MaxRetryError) else exc
    if isinstance(cause, ConnectTimeoutError):  # includes NewConnectionError: nothing was sent
        return VendorError(ErrorKind.RETRYABLE, f"connection failed: {type(cause).__name__}")
    if isinstance(cause, (ProtocolError, ReadTimeoutError)):
        return UnknownOutcome(f"no answer after sending: {type(cause).__name__}")
    raise exc


def api_exception(exc: BaseException) -> bool:
    """An ``ApiException`` of any of the client's API packages (owners, pipelines, properties
    each have their own class): an answer from HubSpot, classified like the objects' one."""
    return type(exc).__module__.startswith("hubspot.") and hasattr(exc, "status") and hasattr(exc, "body")


def midnight_after(now: datetime, zone: tzinfo) -> datetime:
    """The next midnight in ``zone`` after ``now``: when HubSpot's daily limit resets (at
    midnight in the portal's time zone, its API usage guidelines)."""
    day = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _rate_limit_wait(policy: str | None, headers: Any, now: datetime | None, zone: tzinfo) -> float | None:
    """How long a 429 asks us to wait: the daily budget until midnight after ``now`` in the
    portal's ``zone`` (without ``now``, what the headers say), the search limit a second, the
    ten-secondly one its interval."""
    if policy == "DAILY" and now is not None:
        return (midnight_after(now, zone) - now).total_seconds()
    if policy == "SECONDLY":
        return 1.0
    return retry_after_from_headers(dict(headers or {}))


def _json_object(raw: Any) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _epoch_ms(value: str | None) -> int:
    """HubSpot's datetime property (ISO 8601, or epoch ms) as epoch ms."""
    text = (value or "0").strip()
    if text.isdigit():
        return int(text)
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def v3_uri(url: str) -> str:
    """The URI as HubSpot signs it: only these percent-escapes decoded."""
    for escape, char in V3_DECODED.items():
        url = url.replace(escape, char).replace(escape.lower(), char)
    return url


class Cursor:
    """Where reads resume: the last modification time seen (epoch ms) and the ids seen at it."""

    def __init__(self, ms: int = 0, ids: set[str] | None = None) -> None:
        self.ms, self.ids = ms, ids or set()

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        ms, _, ids = text.partition(":")
        return cls(int(ms), {i for i in ids.split(",") if i})

    def __str__(self) -> str:
        return f"{self.ms}:{','.join(sorted(self.ids, key=int))}"

    def seen(self, record_id: str, ms: int) -> bool:
        return ms < self.ms or (ms == self.ms and record_id in self.ids)

    def advance(self, record_id: str, ms: int) -> None:
        if ms > self.ms:
            self.ms, self.ids = ms, {record_id}
        else:
            self.ids.add(record_id)


class HubSpotConnector(HubSpotRunning, HubSpotWebhooks, Connector):
    """Tickets, tasks and notes in HubSpot; reads ticket changes; verifies v3 webhooks."""

    tool = "hubspot"
    _zone: tzinfo | None = None
    """The portal's time zone once read (``time_zone``)."""

    @cached_property
    def _client(self) -> HubSpot:
        """The official client, pointed at ``base_url`` when set, with urllib3 retries off."""
        options: dict[str, Any] = {"access_token": self.secret("token"), "retry": Retry(0),
                                   "api_factory": self._api_factory}
        if self.base_url:
            options["host"] = self.base_url.rstrip("/")
        return HubSpot(**options)

    def _api_factory(self, package: Any, api_name: str, config: dict[str, Any]) -> Any:
        """The client's own factory (its documented ``api_factory`` hook), with every answer's
        ``X-HubSpot-RateLimit-*`` headers handed to the limiter."""
        api = DiscoveryBase._default_api_factory(package, api_name, config)
        observe_pool(api.api_client.rest_client.pool_manager, self.observe)
        return api

    @property
    def _objects(self) -> Any:
        """The client's CRM objects APIs."""
        return self._client.crm.objects

    def invoke(self, fn: Callable[[], T], now: datetime | None = None) -> T:
        """One call of the client under the limiter and the retry policy, its errors classified."""
        return self.call(lambda: self._invoke(fn, now))

    def problem(self, error: VendorError, credential: str) -> str:
        """A 403 ``MISSING_SCOPES`` names the scope to grant; the rest as for every tool."""
        return hubspot_account.scope_problem(self, error) or super().problem(error, credential)

    def daily_resets_at(self, now: datetime) -> datetime:
        """Midnight after ``now`` in the portal's time zone: when HubSpot's daily limit resets."""
        return midnight_after(now, self.time_zone(now))

    def time_zone(self, now: datetime) -> tzinfo:
        """The portal's time zone, read from its account details once per connector; UTC (with
        a warning) if it cannot be read or Python does not know it."""
        if self._zone is None:
            try:
                self._zone = hubspot_account.time_zone(self, now)
            except (VendorError, ValueError) as exc:
                log.warning("hubspot: the portal's time zone could not be read (%s): its daily limit is "
                            "taken to reset at midnight UTC", exc)
                self._zone = UTC
        return self._zone

    @property
    def _cap(self) -> int:
        return int(self.config.options.get("search_result_cap", SEARCH_RESULT_CAP))

    @property
    def _chunk(self) -> int:
        return min(self.batch_size, BATCH_MAX)

    def _invoke(self, fn: Callable[[], T], now: datetime | None = None) -> T:
        zone = self._zone or UTC  # the portal's, once read (a 429 of the day is no time to ask)
        try:
            return fn()
        except (ApiException, MaxRetryError, ConnectTimeoutError, ProtocolError, ReadTimeoutError) as exc:
            raise vendor_error(exc, now, zone) from None
        except Exception as exc:
            if not api_exception(exc):
                raise
            raise vendor_error(exc, now, zone) from None

    def _search(self, object_type: str, request: dict[str, Any], now: datetime | None) -> Any:
        """One search call, under the search endpoint's own limit (``endpoint_limits.search`` in
        tools.yaml: 5 a second per account), shared by every worker like the tool's (no retry here)."""
        self.limiter.acquire(f"{self.tool}.search", self.credential_key)
        search = PublicObjectSearchRequest(**request)
        return self._invoke(lambda: self._objects.search_api.do_search(object_type, search), now)

    def _properties(self, object_type: str) -> list[str]:
        """What is read of ``object_type``: what the mapping reads (``reads``), and the
        connector's own (modification time, idempotency key)."""
        return list(dict.fromkeys([*self.reads.get(object_type, []), *OWN_READS]))

    # --- reads -------------------------------------------------------------------------
    def read_records(self, object_kind: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Records by id through batch read, 100 a call: ``{id: {"id", "properties"}}``."""
        from hubspot.crm.objects import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

        plural = object_type(object_kind)
        properties = self._properties(plural)
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunked(list(ids), self._chunk):
            body = BatchReadInputSimplePublicObjectId(  # HubSpot's schema requires propertiesWithHistory
                inputs=[SimplePublicObjectId(id=str(i)) for i in chunk], properties=properties,
                properties_with_history=[])
            page = self.call(lambda body=body: self._invoke(
                lambda: self._objects.batch_api.read(plural, batch_read_input_simple_public_object_id=body)))
            for record in page.results or []:
                found[str(record.id)] = {"id": str(record.id), "properties": dict(record.properties or {})}
        return found

    def read_changes(self, cursor: str | None, *, now: datetime, limit: int | None = None) -> ReadResult:
        """Tickets changed since the cursor, oldest first, one delivery per (id, modification
        time); then tasks, when the mapping reads tasks (HubSpot sends no webhook for a task a
        person marks done: it is polled). The cursor is the tickets' position, then
        ``|tasks=`` and the tasks' own."""
        ticket_text, _, task_text = (cursor or "").partition(f"|{TASKS_CURSOR}")
        positions = {"tickets": Cursor.parse(ticket_text), "tasks": Cursor.parse(task_text)}
        deliveries: list[Delivery] = []
        for kind in [k for k in positions if k == "tickets" or k in self.reads]:
            budget = None if limit is None else limit - len(deliveries)
            if budget is not None and budget <= 0:
                break
            deliveries += self._read_kind(kind, positions[kind], budget, now)
        tickets, tasks = positions["tickets"], positions["tasks"]
        if not (tickets.ms or tasks.ms):
            return ReadResult(deliveries=deliveries, next_cursor=cursor)
        return ReadResult(deliveries=deliveries,
                          next_cursor=str(tickets) + (f"|{TASKS_CURSOR}{tasks}" if tasks.ms else ""))

    def _read_kind(self, kind: str, position: Cursor, limit: int | None, now: datetime) -> list[Delivery]:
        deliveries: list[Delivery] = []
        since, after = position.ms, 0
        while limit is None or len(deliveries) < limit:
            page_size = min(SEARCH_PAGE, self._cap - after)
            if page_size <= 0:
                log.warning("more than %d %s changes at %d ms: moving past them", self._cap, kind, since)
                since, after = since + 1, 0
                continue
            request = {"filter_groups": [{"filters": [{"propertyName": MODIFIED, "operator": "GTE",
                                                       "value": str(since)}]}],
                       "sorts": [{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                       "properties": self._properties(kind),
                       "limit": page_size, "after": str(after) if after else None}
            page = self.call(lambda request=request: self._search(kind, request, now))
            for record in page.results:
                ms = _epoch_ms(record.properties.get(MODIFIED))
                if position.seen(record.id, ms) or (limit is not None and len(deliveries) >= limit):
                    continue
                position.advance(record.id, ms)
                deliveries.append(self._poll_delivery(kind, record, ms, now))
            if not (page.paging and page.paging.next) or not page.results:
                break
            stamps = {_epoch_ms(r.properties.get(MODIFIED)) for r in page.results}
            if stamps == {position.ms}:
                after += len(page.results)  # one millisecond fills the page: step through it
            else:
                since, after = position.ms, 0
        return deliveries

    def _poll_delivery(self, kind: str, record: Any, ms: int, now: datetime) -> Delivery:
        payload = self._objects.search_api.api_client.sanitize_for_serialization(record)
        return Delivery(tool="hubspot", dedup_key=f"{kind}:{record.id}:{ms}", kind="poll",
                        received_at=now, payload={"objectType": kind, **payload},
                        record_id=record.id)

    # --- webhooks ----------------------------------------------------------------------
    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """Signature v3: base64 HMAC-SHA256 of method + URI + body + timestamp, at most 5 minutes old."""
        signature = request.required("X-HubSpot-Signature-v3", "X-HubSpot-Signature-v3 header")
        timestamp = request.required("X-HubSpot-Request-Timestamp", "X-HubSpot-Request-Timestamp header")
        if not timestamp.isdigit():
            raise WebhookRejected(401, "X-HubSpot-Request-Timestamp is not epoch milliseconds")
        check_freshness(int(timestamp) / 1000, now, SIGNATURE_TOLERANCE_SECONDS)
        message = request.method.upper().encode() + v3_uri(request.url).encode() + request.body + timestamp.encode()
        check_signature(signature, self.secret("client_secret"), message, encoding="base64",
                        refused="X-HubSpot-Signature-v3 does not match")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        """One delivery per event of HubSpot's array, received at ``now``; ``eventType`` (old
        docs) is read as ``subscriptionType``."""
        events = json_body(request.body, "HubSpot webhook", expect=list)
        deliveries = []
        for index, event in enumerate(events):
            if not isinstance(event, dict):
                raise WebhookRejected(400, f"event {index} is not an object")
            kind = event.get("subscriptionType") or event.get("eventType")
            if not isinstance(kind, str) or "." not in kind:
                raise WebhookRejected(400, f"event {index} has no subscriptionType (or eventType) like 'ticket.creation'")
            for field in ("eventId", "portalId", "objectId", "occurredAt"):
                if not isinstance(event.get(field), int) or isinstance(event.get(field), bool):
                    raise WebhookRejected(400, f"event {index}: {field} is missing or not a number")
            deliveries.append(Delivery(
                tool="hubspot", dedup_key=f"{event['portalId']}:{event['eventId']}", kind="webhook",
                received_at=now, payload={**event, "subscriptionType": kind}, record_id=str(event["objectId"])))
        return deliveries

    # --- notices made whole --------------------------------------------------------------
    def enrich(self, delivery: Delivery, now: datetime) -> Delivery:
        """A meeting or call webhook event read as the record it is about: one read (under the
        limiter and retry policy) with the ticket and company associations and the properties
        the mapping reads, merged into the event (its ``subscriptionType``, ``propertyName``,
        ``portalId`` and ``occurredAt`` kept). Other events, and a record deleted since, as they are."""
        event = delivery.payload if isinstance(delivery.payload, dict) else {}
        notice = self._notice_type(event)
        if delivery.kind != "webhook" or notice is None or "associations" in event:
            return delivery
        properties = self._properties(notice)
        record_id = str(event["objectId"])
        try:
            record = self.call(lambda: self._invoke(lambda: self._objects.basic_api.get_by_id(
                notice, record_id, properties=properties, associations=list(NOTICE_ASSOCIATIONS),
                archived=False), now))
        except VendorError as error:
            if error.status == 404:
                log.info("%s %s is gone: delivery %s left as it came", notice, record_id, delivery.dedup_key)
                return delivery
            raise
        read = self._objects.basic_api.api_client.sanitize_for_serialization(record)
        links = read.get("associations") or {}
        payload = {**event, "objectType": notice, "id": read.get("id", record_id),
                   "properties": read.get("properties") or {},
                   "associations": {name: {"results": (links.get(name) or {}).get("results") or []}
                                    for name in NOTICE_ASSOCIATIONS},
                   "createdAt": read.get("createdAt"), "updatedAt": read.get("updatedAt")}
        return delivery.model_copy(update={"payload": payload}, deep=True)

    @staticmethod
    def _notice_type(event: dict[str, Any]) -> str | None:
        """The object type of a webhook event that needs a read, else None."""
        kind = str(event.get("subscriptionType") or "")
        if "." not in kind or not isinstance(event.get("objectId"), int):
            return None
        singular, _, action = kind.partition(".")
        notice = object_type(event.get("objectTypeId") or singular)
        if notice not in NOTICES:
            return None
        changed = action == "propertyChange" and event.get("propertyName") == NOTICES[notice]
        if action == "creation" or changed:
            return notice
        return None

    # --- writes ------------------------------------------------------------------------
    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        results: dict[int, ActionResult] = {}
        updates: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
        creates: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for index, action in enumerate(actions):
            write = _write_for(action)
            if write is None:
                results[index] = ActionResult(
                    idempotency_key=action.idempotency_key, status=ResultStatus.PERMANENT,
                    reason=f"payload: {action.kind.value} is not a HubSpot write")
            elif write[0] == "update":
                _, object_type_, body = write
                updates.setdefault(object_type_, []).append((index, body["id"], body["properties"]))
            else:
                _, object_type_, body = write
                creates.setdefault(object_type_, []).append((index, body))
        for object_type_, items in updates.items():
            merged: dict[str, tuple[list[int], dict[str, Any]]] = {}
            for index, record_id, props in items:
                indexes, values = merged.setdefault(record_id, ([], {}))
                indexes.append(index)
                values.update(props)
            for chunk in chunked(list(merged.items()), self._chunk):
                self._update(object_type_, list(chunk), actions, results, now)
        for object_type_, items in creates.items():
            for chunk in chunked(items, self._chunk):
                self._create(object_type_, list(chunk), actions, results, {}, now)
        return [results[i] for i in range(len(actions))]

    def _update(self, object_type: str, items: list[tuple[str, tuple[list[int], dict[str, Any]]]],
                actions: Sequence[VendorAction], results: dict[int, ActionResult], now: datetime) -> None:
        """One batch update; a refused batch is split to find the refused input."""
        batch = BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": record_id, "properties": props} for record_id, (_, props) in items])
        try:
            answer = self.call(lambda: self._invoke(lambda: self._objects.batch_api.update(object_type, batch), now))
        except VendorError as error:
            if self._splittable(error, items):
                half = len(items) // 2
                self._update(object_type, items[:half], actions, results, now)
                self._update(object_type, items[half:], actions, results, now)
                return
            for _, (indexes, _) in items:
                for index in indexes:
                    results[index] = result_for(actions[index], error)
            return
        missing = {str(i): e.message for e in (getattr(answer, "errors", None) or [])
                   for i in (e.context or {}).get("ids", [])}
        for record_id, (indexes, _) in items:
            for index in indexes:
                if record_id in missing:
                    results[index] = ActionResult(idempotency_key=actions[index].idempotency_key,
                                                  status=ResultStatus.PERMANENT, reason=missing[record_id])
                else:
                    results[index] = done(actions[index], record_id)

    def _create(self, object_type: str, items: list[tuple[int, dict[str, Any]]], actions: Sequence[VendorAction],
                results: dict[int, ActionResult], known: dict[str, str], now: datetime) -> None:
        """One batch create of the keys not yet known to exist; after a lost answer (or a 5xx),
        the keys are looked up first and only the missing ones are sent again."""
        keys = [actions[index].idempotency_key for index, _ in items]

        def send() -> dict[str, str]:
            pending = [body for index, body in items if actions[index].idempotency_key not in known]
            if pending:
                batch = BatchInputSimplePublicObjectBatchInputForCreate(inputs=pending)
                try:
                    answer = self._invoke(lambda: self._objects.batch_api.create(object_type, batch), now)
                except VendorError as error:
                    if error.status is not None and error.status >= 500:
                        raise UnknownOutcome(f"{error.reason} (may have been applied)") from error
                    raise
                known.update({r.properties[KEY_PROPERTY]: r.id for r in answer.results})
            return dict(known)

        def lookup() -> dict[str, str] | None:
            self.limiter.acquire(self.tool, self.credential_key)
            known.update(self._find_keys(object_type, [k for k in keys if k not in known], now))
            return dict(known) if all(k in known for k in keys) else None

        try:
            self.call(send, lookup=lookup)
        except VendorError as error:
            pending = [(i, b) for i, b in items if actions[i].idempotency_key not in known]
            if self._splittable(error, pending):
                half = len(pending) // 2
                self._create(object_type, pending[:half], actions, results, known, now)
                self._create(object_type, pending[half:], actions, results, known, now)
            else:
                for index, _ in pending:
                    results[index] = result_for(actions[index], error)
        for index, _ in items:
            if actions[index].idempotency_key in known:
                results[index] = done(actions[index], known[actions[index].idempotency_key])

    def _splittable(self, error: VendorError, items: Sequence[Any]) -> bool:
        """A 400 on a batch of several inputs: HubSpot refused all for one of them."""
        return error.kind is ErrorKind.PERMANENT and error.status == 400 and len(items) > 1

    def _find_keys(self, object_type: str, keys: list[str], now: datetime | None = None) -> dict[str, str]:
        """Records already carrying these idempotency keys: {key: record id}."""
        found: dict[str, str] = {}
        for chunk in chunked(keys, BATCH_MAX):
            page = self._search(object_type, {
                "filter_groups": [{"filters": [{"propertyName": KEY_PROPERTY, "operator": "IN", "values": list(chunk)}]}],
                "properties": [KEY_PROPERTY], "limit": SEARCH_PAGE}, now)
            found.update({r.properties[KEY_PROPERTY]: r.id for r in page.results})
        return found


def _write_for(action: VendorAction) -> tuple[str, str, dict[str, Any]] | None:
    """("update" | "create", object type, batch input) for one action; None when its payload
    is not a HubSpot write (the models refused anything else where it was made)."""
    p, key = action.payload, {KEY_PROPERTY: action.idempotency_key}
    if isinstance(p, UpdatePayload):
        return "update", p.object, {"id": p.record_id, "properties": p.writes()}
    if isinstance(p, CreateTaskPayload):
        props = {"hs_task_subject": p.subject, "hs_timestamp": (p.due_at or action.due_at).isoformat(),
                 TASK_STATUS: "NOT_STARTED", "hs_task_type": p.task_type,
                 "hs_task_priority": p.priority, **key}
        props.update({k: v for k, v in (("hs_task_body", p.body), (OWNER, p.owner)) if v})
        links = _associations("tasks", p.record_id, p.company_id)
        return "create", "tasks", {"properties": props, "associations": links}
    if isinstance(p, AddNotePayload):
        props = {"hs_note_body": p.body, "hs_timestamp": (p.timestamp or action.due_at).isoformat(),
                 **key}
        links = _associations("notes", p.record_id, p.company_id)
        return "create", "notes", {"properties": props, "associations": links}
    if isinstance(p, CreateRecordPayload):
        company = ASSOCIATION_TYPES[("tickets", "companies")]
        links = [_link(p.company_id, company)] if p.company_id else []
        return "create", "tickets", {"properties": {**p.properties, **key}, "associations": links}
    return None


def _link(to_id: str, type_id: int) -> dict[str, Any]:
    return {"to": {"id": str(to_id)}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}


def _associations(object_type: str, ticket_id: str, company_id: str | None) -> list[dict[str, Any]]:
    """Inline associations of a task or note: its ticket, and the company when given."""
    links = [_link(ticket_id, ASSOCIATION_TYPES[(object_type, "tickets")])]
    if company_id:
        links.append(_link(company_id, ASSOCIATION_TYPES[(object_type, "companies")]))
    return links


CONNECTOR = HubSpotConnector
