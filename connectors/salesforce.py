"""Salesforce through simple-salesforce: SOQL polling, Outbound Messages, sObject Collections.

Reads: for each object the mapping reads (``reads``: object -> fields, from
``Mapping.reads``) ``SELECT Id, IsDeleted, SystemModstamp, <fields> FROM <object> WHERE
SystemModstamp >= <last seen - overlap> ORDER BY SystemModstamp`` on ``queryAll`` (so
deletions arrive as ``IsDeleted`` tombstones),
paged by ``nextRecordsUrl`` one page per call (the calls ``query_all_iter`` makes, each under
the retry policy so a failure resumes at its page). The overlap re-reads records stamped at
the cursor (Airbyte #27146); the cursor remembers the (Id, SystemModstamp) pairs inside the
overlap and drops them, so nothing is skipped and nothing is delivered twice.

Writes: sObject Collections, 200 records a call, ``allOrNone`` false, per-record results.
``action.payload`` is the declaration's model of its kind (``kickoff/tools/salesforce.py``),
validated where the mapping made it:

- ``set_stage``: ``record_id``, ``stage`` (the picklist value), ``field`` (default ``Status``;
  e.g. ``StageName``, ``Onboarding_Stage__c``), ``object`` (default: from the id's prefix)
- ``assign_owner``: ``record_id``, ``owner`` (a User or Queue id) -> ``OwnerId``
- ``complete_task``: ``record_id`` (the Task) -> ``Status`` ``Completed``
- ``create_task``: ``subject``, optional ``record_id`` (-> ``WhatId``), ``who_id``, ``body``
  (-> ``Description``), ``owner`` (-> ``OwnerId``), ``due_date``/``due_at`` (-> ``ActivityDate``),
  ``priority``, ``status``, ``fields`` (more Task fields)
- ``add_note``: ``record_id`` (-> ``WhatId``), ``body``, optional ``subject`` (default "Note"):
  a completed Task. A Task rather than a ContentNote: it batches in the same collection call
  and shows in the record's activity history; a ContentNote needs a second call to link it.
- ``create_record``: ``object`` (e.g. ``Case``), ``fields``

Updates to one record within a batch are merged into one row. Creations are upserts on the
external id ``Kickoff_Key__c`` (= ``idempotency_key``), so a repeat cannot duplicate; after an
unknown outcome the keys are first looked up with ``WHERE Kickoff_Key__c IN (...)``.

REQUEST_LIMIT_EXCEEDED (the rolling 24-hour allocation) is classified RETRYABLE with a long
``retry_after`` (an hour): the retry policy gives up at once instead of sleeping, the rest of
the batch is not sent, and every action comes back retryable with that delay, which the
ledger schedules and alerts on. It is not AUTH: the allocation recovers by itself.

Auth: ``session_id`` (+ ``options.instance_url``), or ``consumer_key``/``consumer_secret``
(client credentials, ``options.domain``), or ``username``/``consumer_key``/``private_key``
(JWT bearer). Webhooks are Outbound Messages: SOAP, unsigned, so ``verify_webhook`` checks
the ``OrganizationId`` against ``org_id``; the gateway answers with the declaration's
``OUTBOUND_ACK``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from xml.etree import ElementTree

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)

from connectors.base import Connector, ReadResult, chunked, done, result_for
from connectors.http import make_session, transport_error
from kickoff.contracts.errors import ErrorKind, VendorError, classify
from kickoff.contracts.subscriptions import Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest, constant_time_equal
from kickoff.model import ActionResult, Delivery, ResultStatus
from kickoff.settings import ToolConfig
from kickoff.tools.salesforce import (
    KEY_FIELD,
    NOTE_SUBTYPE,
    OUTBOUND_ACK,
    SYSTEM_FIELDS,
    TASK,
    TASK_COMPLETED,
    TOOL,
    AddNote,
    AssignOwner,
    CompleteTask,
    CreateRecord,
    CreateTask,
    SetStage,
)

log = logging.getLogger("kickoff.connectors.salesforce")

MAX_COLLECTION = TOOL.batch_size  # sObject Collections: 200 records a call
LIMIT_EXCEEDED_RETRY_SECONDS = 3600.0
SANDBOX_INSTANCE = "https://sandbox.my.salesforce.com"
RETRYABLE_RECORD_ERRORS = {"UNABLE_TO_LOCK_ROW", "ALL_OR_NONE_OPERATION_ROLLED_BACK", "SERVER_UNAVAILABLE"}
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def soap_ack() -> str:
    """The body that acknowledges an Outbound Message (anything else makes Salesforce retry)."""
    return OUTBOUND_ACK


def stamp_key(value: str) -> str:
    """One spelling of a SystemModstamp (REST ``+0000`` and SOAP ``Z`` alike) for dedup keys."""
    at = datetime.fromisoformat(value).astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def soql_datetime(at: datetime) -> str:
    """A SOQL dateTime literal in the documented form (whole seconds, ``Z``, unquoted)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _errors_of(content: Any) -> tuple[str, str]:
    """(errorCode, message) from Salesforce's error list, or the raw text."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode", "")), str(content[0].get("message", ""))
    return "", str(content)[:300]


def vendor_error(exc: Exception, *, write: bool, headers: Any = None) -> VendorError:
    """simple-salesforce's and requests' exceptions, classified once, right where the client is called."""
    if isinstance(exc, VendorError):
        return exc
    if isinstance(exc, SalesforceAuthenticationFailed):
        return VendorError(ErrorKind.AUTH, f"authentication failed: {exc.code}", status=401)
    if isinstance(exc, SalesforceError):
        code, message = _errors_of(exc.content)
        reason = f"{code}: {message}" if code else message
        if isinstance(exc, SalesforceExpiredSession):
            return VendorError(ErrorKind.AUTH, reason, status=401)
        if isinstance(exc, SalesforceRefusedRequest) and code == "REQUEST_LIMIT_EXCEEDED":
            return VendorError(ErrorKind.RETRYABLE, reason, status=403, retry_after=LIMIT_EXCEEDED_RETRY_SECONDS)
        return classify(exc.status, headers, reason)
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return transport_error(exc, write=write)
    raise exc


@dataclass
class _Cursor:
    """Per object: the newest SystemModstamp read, and the (Id, stamp) pairs inside the overlap."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        return cls(json.loads(text)) if text else cls()

    def dump(self) -> str:
        return json.dumps(self.objects, sort_keys=True, separators=(",", ":"))


@dataclass
class _Row:
    """One record to write and the actions it answers for."""

    sobject: str
    values: dict[str, Any]
    actions: list[VendorAction]


class SalesforceConnector(Connector):
    """Kickoff's Salesforce connector. Example::

        connector = build_connector("salesforce", config, limiter=limiter,
                                    reads={"Case": ["Status", "OwnerId"]})
        page = connector.read_changes(None, now=now, limit=500)
        results = connector.apply(vendor_actions, now)
    """

    tool: ClassVar[str] = "salesforce"

    def __init__(self, tool_config: ToolConfig, **kwargs: Any) -> None:
        super().__init__(tool_config, **kwargs)
        options = tool_config.options
        self.overlap = timedelta(seconds=float(options.get("overlap_seconds", 5)))
        self.max_batch = min(self.batch_size, MAX_COLLECTION)
        self._sf: Salesforce | None = None
        self._last_response: requests.Response | None = None

    # --- the client -----------------------------------------------------------------------
    @property
    def sf(self) -> Salesforce:
        """The official client, built on first use (logins happen here, under the policy)."""
        if self._sf is None:
            self._sf = self.call(self._login)
        return self._sf

    def _login(self) -> Salesforce:
        session = make_session(self.base_url)
        session.hooks["response"].append(self._remember)
        creds, options = self.config.credentials, self.config.options
        version = str(options.get("api_version", "59.0"))
        try:
            if "session_id" in creds:
                instance = options.get("instance_url") or (SANDBOX_INSTANCE if self.base_url else None)
                if not instance:
                    raise VendorError(ErrorKind.AUTH, "salesforce: options.instance_url is needed with session_id")
                return Salesforce(instance_url=instance, session_id=self.secret("session_id"), session=session,
                                  version=version)
            if "private_key" in creds:
                return Salesforce(username=self.secret("username"), consumer_key=self.secret("consumer_key"),
                                  privatekey=self.secret("private_key"), domain=options.get("domain"),
                                  session=session, version=version)
            return Salesforce(consumer_key=self.secret("consumer_key"), consumer_secret=self.secret("consumer_secret"),
                              domain=options.get("domain", "login"), session=session, version=version)
        except (SalesforceError, requests.RequestException) as exc:
            raise vendor_error(exc, write=False) from exc

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Keep the last answer's headers (simple-salesforce's exceptions drop Retry-After) and
        hand them to the limiter (``Sforce-Limit-Info``: the 24-hour allocation)."""
        self._last_response = response
        self.observe(response.headers)

    def _invoke(self, fn: Callable[[], Any], *, write: bool) -> Any:
        """One client call with its exceptions translated (runs inside ``self.call``)."""
        try:
            return fn()
        except (SalesforceError, requests.RequestException) as exc:
            last = self._last_response
            headers = last.headers if last is not None and getattr(exc, "status", None) == last.status_code else None
            raise vendor_error(exc, write=write, headers=headers) from exc

    # --- reads ----------------------------------------------------------------------------------
    def read_changes(self, cursor: str | None, *, now: datetime,
                     limit: int | None = None) -> ReadResult:
        """The objects in ``reads``, in its order, each from its own place in the cursor."""
        state = _Cursor.load(cursor)
        deliveries: list[Delivery] = []
        for sobject in self.reads:
            budget = None if limit is None else limit - len(deliveries)
            if budget is not None and budget <= 0:
                break
            place = state.objects.setdefault(sobject, {})
            deliveries += self._read_object(sobject, place, budget, now)
        return ReadResult(deliveries=deliveries, next_cursor=state.dump())

    def _read_object(self, sobject: str, state: dict[str, Any], budget: int | None,
                     now: datetime) -> list[Delivery]:
        fields = list(dict.fromkeys([*SYSTEM_FIELDS, *self.reads[sobject]]))
        query = f"SELECT {', '.join(fields)} FROM {sobject}"
        if state.get("at"):
            since = datetime.fromisoformat(state["at"]) - self.overlap
            query += f" WHERE SystemModstamp >= {soql_datetime(since)}"
        query += " ORDER BY SystemModstamp ASC, Id ASC"
        seen = {tuple(pair) for pair in state.get("seen", [])}
        out: list[Delivery] = []
        for record in self._rows(query):
            pair = (record["Id"], stamp_key(record["SystemModstamp"]))
            if pair in seen:
                continue
            seen.add(pair)
            row = {k: v for k, v in record.items() if k != "attributes"}
            out.append(Delivery(tool="salesforce", kind="poll", received_at=now, record_id=record["Id"],
                                dedup_key=f"salesforce:{pair[0]}:{pair[1]}",
                                payload=row | {"object": sobject}))
            if budget is not None and len(out) >= budget:
                break
        if seen:
            newest = max(datetime.fromisoformat(s) for _, s in seen)
            edge = newest - self.overlap - timedelta(seconds=1)  # the query floors to whole seconds
            state["at"] = newest.isoformat()
            state["seen"] = sorted([i, s] for i, s in seen if datetime.fromisoformat(s) >= edge)
        return out

    def _rows(self, query: str) -> Any:
        """The records of a query, page by page (``query`` then ``query_more`` by nextRecordsUrl)."""
        page = self.call(lambda: self._invoke(lambda: self.sf.query(query, include_deleted=True), write=False))
        while True:
            yield from page["records"]
            if page.get("done", True):
                return
            url = page["nextRecordsUrl"]
            page = self.call(lambda url=url: self._invoke(
                lambda: self.sf.query_more(url, identifier_is_url=True), write=False))

    # --- writes --------------------------------------------------------------------------------
    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        results: dict[str, ActionResult] = {}
        updates: dict[str, _Row] = {}
        creates: list[_Row] = []
        for action in actions:
            row = self._row(action)
            if row is None:
                results[action.idempotency_key] = ActionResult(
                    idempotency_key=action.idempotency_key, status=ResultStatus.PERMANENT,
                    reason=f"salesforce does not take {action.kind.value} actions")
                continue
            if KEY_FIELD in row.values:
                creates.append(row)
            elif row.values["Id"] in updates:
                merged = updates[row.values["Id"]]
                merged.values.update(row.values)
                merged.actions += row.actions
            else:
                updates[row.values["Id"]] = row
        stop: VendorError | None = None
        for batch in self._batches(sorted(updates.values(), key=lambda r: r.sobject)):
            stop = stop or self._send(batch, results, lambda b: self._update(b))
            if stop:
                self._fail(batch, stop, results)
        by_type: dict[str, list[_Row]] = {}
        for row in creates:
            by_type.setdefault(row.sobject, []).append(row)
        for sobject, rows in by_type.items():
            for batch in self._batches(rows):
                if stop:
                    self._fail(batch, stop, results)
                    continue
                stop = self._send(batch, results, lambda b, t=sobject: self._upsert(t, b), lookup=self._lookup)
                if stop:
                    self._fail(batch, stop, results)
        return [results[a.idempotency_key] for a in actions]

    def _batches(self, rows: list[_Row]) -> Any:
        return chunked(rows, self.max_batch)

    @staticmethod
    def _row(action: VendorAction) -> _Row | None:
        """The record one action writes, in Salesforce fields; None for a payload this
        connector does not know (the declaration names every one it takes)."""
        p, key = action.payload, action.idempotency_key
        if isinstance(p, SetStage):
            return _Row(p.sobject, {"Id": p.record_id, p.field: p.stage}, [action])
        if isinstance(p, AssignOwner):
            return _Row(p.sobject, {"Id": p.record_id, "OwnerId": p.owner}, [action])
        if isinstance(p, CompleteTask):
            return _Row(p.sobject, {"Id": p.record_id, "Status": TASK_COMPLETED}, [action])
        if isinstance(p, CreateTask):
            due = p.activity_date
            values = {"Subject": p.subject, "WhatId": p.record_id, "WhoId": p.who_id,
                      "Description": p.body, "OwnerId": p.owner, "Priority": p.priority,
                      "Status": p.status, "ActivityDate": due.isoformat() if due else None,
                      **p.fields}
            return _Row(TASK, _set(values) | {KEY_FIELD: key}, [action])
        if isinstance(p, AddNote):
            values = {"Subject": p.subject, "Description": p.body, "WhatId": p.record_id,
                      "Status": TASK_COMPLETED, "TaskSubtype": NOTE_SUBTYPE}
            return _Row(TASK, values | {KEY_FIELD: key}, [action])
        if isinstance(p, CreateRecord):
            return _Row(p.object, {**p.fields, KEY_FIELD: key}, [action])
        return None

    def _send(self, batch: Sequence[_Row], results: dict[str, ActionResult],
              write: Callable[[Sequence[_Row]], list[dict[str, Any]]],
              lookup: Callable[[Sequence[_Row]], list[dict[str, Any]] | None] | None = None) -> VendorError | None:
        """One collection call; per-record results filed. Returns the error that stops the push."""
        try:
            answers = self.call(lambda: write(batch), lookup=(lambda: lookup(batch)) if lookup else None)
        except VendorError as error:
            if error.kind is ErrorKind.AUTH or (error.retry_after or 0) >= LIMIT_EXCEEDED_RETRY_SECONDS:
                log.warning("salesforce pushes stopped: %s", error.reason)
                return error
            self._fail(batch, error, results)
            return None
        for row, answer in zip(batch, answers, strict=True):
            for action in row.actions:
                results[action.idempotency_key] = self._record_result(action, answer)
        return None

    @staticmethod
    def _fail(batch: Sequence[_Row], error: VendorError, results: dict[str, ActionResult]) -> None:
        for row in batch:
            for action in row.actions:
                results.setdefault(action.idempotency_key, result_for(action, error))

    @staticmethod
    def _record_result(action: VendorAction, answer: dict[str, Any]) -> ActionResult:
        if answer.get("success"):
            return done(action, answer.get("id"))
        errors = answer.get("errors") or [{}]
        code, message = str(errors[0].get("statusCode", "")), str(errors[0].get("message", ""))
        status = ResultStatus.RETRYABLE if code in RETRYABLE_RECORD_ERRORS else ResultStatus.PERMANENT
        return ActionResult(idempotency_key=action.idempotency_key, status=status, reason=f"{code}: {message}")

    def _update(self, batch: Sequence[_Row]) -> list[dict[str, Any]]:
        records = [{"attributes": {"type": r.sobject}, **r.values} for r in batch]
        return self._invoke(lambda: self.sf.restful(
            "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}), write=True)

    def _upsert(self, sobject: str, batch: Sequence[_Row]) -> list[dict[str, Any]]:
        records = [{"attributes": {"type": sobject}, **r.values} for r in batch]
        return self._invoke(lambda: self.sf.restful(
            f"composite/sobjects/{sobject}/{KEY_FIELD}", method="PATCH",
            json={"allOrNone": False, "records": records}), write=True)

    def _lookup(self, batch: Sequence[_Row]) -> list[dict[str, Any]] | None:
        """After an unknown outcome: the records already created under these keys, if all are."""
        sobject = batch[0].sobject
        keys = [r.values[KEY_FIELD] for r in batch]
        query = f"SELECT Id, IsDeleted, {KEY_FIELD} FROM {sobject} WHERE {KEY_FIELD} IN ({', '.join(map(soql_string, keys))})"
        found = {r[KEY_FIELD]: r["Id"] for r in self._rows(query) if not r.get("IsDeleted")}
        if len(found) < len(keys):
            return None  # re-sending the upsert is safe: existing keys are updated, not duplicated
        return [{"id": found[k], "success": True, "errors": []} for k in keys]

    # --- webhooks (Outbound Messages) ----------------------------------------------------------------
    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """Outbound Messages carry no signature or timestamp: the OrganizationId must be ours."""
        org = _envelope(request.body).findtext(f"{{{OUTBOUND_NS}}}OrganizationId") or ""
        expected = self.secret("org_id")
        if not org or not constant_time_equal(org[:15], expected[:15]):
            raise WebhookRejected(401, "OrganizationId is not this org's")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        """One delivery per Notification, received at ``now``; dedup key (record Id,
        SystemModstamp), else the Notification Id."""
        envelope = _envelope(request.body)
        notes = envelope.findall(f"{{{OUTBOUND_NS}}}Notification")
        if not notes:
            raise WebhookRejected(400, "no Notification elements in the outbound message")
        action_id = envelope.findtext(f"{{{OUTBOUND_NS}}}ActionId")
        out = []
        for note in notes:
            note_id = note.findtext(f"{{{OUTBOUND_NS}}}Id")
            sobject = note.find(f"{{{OUTBOUND_NS}}}sObject")
            if not note_id or sobject is None:
                raise WebhookRejected(400, "a Notification without Id or sObject")
            fields = {child.tag.rsplit("}", 1)[-1]: (None if child.get(XSI_NIL) == "true" else child.text)
                      for child in sobject}
            if not fields.get("Id"):
                raise WebhookRejected(400, f"Notification {note_id} has no sObject Id")
            try:
                key = (f"salesforce:{fields['Id']}:{stamp_key(fields['SystemModstamp'])}"
                       if fields.get("SystemModstamp") else f"salesforce:notification:{note_id}")
            except ValueError:
                raise WebhookRejected(400, f"Notification {note_id} has a bad SystemModstamp") from None
            sobject_type = (sobject.get(XSI_TYPE) or "").rsplit(":", 1)[-1] or None
            out.append(Delivery(tool="salesforce", kind="webhook", received_at=now, record_id=fields["Id"],
                                dedup_key=key, payload={"object": sobject_type, "notification_id": note_id,
                                                        "action_id": action_id, "fields": fields}))
        return out

    def read_running(self, query: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
        """The records of a mapping's ``running_query`` (its ``soql``), every page."""
        return [dict(record) for record in self._rows(str(query["soql"]))]

    def webhook_steps(self, url: str, wanted: Sequence[Wanted]) -> list[str]:
        """Outbound Messages are set up in Setup (the Metadata API could, simple-salesforce
        cannot): one per object, sent by a record-triggered flow on create and update."""
        steps = []
        for n, hook in enumerate(wanted, start=1):
            name, fields = str(hook.spec.get("object")), ", ".join(hook.spec.get("fields") or [])
            steps += [
                f"{n}. Setup > Process Automation > Outbound Messages > New: object {name}, name {hook.name!r},",
                f"   endpoint URL {url}, fields: Id, {fields}.",
                f"   Then a record-triggered flow on {name} (created or updated) whose action is that message.",
            ]
        org = f"the value of {self.setting('org_id')}"
        last = f"Kickoff accepts a message only from the org whose id is {org}; it answers each with the SOAP Ack."
        return [*steps, last]


def _envelope(body: bytes) -> ElementTree.Element:
    """The ``notifications`` element; WebhookRejected(400) for anything that is not one."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise WebhookRejected(400, "DOCTYPE/ENTITY declarations are not accepted")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise WebhookRejected(400, f"malformed XML: {exc}") from None
    envelope = root.find(f"{{{SOAP_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if envelope is None:
        raise WebhookRejected(400, "not a SOAP envelope with an outbound-message notifications element")
    return envelope


def _set(values: dict[str, Any]) -> dict[str, Any]:
    """The values given (a None is a field not to write, not one to clear)."""
    return {k: v for k, v in values.items() if v is not None}


CONNECTOR = SalesforceConnector
