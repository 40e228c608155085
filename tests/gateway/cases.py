"""One table of every webhook source: how to build its valid, forged and malformed deliveries
with the vendor's own formula, and the sandbox's secrets they are signed with."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from tests.gateway import signing
from tests.gateway.conftest import EVENTS_TOKEN, Gateway
from tests.gateway.signing import Post

HUBSPOT_SECRET = "hs-sandbox-client-secret"  # the sandbox's credentials, set in the environment
ZENDESK_SECRET = "zd-sandbox-webhook-secret"
DEALBUILDER_KEY = "db-sandbox-webhook-key"
MOVIDESK_TOKEN = "movidesk-sandbox-webhook-token"
ASANA_SECRET = "asana-handshake-secret-0123456789abcdef"
STALE = timedelta(minutes=6)
PIPELINE_STAGE = {"subject": "SE Exempel AB", "hs_pipeline": "0", "hs_pipeline_stage": "1"}


def salesforce_org(gateway: Gateway) -> str:
    return os.environ["SALESFORCE_ORG_ID"]


@dataclass
class Case:
    """How to build one vendor's valid, forged and malformed deliveries."""

    tool: str
    valid: Callable[[Gateway], Post]
    forged: Callable[[Gateway], Post]
    malformed: Callable[[Gateway], Post]
    stored_per_valid: int = 1


CASES = [
    Case("hubspot",
         valid=lambda g: signing.hubspot(g.url, HUBSPOT_SECRET, signing.hubspot_events(1, 2)),
         forged=lambda g: signing.hubspot(g.url, "not-the-client-secret", signing.hubspot_events(1, 2)),
         malformed=lambda g: signing.hubspot(g.url, HUBSPOT_SECRET, b'{"not": "an array of events"}'),
         stored_per_valid=2),
    Case("zendesk",
         valid=lambda g: signing.zendesk(ZENDESK_SECRET, signing.zendesk_event()),
         forged=lambda g: signing.zendesk("not-the-signing-secret", signing.zendesk_event()),
         malformed=lambda g: signing.zendesk(ZENDESK_SECRET, b"<html>not json</html>")),
    Case("dealbuilder",
         valid=lambda g: signing.dealbuilder(DEALBUILDER_KEY),
         forged=lambda g: signing.dealbuilder("guessed-key"),
         malformed=lambda g: signing.dealbuilder(DEALBUILDER_KEY, event_type="DocumentShredded")),
    Case("movidesk",
         valid=lambda g: signing.movidesk(MOVIDESK_TOKEN, signing.movidesk_ticket()),
         forged=lambda g: signing.movidesk("guessed-token", signing.movidesk_ticket()),
         malformed=lambda g: signing.movidesk(MOVIDESK_TOKEN, signing.movidesk_ticket(ticket_id="abc"))),
    Case("salesforce",
         valid=lambda g: signing.salesforce(signing.salesforce_message(salesforce_org(g), notifications=2)),
         forged=lambda g: signing.salesforce(signing.salesforce_message("00D000000000BAD")),
         malformed=lambda g: signing.salesforce(signing.salesforce_message(salesforce_org(g), notifications=0)),
         stored_per_valid=2),
    Case("asana",
         valid=lambda g: signing.asana(ASANA_SECRET, signing.asana_events()),
         forged=lambda g: signing.asana("not-the-handshake-secret", signing.asana_events()),
         malformed=lambda g: signing.asana(ASANA_SECRET, b'{"data": "no events list"}')),
    Case("kickoff",
         valid=lambda g: signing.canonical(EVENTS_TOKEN, signing.signup_event()),
         forged=lambda g: signing.canonical("guessed-token", signing.signup_event()),
         malformed=lambda g: signing.canonical(EVENTS_TOKEN, b'"an event, promise"')),
]
IDS = [c.tool for c in CASES]
