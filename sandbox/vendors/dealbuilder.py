"""Dealbuilder has no write API: it only POSTs one JSON object per event to a configured URL,
authenticated by the ``webhookKey`` in the body. The body is flat, as its webhook reference
lists it: ``eventType`` and ``webhookKey`` beside the document's own fields (its ``Parties``,
custom fields, ...), and the deprecated flat ``customer*``/``seller*`` fields, filled from the
parties (null when unknown). ``/_sandbox/dealbuilder/documents`` plays the seller sending a
proposal and the customer signing it."""

from __future__ import annotations

from typing import Any, ClassVar

from fastapi import Body, HTTPException

from kickoff.tools.dealbuilder import DEPRECATED_FIELDS
from sandbox.vendors.base import Vendor
from sandbox.webhooks import WebhookTarget


def _party(document: dict[str, Any], role: str) -> dict[str, Any]:
    parties = [p for p in document.get("Parties") or [] if isinstance(p, dict)]
    return next((p for p in parties if str(p.get("role", "")).lower() == role), {})


def _contact(party: dict[str, Any], role: str) -> dict[str, Any]:
    contacts = [c for c in party.get("contacts") or [] if isinstance(c, dict)]
    first = contacts[0] if contacts else {}
    return next((c for c in contacts if str(c.get("role", "")).lower() == role), first)


def deprecated_fields(document: dict[str, Any]) -> dict[str, Any]:
    """The flat fields older integrations read, from the customer and seller parties."""
    customer, seller = _party(document, "customer"), _party(document, "seller")
    person, sales = _contact(customer, "main_user"), _contact(seller, "seller")
    first, _, last = str(person.get("name") or "").partition(" ")
    known = {"customerCompanyName": customer.get("companyName"), "customerId": customer.get("id"),
             "customerOrgNumber": customer.get("organizationNumber"),
             "customerName": person.get("name"),
             "customerFirstName": first or None, "customerLastName": last or None,
             "customerEmail": person.get("email"), "customerPhoneNumber": person.get("phone"),
             "sellerName": sales.get("name"), "sellerEmail": sales.get("email")}
    return {name: known.get(name) for name in DEPRECATED_FIELDS}


class Dealbuilder(Vendor):
    name = "dealbuilder"
    prefixes = ()  # no API of its own
    default_credentials: ClassVar[dict[str, str]] = {"DEALBUILDER_WEBHOOK_KEY": "db-sandbox-webhook-key"}

    def reset(self) -> None:
        super().reset()
        self.documents: dict[str, dict[str, Any]] = {}

    def seed(self, data: dict[str, Any]) -> None:
        for doc in data.get("documents", []):
            self.documents[str(doc["id"])] = doc

    def sign(self, target: WebhookTarget, method: str, url: str, body: bytes) -> dict[str, str]:
        return {}  # the key travels in the body, not in a header

    def document_event(self, event_type: str, document: dict[str, Any]) -> dict[str, Any]:
        """The flat body Dealbuilder posts: event type and webhook key beside the document's
        fields; the deprecated flat fields from its parties unless the document sets them."""
        return {"eventType": event_type, "webhookKey": self.credentials["DEALBUILDER_WEBHOOK_KEY"],
                **deprecated_fields(document), **document}

    def admin_routes(self) -> None:
        @self.admin.post("/documents")
        async def send_document(document: dict[str, Any] = Body(...)) -> dict[str, Any]:
            """The seller sends a proposal: stored, and ``DocumentSent`` is posted."""
            doc_id = str(document.get("id") or self.next_id())
            document = {**document, "id": doc_id, "status": "sent"}
            self.documents[doc_id] = document
            self.emit_webhook(self.document_event("DocumentSent", document))
            return document

        @self.admin.post("/documents/{doc_id}/accept")
        async def accept(doc_id: str, signed: dict[str, Any] | None = Body(None)) -> dict[str, Any]:
            """The customer signs: ``DocumentAccepted`` is posted."""
            if doc_id not in self.documents:
                raise HTTPException(404, f"no document {doc_id}")
            document = {**self.documents[doc_id], **(signed or {}), "status": "accepted",
                        "acceptedAt": self.sb.clock.now().isoformat()}
            self.documents[doc_id] = document
            self.emit_webhook(self.document_event("DocumentAccepted", document))
            return document

        @self.admin.get("/documents")
        async def documents() -> list[dict[str, Any]]:
            return list(self.documents.values())


VENDOR = Dealbuilder
