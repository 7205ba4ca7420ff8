"""What a check found: gate results and the overall verdict, as plain serializable data."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckResult", "GateResult"]

STATUSES = ("pass", "fail", "inconclusive")


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: write null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _clean(value.item())
    return value


@dataclass
class GateResult:
    """One gate on one slice (``slice`` None = all data)."""

    name: str
    metric: str
    kind: str  # min, max, non_inferiority, superiority, equivalence, or a behaviour / robustness / budget kind
    threshold: float | None
    slice: str | None
    candidate_value: float | None
    baseline_value: float | None
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # one-sided p for "the gate holds" (small = evidence of pass)
    status: str
    n: int = 0
    p_fail: float | None = None  # one-sided p for "the gate is violated", before correction
    p_fail_adjusted: float | None = None
    mdd: float | None = None  # minimum detectable difference at this n (80% power)
    method: str = ""
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    group: str = "gate"  # gate | behaviour | robustness | budget

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass
class CheckResult:
    passed: bool
    candidate: dict[str, Any]
    baseline: dict[str, Any] | None
    data: dict[str, Any]
    gates: list[GateResult]
    suite: dict[str, Any]
    suite_hash: str
    seed: int
    confidence: float
    correction: str
    allow_inconclusive: bool = False
    metrics: list[dict[str, Any]] = field(default_factory=list)
    slices: list[dict[str, Any]] = field(default_factory=list)
    discovered_slices: list[dict[str, Any]] = field(default_factory=list)
    counterexamples: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    id: str | None = None
    created_at: str | None = None
    report: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {s: sum(1 for g in self.gates if g.status == s) for s in STATUSES}

    @property
    def verdict(self) -> str:
        c = self.counts
        if c["fail"]:
            return "fail"
        if c["inconclusive"]:
            return "inconclusive"
        return "pass"

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return _clean({
            "id": self.id,
            "passed": self.passed,
            "verdict": self.verdict,
            "counts": self.counts,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "data": self.data,
            "gates": [g.to_dict() for g in self.gates],
            "metrics": self.metrics,
            "slices": self.slices,
            "discovered_slices": self.discovered_slices,
            "counterexamples": self.counterexamples,
            "confidence": self.confidence,
            "correction": self.correction,
            "allow_inconclusive": self.allow_inconclusive,
            "seed": self.seed,
            "suite": self.suite,
            "suite_hash": self.suite_hash,
            "notes": self.notes,
            "timings": self.timings,
            "created_at": self.created_at,
            "report": self.report,
        })
