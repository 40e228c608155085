"""One module per tool: read changes, verify and parse webhooks, write actions in batches.

Only I/O and the vendor's quirks live here; business decisions are the engine's.
"""
