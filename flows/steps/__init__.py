"""The work of each flow as plain functions of (runtime, now): testable without Prefect."""

MAX_LINES = 1000
"""Items a run's table artifact and log list one by one; the rest are counted. A run over a
backlog (a tick of 100,000 timers, a push of 30,000 actions) would otherwise keep, log and
publish a line for each: megabytes nobody reads."""
