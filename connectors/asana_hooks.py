"""Registering Kickoff in Asana (``kickoff webhooks``): one webhook per board, created through
the official client's Webhooks API with the ``X-Hook-Secret`` handshake.

Mixed into the Asana connector. Each board's webhook posts to ``<url>/<path>`` (the gateway's
path for it, named after the tenant); while Asana creates it, Asana posts a secret to that
path and the gateway keeps it (the caller arms the path in ``before_create``). Kickoff's
webhooks are the ones whose target is under ``url``; one whose secret the ledger does not
keep cannot be checked, so it is deleted and created again. Asana cannot change a webhook's
target or resource: a change is a delete and a create.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

import asana

from kickoff.contracts.errors import VendorError
from kickoff.contracts.subscriptions import Change, HookChange, HookPlan, Wanted


def _data(answer: Any) -> dict[str, Any]:
    return answer.get("data", answer) if isinstance(answer, dict) else {}


class AsanaWebhooks:
    """The Asana connector's webhook registration (needs the connector's ``client``,
    ``_invoke`` and ``_pages``)."""

    def _workspace_of(self, project: str) -> str:
        api = asana.ProjectsApi(self.client)  # type: ignore[attr-defined]
        found = _data(self._invoke(lambda: api.get_project(project, {"opt_fields": "workspace"})))  # type: ignore[attr-defined]
        return str((found.get("workspace") or {}).get("gid") or "")

    def _ours(self, workspace: str, url: str) -> list[dict[str, Any]]:
        api = asana.WebhooksApi(self.client)  # type: ignore[attr-defined]
        hooks = self._pages(lambda o: api.get_webhooks(workspace, o, full_payload=True),  # type: ignore[attr-defined]
                            {"opt_fields": "resource,target,active"})
        return [h for h in hooks if str(h.get("target", "")).startswith(url)]

    def plan_webhooks(self, url: str, wanted: Sequence[Wanted], now: datetime, *,
                      kept: Collection[str] = ()) -> HookPlan:
        ours: dict[str, dict[str, Any]] = {}
        for workspace in sorted({self._workspace_of(str(w.spec["resource"])) for w in wanted}):
            ours.update({h["gid"]: h for h in self._ours(workspace, url)})
        changes = []
        for want in wanted:
            target, resource = f"{url}/{want.path}", str(want.spec["resource"])
            match = next((h for h in ours.values() if h["target"] == target
                          and (h.get("resource") or {}).get("gid") == resource), None)
            if match is None:
                changes.append(HookChange(Change.CREATE, "webhook", want.name, f"board {resource} -> {target}", want))
                continue
            del ours[match["gid"]]
            if not match.get("active", True) or want.secret_name not in kept:
                why = "inactive" if not match.get("active", True) else "its handshake secret is not kept by Kickoff"
                changes.append(HookChange(Change.UPDATE, "webhook", want.name, f"{why}: delete it and create it "
                                          "again", want, vendor_id=match["gid"]))
            else:
                changes.append(HookChange(Change.UNCHANGED, "webhook", want.name, f"board {resource} -> {target}",
                                          want, vendor_id=match["gid"]))
        changes += [HookChange(Change.DELETE, "webhook", f"{h['target']} on {(h.get('resource') or {}).get('gid')}",
                               "Kickoff no longer needs it", vendor_id=h["gid"]) for h in ours.values()]
        return HookPlan("asana", url, changes)

    def apply_webhooks(self, plan: HookPlan, now: datetime, *,
                       before_create: Callable[[HookChange], None] | None = None) -> HookPlan:
        api = asana.WebhooksApi(self.client)  # type: ignore[attr-defined]
        for change in plan.pending:
            try:
                if change.vendor_id:
                    self._invoke(lambda c=change: api.delete_webhook(c.vendor_id), write=True)  # type: ignore[attr-defined]
                if change.change is Change.DELETE or change.wanted is None:
                    continue
                if before_create:
                    before_create(change)
                body = {"data": {"resource": str(change.wanted.spec["resource"]),
                                 "target": f"{plan.url}/{change.wanted.path}",
                                 "filters": list(change.wanted.spec.get("filters") or [])}}
                made = self._invoke(lambda b=body: api.create_webhook(b, {}), write=True)  # type: ignore[attr-defined]
                change.vendor_id = str(_data(made).get("gid") or "")
            except VendorError as exc:
                change.error = exc.reason
        return plan
