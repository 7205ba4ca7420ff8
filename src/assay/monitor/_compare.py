"""Judge a window's sketches against the reference profile with the drift pillar's rules.

The drift pillar compares a profile with *data* (it streams the data into sketches
on the profile's edges). A monitor already holds the window's sketches, merged batch
by batch as events arrived, so it hands them straight to the detector's per-column
judgement and verdict — the same tests, corrections and thresholds as `assay drift`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from assay.drift import CategoricalSketch, DriftDetector, DriftReport, DriftSpec, NumericSketch, Profile

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
        detector = self.detector_
        # TODO(drift pillar): a public DriftDetector.compare_profile(current_profile) would replace these two private calls
        results = [detector._judge(n, self.reference_.columns[n].kind, self.reference_.columns[n], sketches[n]) for n in self.columns_]
        return detector._verdict(results, list(detector.findings_), None, SimpleNamespace(num_rows=rows, label=label))
