"""The webhook gateway: verify each vendor's signature, store the delivery in the inbox,
answer 2xx only then, and tell Prefect off the request path.

- ``app``: ``create_app(ledger, connectors=None, notify=prefect_notify, ...)`` and the routes
- ``vendors``: which connector checks which route; Asana's handshake secret in the ledger
- ``intake``: verify, parse, store (or keep a malformed body as a failed inbox row)
- ``canonical``: ``POST /webhooks/events`` for our own platforms (bearer token)
- ``notify``: ``prefect_notify`` (``emit_event``) behind a bounded background queue
- ``body``: the size cap; ``server``: uvicorn in a thread (``GatewayServer``)

Nothing here imports Prefect, a connector or a vendor client at import time.
"""

from kickoff.gateway.app import create_app
from kickoff.gateway.notify import EVENT_NAME, inbox_event, prefect_notify
from kickoff.gateway.vendors import expect_asana_handshake, forget_asana_secret

__all__ = [
    "EVENT_NAME",
    "create_app",
    "expect_asana_handshake",
    "forget_asana_secret",
    "inbox_event",
    "prefect_notify",
]
