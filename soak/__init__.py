"""The fault-injection soak (issue 7): randomized runs of the five procedures with faults
injected in the sandbox and in Kickoff itself, and invariants checked after each run.

One run is one seed. The seed picks which procedures play and when (each procedure's start
is shifted by a few days, so their acts interleave differently), the sandbox faults (429
storms, 5xx, latency, dropped connections, "applied but no answer"), the webhook targets'
misbehaviour (duplicated, delayed, reordered), and Kickoff-side faults: a push worker run in
a child process and killed with SIGKILL mid-push, the gateway stopped and started again
while the sandbox delivers, and the Prefect server unreachable for a while (the gateway's
notifier fails; deliveries wait in the inbox for the sweep). A virtual clock drives the
steps directly (no Prefect). Afterwards ``soak.invariants`` compares the sandbox's state
(through its admin routes) with the ledger: every delivery acknowledged and processed once,
every action applied exactly once and none missing, nothing stuck outside the dead-letter
state, no secret in any captured log.

``python -m soak --runs 200`` (``make soak``); ``python -m soak --seed N`` replays one run.
"""

from soak.record import RunResult
from soak.run import SoakHarness, run_seeds

__all__ = ["RunResult", "SoakHarness", "run_seeds"]
