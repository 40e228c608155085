"""A signed Dealbuilder document as its reference documents it (flat, the customer in
``Parties``), through the gateway's intake: accepted when the customer is there, answered 400
naming what is missing (and kept for inspection) when it is not."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.intake import Intake
from gateway.vendors import Connectors
from kickoff.contracts.webhooks import WebhookRequest
from kickoff.ledger import Ledger
from kickoff.tools.dealbuilder import DEPRECATED_FIELDS


def posted(key: str, **fields) -> WebhookRequest:
    body = {"eventType": "DocumentAccepted", "webhookKey": key, **dict.fromkeys(DEPRECATED_FIELDS), "id": "D-7",
            **fields}
    return WebhookRequest(method="POST", url="http://gateway.example.com/webhooks/dealbuilder",
                          headers={"content-type": "application/json"}, body=json.dumps(body).encode(), query={})


def test_A1_given_a_signed_document_without_its_customer_then_400_naming_it_and_kept(kickoff_config, sandbox_env,
                                                                                    tmp_path):
    intake = Intake(Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"), lambda: datetime.now(UTC))
    connector = Connectors(config=kickoff_config).get("dealbuilder")
    key = sandbox_env["DEALBUILDER_WEBHOOK_KEY"]
    missing = intake.receive("dealbuilder", connector, posted(key, Parties=[{"role": "seller", "companyName": "Us"}]))
    assert missing.status == 400 and missing.kept_id is not None
    assert missing.reason == ("Dealbuilder DocumentAccepted: no customer company name at "
                              "Parties[role=customer].companyName or customerCompanyName")
    flat = intake.receive("dealbuilder", connector, posted(key, customerCompanyName="Exempel AB"))
    parties = intake.receive("dealbuilder", connector, posted(
        key, id="D-8", Parties=[{"role": "customer", "companyName": "Exempel AB", "organizationNumber": "556000-0000"}]))
    assert (flat.status, parties.status) == (200, 200)
