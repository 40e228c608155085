"""The webhook gateway: verify each vendor's signature, store the delivery in the inbox,
answer 2xx only then, and tell Prefect off the request path.

- ``app``: ``create_app(ledger, connectors=None, announce=announce_to_prefect, ...)`` and the routes
- ``vendors``: the routes (from the tools' declarations) and which connector checks each
- ``handshake``: webhooks created with a handshake (Asana): the secret per path, in the ledger
- ``intake``: verify, parse, store (or keep a malformed body as a failed inbox row)
- ``canonical``: ``POST /webhooks/events`` for our own platforms (bearer token)
- ``announce``: ``announce_to_prefect`` (``kickoff.inbox.received``) behind a bounded background queue
- ``body``: the size cap; ``server``: uvicorn in a thread (``GatewayServer``)

Nothing here imports Prefect, a connector or a vendor client at import time.
"""

from gateway.announce import announce_to_prefect
from gateway.app import create_app
from gateway.handshake import expect_webhook_handshake, forget_webhook_secret

__all__ = [
    "announce_to_prefect",
    "create_app",
    "expect_webhook_handshake",
    "forget_webhook_secret",
]
