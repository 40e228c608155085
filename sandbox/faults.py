"""Faults on demand, per route: error rate, a 5xx, latency, a dropped connection, and
"applied but no answer" (the write is kept, the response is lost)."""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field

FaultKind = Literal["error", "drop", "no_answer", "latency"]


class FaultRule(BaseModel):
    """Applies to requests whose vendor, method and path match.

    ``rate`` is the probability per matching request; ``times`` caps how many requests it
    hits (None: unlimited). ``latency_ms`` is added to every matching request.
    """

    vendor: str | None = None
    method: str | None = None
    path: str = Field(default=".*", description="regular expression searched in the path")
    kind: FaultKind = "error"
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    status: int = Field(default=503, ge=400, le=599)
    latency_ms: int = Field(default=0, ge=0)
    times: int | None = Field(default=None, ge=0)


@dataclass
class _Armed:
    rule: FaultRule
    pattern: re.Pattern[str]
    hits: int = 0


@dataclass
class FaultDecision:
    kind: FaultKind | None = None
    status: int = 503
    latency_ms: int = 0
    rule_index: int | None = None


@dataclass
class Faults:
    """The armed fault rules; decisions are random but seeded, so a failing run replays."""

    seed: int = 0
    _rules: list[_Armed] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def add(self, rule: FaultRule) -> int:
        with self._lock:
            self._rules.append(_Armed(rule, re.compile(rule.path)))
            return len(self._rules) - 1

    def clear(self, seed: int | None = None) -> None:
        with self._lock:
            self._rules.clear()
            if seed is not None:
                self.seed = seed
            self._random = random.Random(self.seed)

    def list(self) -> list[dict]:
        with self._lock:
            return [{**a.rule.model_dump(), "hits": a.hits} for a in self._rules]

    def decide(self, vendor: str, method: str, path: str) -> FaultDecision:
        decision = FaultDecision()
        with self._lock:
            for index, armed in enumerate(self._rules):
                rule = armed.rule
                if rule.vendor and rule.vendor != vendor:
                    continue
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if not armed.pattern.search(path):
                    continue
                decision.latency_ms += rule.latency_ms
                if rule.kind == "latency" or decision.kind is not None:
                    continue
                if rule.times is not None and armed.hits >= rule.times:
                    continue
                if self._random.random() < rule.rate:
                    armed.hits += 1
                    decision.kind, decision.status, decision.rule_index = rule.kind, rule.status, index
        return decision
