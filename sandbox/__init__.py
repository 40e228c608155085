"""A local, stateful stand-in for the SaaS tools Kickoff talks to, at their real API paths.

The official clients talk to it over real HTTP; it enforces the vendors' limits, injects
faults on demand and sends signed webhooks, so tests, the demo and the benchmarks see what
production would. See sandbox/README.md.
"""
