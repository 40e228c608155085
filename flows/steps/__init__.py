"""The work of each flow as plain functions of (runtime, now): testable without Prefect."""
