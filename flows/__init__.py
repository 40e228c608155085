"""Prefect flows: thin glue between the ledger, the mappings, the engine and the connectors.

The work itself is in ``flows.steps`` as plain functions of a ``Runtime`` and a ``now``,
so tests and the demo can drive it directly; ``flows.flows`` wraps them as Prefect flows.
"""
