"""Slack: notifications, one ``chat.postMessage`` per action (Slack has no batch).

A ``notify`` action's payload is ``kickoff.tools.slack.SlackNotify`` (channel id, text,
blocks). Incoming-webhook URLs are not used: they carry their secret in the path (which HTTP
debug logs print) and leave no way to look a message up.

Idempotency: the key rides in the message's ``metadata`` (``event_type`` "kickoff_action",
``event_payload.key``). After an unknown outcome the channel's history since shortly
before ``now`` (``conversations.history`` with ``include_all_metadata``) is searched for it
before posting again. Slack answers 200 with ``ok: false`` for most errors: they are
classified by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import requests

from connectors.base import Connector, NoReads, NoWebhooks, done
from connectors.http import make_session, raise_for_vendor, send
from kickoff.contracts.account import Account, Option
from kickoff.contracts.errors import ErrorKind, VendorError
from kickoff.contracts.vendor import VendorAction
from kickoff.model import ActionResult
from kickoff.tools.slack import SCOPES, SlackNotify

SLACK_HOST = "https://slack.com"
EVENT_TYPE = "kickoff_action"
LOOKUP_WINDOW_SECONDS = 15 * 60
AUTH_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
               "no_permission", "missing_scope", "not_allowed_token_type"}
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                    "request_timeout"}


def slack_error(name: str, retry_after: float | None = None) -> VendorError:
    """An ``ok: false`` error by name: auth, transient, or the caller's mistake."""
    if name in AUTH_ERRORS:
        return VendorError(ErrorKind.AUTH, f"slack: {name}")
    if name in RETRYABLE_ERRORS:
        return VendorError(ErrorKind.RETRYABLE, f"slack: {name}", retry_after=retry_after)
    return VendorError(ErrorKind.PERMANENT, f"slack: {name}")


class SlackConnector(NoReads, NoWebhooks, Connector):
    tool = "slack"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session: requests.Session = make_session(self.base_url, self.observe)

    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        return self.apply_each(actions, lambda action: self._notify(action, now))

    # --- proving access, describing the workspace ----------------------------------------
    def check(self, now: datetime) -> list[str]:
        """``auth.test``: the token works; its ``x-oauth-scopes`` hold the scopes Kickoff needs."""
        unset = self.unset_credentials(["token"])
        if unset:
            return unset
        headers = {"Authorization": f"Bearer {self.secret('token')}"}
        try:
            response = self.call(lambda: raise_for_vendor(send(self.session, "POST", f"{SLACK_HOST}/api/auth.test",
                                                               headers=headers)))
        except VendorError as error:
            return [self.problem(error, "token")]
        body = response.json()
        if not body.get("ok"):
            error = slack_error(str(body.get("error", "unknown_error")))
            return [self.problem(VendorError(error.kind, error.reason, status=401 if error.kind is ErrorKind.AUTH
                                             else None), "token")]
        granted = {s.strip() for s in response.headers.get("x-oauth-scopes", "").split(",") if s.strip()}
        return [f"missing scope {scope} ({why}): add it to the Slack app of {self.setting('token')}"
                for scope, why in SCOPES.items() if scope not in granted]

    def discover(self, now: datetime) -> Account:
        """The workspace's channels (``conversations.list``, every page)."""
        team = self.call(lambda: self._api("auth.test"))
        channels: list[Option] = []
        cursor = ""
        while True:
            page = self.call(lambda c=cursor: self._api(
                "conversations.list", "GET", params={"limit": 200, "exclude_archived": "true",
                                                     "types": "public_channel,private_channel", "cursor": c}))
            channels += [Option(id=c["id"], name=c.get("name") or "") for c in page.get("channels") or []]
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return Account(tool="slack", id=team.get("team_id"), name=team.get("team"), channels=channels)

    def _api(self, method: str, http: str = "POST", **kwargs: Any) -> dict[str, Any]:
        """One Web API call: 429 and HTTP errors classified, then ``ok: false`` by name."""
        headers = {"Authorization": f"Bearer {self.secret('token')}"}
        response = raise_for_vendor(send(self.session, http, f"{SLACK_HOST}/api/{method}",
                                         headers=headers, **kwargs))
        body = response.json()
        if not body.get("ok"):
            raise slack_error(str(body.get("error", "unknown_error")))
        return body

    def _notify(self, action: VendorAction, now: datetime) -> ActionResult:
        payload = action.payload
        if not isinstance(payload, SlackNotify):
            raise VendorError(ErrorKind.PERMANENT, f"slack: {action.kind} is not a Slack action")
        message: dict[str, Any] = {
            "channel": payload.channel, "text": payload.text,
            "metadata": {"event_type": EVENT_TYPE,
                         "event_payload": {"key": action.idempotency_key}}}
        if payload.blocks:
            message["blocks"] = payload.blocks
        oldest = now.timestamp() - LOOKUP_WINDOW_SECONDS

        def post() -> ActionResult:
            return done(action, self._api("chat.postMessage", json=message)["ts"])

        def lookup() -> ActionResult | None:
            ts = self._find(payload.channel, action.idempotency_key, oldest)
            return done(action, ts) if ts else None

        return self.call(post, lookup=lookup)

    def _find(self, channel: str, key: str, oldest: float) -> str | None:
        """The ``ts`` of our message carrying ``key``, if the channel's recent history has it."""
        try:
            body = self._api("conversations.history", http="GET", params={
                "channel": channel, "oldest": f"{oldest:.6f}", "limit": 200,
                "include_all_metadata": "true"})
        except VendorError as error:
            if error.kind is ErrorKind.PERMANENT:
                return None  # history not readable (scope, name instead of id): post again
            raise
        for message in body.get("messages", []):
            metadata = message.get("metadata") or {}
            carried = (metadata.get("event_payload") or {}).get("key")
            if metadata.get("event_type") == EVENT_TYPE and carried == key:
                return str(message["ts"])
        return None


CONNECTOR = SlackConnector
