"""Registering Kickoff in Zendesk (``kickoff webhooks``): webhooks through the Webhooks API
(``/api/v2/webhooks``), triggers through the Triggers API (``/api/v2/triggers``).

Mixed into the Zendesk connector. Kickoff's registrations are the ones whose name (a
trigger's title) starts with "Kickoff"; the others are never touched. A webhook's signing
secret is Zendesk's to make: after creating (or fixing) a webhook, Kickoff reads it
(``GET .../signing_secret``) and hands it to the caller, who keeps it sealed in the ledger.
A webhook cannot change how it is connected (event types or triggers): such a change deletes
it and makes it again. Triggers are written after the webhooks they call and deleted first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

import requests

from connectors.http import make_session, raise_for_vendor, send
from kickoff.contracts.errors import ErrorKind, VendorError
from kickoff.contracts.subscriptions import KICKOFF_PREFIX, Change, HookChange, HookPlan, Wanted

CONDITIONAL = "conditional_ticket_events"
LIST_PAGE = 100


def _hook_body(wanted: Wanted, url: str) -> dict[str, Any]:
    return {"name": wanted.name, "endpoint": url, "http_method": "POST", "request_format": "json",
            "status": "active", "subscriptions": sorted(wanted.spec.get("subscriptions") or [])}


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, list) and isinstance(have, list) and all(isinstance(x, str) for x in want):
        return sorted(have) == sorted(want)
    return bool(have == want)


def _conditions(raw: Any) -> dict[str, list[dict[str, Any]]]:
    raw = raw if isinstance(raw, dict) else {}
    return {part: [{k: str(c.get(k)) for k in ("field", "operator", "value")} for c in raw.get(part) or []]
            for part in ("all", "any")}


class ZendeskWebhooks:
    """The Zendesk connector's webhook registration (needs ``secret``, ``options``, ``base_url``,
    ``call`` of the connector it is mixed into)."""

    _admin_session: requests.Session | None = None

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One call to Zendesk's admin APIs, under the connector's limiter and retry policy."""
        if self._admin_session is None:  # no hidden retries; a 429 is classified with its Retry-After
            session = make_session(self.base_url)  # type: ignore[attr-defined]
            session.auth = (f"{self.secret('email')}/token", self.secret("token"))  # type: ignore[attr-defined]
            self._admin_session = session
        subdomain = self.options.get("subdomain", "sandbox")  # type: ignore[attr-defined]
        url = f"https://{subdomain}.zendesk.com/api/v2/{path}"

        def run() -> dict[str, Any]:
            response = raise_for_vendor(send(self._admin_session, method, url, json=body))  # type: ignore[arg-type]
            return response.json() if response.content else {}

        answer: dict[str, Any] = self.call(run)  # type: ignore[attr-defined]
        return answer

    def _kickoff_webhooks(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        query = f"webhooks?filter[name_contains]={KICKOFF_PREFIX}&page[size]={LIST_PAGE}"
        while True:
            page = self._admin("GET", query)
            found.update({h["name"]: h for h in page.get("webhooks") or [] if h["name"].startswith(KICKOFF_PREFIX)})
            meta = page.get("meta") or {}
            if not meta.get("has_more") or not meta.get("after_cursor"):
                return found
            query = f"webhooks?filter[name_contains]={KICKOFF_PREFIX}&page[size]={LIST_PAGE}" \
                    f"&page[after]={meta['after_cursor']}"

    def _kickoff_triggers(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        query: str | None = f"triggers.json?per_page={LIST_PAGE}"
        while query:
            page = self._admin("GET", query)
            found.update({t["title"]: t for t in page.get("triggers") or [] if t["title"].startswith(KICKOFF_PREFIX)})
            nxt = page.get("next_page")
            query = str(nxt).split("/api/v2/", 1)[-1] if nxt else None
        return found

    # --- plan ---------------------------------------------------------------------------------
    def plan_webhooks(self, url: str, wanted: Sequence[Wanted], now: datetime, *,
                      kept: Collection[str] = ()) -> HookPlan:
        hooks, triggers = self._kickoff_webhooks(), self._kickoff_triggers()
        names = {h["id"]: name for name, h in hooks.items()}
        changes = []
        for want in wanted:
            if want.kind == "webhook":
                changes.append(self._plan_hook(want, hooks.pop(want.name, None), url, kept))
            elif want.kind == "trigger":
                changes.append(self._plan_trigger(want, triggers.pop(want.name, None), names))
        changes += [HookChange(Change.DELETE, "trigger", name, "Kickoff no longer needs it", vendor_id=str(t["id"]))
                    for name, t in triggers.items()]
        changes += [HookChange(Change.DELETE, "webhook", name, "Kickoff no longer needs it", vendor_id=h["id"])
                    for name, h in hooks.items()]
        return HookPlan(self.tool, url, changes)

    @staticmethod
    def _plan_hook(want: Wanted, current: dict[str, Any] | None, url: str, kept: Collection[str]) -> HookChange:
        desired = _hook_body(want, url)
        events = ", ".join(desired["subscriptions"])
        if current is None:
            return HookChange(Change.CREATE, "webhook", want.name, f"POST {url} ({events})", want)
        differs = [key for key, value in desired.items() if not _same(current.get(key), value)]
        if differs:
            return HookChange(Change.UPDATE, "webhook", want.name, f"{', '.join(differs)} differ", want,
                              vendor_id=current["id"])
        if want.secret_name not in kept:
            return HookChange(Change.UPDATE, "webhook", want.name, "its signing secret is not kept by Kickoff: "
                              "read it again", want, vendor_id=current["id"])
        return HookChange(Change.UNCHANGED, "webhook", want.name, f"POST {url} ({events})", want,
                          vendor_id=current["id"])

    @staticmethod
    def _plan_trigger(want: Wanted, current: dict[str, Any] | None, names: dict[str, str]) -> HookChange:
        if current is None:
            return HookChange(Change.CREATE, "trigger", want.name, f"calls webhook {want.spec['webhook']!r}", want)
        differs = []
        if _conditions(current.get("conditions")) != _conditions(want.spec.get("conditions")):
            differs.append("conditions")
        calls = [a.get("value") for a in current.get("actions") or [] if a.get("field") == "notification_webhook"]
        try:
            same_call = len(calls) == 1 and names.get(str(calls[0][0])) == want.spec["webhook"] and (
                json.loads(calls[0][1]) == want.spec["body"])
        except (TypeError, ValueError, IndexError):
            same_call = False
        differs += [] if same_call else ["actions"]
        differs += [] if current.get("active") else ["active"]
        if differs:
            return HookChange(Change.UPDATE, "trigger", want.name, f"{', '.join(differs)} differ", want,
                              vendor_id=str(current["id"]))
        return HookChange(Change.UNCHANGED, "trigger", want.name, f"calls webhook {want.spec['webhook']!r}", want,
                          vendor_id=str(current["id"]))

    # --- apply --------------------------------------------------------------------------------
    def apply_webhooks(self, plan: HookPlan, now: datetime, *,
                       before_create: Callable[[HookChange], None] | None = None) -> HookPlan:
        ids = {c.name: c.vendor_id for c in plan.changes if c.kind == "webhook" and c.vendor_id}
        order = [c for c in plan.pending if c.kind == "trigger" and c.change is Change.DELETE]
        order += [c for c in plan.pending if c.kind == "webhook"]
        order += [c for c in plan.pending if c.kind == "trigger" and c.change is not Change.DELETE]
        for change in order:
            try:
                if change.kind == "webhook":
                    self._apply_hook(change, plan.url, before_create)
                    if change.vendor_id and change.change is not Change.DELETE:
                        ids[change.name] = change.vendor_id
                else:
                    self._apply_trigger(change, ids)
            except VendorError as exc:
                change.error = exc.reason
        return plan

    def _apply_hook(self, change: HookChange, url: str,
                    before_create: Callable[[HookChange], None] | None) -> None:
        if change.change is Change.DELETE:
            self._admin("DELETE", f"webhooks/{change.vendor_id}")
            return
        assert change.wanted is not None
        desired = _hook_body(change.wanted, url)
        if change.vendor_id:
            current = self._admin("GET", f"webhooks/{change.vendor_id}")["webhook"]
            if (CONDITIONAL in current.get("subscriptions", [])) != (CONDITIONAL in desired["subscriptions"]):
                self._admin("DELETE", f"webhooks/{change.vendor_id}")  # its connection method cannot change
                change.vendor_id = None
            else:
                self._admin("PATCH", f"webhooks/{change.vendor_id}", {"webhook": desired})
        if not change.vendor_id:
            if before_create:
                before_create(change)
            change.vendor_id = str(self._admin("POST", "webhooks", {"webhook": desired})["webhook"]["id"])
        secret = self._admin("GET", f"webhooks/{change.vendor_id}/signing_secret")["signing_secret"]
        change.secret = str(secret["secret"])

    def _apply_trigger(self, change: HookChange, ids: dict[str, str | None]) -> None:
        if change.change is Change.DELETE:
            self._admin("DELETE", f"triggers/{change.vendor_id}.json")
            return
        assert change.wanted is not None
        spec = change.wanted.spec
        hook_id = ids.get(spec["webhook"])
        if not hook_id:
            raise VendorError(ErrorKind.PERMANENT, f"its webhook {spec['webhook']!r} was not made")
        body = {"trigger": {"title": change.name, "active": True, "conditions": spec["conditions"],
                            "actions": [{"field": "notification_webhook",
                                         "value": [hook_id, json.dumps(spec["body"], sort_keys=True)]}]}}
        if change.vendor_id:
            self._admin("PUT", f"triggers/{change.vendor_id}.json", body)
        else:
            change.vendor_id = str(self._admin("POST", "triggers.json", body)["trigger"]["id"])
