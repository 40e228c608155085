"""HubSpot tickets already under way (``kickoff adopt``): the CRM search a mapping's
``running_query`` describes (``equal``: property -> value, ``within``: property -> values),
every page, oldest first, each record as the API answers it (``id``, ``properties``).

Mixed into the HubSpot connector (its ``call`` and ``_search``: the search's own limit)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kickoff.tools.hubspot import CREATED

PAGE = 100


class HubSpotRunning:
    def read_running(self, query: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
        filters = [{"propertyName": name, "operator": "EQ", "value": str(value)}
                   for name, value in (query.get("equal") or {}).items()]
        filters += [{"propertyName": name, "operator": "IN", "values": [str(v) for v in values]}
                    for name, values in (query.get("within") or {}).items()]
        object_type, found, after = str(query["object"]), [], None
        while True:
            request = {"filter_groups": [{"filters": filters}], "properties": list(query.get("properties") or []),
                       "sorts": [{"propertyName": CREATED, "direction": "ASCENDING"}], "limit": PAGE, "after": after}
            page = self.call(lambda r=request: self._search(object_type, r, now))  # type: ignore[attr-defined]
            client = self._objects.search_api.api_client  # type: ignore[attr-defined]
            found += [client.sanitize_for_serialization(record) for record in page.results]
            if not (page.paging and page.paging.next) or not page.results:
                return found
            after = page.paging.next.after
