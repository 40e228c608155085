"""What one seed arms: the sandbox's fault rules, the webhook targets' misbehaviour, and the
Kickoff-side faults (push worker killed, gateway restarted, Prefect unreachable).

Every fault is bounded (``times``, a rate below 1, a short window), so a correct Kickoff
always gets through eventually; what the soak checks is that it gets through exactly once.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kickoff.tools import declared, spec

WRITE_METHODS = ("POST", "PATCH", "PUT")
SANDBOX_KINDS = ("429", "5xx", "latency", "drop", "no_answer")


def webhook_vendors() -> tuple[str, ...]:
    """The tools whose webhook target a run arms with misbehaviour: every declared tool that
    calls Kickoff, except those whose webhook is made through the vendor's API with a handshake
    (Asana): the run creates that one, and the vendor keeps the target without fault options."""
    return tuple(t.name for t in declared() if t.webhooks is not None and not t.webhooks.handshake)


def fault_targets(tenants: Mapping[str, Sequence[str]], served: Collection[str]
                  ) -> dict[str, tuple[str, ...]]:
    """Per tenant, the tools where sandbox faults matter: those of its tools Kickoff calls (it
    polls or pushes them) that the sandbox serves over HTTP (``served``; e-mail goes by SMTP)."""
    return {key: tuple(t for t in tools if t in served and (spec(t).polls or spec(t).pushes))
            for key, tools in tenants.items()}


@dataclass
class FaultPlan:
    seed: int
    procedures: list[str]
    offsets_days: dict[str, int]
    sandbox_rules: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (kind, rule)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    kill_push_calls: set[int] = field(default_factory=set)  # n-th push call runs in a killed child
    kill_delays: list[float] = field(default_factory=list)
    gateway_restart_acts: set[int] = field(default_factory=set)  # before the n-th act
    gateway_down_seconds: list[float] = field(default_factory=list)
    prefect_down_act: int | None = None  # Prefect unreachable from the n-th act ...
    prefect_down_hours: float = 0.0      # ... for this long (virtual time)

    def describe(self) -> str:
        parts = [f"procedures {','.join(self.procedures)}"]
        if self.sandbox_rules:
            parts.append("sandbox " + ", ".join(
                f"{kind}@{rule.get('vendor')}{'/' + rule['method'] if rule.get('method') else ''}"
                for kind, rule in self.sandbox_rules))
        hooks = [f"{v}:{'+'.join(k for k in ('duplicate', 'reorder') if o.get(k)) or ''}"
                 f"{'delay' + str(o['delay_ms']) if o.get('delay_ms') else ''}"
                 for v, o in self.webhooks.items()
                 if o.get("duplicate") or o.get("reorder") or o.get("delay_ms")]
        if hooks:
            parts.append("webhooks " + ", ".join(hooks))
        if self.kill_push_calls:
            parts.append(f"SIGKILL push calls {sorted(self.kill_push_calls)}")
        if self.gateway_restart_acts:
            parts.append(f"gateway restarts before acts {sorted(self.gateway_restart_acts)}")
        if self.prefect_down_act is not None:
            parts.append(f"Prefect down from act {self.prefect_down_act} "
                         f"for {self.prefect_down_hours:.1f} h")
        return "; ".join(parts)


def plan_for(seed: int, procedure_names: list[str], act_count_of: Mapping[str, int],
             tools_of: Mapping[str, Sequence[str]]) -> FaultPlan:
    """The faults of one run: a pure function of the seed and the configuration (replayable).
    ``tools_of``: per procedure, the tools faults are armed on (``fault_targets``)."""
    rng = random.Random(seed)
    count = rng.choice((1, 2, 2, 3, 3, 4, 5))
    chosen = sorted(rng.sample(procedure_names, count), key=procedure_names.index)
    plan = FaultPlan(seed, chosen, {p: rng.randint(0, 4) for p in chosen})
    tools = sorted({t for p in chosen for t in tools_of.get(p, ())})

    for _ in range(rng.randint(1, 5) if tools else 0):
        kind = rng.choice(SANDBOX_KINDS)
        vendor = rng.choice(tools)
        rule: dict[str, Any] = {"vendor": vendor}
        if kind == "429":
            rule |= {"kind": "error", "status": 429, "rate": rng.uniform(0.3, 0.8),
                     "times": rng.randint(3, 12)}
        elif kind == "5xx":
            rule |= {"kind": "error", "status": rng.choice((500, 502, 503, 504)),
                     "rate": rng.uniform(0.2, 0.5), "times": rng.randint(2, 8)}
        elif kind == "latency":
            rule |= {"kind": "latency", "latency_ms": rng.randint(20, 200)}
        elif kind == "drop":
            rule |= {"kind": "drop", "rate": rng.uniform(0.2, 0.5), "times": rng.randint(1, 4)}
        else:  # applied, but the answer is lost: only writes make this interesting
            rule |= {"kind": "no_answer", "method": rng.choice(WRITE_METHODS),
                     "rate": rng.uniform(0.3, 0.7), "times": rng.randint(1, 4)}
        plan.sandbox_rules.append((kind, rule))

    for vendor in webhook_vendors():
        plan.webhooks[vendor] = {
            "duplicate": rng.random() < 0.35,
            "reorder": rng.random() < 0.35,
            "delay_ms": rng.choice((0, 0, 0, 20, 80, 200)),
            "retries": 10,
        }

    acts = sum(act_count_of.get(p, 0) for p in chosen)
    if rng.random() < 0.5:
        plan.kill_push_calls = set(rng.sample(range(12), rng.randint(1, 2)))
        plan.kill_delays = [rng.uniform(0.0, 0.35) for _ in range(4)]
    if acts and rng.random() < 0.4:
        plan.gateway_restart_acts = set(rng.sample(range(acts), min(acts, rng.randint(1, 2))))
        plan.gateway_down_seconds = [rng.uniform(0.05, 1.5) for _ in range(4)]
    if acts and rng.random() < 0.4:
        plan.prefect_down_act = rng.randrange(acts)
        plan.prefect_down_hours = rng.uniform(0.5, 8.0)
    return plan
