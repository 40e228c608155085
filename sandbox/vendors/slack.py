"""Slack: ``chat.postMessage`` (bot token) and incoming-webhook URLs. Kept messages are
readable at ``GET /_sandbox/slack/messages``."""

from __future__ import annotations

from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from sandbox.limits import LimitSettings
from sandbox.vendors.base import Vendor

WEBHOOK_PATH = "/services/T0SANDBOX/B0SANDBOX/sandboxwebhooksecret"


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

    def check_auth(self, request: Request) -> Response | None:
        if request.url.path.startswith("/services/"):
            if request.url.path != self.credentials["SLACK_WEBHOOK_URL"]:
                return PlainTextResponse("no_service", status_code=404)
            return None
        if self.bearer_token(request) != self.credentials["SLACK_BOT_TOKEN"]:
            # Slack answers 200 with ok:false for a bad token.
            return JSONResponse({"ok": False, "error": "invalid_auth"})
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
        async def auth_test() -> dict[str, Any]:
            return {"ok": True, "team": "Sandbox", "user": "kickoff", "bot_id": "B0SANDBOX"}

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
