"""Kickoff: customer onboarding middleware. The core (model, engine, ledger, settings) has no vendor I/O."""

__version__ = "0.1.0"
