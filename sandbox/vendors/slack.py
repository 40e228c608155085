"""Slack: ``chat.postMessage`` (bot token), ``conversations.history`` and ``.list``,
``auth.test`` and incoming-webhook URLs. Kept messages are readable at
``GET /_sandbox/slack/messages``.

A bot token carries scopes: ``auth.test`` lists them in the ``x-oauth-scopes`` header, and a
method the token's scopes do not cover answers ``{"ok": false, "error": "missing_scope",
"needed": ..., "provided": ...}`` as Slack does."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from sandbox.limits import LimitSettings
from sandbox.vendors.base import Vendor

WEBHOOK_PATH = "/services/T0SANDBOX/B0SANDBOX/sandboxwebhooksecret"
TEAM_ID = "T0SANDBOX"
NEEDS = {"chat.postMessage": "chat:write", "conversations.history": "channels:history",
         "conversations.list": "channels:read"}
"""The scope each method needs (public channels; Slack's method reference)."""
ALL_SCOPES = ("chat:write", "channels:history", "channels:read", "groups:read")


class Slack(Vendor):
    name = "slack"
    prefixes = ("/api/chat.", "/api/auth.", "/api/conversations.", "/services/T")
    # chat.postMessage: about one message a second per channel (Tier "special").
    default_limits: ClassVar[LimitSettings] = LimitSettings(requests=60, window_seconds=60)
    default_credentials: ClassVar[dict[str, str]] = {
        "SLACK_BOT_TOKEN": "xoxb-sandbox-token",
        "SLACK_WEBHOOK_URL": WEBHOOK_PATH,
    }

    def _ts(self) -> str:
        """A message timestamp on the sandbox's clock (virtual in the demo and soak), unique per
        message as Slack's are: seconds, then a counter in the microseconds."""
        self._seq += 1
        return f"{int(self.sb.clock.now().timestamp())}.{self._seq % 1_000_000:06d}"

    def reset(self) -> None:
        super().reset()
        self.messages: list[dict[str, Any]] = []
        self._seq = 0
        self.team = {"id": TEAM_ID, "name": "Sandbox"}
        self.channels: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, tuple[str, ...]] = {self.credentials["SLACK_BOT_TOKEN"]: ALL_SCOPES}

    def seed(self, data: dict[str, Any]) -> None:
        """``team``: {id, name}; ``channels``: [{id, name, is_private?, is_archived?}];
        ``tokens``: [{token, scopes}] (more bot tokens, e.g. one lacking a scope)."""
        self.team.update(data.get("team") or {})
        for channel in data.get("channels", []):
            self.channels[str(channel["id"])] = {
                "id": str(channel["id"]), "name": channel["name"], "is_channel": True,
                "is_private": bool(channel.get("is_private", False)),
                "is_archived": bool(channel.get("is_archived", False)), "is_member": True,
                "created": int(self.sb.clock.now().timestamp()), "context_team_id": self.team["id"]}
        for token in data.get("tokens", []):
            self.tokens[str(token["token"])] = tuple(token.get("scopes") or ())

    def check_auth(self, request: Request) -> Response | None:
        if request.url.path.startswith("/services/"):
            if request.url.path != self.credentials["SLACK_WEBHOOK_URL"]:
                return PlainTextResponse("no_service", status_code=404)
            return None
        scopes = self.tokens.get(self.bearer_token(request) or "")
        if scopes is None:
            # Slack answers 200 with ok:false for a bad token.
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        needed = NEEDS.get(request.url.path.removeprefix("/api/"))
        if needed and needed not in scopes:
            return JSONResponse({"ok": False, "error": "missing_scope", "needed": needed,
                                 "provided": ",".join(scopes)})
        return None

    def check_limits(self, request: Request) -> Response | None:
        ok, _, wait = self.window_hit("all", self.limits.requests, self.limits.window_seconds)
        if ok:
            return None
        return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                            headers={"Retry-After": str(max(1, round(wait)))})

    def routes(self) -> None:
        @self.router.post("/api/chat.postMessage")
        async def post_message(request: Request) -> Response:
            body = await _body(request)
            if not body.get("channel"):
                return JSONResponse({"ok": False, "error": "channel_not_found"})
            if not (body.get("text") or body.get("blocks")):
                return JSONResponse({"ok": False, "error": "no_text"})
            ts = self._ts()
            self.messages.append({"channel": body["channel"], "text": body.get("text"), "blocks": body.get("blocks"),
                                  "ts": ts, "via": "api", "metadata": body.get("metadata")})
            return JSONResponse({"ok": True, "channel": body["channel"], "ts": ts,
                                 "message": {"text": body.get("text"), "ts": ts}})

        @self.router.api_route("/api/conversations.history", methods=["GET", "POST"])
        async def history(request: Request) -> Response:
            """Newest first; ``oldest`` is exclusive; metadata only with ``include_all_metadata``."""
            args = {**dict(request.query_params), **(await _body(request) if request.method == "POST" else {})}
            if not args.get("channel"):
                return JSONResponse({"ok": False, "error": "channel_not_found"})
            oldest = float(args.get("oldest") or 0)
            with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
            found = [{"type": "message", "text": m["text"], "ts": m["ts"], "bot_id": "B0SANDBOX",
                      **({"metadata": m["metadata"]} if with_metadata and m.get("metadata") else {})}
                     for m in reversed(self.messages)
                     if m["channel"] == args["channel"] and m["via"] == "api" and float(m["ts"]) > oldest]
            limit = int(args.get("limit") or 100)
            return JSONResponse({"ok": True, "messages": found[:limit], "has_more": len(found) > limit,
                                 "response_metadata": {"next_cursor": ""}})

        @self.router.post("/api/auth.test")
        async def auth_test(request: Request) -> Response:
            scopes = self.tokens.get(self.bearer_token(request) or "", ())
            return JSONResponse({"ok": True, "url": "https://sandbox.slack.com/", "team": self.team["name"],
                                 "team_id": self.team["id"], "user": "kickoff", "user_id": "U0KICKOFF",
                                 "bot_id": "B0SANDBOX"}, headers={"x-oauth-scopes": ",".join(scopes)})

        @self.router.api_route("/api/conversations.list", methods=["GET", "POST"])
        async def conversations(request: Request) -> Response:
            """Channels (not archived unless ``exclude_archived`` is false), ``limit`` and
            ``cursor`` paging as Slack's cursor pagination."""
            args = {**dict(request.query_params), **(await _body(request) if request.method == "POST" else {})}
            keep_archived = str(args.get("exclude_archived", "false")).lower() not in ("1", "true")
            found = [c for c in self.channels.values() if keep_archived or not c["is_archived"]]
            start = int(args.get("cursor") or 0)
            limit = max(1, min(int(args.get("limit") or 100), 1000))
            after = start + limit
            return JSONResponse({"ok": True, "channels": found[start:after],
                                 "response_metadata": {"next_cursor": str(after) if after < len(found) else ""}})

        @self.router.post("/services/{team}/{bot}/{secret}")
        async def incoming_webhook(request: Request) -> Response:
            body = await _body(request)
            if not (body.get("text") or body.get("blocks")):
                return PlainTextResponse("no_text", status_code=400)
            self.messages.append({"channel": body.get("channel", "#webhook"), "text": body.get("text"),
                                  "blocks": body.get("blocks"), "ts": self._ts(), "via": "webhook"})
            return PlainTextResponse("ok")

    def admin_routes(self) -> None:
        @self.admin.get("/messages")
        async def messages() -> list[dict[str, Any]]:
            return self.messages


async def _body(request: Request) -> dict[str, Any]:
    """Slack takes JSON or form-encoded bodies."""
    if request.headers.get("content-type", "").startswith("application/json"):
        data = await request.json()
        return data if isinstance(data, dict) else {}
    return dict(await request.form())


VENDOR = Slack
