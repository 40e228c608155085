"""Running the whole stack on one machine: a local Prefect server, the sandbox, the gateway."""
