"""HubSpot (placeholder: the vendor's routes are being written)."""

from __future__ import annotations

from sandbox.vendors.base import Vendor


class HubSpot(Vendor):
    name = "hubspot"
    prefixes = ("/crm/", "/oauth/", "/integrations/",)
