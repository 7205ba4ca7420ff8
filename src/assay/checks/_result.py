"""What a check found: gate results and the overall verdict, as plain serializable data."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CheckResult", "GateResult", "readable_check"]

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


_GATE_NUMBERS = ("threshold", "candidate_value", "baseline_value", "delta", "ci_low", "ci_high", "p_value", "p_fail",
                 "p_fail_adjusted", "mdd")


def readable_check(doc: Any) -> str | None:
    """Why ``doc`` (a check result as :meth:`CheckResult.to_dict` writes it, read from elsewhere,
    such as a remote) cannot be shown by `assay check show`, its HTML report and its JUnit XML;
    None if it can. Only what those read is checked."""
    def number(v: Any) -> bool:
        return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))

    def dicts(v: Any, *text: str) -> bool:
        return isinstance(v, list) and all(isinstance(d, dict) and all(isinstance(d.get(k), str) for k in text) for d in v)

    if not isinstance(doc, dict):
        return "not an object"
    if not isinstance(doc.get("passed"), bool) or doc.get("verdict") not in STATUSES:
        return "no verdict"
    counts = doc.get("counts")
    if not (isinstance(counts, dict) and all(type(counts.get(s)) is int for s in STATUSES)):
        return "no counts"
    baseline = doc.get("baseline")
    if not (isinstance(doc.get("candidate"), dict) and isinstance(doc["candidate"].get("name"), str)
            and (baseline is None or (isinstance(baseline, dict) and isinstance(baseline.get("name"), str)))
            and isinstance(doc.get("data"), dict)):
        return "no candidate, baseline or data"
    gates = doc.get("gates")
    if not dicts(gates, "name", "metric", "kind", "reason"):
        return "gates without names"
    for g in gates:
        if (g.get("status") not in STATUSES or not (g.get("slice") is None or isinstance(g["slice"], str))
                or not all(number(g.get(k)) for k in _GATE_NUMBERS) or type(g.get("n", 0)) is not int
                or not isinstance(g.get("details") or {}, dict) or not number((g.get("details") or {}).get("bound"))):
            return f"gate {g['name'][:40]!r} does not read"
    if not (dicts(doc.get("metrics", []), "metric") and dicts(doc.get("slices", []), "slice", "metric")
            and dicts(doc.get("discovered_slices", []), "slice", "metric") and dicts(doc.get("counterexamples", []))):
        return "metrics, slices or counterexamples that do not read"
    for m in doc.get("metrics", []):
        for key in ("candidate_ci", "delta_ci"):
            if not (m.get(key) is None or (isinstance(m[key], list) and len(m[key]) == 2 and all(map(number, m[key])))):
                return f"metric {m['metric'][:40]!r} does not read"
    for c in doc.get("counterexamples", []):
        changed = c.get("changed")
        if not (changed is None or (isinstance(changed, dict) and all(isinstance(v, dict) for v in changed.values()))):
            return "counterexamples that do not read"
    notes = doc.get("notes", [])
    if not (isinstance(notes, list) and all(isinstance(n, str) for n in notes) and isinstance(doc.get("suite", {}), dict)
            and number(doc.get("confidence")) and (doc.get("seed") is None or type(doc.get("seed")) is int)):
        return "notes, suite or settings that do not read"
    return None
