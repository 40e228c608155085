"""Registering Kickoff in HubSpot (``kickoff webhooks``): the developer app's webhook settings
(its one target URL) and subscriptions, through the official client's Webhooks API v3
(``/webhooks/v3/{appId}/settings`` and ``/subscriptions``, with the developer API key).

Mixed into the HubSpot connector. It needs the app's id and the developer account's API key
(credentials ``app_id`` and ``developer_api_key``); without them the plan is a person's steps
in the app's settings. The app is Kickoff's own, so a subscription Kickoff no longer wants is
deleted. Deliveries are signed with the app's client secret (the ``client_secret`` the
connector already checks): there is no secret to keep.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from urllib3.util.retry import Retry

from kickoff.contracts.errors import VendorError
from kickoff.contracts.subscriptions import Change, HookChange, HookPlan, Wanted, by_hand

Key = tuple[str, str | None, str | None]
"""A subscription's identity: (event type, property name, object type id)."""


def _key(spec: Any) -> Key:
    get = spec.get if isinstance(spec, dict) else (lambda name: getattr(spec, _snake(name), None))
    return (str(get("eventType")), get("propertyName") or None, get("objectTypeId") or None)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


class HubSpotWebhooks:
    """The HubSpot connector's webhook registration (needs the connector's ``secret``,
    ``invoke``, ``base_url`` and ``config``)."""

    _developer: Any = None

    def _app(self) -> tuple[int, Any] | None:
        """(app id, the client with the developer API key), or None when not configured."""
        try:
            app_id = int(self.secret("app_id"))  # type: ignore[attr-defined]
            key = self.secret("developer_api_key")  # type: ignore[attr-defined]
        except (VendorError, ValueError):
            return None
        if self._developer is None:
            from hubspot import HubSpot

            options: dict[str, Any] = {"api_key": key, "retry": Retry(0)}
            if self.base_url:  # type: ignore[attr-defined]
                options["host"] = self.base_url.rstrip("/")  # type: ignore[attr-defined]
            self._developer = HubSpot(**options).webhooks
        return app_id, self._developer

    def plan_webhooks(self, url: str, wanted: Sequence[Wanted], now: datetime, *,
                      kept: Collection[str] = ()) -> HookPlan:
        app = self._app()
        if app is None:
            plan = by_hand("hubspot", url, list(wanted), self._steps(url, wanted))
            for change in plan.changes:
                change.why = "no app_id and developer_api_key configured: see the steps"
            return plan
        app_id, api = app
        changes = [self._plan_settings(w, api, app_id, url) for w in wanted if w.kind == "settings"]
        listed = self.invoke(lambda: api.subscriptions_api.get_all(app_id))  # type: ignore[attr-defined]
        found = {_key(sub): sub for sub in listed.results or []}
        for want in (w for w in wanted if w.kind == "subscription"):
            current = found.pop(_key(want.spec), None)
            if current is None:
                changes.append(HookChange(Change.CREATE, "subscription", want.name, "", want))
            elif not current.active:
                changes.append(HookChange(Change.UPDATE, "subscription", want.name, "inactive: activate it", want,
                                          vendor_id=str(current.id)))
            else:
                changes.append(HookChange(Change.UNCHANGED, "subscription", want.name, "active", want,
                                          vendor_id=str(current.id)))
        changes += [HookChange(Change.DELETE, "subscription", " ".join(p for p in key if p),
                               "Kickoff no longer reads it", vendor_id=str(sub.id)) for key, sub in found.items()]
        return HookPlan("hubspot", url, changes)

    def _plan_settings(self, want: Wanted, api: Any, app_id: int, url: str) -> HookChange:
        try:
            current = self.invoke(lambda: api.settings_api.get_all(app_id))  # type: ignore[attr-defined]
        except VendorError as exc:
            if exc.status != 404:
                raise
            return HookChange(Change.CREATE, "settings", want.name, f"events go to {url}", want)
        if current.target_url != url:
            return HookChange(Change.UPDATE, "settings", want.name, f"target is {current.target_url}, not {url}", want)
        return HookChange(Change.UNCHANGED, "settings", want.name, f"events go to {url}", want)

    def apply_webhooks(self, plan: HookPlan, now: datetime, *,
                       before_create: Callable[[HookChange], None] | None = None) -> HookPlan:
        app = self._app()
        if app is None:
            return plan
        app_id, api = app
        for change in plan.pending:
            try:
                self._apply_one(change, api, app_id, plan.url)
            except VendorError as exc:
                change.error = exc.reason
        return plan

    def _apply_one(self, change: HookChange, api: Any, app_id: int, url: str) -> None:
        from hubspot.webhooks import (
            SettingsChangeRequest,
            SubscriptionCreateRequest,
            SubscriptionPatchRequest,
            ThrottlingSettings,
        )

        spec = change.wanted.spec if change.wanted else {}
        subs, invoke = api.subscriptions_api, self.invoke  # type: ignore[attr-defined]
        if change.kind == "settings":
            limit = ThrottlingSettings(max_concurrent_requests=spec["throttling"]["maxConcurrentRequests"])
            body = SettingsChangeRequest(target_url=url, throttling=limit)
            invoke(lambda: api.settings_api.configure(app_id, body))
        elif change.change is Change.DELETE:
            invoke(lambda: subs.archive(change.vendor_id, app_id))
        elif change.change is Change.UPDATE:
            invoke(lambda: subs.update(change.vendor_id, app_id, SubscriptionPatchRequest(active=True)))
        else:
            create = SubscriptionCreateRequest(event_type=spec["eventType"], property_name=spec.get("propertyName"),
                                               object_type_id=spec.get("objectTypeId"), active=True)
            change.vendor_id = str(invoke(lambda: subs.create(app_id, create)).id)

    def _steps(self, url: str, wanted: Sequence[Wanted]) -> list[str]:
        subs = [w.name for w in wanted if w.kind == "subscription"]
        return [
            "HubSpot's webhooks belong to a developer app: in it (developers.hubspot.com > Apps > the app >",
            "Webhooks) set what follows; or set the credentials app_id and developer_api_key in tools.yaml",
            "and run `kickoff webhooks apply` again.",
            f"Target URL: {url}",
            *[f"Subscribe: {name}" for name in subs],
            "Deliveries are signed with the app's client secret: tools.yaml's client_secret must be it.",
        ]
