"""Dealbuilder: signed contracts arrive by webhook; it has no write API (assist).

Its webhook body is flat: ``eventType`` and ``webhookKey`` beside the document's own fields,
the customer in a ``Parties`` array, and deprecated flat ``customer*``/``seller*`` fields still
sent for older integrations. The names inside ``Parties`` and the custom fields are not
public, so where each fact sits is a list of alternative paths (the tenant's table may set
its own); the defaults below read ``Parties`` first and the deprecated fields after.

What a signed document must hold is said here once: the mapping refuses a document without
it, and the connector answers such a webhook 400 at the edge, naming what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kickoff.paths import first_value
from kickoff.tools.spec import ToolSpec, Webhooks

EVENT_TYPES = ("DocumentSent", "DocumentAccepted")
SIGNED = "DocumentAccepted"
"""The event that is a signed contract (``contract.signed``)."""
KEY_FIELD = "webhookKey"

DEPRECATED_FIELDS = (
    "customerAddress", "customerDetailedAddress", "customerCompanyName", "customerId",
    "customerName", "customerFirstName", "customerLastName", "customerEmail", "customerOrgNumber",
    "customerPhoneNumber", "customerVisitAddress", "customerDetailedVisitAddress",
    "customerSignatureImage", "sellerEmail", "sellerName",
)
"""The flat fields Dealbuilder's reference lists as deprecated (nullable, still sent)."""

CUSTOMER = "Parties[role=customer]"
PATHS: dict[str, list[str]] = {
    "document_id": ["id"],
    "account_name": [f"{CUSTOMER}.companyName", "customerCompanyName"],
    "org_number": [f"{CUSTOMER}.organizationNumber", "customerOrgNumber"],
    "main_user": [f"{CUSTOMER}.contacts[role=main_user].name", "customerName"],
    "main_user_email": [f"{CUSTOMER}.contacts[role=main_user].email", "customerEmail"],
    "licences": ["customFields[name=licences].value"],
    "start_on": ["customFields[name=delivery_start].value"],
    "signed_at": ["acceptedAt"],
}
"""Where each fact of a signed document is by default: alternative paths, the first non-empty
one wins."""

REQUIRED: dict[str, str] = {"document_id": "document id", "account_name": "customer company name"}
"""The facts a signed document cannot start an onboarding without, and their names in words."""

EVENTS_READ = "eventType"
"""The key of ``reads`` listing the event types whose body must hold the required facts."""


def required_reads(event_types: Sequence[str],
                   paths: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """What a mapping with these event types and paths needs of a body, as ``reads``:
    ``{"eventType": [...], <required fact>: [paths]}``."""
    needed = {EVENTS_READ: list(event_types)}
    needed.update({fact: list(paths.get(fact) or []) for fact in REQUIRED})
    return needed


def lacking(body: Any, paths: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """The required facts a signed document's body lacks -> what is missing, in words (``no
    customer company name at Parties[role=customer].companyName or customerCompanyName``)."""
    gaps = {}
    for fact, words in REQUIRED.items():
        where = list(paths.get(fact) or [])
        if first_value(body, where) in (None, "", []):
            gaps[fact] = f"no {words} at {' or '.join(where) or '(no path configured)'}"
    return gaps


TOOL = ToolSpec(
    name="dealbuilder",
    title="Dealbuilder",
    webhooks=Webhooks(verification="unsigned: the subscription's webhookKey in the body, compared in "
                                   "constant time", redact=(KEY_FIELD,)),
)
