"""Movidesk over plain ``requests`` (it has no client): tickets read by ``lastUpdate``, every
pending change for one ticket written in one PATCH, the trigger webhook checked by its URL
token.

Movidesk allows 10 requests a minute per token and blocks the token for 60 s after three
failed requests in a row, and has no batch write: so reads ask only for changed tickets and
only the fields the mapping reads (``reads["ticket"]``), and writes go out as one PATCH per
ticket carrying everything.

Payloads are the declaration's models (``kickoff/tools/movidesk.py``; ``record_id`` is the
ticket id)::

    set_stage      {"record_id": "42", "status": "Aguardando", "justification": "Aguardando pagamento"?}
    assign_owner   {"record_id": "42", "owner_id": "900000002"?, "owner_team": "Onboarding"?}
    post_action    {"record_id": "42", "description": "...", "public": true?, "created_by": "<person id>"?,
                    "status": "..."?, "justification": "..."?}
    add_note       {"record_id": "42", "body": "...", "created_by": "<person id>"?}      (internal action)
    create_record  {"fields": {<a Movidesk ticket body: type, subject, clients, actions, ...>}}

Instead of ``record_id`` an action may name ``target``: the idempotency key of a
``create_record`` in the same batch. ``created_by`` defaults to ``options.agent_id``.

Idempotency: every new action's description ends with the line ``[kickoff:<key>]`` (for a
created ticket, its first action). After an unknown outcome the connector reads the ticket
back and re-sends only what is missing: actions whose marker is absent, fields that differ.

Example::

    connector = build_connector("movidesk", config, limiter=limiter,
                                reads={"ticket": ["status", "owner.id", "customFieldValues"]})
    result = connector.read_changes(None, now=now)
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import requests

from connectors.base import Connector, ReadResult, done, result_for
from connectors.http import make_session, send
from kickoff.contracts.errors import ErrorKind, VendorError, classify
from kickoff.contracts.subscriptions import Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.contracts.webhooks import (
    WebhookRejected,
    WebhookRequest,
    constant_time_equal,
    json_body,
)
from kickoff.model import ActionResult, Delivery, ResultStatus
from kickoff.settings import ToolConfig
from kickoff.tools.movidesk import (
    TICKET,
    TICKET_NAVIGATIONS,
    ActionType,
    AddNote,
    AssignOwner,
    CreateRecord,
    PostAction,
    SetStage,
    marker,
)

API = "https://api.movidesk.com/public/v1"
PAGE_SIZE = 100
EPOCH = "2000-01-01T00:00:00.000Z"
CURSOR_FIELDS = ("id", "lastUpdate")
"""What reading needs of every ticket, whatever the mapping reads: the cursor moves on them."""
TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']+")


class _RedactTokens(logging.Filter):
    """urllib3 logs every URL at DEBUG, and Movidesk's token travels in the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = TOKEN_IN_TEXT.sub(r"\1***", message), ()
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactTokens())


def marked(text: str, key: str) -> str:
    """The description with the idempotency marker as its last line."""
    return f"{text.rstrip()}\n\n{marker(key)}"


def parse_time(value: str) -> datetime:
    """Movidesk's dates: UTC without an offset, up to seven fractional digits."""
    text = value.strip().replace("Z", "+00:00")
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", text)
    if match:
        text = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def filter_literal(value: str) -> str:
    """``lastUpdate`` floored to the millisecond, as the ``$filter`` literal Movidesk takes."""
    at = parse_time(value).astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def ticket_query(fields: Sequence[str]) -> dict[str, str]:
    """``$select`` and ``$expand`` reading ``fields`` of a ticket (plus the cursor's):
    ``status`` is selected, ``owner.id`` expands the owner with only its id,
    ``customFieldValues`` expands every custom field whole."""
    select = dict.fromkeys(CURSOR_FIELDS)
    expand: dict[str, list[str] | None] = {}
    for name in fields:
        head, _, sub = name.partition(".")
        if head not in TICKET_NAVIGATIONS:
            select[head] = None
        elif not sub:
            expand[head] = None
        elif expand.get(head, []) is not None:
            expand[head] = list(dict.fromkeys([*(expand.get(head) or []), sub]))
    query = {"$select": ",".join(select)}
    if expand:
        query["$expand"] = ",".join(name if subs is None else f"{name}($select={','.join(subs)})"
                                    for name, subs in expand.items())
    return query


def vendor_error(response: requests.Response) -> VendorError:
    """The one translation of a Movidesk refusal: 401/403 is authentication (Movidesk's
    token check), the rest as ``classify`` says, with Movidesk's own message."""
    try:
        body = response.json()
        reason = body.get("Message") if isinstance(body, dict) else None
    except ValueError:
        reason = None
    reason = reason or response.text[:500] or response.reason
    if response.status_code in (401, 403):
        return VendorError(ErrorKind.AUTH, f"movidesk: {reason}", status=response.status_code)
    return classify(response.status_code, response.headers, f"movidesk: {reason}")


@dataclass
class _Cursor:
    """Where reading resumes: the newest ``lastUpdate`` seen and every (id, lastUpdate) read
    within its millisecond, which the next ``ge`` query returns again and must drop."""

    since: str | None = None
    seen: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(data["since"], set(data["seen"]))
        except (ValueError, KeyError, TypeError):
            return cls(text)  # a bare timestamp

    def dump(self) -> str:
        return json.dumps({"since": self.since, "seen": sorted(self.seen)})


def _seen_key(ticket: dict[str, Any]) -> str:
    return f"{ticket['id']}@{ticket['lastUpdate']}"


@dataclass
class _TicketWrite:
    """Everything pending for one ticket: field changes and new actions, in action order."""

    actions: list[tuple[int, VendorAction]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    new_actions: list[dict[str, Any]] = field(default_factory=list)


class MovideskConnector(Connector):
    """Kickoff's Movidesk connector (see the module's docstring)."""

    tool: ClassVar[str] = "movidesk"

    def __init__(self, tool_config: ToolConfig, **kwargs: Any) -> None:
        super().__init__(tool_config, **kwargs)
        self.session = make_session(tool_config.base_url, self.observe)
        self._auth_failure: VendorError | None = None

    # --- HTTP -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, params: dict[str, str] | None = None,
                 body: Any = None) -> requests.Response:
        query = {"token": self.secret("token"), **(params or {})}
        try:
            response = send(self.session, method, f"{API}{path}", params=query, json=body)
        except VendorError as exc:
            raise exc from None  # the chained transport error's message holds the URL, token included
        if not response.ok:
            raise vendor_error(response)
        return response

    def _get(self, path: str, params: dict[str, str]) -> Any:
        return self.call(lambda: self._request("GET", path, params).json())

    # --- reading --------------------------------------------------------------------------
    def read_changes(self, cursor: str | None, *, now: datetime,
                     limit: int | None = None) -> ReadResult:
        """Tickets changed since the cursor, oldest first, with the fields ``reads`` names:
        ``lastUpdate ge`` the cursor's millisecond (Movidesk keeps 100 ns, the literal takes
        ms), dropping what the cursor already holds. Pages of 100 move the lower bound forward
        (so a ticket changed while paging cannot shift another out of view), and use ``$skip``
        only inside one millisecond. Nothing to read (no ``reads``): no call."""
        if TICKET not in self.reads:
            return ReadResult(next_cursor=cursor)
        state = _Cursor.load(cursor)
        bound = filter_literal(state.since) if state.since else EPOCH
        seen, skip, fresh = set(state.seen), 0, []
        shape = ticket_query(self.reads[TICKET])
        while limit is None or len(fresh) < limit:
            page = self._get("/tickets", {
                **shape, "$filter": f"lastUpdate ge {bound}", "$orderby": "lastUpdate",
                "$top": str(PAGE_SIZE), "$skip": str(skip)})
            for ticket in page:
                if _seen_key(ticket) not in seen and (limit is None or len(fresh) < limit):
                    seen.add(_seen_key(ticket))
                    fresh.append(ticket)
            if len(page) < PAGE_SIZE:
                break
            last = filter_literal(page[-1]["lastUpdate"])
            bound, skip = (bound, skip + len(page)) if last == bound else (last, 0)
        if not fresh:
            return ReadResult(next_cursor=cursor)
        newest = max(fresh, key=lambda t: parse_time(t["lastUpdate"]))
        edge = filter_literal(newest["lastUpdate"])
        keep = {k for k in seen if filter_literal(k.split("@", 1)[1]) == edge}
        deliveries = [Delivery(tool="movidesk", kind="poll", received_at=now, payload=t,
                               record_id=str(t["id"]),
                               dedup_key=f"movidesk:ticket:{t['id']}:{t['lastUpdate']}")
                      for t in fresh]
        return ReadResult(deliveries, _Cursor(newest["lastUpdate"], keep).dump())

    # --- webhooks -------------------------------------------------------------------------
    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """Movidesk signs nothing: the trigger's URL carries our secret ``?token=``."""
        token = request.query.get("token") or (parse_qs(urlsplit(request.url).query).get("token") or [None])[0]
        if not token:
            raise WebhookRejected(401, "movidesk: no token in the webhook URL")
        if not constant_time_equal(token, self.secret("webhook_token")):
            raise WebhookRejected(401, "movidesk: wrong webhook token")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        """One trigger call is one ticket in PascalCase: a notice to read the ticket again."""
        body = json_body(request.body, "movidesk: the trigger's")
        ticket_id = body.get("Id")
        if isinstance(ticket_id, bool) or not str(ticket_id or "").strip().isdigit():
            raise WebhookRejected(400, "movidesk: the ticket has no numeric Id")
        if "Actions" in body and not isinstance(body["Actions"], list):
            raise WebhookRejected(400, "movidesk: Actions is not a list")
        last_update = body.get("LastUpdate")
        if last_update is not None and not isinstance(last_update, str):
            raise WebhookRejected(400, "movidesk: LastUpdate is not a date")
        version = last_update or "sha256:" + hashlib.sha256(request.body).hexdigest()[:32]
        return [Delivery(tool="movidesk", kind="webhook", received_at=now, payload=body,
                         record_id=str(ticket_id).strip(),
                         dedup_key=f"movidesk:ticket:{str(ticket_id).strip()}:{version}")]

    # --- writing --------------------------------------------------------------------------
    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        """Creations first (one POST each), then one PATCH per ticket with all its changes."""
        self._auth_failure = None
        results: dict[int, ActionResult] = {}
        created: dict[str, str] = {}
        writes: dict[str, _TicketWrite] = {}
        for index, action in enumerate(actions):
            if not isinstance(action.payload, CreateRecord | _PATCHES):
                results[index] = _refused(action, f"movidesk cannot {action.kind.value}")
        for index, action in enumerate(actions):
            if isinstance(action.payload, CreateRecord):
                results[index] = self._guarded(
                    action, lambda k=action.idempotency_key, p=action.payload: self._create(k, p))
                if results[index].status is ResultStatus.DONE and results[index].external_id:
                    created[action.idempotency_key] = results[index].external_id
        for index, action in enumerate(actions):
            p = action.payload
            if isinstance(p, _PATCHES) and index not in results:
                ticket = p.record_id or created.get(p.target or "")
                if ticket is None:
                    results[index] = _refused(action, f"movidesk: ticket {p.target} was not created")
                    continue
                try:
                    self._add(writes.setdefault(ticket, _TicketWrite()), index, action)
                except VendorError as exc:
                    results[index] = result_for(action, exc)
        for ticket, write in writes.items():
            if not write.actions:
                continue
            outcome = self._guarded(write.actions[0][1],
                                    lambda t=ticket, w=write: self._patch(t, w))
            for index, action in write.actions:
                results[index] = outcome.model_copy(
                    update={"idempotency_key": action.idempotency_key})
        return [results[i] for i in range(len(actions))]

    def _guarded(self, action: VendorAction, write: Callable[[], str]) -> ActionResult:
        """Run one write; once credentials failed, the rest fail the same way without a call
        (each refused call counts toward Movidesk's three-failures block)."""
        if self._auth_failure is not None:
            return result_for(action, self._auth_failure)
        try:
            return done(action, write())
        except VendorError as error:
            if error.kind is ErrorKind.AUTH:
                self._auth_failure = error
            return result_for(action, error)

    def _created_by(self, person: str | None) -> dict[str, str]:
        """Who an action is by: the payload's person, else Kickoff's agent
        (``options.agent_id``)."""
        person = person or self.config.options.get("agent_id")
        if not person:
            raise VendorError(ErrorKind.PERMANENT,
                              "movidesk: no created_by and no options.agent_id")
        return {"id": str(person)}

    def _add(self, write: _TicketWrite, index: int, action: VendorAction) -> None:
        """Fold one action into its ticket's pending PATCH (later changes win); nothing of it
        when it cannot be written."""
        p = action.payload
        if isinstance(p, PostAction | AddNote):
            text = p.description if isinstance(p, PostAction) else p.body
            public = isinstance(p, PostAction) and p.public
            write.new_actions.append({
                "type": int(ActionType.PUBLIC if public else ActionType.INTERNAL),
                "description": marked(text, action.idempotency_key),
                "createdBy": self._created_by(p.created_by)})
        if isinstance(p, SetStage | PostAction) and p.status:
            write.fields.pop("justification", None)
            write.fields["status"] = p.status
            if p.justification:
                write.fields["justification"] = p.justification
        if isinstance(p, AssignOwner):
            if p.owner_id:
                write.fields["owner"] = {"id": p.owner_id}
            if p.owner_team:
                write.fields["ownerTeam"] = p.owner_team
        write.actions.append((index, action))

    def _patch(self, ticket: str, write: _TicketWrite) -> str:
        """One PATCH; after an unknown outcome, read the ticket and send only what is missing."""
        pending = {**write.fields, **({"actions": write.new_actions} if write.new_actions else {})}

        def lookup() -> str | None:
            self.limiter.acquire(self.tool, self.credential_key)
            current = self._request("GET", "/tickets", {
                "id": ticket, "$select": "id,status,justification,ownerTeam",
                "$expand": "owner($select=id),actions($select=id,description)"}).json()
            missing = _missing(pending, current)
            if not missing:
                return ticket
            pending.clear()
            pending.update(missing)
            return None

        def patch() -> str:
            self._request("PATCH", "/tickets", {"id": ticket}, pending)
            return ticket

        return self.call(patch, lookup=lookup)

    def _create(self, key: str, payload: CreateRecord) -> str:
        """POST a ticket whose first action carries the marker; found by it after an unknown
        outcome."""
        body = {k: v for k, v in payload.fields.model_dump(mode="json", exclude_none=True).items()
                if v != []}
        body.setdefault("createdBy", self._created_by(payload.created_by))
        opening = {"type": int(ActionType.INTERNAL), "description": "Aberto pelo Kickoff"}
        first = dict((body.get("actions") or [opening])[0])
        first.setdefault("createdBy", body["createdBy"])
        first["description"] = marked(first.get("description", ""), key)
        body["actions"] = [first, *list(body.get("actions") or [])[1:]]
        tag = marker(key)

        def lookup() -> str | None:
            self.limiter.acquire(self.tool, self.credential_key)
            query = {"$select": "id", "$expand": "actions($select=description)", "$orderby": "id desc", "$top": "20"}
            if body.get("subject"):
                query["$filter"] = "subject eq '{}'".format(str(body["subject"]).replace("'", "''"))
            for ticket in self._request("GET", "/tickets", query).json():
                if any(tag in (a.get("description") or "") for a in ticket.get("actions") or []):
                    return str(ticket["id"])
            return None

        return self.call(lambda: str(self._request("POST", "/tickets", body=body).json()["id"]), lookup=lookup)

    def read_running(self, query: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
        """The tickets a mapping's ``running_query`` names (``filter``, ``fields``), oldest first,
        100 a page."""
        shape = ticket_query(list(query.get("fields") or []))
        found: list[dict[str, Any]] = []
        while True:
            page = self._get("/tickets", {**shape, "$filter": str(query["filter"]), "$orderby": "createdDate",
                                          "$top": str(PAGE_SIZE), "$skip": str(len(found))})
            found += page
            if len(page) < PAGE_SIZE:
                return found

    def webhook_steps(self, url: str, wanted: Sequence[Wanted]) -> list[str]:
        """Movidesk has no API for its automation triggers: a person makes one."""
        on = sorted({o for w in wanted for o in w.spec.get("on", [])})
        bodies = {b for w in wanted for b in w.spec.get("body", [])}
        body = "the whole ticket (JSON)" if "ticket" in bodies else "any body"
        hint = f"the value of {self.setting('webhook_token')}"
        return [
            "In Movidesk, open Configurações > Gatilhos (automation triggers) and add a trigger.",
            f"When: {' or '.join(on)} (every ticket; Kickoff reads the ticket and ignores the others).",
            f"Action: acionar webhook (call a webhook), method POST, body {body}, to:",
            f"  {url}?token=<{hint}>",
            "Movidesk signs nothing: the token in the URL is what Kickoff checks; keep the URL secret.",
        ]


def _missing(pending: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """What of a PATCH body the ticket does not show yet."""
    missing: dict[str, Any] = {}
    descriptions = " ".join(a.get("description") or "" for a in current.get("actions") or [])
    absent = [a for a in pending.get("actions", []) if a["description"].rsplit("\n", 1)[-1] not in descriptions]
    if absent:
        missing["actions"] = absent
    if "status" in pending and (pending["status"], pending.get("justification")) != (
            current.get("status"), current.get("justification")):
        missing["status"] = pending["status"]
        if "justification" in pending:
            missing["justification"] = pending["justification"]
    if "owner" in pending and (current.get("owner") or {}).get("id") != pending["owner"]["id"]:
        missing["owner"] = pending["owner"]
    if "ownerTeam" in pending and current.get("ownerTeam") != pending["ownerTeam"]:
        missing["ownerTeam"] = pending["ownerTeam"]
    return missing


def _refused(action: VendorAction, reason: str) -> ActionResult:
    return ActionResult(idempotency_key=action.idempotency_key, status=ResultStatus.PERMANENT,
                        reason=reason)


_PATCHES = SetStage | AssignOwner | PostAction | AddNote
"""The payloads written by PATCHing an existing ticket."""

CONNECTOR = MovideskConnector
