"""The soak's short version in ``make test``: a handful of seeds, each a randomized run of
some of the five procedures with faults injected in the sandbox and in Kickoff (a push
worker SIGKILLed mid-push, the gateway restarted, Prefect unreachable), then the invariants
(exactly once, none missing, nothing stuck, no secret in the logs). ``make soak`` runs 200+.

The seeds are chosen to cover every kind of fault at least once; a failure names the seed,
and ``python -m soak --seed N`` replays it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from soak.run import SoakHarness

pytestmark = pytest.mark.slow

SEEDS = (4, 9, 3, 5)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory):
    with SoakHarness(Path(tmp_path_factory.mktemp("soak"))) as h:
        yield h


def test_soak_short_runs_have_no_violations(harness: SoakHarness) -> None:
    faults: Counter[str] = Counter()
    failures = []
    for seed in SEEDS:
        result = harness.run(seed)
        faults.update(result.faults)
        if not result.ok:
            failures.append(f"seed {seed} ({result.plan}); replay: python -m soak --seed {seed}\n  "
                            + "\n  ".join(v.splitlines()[0] for v in result.violations))
    assert not failures, "\n".join(failures)
    kinds = " ".join(faults)
    for wanted in ("sandbox 429", "sandbox 5xx", "sandbox drop", "sandbox no_answer", "webhook duplicate",
                   "webhook reorder", "gateway restart", "Prefect unreachable", "push worker SIGKILL"):
        assert wanted in kinds, f"the short soak's seeds no longer inject {wanted!r}: {dict(faults)}"
