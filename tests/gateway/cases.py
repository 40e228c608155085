"""One table of every webhook source: how to build its valid, forged and malformed deliveries
with the vendor's own formula, and the sandbox's secrets they are signed with."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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


FORGED_SECRET = "not-the-shared-secret"


def signed(tool: str, sign: Callable[..., Post], secret: str, payload: Any, bad: Any, *,
           signs_url: bool = False, stored_per_valid: int = 1) -> Case:
    """A vendor that signs (or tokens) its deliveries with a shared secret: valid is the payload
    signed with the sandbox's secret, forged the same payload signed with another, malformed
    what the vendor never sends, signed right. ``signs_url``: the gateway's URL is signed too."""
    def post(gateway: Gateway, secret: str, body: Any) -> Post:
        return sign(gateway.url, secret, body) if signs_url else sign(secret, body)

    return Case(tool, valid=lambda g: post(g, secret, payload), forged=lambda g: post(g, FORGED_SECRET, payload),
                malformed=lambda g: post(g, secret, bad), stored_per_valid=stored_per_valid)


CASES = [
    signed("hubspot", signing.hubspot, HUBSPOT_SECRET, signing.hubspot_events(1, 2), b'{"not": "an array of events"}',
           signs_url=True, stored_per_valid=2),
    signed("zendesk", signing.zendesk, ZENDESK_SECRET, signing.zendesk_event(), b"<html>not json</html>"),
    Case("dealbuilder",
         valid=lambda g: signing.dealbuilder(DEALBUILDER_KEY),
         forged=lambda g: signing.dealbuilder("guessed-key"),
         malformed=lambda g: signing.dealbuilder(DEALBUILDER_KEY, event_type="DocumentShredded")),
    signed("movidesk", signing.movidesk, MOVIDESK_TOKEN, signing.movidesk_ticket(), signing.movidesk_ticket(ticket_id="abc")),
    Case("salesforce",
         valid=lambda g: signing.salesforce(signing.salesforce_message(salesforce_org(g), notifications=2)),
         forged=lambda g: signing.salesforce(signing.salesforce_message("00D000000000BAD")),
         malformed=lambda g: signing.salesforce(signing.salesforce_message(salesforce_org(g), notifications=0)),
         stored_per_valid=2),
    signed("asana", signing.asana, ASANA_SECRET, signing.asana_events(), b'{"data": "no events list"}'),
    signed("kickoff", signing.canonical, EVENTS_TOKEN, signing.signup_event(), b'"an event, promise"'),
]
IDS = [c.tool for c in CASES]
