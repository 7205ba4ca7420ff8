"""Judge a window's sketches against the reference profile with the drift pillar's rules.

A monitor holds each window's sketches, counted batch by batch on the reference
profile's edges as events arrived; :meth:`DriftDetector.compare_profile` judges them
with the same tests, corrections and thresholds as `assay drift`, reading no data.
"""

from __future__ import annotations

from typing import Any

from assay.drift import (
    CategoricalSketch,
    DriftDetector,
    DriftReport,
    DriftSpec,
    NumericSketch,
    Profile,
)

__all__ = ["SketchJudge", "empty_sketches"]


def empty_sketches(reference: Profile, columns: list[str]) -> dict[str, Any]:
    """Sketches shaped like the reference's (same bin edges, same category cap), with no counts."""
    out: dict[str, Any] = {}
    for name in columns:
        ref = reference.columns[name]
        out[name] = NumericSketch.empty(ref.edges) if isinstance(ref, NumericSketch) else CategoricalSketch(cap=ref.cap)
    return out


class SketchJudge:
    """Fitted once on the reference profile; :meth:`judge` compares one window's sketches."""

    def __init__(self, reference: Profile, columns: list[str], drift: dict[str, Any] | None = None) -> None:
        spec = DriftSpec(**{**(drift or {}), "columns": tuple(columns), "method": "binned", "multivariate": False})
        self.detector_ = DriftDetector(spec).fit(reference)
        self.reference_ = reference
        self.columns_ = columns

    def judge(self, rows: int, sketches: dict[str, Any], label: str) -> DriftReport:
        return self.detector_.compare_profile(Profile(rows, {n: sketches[n] for n in self.columns_}, label))
