"""The contracts every tool implements, owned by the core so that the core needs no adapter.

- ``webhooks``: the webhook request as received, its rejection, HMAC and freshness checks
- ``errors``: how a vendor failure is classified (retryable, permanent, auth)
- ``vendor``: ``VendorPayload`` (base of each tool's payload models, declared in
  ``kickoff.tools.<tool>``) and ``VendorAction`` (a canonical action in one tool's terms)
- ``connector``: the ``Connector`` protocol (read, verify, parse, enrich, apply) and ``ReadResult``
- ``mapping``: the ``Mapping`` protocol, ``MappingContext``, ``LedgerView``, ``MappingError``
"""
