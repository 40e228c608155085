"""Dealbuilder has no write API: it only POSTs one JSON object per event to a configured URL,
authenticated by the ``webhookKey`` in the body. ``/_sandbox/dealbuilder/documents`` plays
the seller sending a proposal and the customer signing it."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from fastapi import Body, HTTPException

from sandbox.vendors.base import Vendor
from sandbox.webhooks import WebhookTarget


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
        """The payload Dealbuilder posts: event type, webhook key, the document with its parties."""
        return {
            "eventType": event_type,
            "webhookKey": self.credentials["DEALBUILDER_WEBHOOK_KEY"],
            "eventId": str(uuid.uuid4()),
            "timestamp": self.sb.clock.now().isoformat(),
            "document": document,
        }

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
