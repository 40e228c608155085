"""Salesforce (placeholder: the vendor's routes are being written)."""

from __future__ import annotations

from sandbox.vendors.base import Vendor


class Salesforce(Vendor):
    name = "salesforce"
    prefixes = ("/services/data/", "/services/oauth2/", "/services/Soap/",)
