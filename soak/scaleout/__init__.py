"""The scale-out soak (issue 7): the five procedures through the Prefect server on
PostgreSQL, a process work pool with three `prefect worker start` workers, the ledger on
PostgreSQL and the deployments from prefect.yaml. ``python -m soak.scaleout [--runs N]``."""
