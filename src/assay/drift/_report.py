"""The result of a drift comparison, as data: what the CLI prints and the HTML report draws."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ColumnResult", "DriftReport", "Finding", "left_out_findings"]


def _num(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class Finding:
    """Something worth knowing that is not a test result: unseen categories, missing values, odd data."""

    type: str
    message: str
    column: str | None = None
    severity: str = "info"  # info | warning | drift
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "column": self.column, "severity": self.severity, "message": self.message, "details": self.details}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Finding:
        """The inverse of :meth:`to_dict`."""
        return cls(type=doc.get("type", ""), message=doc["message"], column=doc.get("column"),
                   severity=doc.get("severity", "info"), details=doc.get("details") or {})


def left_out_findings(source: Any) -> list[Finding]:
    """Warnings for the columns of a Parquet folder that its first file lacks: not read.

    ``source`` is what was read, or the profile made of it: anything with a ``label`` and a
    ``left_out`` mapping of column to the first later file that has it.
    """
    return [Finding("column_left_out", f"column {name!r} of {source.label} is in {file} but not in the folder's first file, "
                    "whose columns are read: it was left out", name, "warning")
            for name, file in sorted(getattr(source, "left_out", {}).items())]  # fmt: skip


@dataclass
class ColumnResult:
    """The verdict on one column, with the evidence for it."""

    name: str
    kind: str
    role: str
    test: str | None
    statistic: float | None
    p_value: float | None
    effect: float | None
    threshold: float | None
    drifted: bool
    effect_name: str = ""
    p_adjusted: float | None = None
    reasons: list[str] = field(default_factory=list)
    reference: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] = field(default_factory=dict)
    missing_rate: dict[str, Any] = field(default_factory=dict)
    # the test of the share of infinite values, as missing_rate's (numeric columns); {} when not run
    nonfinite_rate: dict[str, Any] = field(default_factory=dict)
    # the test of categories new to the reference (see assay.drift._evidence.unseen_test); {} when not run
    unseen: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    chart: dict[str, Any] = field(default_factory=dict)
    # why the distribution was not judged (an identifier-like column); None when it was
    not_judged: str | None = None

    def to_dict(self, *, charts: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name, "kind": self.kind, "role": self.role, "test": self.test,
            "statistic": _num(self.statistic), "p_value": _num(self.p_value), "p_adjusted": _num(self.p_adjusted),
            "effect": _num(self.effect), "effect_name": self.effect_name, "threshold": _num(self.threshold),
            "drifted": self.drifted, "reasons": self.reasons, "reference": self.reference, "current": self.current,
            "missing_rate": self.missing_rate, "nonfinite_rate": self.nonfinite_rate, "unseen": self.unseen, "findings": [f.to_dict() for f in self.findings],
            "not_judged": self.not_judged,
        }  # fmt: skip
        if charts:
            doc["chart"] = self.chart
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ColumnResult:
        """The inverse of :meth:`to_dict` (a NaN or infinity it wrote as null stays None)."""
        return cls(
            name=doc["name"], kind=doc["kind"], role=doc["role"], test=doc.get("test"), statistic=doc.get("statistic"),
            p_value=doc.get("p_value"), effect=doc.get("effect"), threshold=doc.get("threshold"), drifted=doc["drifted"],
            effect_name=doc.get("effect_name") or "", p_adjusted=doc.get("p_adjusted"), reasons=list(doc.get("reasons") or []),
            reference=doc.get("reference") or {}, current=doc.get("current") or {}, missing_rate=doc.get("missing_rate") or {},
            nonfinite_rate=doc.get("nonfinite_rate") or {}, unseen=doc.get("unseen") or {},
            findings=[Finding.from_dict(f) for f in doc.get("findings") or []], chart=doc.get("chart") or {},
            not_judged=doc.get("not_judged"),
        )  # fmt: skip


def found_by(missing_rate: dict[str, Any], unseen: dict[str, Any], nonfinite_rate: dict[str, Any] | None = None) -> str:
    """Which of a drifted column's other tests found it (its own test's numbers may not say):
    " (missing rate)", " (new categories)", " (infinite values)", several, or ""."""
    tests = ((missing_rate, "missing rate"), (nonfinite_rate, "infinite values"), (unseen, "new categories"))
    by = [what for found, what in tests if (found or {}).get("drifted")]
    return f" ({', '.join(by)})" if by else ""


@dataclass
class DriftReport:
    """Everything one comparison found. ``drift`` is the verdict under the spec's rule."""

    drift: bool
    share_drifted: float
    reference_rows: int
    current_rows: int
    columns: list[ColumnResult]
    method: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    multivariate: dict[str, Any] | None = None
    reference_label: str = ""
    current_label: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    record_id: str | None = None

    @property
    def drifted_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    def column(self, name: str) -> ColumnResult:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def to_dict(self, *, charts: bool = False) -> dict[str, Any]:
        return {
            "drift": self.drift,
            "share_drifted": self.share_drifted,
            "drifted_columns": self.drifted_columns,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            "reference": self.reference_label,
            "current": self.current_label,
            "columns": [c.to_dict(charts=charts) for c in self.columns],
            "findings": [f.to_dict() for f in self.findings],
            "multivariate": self.multivariate,
            "method": self.method,
            "spec": self.spec,
            "record_id": self.record_id,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> DriftReport:
        """The inverse of :meth:`to_dict` (with ``charts=True`` for a report to draw them): a
        recorded report read back, as `assay drift show ID --report FILE` draws it."""
        return cls(
            drift=doc["drift"], share_drifted=doc["share_drifted"], reference_rows=doc["reference_rows"],
            current_rows=doc["current_rows"], columns=[ColumnResult.from_dict(c) for c in doc["columns"]],
            method=doc["method"], findings=[Finding.from_dict(f) for f in doc.get("findings") or []],
            multivariate=doc.get("multivariate"), reference_label=doc.get("reference") or "",
            current_label=doc.get("current") or "", spec=doc.get("spec") or {}, record_id=doc.get("record_id"),
        )  # fmt: skip
